/**
 * The class Node's HTTP(S) server builds every answer with (createServer's
 * documented `ServerResponse` option, given through Fastify's `http`/`https`
 * options). It uses documented APIs only (the constructor, `writeHead`,
 * `setHeader`, `headersSent`, `writableFinished`, `request.complete`):
 *
 * - `Connection: close` (and so the socket closed after the answer) once the
 *   server is closing, so a request that began before close() gets it too,
 *   and a keep-alive socket does not hold the exit open. Doing this in an
 *   onSend hook cost about 2 µs of CPU per request (bench/).
 * - Which socket's answer has begun (answerBegunOn), so a timeout reported for
 *   the socket never writes a 408 into the middle of an answer.
 *
 * `fixedLines` formats the fixed security headers, validated once, for the
 * answers written straight to a socket (clientErrorHandler); every other
 * answer gets them from the root onRequest hook (plugins/headers.ts).
 */
import { ServerResponse, validateHeaderName, validateHeaderValue, type IncomingMessage } from 'node:http'

export interface ResponseClassOptions {
  /** True once the server is closing. */
  isClosing: () => boolean
  /** Lower-case names; values as they go on the wire. */
  fixedHeaders: Readonly<Record<string, string>>
}

export interface ResponseClass {
  ServerResponse: typeof ServerResponse
  /** `fixedHeaders` as head lines ("name: value\r\n" each), validated: for answers written raw to a socket. */
  fixedLines: string
  /**
   * True when the latest answer made for a request on `socket` has begun (its head was sent) and
   * either has not finished or answered a request whose body is still arriving: nothing else may
   * be written to that socket then (a 408 would corrupt the answer, or answer one request twice).
   */
  answerBegunOn (socket: unknown): boolean
}

export function responseClass ({ isClosing, fixedHeaders }: ResponseClassOptions): ResponseClass {
  const fixedNames = Object.keys(fixedHeaders)
  for (const name of fixedNames) {
    // Node's own checks, once here; a bad value fails the start.
    validateHeaderName(name)
    validateHeaderValue(name, String(fixedHeaders[name]))
    if (name !== name.toLowerCase()) throw new Error(`fixed header names are lower case: ${name}`)
  }
  const fixedLines = fixedNames.map(name => `${name}: ${String(fixedHeaders[name])}\r\n`).join('')

  // The latest answer of each socket (a socket serves one request at a time), for answerBegunOn.
  const latest = new WeakMap<object, { request: IncomingMessage, answer: ServerResponse }>()

  class ProductResponse extends ServerResponse {
    constructor (request: IncomingMessage, ...rest: unknown[]) {
      super(request, ...rest as [])
      latest.set(request.socket, { request, answer: this })
    }

    override writeHead (statusCode: number, ...rest: unknown[]): this {
      // Headers given to writeHead win over setHeader's; Fastify gives none named Connection unless a reply set one.
      if (isClosing() && !this.headersSent) this.setHeader('connection', 'close')
      return (super.writeHead as (statusCode: number, ...rest: unknown[]) => this).call(this, statusCode, ...rest)
    }
  }

  return {
    // Node's type is generic over the request class; this one serves the default IncomingMessage.
    ServerResponse: ProductResponse as unknown as typeof ServerResponse,
    fixedLines,
    answerBegunOn: (socket) => {
      const last = typeof socket === 'object' && socket !== null ? latest.get(socket) : undefined
      return last !== undefined && last.answer.headersSent && (!last.answer.writableFinished || !last.request.complete)
    }
  }
}
