/**
 * HTTP with node:http / node:https rather than fetch: the request target goes
 * on the request line exactly as signed (WHATWG URL parsing in fetch would
 * normalise `/a/../b` and re-encode some bytes, which breaks signatures), and
 * a private CA (the server's self-signed development certificate) is one
 * `ca` option away, with no dependency.
 */
import http from 'node:http'
import https from 'node:https'
import { TransportError } from './errors.js'

export interface HttpRequest {
  method: string
  /** Path and query exactly as signed. */
  target: string
  headers: Record<string, string>
  body: Buffer
}

export interface HttpResponse {
  status: number
  /** Lower-case names. */
  headers: http.IncomingHttpHeaders
  body: Buffer
}

export type Transport = (req: HttpRequest) => Promise<HttpResponse>

export interface NodeTransportOptions {
  /** Origin, e.g. https://127.0.0.1:8443. A path part is not allowed here (the client adds it to the target). */
  origin: URL
  /** PEM certificate(s) to trust instead of the system store, e.g. $DATA_DIR/dev-cert.pem. */
  ca?: string | Buffer | Array<string | Buffer>
  /** Per request, from sending to the last body byte. Default 30 s. */
  timeoutMs?: number
  /** Largest answer read, default 32 MiB. */
  maxResponseBytes?: number
}

export function nodeTransport (opts: NodeTransportOptions): Transport {
  const { origin } = opts
  const secure = origin.protocol === 'https:'
  if (!secure && origin.protocol !== 'http:') throw new TypeError(`unsupported protocol ${origin.protocol}`)
  const timeoutMs = opts.timeoutMs ?? 30_000
  const maxBytes = opts.maxResponseBytes ?? 32 * 1024 * 1024
  // URL keeps IPv6 literals in brackets; the socket wants them bare.
  const hostname = origin.hostname.replace(/^\[(.*)\]$/, '$1')
  const port = origin.port === '' ? (secure ? 443 : 80) : Number(origin.port)

  return async (req) => await new Promise<HttpResponse>((resolve, reject) => {
    const headers: Record<string, string> = { ...req.headers, 'content-length': String(req.body.length) }
    if (req.body.length === 0 && (req.method === 'GET' || req.method === 'HEAD' || req.method === 'DELETE')) delete headers['content-length']
    const options: https.RequestOptions = { method: req.method, hostname, port, path: req.target, headers, agent: false }
    if (secure && opts.ca !== undefined) options.ca = opts.ca
    let settled = false
    const fail = (message: string, cause?: unknown): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      reject(new TransportError(message, cause))
    }
    const request = (secure ? https : http).request(options, (res) => {
      const chunks: Buffer[] = []
      let size = 0
      res.on('data', (chunk: Buffer) => {
        size += chunk.length
        if (size > maxBytes) {
          res.destroy()
          fail(`${req.method} ${req.target}: the answer is larger than ${maxBytes} bytes`)
          return
        }
        chunks.push(chunk)
      })
      res.on('error', (err) => fail(`${req.method} ${req.target}: ${err.message}`, err))
      res.on('end', () => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) })
      })
    })
    const timer = setTimeout(() => {
      request.destroy()
      fail(`${req.method} ${req.target}: no answer from ${origin.origin} within ${timeoutMs} ms`)
    }, timeoutMs)
    request.on('error', (err: NodeJS.ErrnoException) => {
      const hint = err.code === 'DEPTH_ZERO_SELF_SIGNED_CERT' || err.code === 'SELF_SIGNED_CERT_IN_CHAIN' || err.code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'
        ? ' (pass the server certificate as the CA, e.g. $DATA_DIR/dev-cert.pem)'
        : ''
      fail(`${req.method} ${origin.origin}${req.target}: ${err.message}${hint}`, err)
    })
    request.end(req.body)
  })
}
