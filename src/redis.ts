/**
 * REDIS_URL: what several instances share through Redis. The replay cache
 * (so a request accepted by one instance is refused by every other), the
 * failed-login counters, @fastify/rate-limit's counters (wired in app.ts),
 * and revocation nudges over pub/sub (the store's sequence stays the source
 * of truth; a nudge only makes instances look sooner).
 *
 * Commands fail fast while Redis is down (no offline queue), so the server
 * answers 503 at once instead of hanging, and never accepts a request it
 * cannot prove fresh. ioredis reconnects by itself; service resumes with it.
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis'
import type { ReplayAnswer, ReplayCache } from './auth/replay.js'
import type { FailureLimiter } from './auth/login-limiter.js'

/** One connection to Redis: a single server or Sentinel-managed master (Redis), or a Redis Cluster. */
export type RedisClient = Redis | Cluster

/**
 * How to reach Redis (one of REDIS_URL, REDIS_SENTINELS + REDIS_SENTINEL_MASTER, REDIS_CLUSTER_NODES).
 * A plain string is a URL.
 */
export type RedisTarget =
  | string
  | { url: string }
  | { sentinels: Array<{ host: string, port: number }>, master: string }
  | { clusterNodes: Array<{ host: string, port: number }> }

export interface RedisLink {
  client: RedisClient
  /** A second connection: a subscribed connection cannot run other commands. */
  subscriber: RedisClient
  /** Resolves when connected, or after `ms` (the server then starts anyway and answers 503 until Redis is there). */
  ready (ms: number): Promise<boolean>
  close (): Promise<void>
}

/** How long one Redis command may take before the request it serves stops waiting for it. */
export const COMMAND_TIMEOUT_MS = 1000

export function connectRedis (target: RedisTarget, onError: (err: Error) => void): RedisLink {
  const options: RedisOptions = {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    // Keep trying forever, at most every 2 s: service resumes when Redis returns.
    retryStrategy: (times: number) => Math.min(100 * times, 2000),
    lazyConnect: false
  }
  // A Redis that holds the connection but stops answering must not hold requests: each command
  // gives up after 1 s (replay answers 503, the signed-request limit lets through, login answers 503).
  const commandOptions: RedisOptions = { ...options, commandTimeout: COMMAND_TIMEOUT_MS }
  // The subscriber may queue its SUBSCRIBE until connected.
  const subscriberOptions: RedisOptions = { ...options, enableOfflineQueue: true, maxRetriesPerRequest: null }
  const open = (o: RedisOptions): RedisClient => {
    if (typeof target === 'string') return new Redis(target, o)
    if ('url' in target) return new Redis(target.url, o)
    // Sentinel: ioredis asks the Sentinels for the current master and follows failovers.
    if ('sentinels' in target) return new Redis({ ...o, sentinels: target.sentinels, name: target.master, sentinelRetryStrategy: (times: number) => Math.min(100 * times, 2000) })
    const cluster: ClusterOptions = {
      enableOfflineQueue: o.enableOfflineQueue ?? false,
      clusterRetryStrategy: (times: number) => Math.min(100 * times, 2000),
      redisOptions: o
    }
    return new Cluster(target.clusterNodes, cluster)
  }
  const client = open(commandOptions)
  const subscriber = open(subscriberOptions)
  let reported = false
  for (const c of [client, subscriber]) {
    // Without a listener ioredis would print every reconnection failure.
    c.on('error', (err: Error) => { if (!reported) { reported = true; onError(err) } })
    c.on('ready', () => { reported = false })
  }
  return {
    client,
    subscriber,
    async ready (ms) {
      if (client.status === 'ready') return true
      return new Promise<boolean>(resolve => {
        const timer = setTimeout(() => { client.off('ready', onReady); resolve(false) }, ms)
        const onReady = (): void => { clearTimeout(timer); resolve(true) }
        client.once('ready', onReady)
      })
    },
    async close () {
      client.disconnect()
      subscriber.disconnect()
    }
  }
}

/**
 * Check 7 across instances: SET key NX with a relative expiry (PX), so the
 * entry's life is counted by Redis from when it is stored, whatever Redis's
 * own clock says. `expiresAt` (X-Microtime + skew + BODY_TIMEOUT_MS + 1 ms,
 * by this instance's clock) becomes a TTL of expiresAt - now.
 */
export class RedisReplayCache implements ReplayCache {
  readonly #redis: RedisClient
  readonly #prefix: string

  constructor (redis: RedisClient, audience: string) {
    this.#redis = redis
    this.#prefix = `signed-api:${audience}:replay:`
  }

  async remember (key: string, expiresAt: number, now: number): Promise<ReplayAnswer> {
    const ttl = Math.ceil(expiresAt - now)
    // No request that can still be accepted has an entry past its expiry (check 3 runs first);
    // refused rather than stored with no life (also for a not-a-number time).
    if (!(ttl >= 1)) return 'replay'
    try {
      const set = await this.#redis.set(this.#prefix + key, '1', 'PX', ttl, 'NX')
      return set === 'OK' ? 'fresh' : 'replay'
    } catch {
      return 'unavailable'
    }
  }

  async healthy (): Promise<boolean> {
    try {
      return await this.#redis.ping() === 'PONG'
    } catch {
      return false
    }
  }

  close (): void {}
}

export class RedisUnavailableError extends Error {
  constructor (cause: unknown) {
    super('Redis is unavailable', { cause })
    this.name = 'RedisUnavailableError'
  }
}

/** INCR KEYS[1]; give it a life of ARGV[1] ms if it has none; answers {count, ms left}. */
const COUNT_ATTEMPT = `local count = redis.call('INCR', KEYS[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {count, redis.call('PTTL', KEYS[1])}`

/** Failed-login counters shared by every instance: INCR, with the window set by the first failure. */
export class RedisFailureLimiter implements FailureLimiter {
  readonly #redis: RedisClient
  readonly #prefix: string
  readonly #windowMs: number

  constructor (redis: RedisClient, audience: string, windowMs: number) {
    this.#redis = redis
    this.#prefix = `signed-api:${audience}:failures:`
    this.#windowMs = windowMs
  }

  /**
   * One script per key, atomic: INCR, and the window set when the counter has none (its first
   * attempt). Written with Redis 6.2's commands (PEXPIRE's NX flag needs Redis 7); one key per
   * script, so each runs on the key's own node of a Redis Cluster.
   */
  async attempt (keys: ReadonlyArray<{ key: string, max: number }>): Promise<number> {
    try {
      const counted = await Promise.all(keys.map(async ({ key }) => await this.#redis.eval(COUNT_ATTEMPT, 1, this.#prefix + key, String(this.#windowMs)) as [number, number]))
      let wait = 0
      keys.forEach(({ max }, i) => {
        const [count, ttl] = counted[i] as [number, number]
        if (Number(count) > max) wait = Math.max(wait, Math.ceil(Math.max(Number(ttl), 1000) / 1000))
      })
      return wait
    } catch (err) {
      throw new RedisUnavailableError(err)
    }
  }

  async succeeded (keys: ReadonlyArray<{ key: string }>): Promise<void> {
    try {
      // Only an existing counter goes down (a DECR on a missing key would make one with no expiry).
      for (const { key } of keys) await this.#redis.eval("if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('DECR', KEYS[1]) end return 0", 1, this.#prefix + key)
    } catch (err) {
      throw new RedisUnavailableError(err)
    }
  }
}

/** Revocation nudges: publish the new sequence; every instance syncs from the store when nudged. */
export class RedisRevocationBus {
  readonly #link: RedisLink
  readonly #channel: string

  constructor (link: RedisLink, audience: string) {
    this.#link = link
    this.#channel = `signed-api:${audience}:revocations`
  }

  /** Best effort: the poller catches up within a second anyway. */
  async publish (seq: number): Promise<void> {
    await this.#link.client.publish(this.#channel, String(seq)).catch(() => undefined)
  }

  /**
   * Resolves once subscribed, or after `waitMs` when Redis is not there (start-up goes on; the
   * SUBSCRIBE completes when Redis comes, and ioredis re-subscribes after every reconnection).
   */
  async subscribe (onNudge: () => void, waitMs: number): Promise<boolean> {
    this.#link.subscriber.on('message', (channel: string) => { if (channel === this.#channel) onNudge() })
    const subscribed = this.#link.subscriber.subscribe(this.#channel).then(() => true, () => false)
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<boolean>(resolve => { timer = setTimeout(() => resolve(false), waitMs) })
    const result = await Promise.race([subscribed, timeout])
    clearTimeout(timer)
    return result
  }
}
