/**
 * buildApp(config, deps): the reference API, fully wired, never listening.
 * server.ts owns the process. It is built as a user of this project builds
 * theirs: the server's own options, then named plugins, top-down:
 *
 *   errors          the JSON error catalogue, 404 and 405 (plugins/errors.ts)
 *   request-target  protocol step 1 (plugins/request-target.ts)
 *   headers         security headers, X-Server-Time, request id, CORS (plugins/headers.ts)
 *   in-flight       the requests begun and not yet answered, for the shutdown log (plugins/in-flight.ts)
 *   load-shedding   503 NOT_READY while the event loop is saturated (plugins/load-shedding.ts)
 *   metrics         Prometheus metrics on their own listener, when METRICS_PORT is set (plugins/metrics.ts)
 *   lifecycle       revocation sync, admin at start, close order (plugins/lifecycle.ts)
 *   signed-api      the verify path (src/fastify: the package's `signed-api/fastify`)
 *   routes          health, auth, notes, articles, admin (plugins/routes.ts)
 *   website         the same-origin website (src/web/routes.ts)
 *   api-docs        GET /docs, the OpenAPI document in Swagger UI (plugins/api-docs.ts)
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import { randomBytes } from 'node:crypto'
import type { DestinationStream } from 'pino'
import { Ajv, type Options as AjvOptions } from 'ajv'
import addFormatsImport from 'ajv-formats'
import type { Config } from './config.js'
import type { Keyring } from './auth/keys.js'
import { createPasswordHasher, type PasswordHasher } from './auth/passwords.js'
import { MemoryFailureLimiter, type FailureLimiter } from './auth/login-limiter.js'
import { MemoryReplayCache, type ReplayCache } from './auth/replay.js'
import { REVOCATIONS_MAX_AGE_MS, RevocationView } from './auth/revocation.js'
import { principalLimiter } from './auth/principal-limit.js'
import type { Store } from './store/port.js'
import type { AppServices } from './services.js'
import { cursorCodec } from './paging.js'
import { createLogger, lazyChildLogger } from './logging.js'
import { securityHeaders } from './security-headers.js'
import { responseClass } from './server-response.js'
import { requestIdGenerator } from './request-id.js'
import { RedisFailureLimiter, RedisReplayCache, RedisRevocationBus, type RedisLink } from './redis.js'
import { registerOpenApi } from './openapi.js'
import signedApi from './fastify/index.js'
import { earlyErrorOptions, errors } from './plugins/errors.js'
import { INVALID_TARGET_ROUTE, requestTarget, rewriteUrl } from './plugins/request-target.js'
import { headers } from './plugins/headers.js'
import { loadShedding } from './plugins/load-shedding.js'
import { AppMetrics, metrics } from './plugins/metrics.js'
import { lifecycle } from './plugins/lifecycle.js'
import { inFlight } from './plugins/in-flight.js'
import { routes } from './plugins/routes.js'
import { website } from './web/routes.js'
import { apiDocs } from './plugins/api-docs.js'

export interface AppDeps {
  store: Store
  keyring: Keyring
  /** Unix ms; defaults to Date.now. */
  now?: () => number
  passwords?: PasswordHasher
  replay?: ReplayCache
  loginLimiter?: FailureLimiter
  /** Where log lines go (default stdout). */
  logStream?: DestinationStream
  /** Key and certificate: the instance serves HTTPS when given. */
  https?: { key: string, cert: string }
  /** Redis connections: replay cache, rate limits, failed logins and revocation nudges go through Redis. */
  redis?: RedisLink
  /** How often revocations are polled from the store (default 1000 ms). */
  revocationPollMs?: number
  /** How often load shedding samples the event loop (default 1000 ms). */
  loadSheddingSampleMs?: number
}

const addFormats = addFormatsImport as unknown as (ajv: Ajv) => Ajv

export async function buildApp (config: Config, deps: AppDeps): Promise<FastifyInstance> {
  const now = deps.now ?? Date.now
  const hsts = { maxAge: 31_536_000, includeSubDomains: true }
  const security = securityHeaders({ hsts: config.tls ? hsts : false })
  // Set in preClose: new requests get 503 NOT_READY (nginx passes them on), in-flight ones finish.
  let closing = false
  const isClosing = (): boolean => closing
  const answers = responseClass({ isClosing, fixedHeaders: security })
  // Bounds on how long a request may take (protocol-v1.md): the head within HEADERS_TIMEOUT_MS, the whole
  // request within BODY_TIMEOUT_MS of its first byte, checked by Node every `connectionsCheckingInterval`
  // (30 s by default: too coarse). Past either, Node reports ERR_HTTP_REQUEST_TIMEOUT to clientErrorHandler.
  const serverOptions = {
    ServerResponse: answers.ServerResponse,
    headersTimeout: config.headersTimeoutMs,
    requestTimeout: config.bodyTimeoutMs,
    connectionsCheckingInterval: Math.min(1000, Math.floor(config.headersTimeoutMs / 4))
  }
  const app = Fastify({
    loggerInstance: createLogger(config.logLevel, deps.logStream) as FastifyBaseLogger,
    childLoggerFactory: lazyChildLogger,
    ...(deps.https === undefined ? { http: serverOptions } : { https: { ...deps.https, ...serverOptions } }),
    requestTimeout: config.bodyTimeoutMs,
    // A socket with no traffic either way for this long is closed (a reader that stops reading an answer too).
    connectionTimeout: 2 * config.bodyTimeoutMs,
    // X-Request-Id from a TRUST_PROXY peer when well formed, else a fresh UUID (request-id.ts).
    genReqId: requestIdGenerator(config.trustProxy),
    requestIdHeader: false,
    trustProxy: config.trustProxy.length > 0 ? config.trustProxy : false,
    bodyLimit: config.bodyLimitBytes,
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    rewriteUrl,
    ...earlyErrorOptions({ now, fixedLines: answers.fixedLines, onReply: reply => { reply.headers(security) }, answerBegunOn: answers.answerBegunOn })
  })
  // A cap on open connections (MAX_CONNECTIONS): Node closes new ones past it.
  app.server.maxConnections = config.maxConnections
  let lastDropWarning = -Infinity
  app.server.on('drop', () => {
    const at = Date.now()
    if (at - lastDropWarning < 10_000) return
    lastDropWarning = at
    app.log.warn({ maxConnections: config.maxConnections }, 'connection refused: MAX_CONNECTIONS open connections reached')
  })
  // Bodies are validated strictly (no coercion, unknown fields refused); query and params coerce strings.
  const ajvBase: AjvOptions = { allErrors: false, removeAdditional: false, useDefaults: true, strict: false }
  const bodyAjv = addFormats(new Ajv({ ...ajvBase, coerceTypes: false }))
  const otherAjv = addFormats(new Ajv({ ...ajvBase, coerceTypes: 'array' }))
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? bodyAjv : otherAjv).compile(schema))
  // JSON or nothing (protocol-v1.md): the signed-api plugin brings the JSON parser.
  app.removeAllContentTypeParsers()

  const revocations = new RevocationView()
  const appMetrics = config.metrics === undefined ? undefined : await AppMetrics.create()
  const passwords = deps.passwords ?? createPasswordHasher()
  const replay = deps.replay ?? (deps.redis === undefined ? new MemoryReplayCache() : new RedisReplayCache(deps.redis.client, config.audience, { replicas: config.redisReplayReplicas }))
  const services: AppServices = {
    config,
    store: deps.store,
    keyring: deps.keyring,
    passwords: appMetrics?.timePasswords(passwords) ?? passwords,
    loginLimiter: deps.loginLimiter ?? (deps.redis === undefined
      ? new MemoryFailureLimiter(config.loginWindowSeconds * 1000)
      : new RedisFailureLimiter(deps.redis.client, config.audience, config.loginWindowSeconds * 1000)),
    revocations,
    replay,
    cursors: cursorCodec(deps.keyring),
    newId: () => randomBytes(12).toString('base64url'),
    revoke: async (revocation) => {
      const seq = await deps.store.addRevocation(revocation, now())
      revocations.add(revocation)
      if (bus !== undefined && !await bus.publish(seq)) app.log.warn({ seq }, 'revocation nudge not sent; other instances see it at their next poll')
    },
    now
  }
  const bus = deps.redis === undefined ? undefined : new RedisRevocationBus(deps.redis, config.audience)

  await app.register(errors, { hiddenRoutes: [INVALID_TARGET_ROUTE] })
  await registerOpenApi(app, '1.0.0')
  await app.register(requestTarget)
  await app.register(headers, {
    now,
    security,
    // TLS=off behind a TLS-terminating proxy: answers to requests the trusted proxy says came over HTTPS get HSTS too.
    ...(!config.tls && config.trustProxy.length > 0 ? { proxiedHsts: securityHeaders({ hsts })['strict-transport-security'] } : {}),
    corsOrigins: config.corsOrigins,
    isClosing
  })
  await app.register(inFlight)
  await app.register(loadShedding, { maxEventLoopDelayMs: config.maxEventLoopDelayMs, maxEventLoopUtilization: config.maxEventLoopUtilization, ...(deps.loadSheddingSampleMs === undefined ? {} : { sampleIntervalMs: deps.loadSheddingSampleMs }) })
  await app.register(metrics, { metrics: appMetrics, replay, revocations, now, ...(deps.redis === undefined ? {} : { redis: deps.redis }) })
  await app.register(lifecycle, { services, revocations, replay, ...(deps.redis === undefined ? {} : { redis: deps.redis }), ...(bus === undefined ? {} : { bus }), onClosing: () => { closing = true }, ...(deps.revocationPollMs === undefined ? {} : { revocationPollMs: deps.revocationPollMs }) })
  await app.register(signedApi, {
    keyring: deps.keyring,
    audience: config.audience,
    now,
    clockSkewMs: config.clockSkewMs,
    bodyTimeoutMs: config.bodyTimeoutMs,
    keyTtlMs: config.keyTtlSeconds * 1000,
    sessionMaxMs: config.sessionMaxSeconds * 1000,
    bodyLimit: config.bodyLimitBytes,
    publicPathPrefix: config.publicPathPrefix,
    signatureDebug: config.signatureDebug,
    revocations: { isRevoked: (principal, fields, at) => revocations.isRevoked(principal, fields, at), isStale: at => revocations.isStale(at, REVOCATIONS_MAX_AGE_MS) },
    replay,
    limiter: principalLimiter({
      max: config.rateLimitPerMinute,
      windowMs: 60_000,
      ...(deps.redis === undefined ? {} : { redis: { client: deps.redis.client, nameSpace: `signed-api:${config.audience}:rate:principal:` } })
    }),
    rolesOf: async (username) => {
      const user = await deps.store.findUser(username)
      return user === null || user.disabled ? null : user.roles
    }
  })
  await app.register(routes, { services, ...(deps.redis === undefined ? {} : { redis: deps.redis }) })
  await app.register(website, { services })
  await app.register(apiDocs, { publicPathPrefix: config.publicPathPrefix })
  return app
}
