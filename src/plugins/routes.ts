/**
 * The reference API's routes (api-v1.md). Signed routes say so, and who may
 * call them, in `config.signed` (the signed-api/fastify plugin, registered
 * before this, verifies them); the unsigned ones (health, and signup and login
 * unless SIGNUP=client) get the same body rules decided from the head.
 */
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import rateLimit from '@fastify/rate-limit'
import { ApiError } from '../errors.js'
import { bodyRuleFromHead } from '../body.js'
import type { RedisLink } from '../redis.js'
import type { AppServices } from '../services.js'
import { healthRoutes } from '../routes/health.js'
import { credentialRoutes, sessionRoutes } from '../routes/auth.js'
import { notesRoutes } from '../routes/notes.js'
import { articlesRoutes } from '../routes/articles.js'
import { adminRoutes } from '../routes/admin.js'

export interface RoutesOptions {
  services: AppServices
  redis?: RedisLink
}

export const routes = fp(async (app: FastifyInstance, { services: s, redis }: RoutesOptions) => {
  const { config } = s
  // Per-route limits (login, signup): counted in Redis when there is one.
  await app.register(rateLimit, {
    global: false,
    ...(redis === undefined ? {} : { redis: redis.client, nameSpace: `signed-api:${config.audience}:rate:`, skipOnError: true }),
    errorResponseBuilder: (_request, context) => new ApiError('RATE_LIMITED', `Too many requests; retry in ${context.after}`)
  })
  await app.register(async (open) => {
    // The body rules of protocol-v1.md, decided from the head, for unsigned routes too.
    open.addHook('onRequest', (request, _reply, done) => {
      const code = bodyRuleFromHead(request.method, request.headers, config.bodyLimitBytes)
      done(code === null ? undefined : new ApiError(code))
    })
    healthRoutes(open, s)
    if (config.signup !== 'client') credentialRoutes(open, s)
  })
  if (config.signup === 'client') credentialRoutes(app, s, { kinds: ['app', 'service'] })
  sessionRoutes(app, s)
  articlesRoutes(app, s)
  notesRoutes(app, s)
  adminRoutes(app, s)
}, { name: 'routes', fastify: '5.x', dependencies: ['signed-api'] })
