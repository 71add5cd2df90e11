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
 *
 * The same through Sentinel (ioredis follows the master the Sentinels name)
 * or a Cluster: every command touches one key (so it runs on that key's node
 * and needs no hash tag), PUBLISH reaches subscribers on every node of a
 * Cluster, and a replay entry may wait for replicas (WAIT) before its request
 * is accepted, so a failover cannot forget it.
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis'
import type { ReplayAnswer, ReplayCache } from './auth/replay.js'
import type { FailureLimiter } from './auth/login-limiter.js'
import type { Config } from './config.js'

/** One connection to Redis: a single server or Sentinel-managed master (Redis), or a Redis Cluster. */
export type RedisClient = Redis | Cluster

/** Password and TLS for the Sentinel and Cluster ways (a URL carries its own). */
export interface RedisAuth {
  /** The Redis nodes' password (REDIS_PASSWORD). */
  password?: string | undefined
  /** The Sentinels' own password (REDIS_SENTINEL_PASSWORD). */
  sentinelPassword?: string | undefined
  /** TLS to the nodes and the Sentinels, checked against Node's CAs (NODE_EXTRA_CA_CERTS adds one). */
  tls?: boolean | undefined
}

/**
 * How to reach Redis (one of REDIS_URL, REDIS_SENTINELS + REDIS_SENTINEL_MASTER, REDIS_CLUSTER_NODES).
 * A plain string is a URL.
 */
export type RedisTarget =
  | string
  | { url: string }
  | ({ sentinels: Array<{ host: string, port: number }>, master: string } & RedisAuth)
  | ({ clusterNodes: Array<{ host: string, port: number }> } & RedisAuth)

/** The one way to Redis the configuration names, or undefined without Redis. */
export function redisTargetOf (config: Config): RedisTarget | undefined {
  if (config.redisUrl !== undefined) return config.redisUrl
  if (config.redisSentinel !== undefined) return { sentinels: config.redisSentinel.sentinels, master: config.redisSentinel.master, ...config.redisAuth }
  if (config.redisClusterNodes !== undefined) return { clusterNodes: config.redisClusterNodes, password: config.redisAuth.password, tls: config.redisAuth.tls }
  return undefined
}

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
  const retry = (times: number): number => Math.min(100 * times, 2000)
  const open = (o: RedisOptions): RedisClient => {
    if (typeof target === 'string') return new Redis(target, o)
    if ('url' in target) return new Redis(target.url, o)
    const nodes: RedisOptions = { ...o, ...(target.password === undefined ? {} : { password: target.password }), ...(target.tls === true ? { tls: {} } : {}) }
    if ('sentinels' in target) {
      // Sentinel: ioredis asks the Sentinels for the current master whenever it (re)connects. A master
      // that dies closes the connection; a former master the Sentinels turned into a replica answers
      // writes with READONLY, which makes ioredis reconnect and ask again. (Not ioredis's failoverDetector:
      // a +switch-master that arrives while it is reconnecting ends the client for good, seen in
      // test/redis-failover.test.ts with ioredis 5.11.) A Sentinel that holds a question gives up after
      // the command timeout.
      return new Redis({
        ...nodes,
        sentinels: target.sentinels,
        name: target.master,
        sentinelRetryStrategy: retry,
        sentinelCommandTimeout: COMMAND_TIMEOUT_MS,
        reconnectOnError: (err: Error) => err.message.startsWith('READONLY'),
        ...(target.sentinelPassword === undefined ? {} : { sentinelPassword: target.sentinelPassword }),
        ...(target.tls === true ? { enableTLSForSentinelMode: true, sentinelTLS: {} } : {})
      })
    }
    const cluster: ClusterOptions = {
      enableOfflineQueue: o.enableOfflineQueue ?? false,
      clusterRetryStrategy: retry,
      redisOptions: nodes
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

/** How long Redis waits for replicas to acknowledge replay entries (WAIT's timeout), under the command timeout. */
export const REPLAY_WAIT_MS = 500

interface Batch { promise: Promise<number>, resolve: (n: number) => void, reject: (err: unknown) => void }

/**
 * Check 7 across instances: SET key NX with a relative expiry (PX), so the
 * entry's life is counted by Redis from when it is stored, whatever Redis's
 * own clock says. `expiresAt` (X-Microtime + skew + BODY_TIMEOUT_MS + 1 ms,
 * by this instance's clock) becomes a TTL of expiresAt - now.
 *
 * With `replicas` > 0 (REDIS_REPLAY_REPLICAS) a request is accepted only once
 * that many replicas hold its entry (WAIT after the SET): replication is
 * asynchronous, and an entry the master acknowledged but had not passed on
 * would be lost in a failover, letting the request be replayed once. When the
 * replicas do not acknowledge within REPLAY_WAIT_MS the request is not
 * accepted (503) and its entry is taken back, so a retry is not taken for a replay.
 */
export class RedisReplayCache implements ReplayCache {
  readonly #redis: RedisClient
  readonly #prefix: string
  readonly #replicas: number
  /** SETs sent since the last WAIT was sent: the next WAIT covers them all. */
  #pending: Batch | undefined
  #waiting = false

  constructor (redis: RedisClient, audience: string, options: { replicas?: number } = {}) {
    this.#redis = redis
    this.#prefix = `signed-api:${audience}:replay:`
    this.#replicas = options.replicas ?? 0
  }

  async remember (key: string, expiresAt: number, now: number): Promise<ReplayAnswer> {
    const ttl = Math.ceil(expiresAt - now)
    // No request that can still be accepted has an entry past its expiry (check 3 runs first);
    // refused rather than stored with no life (also for a not-a-number time).
    if (!(ttl >= 1)) return 'replay'
    const entry = this.#prefix + key
    try {
      if (this.#replicas === 0) return await this.#redis.set(entry, '1', 'PX', ttl, 'NX') === 'OK' ? 'fresh' : 'replay'
      let set: unknown
      let acknowledged: number
      if (this.#redis instanceof Cluster) {
        // One pipeline goes to the node of its key, so the WAIT follows the SET on that node's connection.
        const results = await this.#redis.pipeline().set(entry, '1', 'PX', ttl, 'NX').wait(this.#replicas, REPLAY_WAIT_MS).exec()
        const [setResult, waitResult] = results ?? []
        if (setResult === undefined || waitResult === undefined || setResult[0] !== null || waitResult[0] !== null) return 'unavailable'
        set = setResult[1]
        acknowledged = Number(waitResult[1])
      } else {
        // One connection: WAIT answers for every write sent on it before, so the SETs sent
        // while a WAIT is out share the next one (one WAIT per round trip, not per request).
        const sent = this.#redis.set(entry, '1', 'PX', ttl, 'NX')
        ;[set, acknowledged] = await Promise.all([sent, this.#acknowledged()])
      }
      if (set !== 'OK') return 'replay'
      if (acknowledged >= this.#replicas) return 'fresh'
      this.#redis.del(entry).catch(() => undefined)
      return 'unavailable'
    } catch {
      return 'unavailable'
    }
  }

  /** How many replicas hold every write sent so far on this connection. */
  async #acknowledged (): Promise<number> {
    let batch = this.#pending
    if (batch === undefined) {
      let resolve!: (n: number) => void
      let reject!: (err: unknown) => void
      const promise = new Promise<number>((res, rej) => { resolve = res; reject = rej })
      batch = { promise, resolve, reject }
      this.#pending = batch
    }
    if (!this.#waiting) this.#flush()
    return await batch.promise
  }

  #flush (): void {
    const batch = this.#pending
    if (batch === undefined) return
    this.#pending = undefined
    this.#waiting = true
    ;(this.#redis as Redis).wait(this.#replicas, REPLAY_WAIT_MS).then(n => { batch.resolve(Number(n)) }, (err: unknown) => { batch.reject(err) }).finally(() => {
      this.#waiting = false
      this.#flush()
    })
  }

  async healthy (): Promise<boolean> {
    try {
      // A Cluster answers PING from any node; ready means every slot is served.
      if (this.#redis instanceof Cluster) return String(await this.#redis.cluster('INFO')).includes('cluster_state:ok')
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

  /** Best effort, tried twice: false when the nudge could not be sent (the poller catches up within a second anyway). */
  async publish (seq: number): Promise<boolean> {
    for (let attempt = 0; attempt < 2; attempt++) {
      if (await this.#link.client.publish(this.#channel, String(seq)).then(() => true, () => false)) return true
    }
    return false
  }

  /**
   * Resolves once subscribed, or after `waitMs` when Redis is not there (start-up goes on; the
   * SUBSCRIBE goes out when Redis comes, and ioredis re-subscribes after every reconnection).
   */
  async subscribe (onNudge: () => void, waitMs: number): Promise<boolean> {
    const subscriber = this.#link.subscriber
    subscriber.on('message', (channel: string) => { if (channel === this.#channel) onNudge() })
    // SUBSCRIBE only once the connection is ready. ioredis 5 writes a SUBSCRIBE issued during its connection
    // handshake at once; when its reply comes before the handshake's own INFO, that INFO is refused ("Connection
    // in subscriber mode"), the connection is dropped, and the new one does not subscribe again: this instance
    // would hear no nudge until restarted (ioredis issue 2037; seen in test/redis-ha.test.ts under load).
    // A nudge published while the subscriber was reconnecting is lost (ioredis subscribes again once it is
    // back): each time it is ready, subscribe (again: harmless) and catch up as if nudged once that SUBSCRIBE is
    // confirmed; a sync that read the store before Redis had the subscription could miss a nudge sent in between.
    const subscribed = new Promise<boolean>(resolve => {
      const subscribeNow = (): void => {
        subscriber.subscribe(this.#channel).then(() => { resolve(true); onNudge() }, onNudge)
      }
      subscriber.on('ready', subscribeNow)
      if (subscriber.status === 'ready') subscribeNow()
    })
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<boolean>(resolve => { timer = setTimeout(() => resolve(false), waitMs) })
    const result = await Promise.race([subscribed, timeout])
    clearTimeout(timer)
    return result
  }
}
