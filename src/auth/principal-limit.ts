/**
 * The per-(principal, address) limit of signed requests (protocol-v1.md: after
 * checks 5-7, before check 8), counted by @fastify/rate-limit's own stores:
 * its LocalStore in memory, its RedisStore (the same Lua script the plugin
 * runs) when REDIS_URL is set.
 *
 * Called through the stores' `incr(key, cb, timeWindow, max)` contract rather
 * than the plugin's createRateLimit(): the memory store answers in the same
 * tick, so the verify hook stays synchronous, where createRateLimit() costs
 * three awaits per signed request (measured in bench/: about 4 µs of CPU
 * per request out of ~60). The stores are the package's own files, reached by path: the
 * dependency is pinned to a minor version (~11.2) so that a change to them is a deliberate upgrade.
 */
import LocalStore from '@fastify/rate-limit/store/LocalStore.js'
import RedisStore from '@fastify/rate-limit/store/RedisStore.js'
import type { Redis } from 'ioredis'
import type { RedisClient } from '../redis.js'

/** null: within the limit; a number: over it, retry after that many seconds. */
export type LimitAnswer = number | null

export interface PrincipalLimiter {
  /** Counts one request for `key` and answers through `cb`, at once for the memory store. */
  hit (key: string, cb: (answer: LimitAnswer) => void): void
}

export interface PrincipalLimitOptions {
  max: number
  windowMs: number
  /** Shared counters in Redis under this key prefix; memory when absent. */
  redis?: { client: RedisClient, nameSpace: string }
  /** Counters the memory store keeps (least recently used dropped first). */
  cache?: number
}

export function principalLimiter (o: PrincipalLimitOptions): PrincipalLimiter {
  const store = o.redis === undefined
    ? new LocalStore(false, false, o.cache ?? 100_000)
    // Typed for a single Redis, but it only defines and runs its one-key script, which a Cluster client does too.
    : new RedisStore(false, false, o.redis.client as Redis, o.redis.nameSpace)
  return {
    hit (key, cb) {
      store.incr(key, (err, result) => {
        // As the plugin's skipOnError: a store that cannot answer does not refuse the request
        // (with Redis down, the replay check before this one has already answered 503).
        if (err !== null || result === null) { cb(null); return }
        cb(result.current > o.max ? Math.max(1, Math.ceil(result.ttl / 1000)) : null)
      }, o.windowMs, o.max)
    }
  }
}
