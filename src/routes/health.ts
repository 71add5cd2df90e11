/** GET /health and GET /ready (api-v1.md): unsigned, outside the verify scope. */
import type { FastifyInstance, FastifySchema } from 'fastify'
import { ApiError } from '../errors.js'
import { REVOCATIONS_MAX_AGE_MS } from '../auth/revocation.js'
import type { AppServices } from '../services.js'
import Type from 'typebox'

const Ready = Type.Object({ status: Type.Literal('ready'), checks: Type.Object({ store: Type.Boolean(), revocations: Type.Boolean(), replayCache: Type.Boolean() }) })

export function healthRoutes (app: FastifyInstance, s: AppServices): void {
  app.get('/health', { schema: { response: { 200: Type.Object({ status: Type.Literal('ok') }) } } }, async () => ({ status: 'ok' as const }))

  app.get('/ready', { config: { errors: ['NOT_READY'] }, schema: { response: { 200: Ready } } }, async (request) => {
    const checks = {
      store: await s.store.ping().then(() => true, (err: unknown) => { request.log.warn({ err }, 'store ping failed'); return false }),
      revocations: !s.revocations.isStale(s.now(), REVOCATIONS_MAX_AGE_MS),
      replayCache: await Promise.resolve(s.replay.healthy()).catch(() => false)
    }
    if (!checks.store || !checks.revocations || !checks.replayCache) {
      throw new ApiError('NOT_READY', `Not ready: ${Object.entries(checks).filter(([, ok]) => !ok).map(([name]) => name).join(', ')}`, { checks }, { 'retry-after': '1' })
    }
    return { status: 'ready', checks }
  })

  app.get('/openapi.json', { schema: { hide: true } as FastifySchema }, async () => app.swagger())
}
