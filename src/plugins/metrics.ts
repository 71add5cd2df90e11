/**
 * GET /metrics in the Prometheus text format (prom-client), served on a
 * listener of its own (METRICS_HOST:METRICS_PORT, loopback by default) and
 * never on the public port: the figures tell an outsider how busy the
 * instance is, how many signatures fail and when revocations last synced.
 * A separate port rather than a token: a scraper needs no secret, a firewall
 * or the loopback default keeps it private, and nothing about it changes what
 * the public port answers. The listener is started by server.ts
 * (`app.metricsServer.listen`), as the public one is; buildApp never listens.
 *
 * Each app has its own Registry (tests build many apps in one process; the
 * global one would mix them). When METRICS_PORT is unset nothing is measured:
 * no hook, no timer, and prom-client is not even loaded (it adds ~0.1 s to a start).
 *
 *   signed_api_http_requests_total{method,route,status}   route is the pattern, never the raw URL
 *   signed_api_signed_refused_total{code}                 signed requests refused before their handler
 *   signed_api_password_hash_seconds{operation}           hash or verify, thread-pool wait included
 *   signed_api_replay_cache_entries                       memory cache only (see below)
 *   signed_api_revocations_entries, signed_api_revocations_sync_age_seconds
 *   signed_api_redis_up                                   with Redis only
 *   process_* and nodejs_* (collectDefaultMetrics): CPU, memory, GC, event-loop delay
 *
 * The replay cache in Redis is not counted: its entries share the database with
 * the rate limits and revocation nudges, and counting them means a SCAN of every
 * key per scrape. Redis's own exporter gives its size and memory.
 */
import fp from 'fastify-plugin'
import Fastify, { LogController, type FastifyError, type FastifyInstance } from 'fastify'
import type { Histogram, Registry } from 'prom-client'
import { ApiError, isErrorCode } from '../errors.js'
import { sendError, toApiError } from './errors.js'
import type { PasswordHasher } from '../auth/passwords.js'
import { MemoryReplayCache, type ReplayCache } from '../auth/replay.js'
import type { RevocationView } from '../auth/revocation.js'
import type { RedisLink } from '../redis.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The metrics listener (not yet listening), or null when METRICS_PORT is unset. */
    metricsServer: FastifyInstance | null
  }
}

type PromClient = typeof import('prom-client')

/** The registry, and the instruments that live outside the plugin's hooks (the password hasher is built before the app). */
export class AppMetrics {
  readonly prom: PromClient
  readonly registry: Registry
  readonly #passwordSeconds: Histogram<'operation'>

  private constructor (prom: PromClient) {
    this.prom = prom
    this.registry = new prom.Registry()
    this.#passwordSeconds = new prom.Histogram({
      name: 'signed_api_password_hash_seconds',
      help: 'Time of one password hash (signup, password change, rehash) or verification (login), waiting for the hashing thread pool included',
      labelNames: ['operation'] as const,
      registers: [this.registry]
    })
  }

  /** Loads prom-client (only when metrics are on) and makes a registry of this app's own. */
  static async create (): Promise<AppMetrics> {
    return new AppMetrics(await import('prom-client'))
  }

  /** The same hasher, each hash and verification timed. */
  timePasswords (hasher: PasswordHasher): PasswordHasher {
    const hash = this.#passwordSeconds.labels('hash')
    const verify = this.#passwordSeconds.labels('verify')
    const timed = <A extends unknown[], R>(child: typeof hash, fn: (...args: A) => Promise<R>) => async (...args: A): Promise<R> => {
      const end = child.startTimer()
      try { return await fn(...args) } finally { end() }
    }
    return {
      hash: timed(hash, p => hasher.hash(p)),
      verify: timed(verify, (p: string, stored: string) => hasher.verify(p, stored)),
      // An unknown user's login costs one verification too: it is one, for the figures.
      verifyDummy: timed(verify, p => hasher.verifyDummy(p)),
      needsRehash: stored => hasher.needsRehash(stored)
    }
  }
}

export interface MetricsOptions {
  /** Undefined: metrics off (METRICS_PORT unset). */
  metrics: AppMetrics | undefined
  replay: ReplayCache
  revocations: RevocationView
  redis?: RedisLink
  now: () => number
}

const REFUSAL_CODE = /"code":"([A-Z_]{1,64})"/

export const metrics = fp(async (app: FastifyInstance, o: MetricsOptions) => {
  const m = o.metrics
  if (m === undefined) {
    app.decorate('metricsServer', null)
    return
  }
  const registers = [m.registry]
  const { Counter, Gauge } = m.prom
  m.prom.collectDefaultMetrics({ register: m.registry })

  const requests = new Counter({ name: 'signed_api_http_requests_total', help: 'Answers by method, route pattern and status', labelNames: ['method', 'route', 'status'] as const, registers })
  const refused = new Counter({ name: 'signed_api_signed_refused_total', help: 'Signed requests refused before their handler ran (the verify path, load shedding or shutdown), by error code', labelNames: ['code'] as const, registers })
  const { replay, revocations, redis, now } = o
  if (replay instanceof MemoryReplayCache) {
    new Gauge({ name: 'signed_api_replay_cache_entries', help: 'Signatures held by the in-memory replay cache', registers, collect () { this.set(replay.size) } })
  }
  new Gauge({ name: 'signed_api_revocations_entries', help: 'Revocation records held in memory', registers, collect () { this.set(revocations.size) } })
  new Gauge({ name: 'signed_api_revocations_sync_age_seconds', help: 'Seconds since the revocation list was last read from the store (+Inf before the first read; /ready fails past 30)', registers, collect () { this.set((now() - revocations.lastSyncAt) / 1000) } })
  if (redis !== undefined) {
    new Gauge({ name: 'signed_api_redis_up', help: '1 when the connection to Redis is ready, else 0', registers, collect () { this.set(redis.client.status === 'ready' ? 1 : 0) } })
  }

  // One child per (method, route, status), found without hashing labels on each request.
  const children = new Map<string, ReturnType<typeof requests.labels>>()
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched'
    const status = reply.statusCode
    const key = `${request.method} ${status} ${route}`
    let child = children.get(key)
    if (child === undefined) {
      child = requests.labels(request.method, route, String(status))
      children.set(key, child)
    }
    child.inc()
    done()
  })
  // A refusal of the verify path is sent by the signed-api plugin itself, not thrown: read its code from the body.
  app.addHook('onSend', (request, reply, payload, done) => {
    if (reply.statusCode >= 400 && request.principal === null && request.routeOptions.config.signed !== undefined) {
      const found = typeof payload === 'string' ? REFUSAL_CODE.exec(payload)?.[1] : undefined
      refused.labels(isErrorCode(found) ? found : 'OTHER').inc()
    }
    done(null, payload)
  })

  // A scraper sends one small request every few seconds, not worth a log line: short timeouts and a few
  // connections are plenty, and keep a listener opened on a private interface (METRICS_HOST) from holding
  // sockets for anyone.
  const server = Fastify({
    loggerInstance: app.log,
    logController: new LogController({ disableRequestLogging: true }),
    connectionTimeout: 10_000,
    requestTimeout: 10_000,
    keepAliveTimeout: 10_000,
    bodyLimit: 1024
  })
  server.server.maxConnections = 32
  server.get('/metrics', async (_request, reply) => {
    reply.type(m.registry.contentType)
    return m.registry.metrics()
  })
  server.setNotFoundHandler((_request, reply) => sendError(reply, new ApiError('NOT_FOUND', 'Not found: this listener serves GET /metrics only')))
  // Fastify reads a body even for an unknown route: a client's mistake there (too large, an unknown type,
  // bad JSON) is a 4xx of the catalogue, not logged; only a failing scrape is the server's fault.
  server.setErrorHandler<FastifyError>((err, request, reply) => {
    const answer = toApiError(err)
    if (answer.statusCode >= 500) request.log.error({ err }, 'metrics scrape failed')
    return sendError(reply, answer)
  })
  app.decorate('metricsServer', server)
  app.addHook('onClose', async () => { await server.close() })
}, { name: 'metrics', fastify: '5.x' })
