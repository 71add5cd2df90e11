/**
 * The class Node's HTTP(S) server builds every answer with (createServer's
 * `ServerResponse` option, given through Fastify's `http`/`https` options).
 * Two things every answer written to a socket needs are done where its head
 * is formatted, instead of in a hook per request:
 *
 * - `Connection: close` (and the socket closed after the answer) once the
 *   server is closing, so a request that began before close() gets it too.
 *   An onSend hook doing this cost about 2 µs of CPU per request (bench/).
 * - Which socket's answer has begun (answerBegunOn), so a timeout reported
 *   for the socket never writes a 408 into the middle of an answer.
 * - The fixed security headers (security-headers.ts: 11, and HSTS over
 *   HTTPS), validated once at start and written as one preformatted block.
 *   Set on each reply instead, Node validated and formatted every one of them
 *   on every answer: about 5 µs of CPU per request, a tenth of a signed whoami
 *   over HTTPS (bench/README.md). A header of the same name that the answer
 *   sets itself, in any letter case (the page's own CSP), replaces the fixed one.
 *   On these answers `reply.getHeader()`, `hasHeader()` and `removeHeader()`
 *   do not see the fixed headers (nothing here needs them to).
 *
 * The block goes in through `_storeHeader(firstLine, headers)`, the method of
 * Node's OutgoingMessage that writeHead() calls to format the head. It is not a
 * documented API, so it is probed once at start (`writesFixedHeaders`: the
 * block must come out right after the status line of a test head); where it
 * does not, the caller sets the headers on each reply as before.
 * test/server-response.test.ts checks them on the wire, once each, both ways.
 * Answers made by Fastify's inject() (tests, the website's internal calls) use
 * light-my-request's own class: the caller sets the headers on those too
 * (app.ts, in its root onRequest hook and in frameworkErrors).
 */
import { IncomingMessage, ServerResponse, validateHeaderName, validateHeaderValue } from 'node:http'
import { Socket } from 'node:net'

export interface ResponseClassOptions {
  /** True once the server is closing. */
  isClosing: () => boolean
  /** Lower-case names; values as they go on the wire. */
  fixedHeaders: Readonly<Record<string, string>>
}

export interface ResponseClass {
  ServerResponse: typeof ServerResponse
  /** True when answers of this class carry `fixedHeaders` without being told (the probe at start saw it). */
  writesFixedHeaders: boolean
  /** True when `reply.raw` is an answer of this class (written to a socket), false for an injected one. */
  isOwn (raw: unknown): boolean
  /** `fixedHeaders` as head lines ("name: value\r\n" each), validated: for answers written raw to a socket. */
  fixedLines: string
  /**
   * True when the latest answer made for a request on `socket` has begun (its head was sent) and
   * either has not finished or answered a request whose body is still arriving: nothing else may
   * be written to that socket then (a 408 would corrupt the answer, or answer one request twice).
   */
  answerBegunOn (socket: unknown): boolean
}

type StoreHeader = (this: ServerResponse, firstLine: string, headers: unknown) => void
const storeHeader = (ServerResponse.prototype as unknown as { _storeHeader?: StoreHeader })._storeHeader

/**
 * The names in `headers`, as writeHead passes them on (Fastify's object, Node's
 * own table, an object or an array given to writeHead), that are in `fixed`:
 * compared in lower case, since a caller's own object may use any case.
 */
function fixedNamesIn (headers: unknown, fixed: ReadonlySet<string>): Set<string> | null {
  if (headers === null || typeof headers !== 'object') return null
  let found: Set<string> | null = null
  const see = (key: unknown): void => {
    if (typeof key !== 'string') return
    const name = key.toLowerCase()
    if (fixed.has(name)) (found ??= new Set()).add(name)
  }
  if (Array.isArray(headers)) {
    // As Node reads it: a list of [name, value] pairs when the first entry is one, else a flat name, value, ... list.
    if (Array.isArray(headers[0])) for (const entry of headers) see((entry as unknown[])[0])
    else for (let i = 0; i < headers.length; i += 2) see(headers[i])
  } else {
    for (const key in headers) if (Object.hasOwn(headers, key)) see(key)
  }
  return found
}

export function responseClass ({ isClosing, fixedHeaders }: ResponseClassOptions): ResponseClass {
  const fixedNames = Object.keys(fixedHeaders)
  for (const name of fixedNames) {
    // Node's own checks, once here instead of on every answer; a bad value fails the start.
    validateHeaderName(name)
    validateHeaderValue(name, String(fixedHeaders[name]))
    if (name !== name.toLowerCase()) throw new Error(`fixed header names are lower case: ${name}`)
  }
  const fixedSet = new Set(fixedNames)
  const line = (name: string): string => `${name}: ${String(fixedHeaders[name])}\r\n`
  const block = fixedNames.map(line).join('')
  /** The fixed lines this head still needs: all of them, unless the answer sets one of the names itself. */
  const fixedLinesFor = (headers: unknown): string => {
    const own = fixedNamesIn(headers, fixedSet)
    return own === null ? block : fixedNames.filter(n => !own.has(n)).map(line).join('')
  }

  // The latest answer of each socket (a socket serves one request at a time), for answerBegunOn.
  const latest = new WeakMap<object, { request: IncomingMessage, answer: ServerResponse }>()

  class ProductResponse extends ServerResponse {
    constructor (request: IncomingMessage, ...rest: unknown[]) {
      super(request, ...rest as [])
      latest.set(request.socket, { request, answer: this })
    }

    override writeHead (statusCode: number, ...rest: unknown[]): this {
      if (isClosing()) this.shouldKeepAlive = false
      return (super.writeHead as (statusCode: number, ...rest: unknown[]) => this).call(this, statusCode, ...rest)
    }

    _storeHeader (firstLine: string, headers: unknown): void {
      // The status line, then the fixed block: Node appends the answer's own headers after them.
      ;(storeHeader as StoreHeader).call(this, firstLine + fixedLinesFor(headers), headers)
    }
  }

  // The probe: does writeHead() on this Node format the head through _storeHeader, the block
  // right after the status line? (No socket: nothing is sent; `_header` is the head as formatted.)
  let writesFixedHeaders = false
  if (typeof storeHeader === 'function') {
    const request = new IncomingMessage(new Socket())
    request.method = 'GET'
    request.httpVersionMajor = 1
    request.httpVersionMinor = 1
    try {
      const probe = new ProductResponse(request).writeHead(204, { 'x-probe': '1' })
      const head = (probe as unknown as { _header?: unknown })._header
      writesFixedHeaders = typeof head === 'string' && head.startsWith(`HTTP/1.1 204 No Content\r\n${block}x-probe: 1\r\n`)
    } catch {
      writesFixedHeaders = false
    }
  }
  if (!writesFixedHeaders) {
    // Not seen to work: Node's own method again, and the caller sets the headers on each reply.
    delete (ProductResponse.prototype as Partial<ProductResponse>)._storeHeader
  }
  return {
    // Node's type is generic over the request class; this one serves the default IncomingMessage.
    ServerResponse: ProductResponse as unknown as typeof ServerResponse,
    writesFixedHeaders,
    isOwn: (raw) => raw instanceof ProductResponse,
    fixedLines: block,
    answerBegunOn: (socket) => {
      const last = typeof socket === 'object' && socket !== null ? latest.get(socket) : undefined
      return last !== undefined && last.answer.headersSent && (!last.answer.writableFinished || !last.request.complete)
    }
  }
}
