/**
 * The root onRequest hook every answer goes through, preflights and early
 * errors included: the security headers (helmet's defaults, computed once:
 * security-headers.ts), HSTS where the connection is HTTPS, `X-Server-Time`
 * (t_head: clients correct their clock with it), `X-Request-Id`, a 503 once
 * the instance is closing, then CORS (protocol-v1.md, "Browsers"), which
 * answers preflights itself. One callback-style hook: no promise per request.
 */
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { ApiError } from '../errors.js'
import { corsHook } from '../cors.js'
import { isInvalidTarget } from './request-target.js'

export interface HeadersOptions {
  now: () => number
  /** The fixed security headers (lower-case names). */
  security: Readonly<Record<string, string>>
  /** HSTS for requests a trusted proxy says came over HTTPS (TLS=off behind a TLS-terminating proxy). */
  proxiedHsts?: string
  corsOrigins: readonly string[]
  isClosing: () => boolean
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Unix ms when the head arrived, as `X-Server-Time` says. */
    receivedAt: number
  }
}

export const headers = fp(async (app: FastifyInstance, o: HeadersOptions) => {
  const { security, proxiedHsts, now, isClosing } = o
  // Preflights after the request-target check (a bad target is answered by its own route).
  const cors = corsHook(o.corsOrigins, isInvalidTarget)
  app.decorateRequest('receivedAt', 0)
  app.addHook('onRequest', (request, reply, done) => {
    request.receivedAt = now()
    reply.headers(security)
    if (proxiedHsts !== undefined && request.protocol === 'https') reply.header('strict-transport-security', proxiedHsts)
    reply.header('x-server-time', String(request.receivedAt))
    reply.header('x-request-id', request.id)
    if (isClosing()) { done(new ApiError('NOT_READY', 'The server is shutting down; retry on another instance', undefined, { 'retry-after': '1', connection: 'close' })); return }
    cors(request, reply, done)
  })
}, { name: 'headers', fastify: '5.x' })
