/**
 * CORS as protocol-v1.md, "Browsers", says: a preflight is answered before any
 * signature check, for CORS_ORIGINS only; any other origin gets an answer
 * without CORS headers, which the browser refuses.
 */
import type { FastifyReply, FastifyRequest } from 'fastify'

const ALLOW_HEADERS = 'Auth-Username, Auth-Key-Id, X-Microtime, Auth-Signature, Content-Type'
const EXPOSE_HEADERS = 'X-Server-Time, WWW-Authenticate'
const ALLOW_METHODS = 'GET, HEAD, POST, PUT, PATCH, DELETE'

/** The CORS step of the root onRequest hook (callback style: no promise per request); answers preflights itself, decorates other answers. */
export function corsHook (origins: readonly string[], skip: (request: FastifyRequest) => boolean): (request: FastifyRequest, reply: FastifyReply, done: () => void) => void {
  const allowed = new Set(origins)
  return (request, reply, done) => {
    if (skip(request)) { done(); return }
    const origin = request.headers.origin
    const ok = typeof origin === 'string' && allowed.has(origin)
    if (allowed.size > 0) reply.header('vary', 'Origin')
    if (ok) {
      reply.header('access-control-allow-origin', origin)
      reply.header('access-control-expose-headers', EXPOSE_HEADERS)
    }
    if (request.method === 'OPTIONS' && request.headers['access-control-request-method'] !== undefined) {
      if (ok) {
        reply.header('access-control-allow-methods', ALLOW_METHODS)
        reply.header('access-control-allow-headers', ALLOW_HEADERS)
        reply.header('access-control-max-age', '600')
      }
      reply.code(204).send()
      return // the reply is sent: Fastify stops the hook chain without done()
    }
    done()
  }
}
