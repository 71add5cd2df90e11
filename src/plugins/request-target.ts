/**
 * Protocol step 1, before routing: a request target of bytes 0x21..0x7E in
 * origin form, or 400 `BAD_REQUEST_TARGET`. Fastify's `rewriteUrl` (a server
 * option) sends a bad one to a hidden route that answers it, so it never
 * reaches a real route, CORS or the verify path.
 */
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyRequest, FastifySchema } from 'fastify'
import type { RawRequestDefaultExpression } from 'fastify'
import { ApiError } from '../errors.js'
import { isValidRequestTarget } from '../auth/canonical.js'

export const INVALID_TARGET_ROUTE = '/__invalid-request-target__'

/** Fastify's rewriteUrl option. */
export function rewriteUrl (req: RawRequestDefaultExpression): string {
  return isValidRequestTarget(req.url ?? '') ? (req.url as string) : INVALID_TARGET_ROUTE
}

export function isInvalidTarget (request: FastifyRequest): boolean {
  return request.url === INVALID_TARGET_ROUTE
}

export const requestTarget = fp(async (app: FastifyInstance) => {
  app.all(INVALID_TARGET_ROUTE, { schema: { hide: true } as FastifySchema }, async () => { throw new ApiError('BAD_REQUEST_TARGET') })
}, { name: 'request-target', fastify: '5.x' })
