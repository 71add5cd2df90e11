/**
 * buildApp(config, deps): the Fastify instance, fully wired, never listening.
 * Registration reads top-down in protocol order; server.ts owns the process.
 */
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifySchema, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import rateLimit from '@fastify/rate-limit'
import { randomBytes, randomUUID } from 'node:crypto'
import type { DestinationStream } from 'pino'
import { Ajv, type Options as AjvOptions, type ErrorObject } from 'ajv'
import addFormatsImport from 'ajv-formats'
import type { Config } from './config.js'
import { ApiError, isErrorCode, type ErrorCode } from './errors.js'
import { isValidRequestTarget } from './auth/canonical.js'
import type { Keyring } from './auth/keys.js'
import { createPasswordHasher, type PasswordHasher } from './auth/passwords.js'
import { MemoryFailureLimiter, type FailureLimiter } from './auth/login-limiter.js'
import { MemoryReplayCache, type ReplayCache } from './auth/replay.js'
import { RevocationView, syncRevocations } from './auth/revocation.js'
import { signed, unsigned, type AuthServices } from './auth/plugin.js'
import { KeyCache } from './auth/verify.js'
import { ConflictError, type Store } from './store/port.js'
import type { AppServices } from './services.js'
import { healthRoutes } from './routes/health.js'
import { credentialRoutes, sessionRoutes } from './routes/auth.js'
import { notesRoutes } from './routes/notes.js'
import { articlesRoutes } from './routes/articles.js'
import { adminRoutes } from './routes/admin.js'
import { cursorCodec } from './paging.js'
import { corsHook } from './cors.js'
import { createLogger, lazyChildLogger } from './logging.js'
import { securityHeaders } from './security-headers.js'
import { responseClass } from './server-response.js'
import { principalLimiter } from './auth/principal-limit.js'
import { RedisFailureLimiter, RedisReplayCache, RedisRevocationBus, RedisUnavailableError, type RedisLink } from './redis.js'
import { registerOpenApi } from './openapi.js'
import { webRoutes } from './web/routes.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Pulls new revocation records from the store now (the poller does this every second). */
    syncRevocations (): Promise<number>
  }
}

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
  /** REDIS_URL's connections: replay cache, rate limits, failed logins and revocation nudges go through Redis. */
  redis?: RedisLink
  /** How often revocations are polled from the store (default 1000 ms). */
  revocationPollMs?: number
}

const addFormats = addFormatsImport as unknown as (ajv: Ajv) => Ajv
const INVALID_TARGET_ROUTE = '/__invalid-request-target__'

function validationMessage (errors: ErrorObject[], context: string): string {
  const first = errors[0]
  if (first === undefined) return 'The request is not valid'
  const where = `${context}${first.instancePath.replace(/\//g, '.')}`
  if (first.keyword === 'additionalProperties') return `${where} has an unknown field "${String((first.params as { additionalProperty: string }).additionalProperty)}"`
  if (first.keyword === 'required') return `${where}.${String((first.params as { missingProperty: string }).missingProperty)} is required`
  return `${where} ${first.message ?? 'is not valid'}`
}

const BY_FASTIFY_CODE: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BAD_REQUEST',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_JSON',
  FST_ERR_BAD_URL: 'BAD_REQUEST_TARGET'
}

/** Fastify's own errors mapped onto the catalogue; a 5xx never forwards its message. */
function toApiError (error: FastifyError & { validation?: ErrorObject[], validationContext?: string }): ApiError {
  if (error instanceof ApiError) return error
  if ((error as unknown) instanceof RedisUnavailableError) return new ApiError('RATE_LIMIT_UNAVAILABLE', undefined, undefined, { 'retry-after': '1' })
  if (error.validation !== undefined) {
    return new ApiError('VALIDATION_FAILED', validationMessage(error.validation, error.validationContext ?? 'request'))
  }
  const mapped = Object.hasOwn(BY_FASTIFY_CODE, error.code) ? BY_FASTIFY_CODE[error.code] : undefined
  if (mapped !== undefined) return new ApiError(mapped)
  if (isErrorCode(error.code)) return new ApiError(error.code)
  const status = error.statusCode ?? 500
  if (status === 429) return new ApiError('RATE_LIMITED')
  if (status >= 400 && status < 500) return new ApiError('BAD_REQUEST', error.message)
  return new ApiError('INTERNAL_ERROR')
}

function sendError (reply: FastifyReply, err: ApiError): FastifyReply {
  if (err.statusCode === 401) reply.header('www-authenticate', `HMAC-SHA256 error="${err.code}"`)
  if (err.headers !== undefined) for (const [name, value] of Object.entries(err.headers)) reply.header(name, value)
  return reply.code(err.statusCode).type('application/json; charset=utf-8').send(err.body())
}

/** Route table kept from onRoute, to tell 405 from 404 in the not-found handler. */
function routeTable (): { add (method: string | string[], url: string): void, methodsFor (path: string): string[] } {
  const routes: Array<{ pattern: RegExp, methods: Set<string> }> = []
  return {
    add (method, url) {
      const source = url.split('/').map(seg => seg.startsWith(':') ? '[^/]+' : seg === '*' ? '.*' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('/')
      const pattern = new RegExp(`^${source}$`)
      const existing = routes.find(r => r.pattern.source === pattern.source)
      const methods = existing?.methods ?? new Set<string>()
      for (const m of Array.isArray(method) ? method : [method]) methods.add(m)
      if (existing === undefined) routes.push({ pattern, methods })
    },
    methodsFor (path) {
      const found = new Set<string>()
      for (const r of routes) if (r.pattern.test(path)) for (const m of r.methods) found.add(m)
      return [...found].sort()
    }
  }
}

export async function buildApp (config: Config, deps: AppDeps): Promise<FastifyInstance> {
  const now = deps.now ?? Date.now
  const hsts = { maxAge: 31_536_000, includeSubDomains: true }
  const security = securityHeaders({ hsts: config.tls ? hsts : false })
  // TLS=off behind a TLS-terminating proxy: answers to requests the trusted proxy says came over HTTPS get HSTS too.
  const proxiedHsts = !config.tls && config.trustProxy.length > 0 ? securityHeaders({ hsts })['strict-transport-security'] : undefined
  // Set in preClose: new requests on open connections get 503 NOT_READY (nginx passes them on), in-flight ones finish.
  let closing = false
  // Real sockets' answers carry the security headers from this class; injected ones (and all of them,
  // should the class not be able to) get them per reply, in the root hook and in frameworkErrors.
  const answers = responseClass({ isClosing: () => closing, fixedHeaders: security })
  // Bounds on how long a request may take (protocol-v1.md): the head within HEADERS_TIMEOUT_MS, the whole
  // request within BODY_TIMEOUT_MS of its first byte. Node checks them every `connectionsCheckingInterval`
  // (30 s by default, too coarse for these bounds). Past either, Node reports ERR_HTTP_REQUEST_TIMEOUT
  // to clientErrorHandler below, which answers 408 (or just closes when an answer was already begun).
  const serverOptions = {
    ServerResponse: answers.ServerResponse,
    headersTimeout: config.headersTimeoutMs,
    requestTimeout: config.bodyTimeoutMs,
    connectionsCheckingInterval: Math.min(1000, Math.floor(config.headersTimeoutMs / 4))
  }
  const setSecurityHeaders = (reply: FastifyReply): void => {
    if (!answers.writesFixedHeaders || !answers.isOwn(reply.raw)) reply.headers(security)
  }
  const app = Fastify({
    loggerInstance: createLogger(config.logLevel, deps.logStream) as FastifyBaseLogger,
    childLoggerFactory: lazyChildLogger,
    // The answer class (server-response.ts) goes to Node's createServer (http or https).
    ...(deps.https === undefined ? { http: serverOptions } : { https: { ...deps.https, ...serverOptions } }),
    requestTimeout: config.bodyTimeoutMs,
    // A socket with no traffic either way for this long is closed (a reader that stops reading an answer too).
    connectionTimeout: 2 * config.bodyTimeoutMs,
    genReqId: () => randomUUID(),
    trustProxy: config.trustProxy.length > 0 ? config.trustProxy : false,
    bodyLimit: config.bodyLimitBytes,
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    // Protocol step 1: the request target, before routing.
    rewriteUrl: (req) => isValidRequestTarget(req.url ?? '') ? (req.url as string) : INVALID_TARGET_ROUTE,
    frameworkErrors: (error, request, reply) => {
      setSecurityHeaders(reply)
      reply.header('x-server-time', String(now()))
      sendError(reply, error.code === 'FST_ERR_BAD_URL' ? new ApiError('BAD_REQUEST_TARGET', 'The path is not valid percent-encoding') : new ApiError('BAD_REQUEST'))
    },
    // Requests Node's HTTP parser refuses never reach a route: answer them in the same JSON shape.
    clientErrorHandler: (err: NodeJS.ErrnoException, socket) => {
      // Once an answer has begun on this socket nothing more can be written: close it.
      if (err.code === 'ECONNRESET' || !socket.writable || answers.answerBegunOn(socket)) { socket.destroy(); return }
      const apiError = new ApiError(err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'REQUEST_TIMEOUT' : err.code === 'HPE_INVALID_URL' ? 'BAD_REQUEST_TARGET' : err.code === 'HPE_HEADER_OVERFLOW' ? 'HEADERS_TOO_LARGE' : 'BAD_REQUEST')
      const body = JSON.stringify(apiError.body())
      socket.end(`HTTP/1.1 ${apiError.statusCode} ${apiError.body().error}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${answers.fixedLines}x-server-time: ${now()}\r\nconnection: close\r\n\r\n${body}`)
    }
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

  const jsonParser = app.getDefaultJsonParser('error', 'error')
  const jsonParse = (text: string): unknown => {
    let result: unknown
    let failure: unknown = null
    jsonParser({} as FastifyRequest, text, (err: Error | null, value?: unknown) => { failure = err; result = value })
    if (failure !== null) throw failure
    return result
  }
  // Raw bytes for every JSON body: the HMAC covers them exactly as sent.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => { done(null, body) })

  app.decorateRequest('receivedAt', 0)
  app.decorateRequest('principal', null)
  app.decorateRequest('authHead', null)
  // Preflights after the request-target check (a bad target is answered by its own route).
  const cors = corsHook(config.corsOrigins, request => request.url === INVALID_TARGET_ROUTE)
  // Callback-style hooks on the hot path: an async hook costs a promise per request.
  // Security headers first, so every answer carries them, preflights and early errors included
  // (injected answers here; a socket's answers get them as their head is written, server-response.ts);
  // then CORS (in the same hook: one hook fewer per request).
  app.addHook('onRequest', (request, reply, done) => {
    request.receivedAt = now()
    setSecurityHeaders(reply)
    if (proxiedHsts !== undefined && request.protocol === 'https') reply.header('strict-transport-security', proxiedHsts)
    reply.header('x-server-time', String(request.receivedAt))
    reply.header('x-request-id', request.id)
    if (closing) { done(new ApiError('NOT_READY', 'The server is shutting down; retry on another instance', undefined, { 'retry-after': '1', connection: 'close' })); return }
    cors(request, reply, done)
  })

  const routes = routeTable()
  app.addHook('onRoute', (route) => { if (route.url !== INVALID_TARGET_ROUTE) routes.add(route.method, route.url) })

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const apiError = toApiError(error)
    if (apiError.statusCode >= 500 && apiError.code === 'INTERNAL_ERROR') request.log.error({ err: error }, 'request failed')
    return sendError(reply, apiError)
  })
  app.setNotFoundHandler((request, reply) => {
    const methods = routes.methodsFor((request.url ?? '').split('?')[0] ?? '')
    if (methods.length > 0) return sendError(reply, new ApiError('METHOD_NOT_ALLOWED', undefined, undefined, { allow: methods.join(', ') }))
    return sendError(reply, new ApiError('NOT_FOUND'))
  })

  await app.register(rateLimit, {
    global: false,
    ...(deps.redis === undefined ? {} : { redis: deps.redis.client, nameSpace: `signed-api:${config.audience}:rate:`, skipOnError: true }),
    errorResponseBuilder: (_request, context) => new ApiError('RATE_LIMITED', `Too many requests; retry in ${context.after}`)
  })

  const revocations = new RevocationView()
  const replay = deps.replay ?? (deps.redis === undefined ? new MemoryReplayCache() : new RedisReplayCache(deps.redis.client, config.audience))
  const bus = deps.redis === undefined ? undefined : new RedisRevocationBus(deps.redis, config.audience)
  const auth: AuthServices = {
    ctx: {
      keyring: deps.keyring,
      audience: config.audience,
      clockSkewMs: config.clockSkewMs,
      bodyTimeoutMs: config.bodyTimeoutMs,
      keyTtlMs: config.keyTtlSeconds * 1000,
      sessionMaxMs: config.sessionMaxSeconds * 1000,
      keyCache: new KeyCache()
    },
    now,
    revocations,
    replay,
    signatureDebug: config.signatureDebug,
    bodyLimit: config.bodyLimitBytes,
    publicPathPrefix: config.publicPathPrefix,
    rateLimit: principalLimiter({
      max: config.rateLimitPerMinute,
      windowMs: 60_000,
      ...(deps.redis === undefined ? {} : { redis: { client: deps.redis.client, nameSpace: `signed-api:${config.audience}:rate:principal:` } })
    }),
    jsonParse,
    rolesOf: async (username) => {
      const user = await deps.store.findUser(username)
      return user === null || user.disabled ? null : user.roles
    }
  }
  const services: AppServices = {
    config,
    store: deps.store,
    keyring: deps.keyring,
    passwords: deps.passwords ?? createPasswordHasher(),
    loginLimiter: deps.loginLimiter ?? (deps.redis === undefined
      ? new MemoryFailureLimiter(config.loginWindowSeconds * 1000)
      : new RedisFailureLimiter(deps.redis.client, config.audience, config.loginWindowSeconds * 1000)),
    auth,
    cursors: cursorCodec(deps.keyring),
    newId: () => randomBytes(12).toString('base64url'),
    revoke: async (revocation) => {
      const seq = await deps.store.addRevocation(revocation, now())
      revocations.add(revocation)
      await bus?.publish(seq)
    },
    now
  }

  await registerOpenApi(app, '1.0.0')
  app.all(INVALID_TARGET_ROUTE, { schema: { hide: true } as FastifySchema }, async () => { throw new ApiError('BAD_REQUEST_TARGET') })

  // Unsigned: health, and signup/login unless they need a client signature.
  await app.register(async (open) => {
    unsigned(open, auth)
    healthRoutes(open, services)
    if (config.signup !== 'client') credentialRoutes(open, services)
  })
  // Signed: everything else. The verify hooks live in this scope only.
  await app.register(async (scope) => {
    signed(scope, auth)
    if (config.signup === 'client') credentialRoutes(scope, services)
    sessionRoutes(scope, services)
    articlesRoutes(scope, services)
    notesRoutes(scope, services)
    adminRoutes(scope, services)
  })

  // The website (src/web): GET / and /web/*; its API requests are injected into the routes above.
  await webRoutes(app, services)

  // Ready means: revocations loaded from the store, and the admin exists if configured.
  app.decorate('syncRevocations', () => syncRevocations(revocations, deps.store, now))
  let poller: NodeJS.Timeout | undefined
  let pruner: NodeJS.Timeout | undefined
  app.addHook('onReady', async () => {
    if (deps.redis !== undefined && !await deps.redis.ready(3000)) app.log.warn('Redis is not reachable yet: signed requests answer 503 until it is')
    await syncRevocations(revocations, deps.store, now)
    if (config.admin !== undefined) await ensureAdmin(services, config.admin)
    const sync = (): void => { syncRevocations(revocations, deps.store, now).catch((err: unknown) => app.log.error({ err }, 'revocation sync failed')) }
    poller = setInterval(sync, deps.revocationPollMs ?? 1000)
    poller.unref()
    // Records no live key can need are deleted from the store now and then (any instance may do it).
    pruner = setInterval(() => { deps.store.pruneRevocations(now()).catch((err: unknown) => app.log.warn({ err }, 'revocation pruning failed')) }, 300_000)
    pruner.unref()
    // Subscribed before ready, so no nudge published after this instance is up is missed.
    if (bus !== undefined && !await bus.subscribe(sync, 3000)) app.log.warn('revocation nudges are not subscribed yet; the poll still runs every second')
  })
  // A request that began before close() finishes normally; its answer then
  // closes the connection (server-response.ts), so a keep-alive socket does not hold the exit open.
  app.addHook('preClose', async () => { closing = true })
  app.addHook('onClose', async () => {
    if (poller !== undefined) clearInterval(poller)
    if (pruner !== undefined) clearInterval(pruner)
    await replay.close()
    await deps.redis?.close()
    await deps.store.close()
  })
  return app
}

async function ensureAdmin (s: AppServices, admin: { username: string, password: string }): Promise<void> {
  if (await s.store.findUser(admin.username) !== null) return
  try {
    await s.store.createUser({ username: admin.username, passwordHash: await s.passwords.hash(admin.password), roles: ['admin'] }, s.now())
  } catch (err) {
    if (!(err instanceof ConflictError)) throw err // another instance created it first
  }
}
