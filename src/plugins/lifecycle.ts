/**
 * The instance's life: ready means revocations loaded from the store (and the
 * admin created when configured); while up, the revocation list is polled
 * every second (the store is the source of truth; Redis nudges only make it
 * sooner) and records no live key can need are pruned now and then; closing
 * lets in-flight requests finish while new ones get 503 (headers.ts), then
 * closes the replay cache, Redis and the store, in that order.
 */
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { syncRevocations, type RevocationView } from '../auth/revocation.js'
import type { ReplayCache } from '../auth/replay.js'
import type { RedisLink, RedisRevocationBus } from '../redis.js'
import { ConflictError } from '../store/port.js'
import type { AppServices } from '../services.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Pulls new revocation records from the store now (the poller does this every second). */
    syncRevocations (): Promise<number>
  }
}

export interface LifecycleOptions {
  services: AppServices
  revocations: RevocationView
  replay: ReplayCache
  redis?: RedisLink
  bus?: RedisRevocationBus
  /** Called in preClose: from then on new requests are refused. */
  onClosing: () => void
  /** Default 1000 ms. */
  revocationPollMs?: number
}

export const lifecycle = fp(async (app: FastifyInstance, o: LifecycleOptions) => {
  const { services: s, revocations, replay, redis, bus } = o
  const store = s.store
  app.decorate('syncRevocations', () => syncRevocations(revocations, store, s.now))
  let poller: NodeJS.Timeout | undefined
  let pruner: NodeJS.Timeout | undefined
  app.addHook('onReady', async () => {
    if (redis !== undefined && !await redis.ready(3000)) app.log.warn('Redis is not reachable yet: signed requests answer 503 until it is')
    await syncRevocations(revocations, store, s.now)
    if (s.config.admin !== undefined) await ensureAdmin(s, s.config.admin)
    const sync = (): void => { syncRevocations(revocations, store, s.now).catch((err: unknown) => app.log.error({ err }, 'revocation sync failed')) }
    poller = setInterval(sync, o.revocationPollMs ?? 1000)
    poller.unref()
    // Records no live key can need are deleted from the store now and then (any instance may do it).
    pruner = setInterval(() => { store.pruneRevocations(s.now()).catch((err: unknown) => app.log.warn({ err }, 'revocation pruning failed')) }, 300_000)
    pruner.unref()
    // Subscribed before ready, so no nudge published after this instance is up is missed.
    // A nudge that finds nothing new may have outrun the store's write becoming visible here: look once more shortly after.
    const onNudge = (): void => {
      syncRevocations(revocations, store, s.now).then(
        applied => { if (applied === 0) setTimeout(sync, 250).unref() },
        (err: unknown) => { app.log.error({ err }, 'revocation sync failed') })
    }
    if (bus !== undefined && !await bus.subscribe(onNudge, 3000)) app.log.warn('revocation nudges are not subscribed yet; the poll still runs every second')
  })
  // A request that began before close() finishes normally; its answer then closes
  // the connection (server-response.ts), so a keep-alive socket does not hold the exit open.
  app.addHook('preClose', async () => { o.onClosing() })
  app.addHook('onClose', async () => {
    if (poller !== undefined) clearInterval(poller)
    if (pruner !== undefined) clearInterval(pruner)
    await replay.close()
    await redis?.close()
    await store.close()
  })
}, { name: 'lifecycle', fastify: '5.x' })

async function ensureAdmin (s: AppServices, admin: { username: string, password: string }): Promise<void> {
  if (await s.store.findUser(admin.username) !== null) return
  try {
    await s.store.createUser({ username: admin.username, passwordHash: await s.passwords.hash(admin.password), roles: ['admin'] }, s.now())
  } catch (err) {
    if (!(err instanceof ConflictError)) throw err // another instance created it first
  }
}
