/**
 * `signed-api/fastify`: the verify path of protocol-v1.md as a Fastify 5
 * plugin, for any Fastify app.
 *
 *   import signedApi from 'signed-api/fastify'
 *   await app.register(signedApi, { keyring, audience: 'my-api' })
 *   app.get('/hello', { config: { signed: { kinds: ['user'] } } }, async (request) => request.principal?.name)
 *
 * A route is signed when its `config.signed` names who may call it (check 8):
 * principal kinds, and optionally user roles or client scopes. A route marked
 * signed without such a rule makes registration fail, never a request.
 *
 * The plugin owns everything its routes need, whatever else the app does:
 *
 *   onRequest (route)   t_head: checks 1-4 on the head, then the body rules decided from the head
 *   application/json    the raw bytes are kept for signed routes (the HMAC covers them as sent) and
 *                       parsed only once the signature holds; other routes get Fastify's JSON parsing
 *   preValidation       t_body: checks 3 and 4 again, check 5, a stale revocation list, checks 6 and
 *                       7, the per-principal rate limit, check 8, then the JSON body
 *
 * Its refusals are answered by the plugin itself, in the protocol's JSON
 * shape (`statusCode`, `code`, `error`, `message`), with `WWW-Authenticate`
 * on every 401 and `Retry-After` where the protocol gives one, so an app's
 * own error handler cannot change what a client of the protocol reads.
 * Every answer of a signed route carries `X-Server-Time`.
 *
 * Register it before any signed route. Fastify tells a plugin only about
 * routes added after it, so a route registered earlier is not verified at all:
 * give your route plugins fastify-plugin's `dependencies: ['signed-api']` and
 * Fastify refuses the wrong order at start. It takes over the `application/json`
 * parser of the instance it is registered on; a signed route that receives an
 * already parsed body (a scope that set its own JSON parser) refuses the
 * request (500, logged) rather than verify bytes it never saw.
 */
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify'
import { ApiError } from '../errors.js'
import { bodyRuleFromHead, parseJsonBody } from '../body.js'
import { checkBodyTime, checkHead, checkSignature, ClockError, KeyCache, replayEntry, type HeadCheck, type Principal, type VerifyContext } from '../auth/verify.js'
import { limitAddress } from '../auth/address.js'
import type { KeyIdFields, KeyKind, Keyring } from '../auth/keys.js'
import { parseClientSid } from '../auth/scopes.js'
import { RevocationView, type Revocation } from '../auth/revocation.js'
import { MemoryReplayCache, type ReplayAnswer, type ReplayCache } from '../auth/replay.js'
import { principalLimiter, type LimitAnswer, type PrincipalLimiter } from '../auth/principal-limit.js'

export type { Principal } from '../auth/verify.js'
export type { KeyIdFields, KeyKind, Keyring } from '../auth/keys.js'
export type { Revocation } from '../auth/revocation.js'
export { MemoryReplayCache, type ReplayAnswer, type ReplayCache } from '../auth/replay.js'
export { principalLimiter, type LimitAnswer, type PrincipalLimiter, type PrincipalLimitOptions } from '../auth/principal-limit.js'

/**
 * Check 8 for a route: which kinds of principal may call it, and, when set,
 * the user roles (any one of) or client scopes (any one of) it needs. Scopes
 * come from the key id; roles from `rolesOf`, asked only for routes that name roles.
 */
export interface Access {
  kinds: readonly KeyKind[]
  roles?: readonly string[]
  scopes?: readonly string[]
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The verified caller of a signed route; null elsewhere, and until the signature holds. */
    principal: Principal | null
  }
  interface FastifyContextConfig {
    /** Makes the route signed, and says who may call it (check 8). */
    signed?: Access
    /**
     * The route's body carries a password: a failed signature's debug answer
     * leaves out the body's SHA-256 (an unsalted hash of a password is a guessing aid).
     */
    secretBody?: boolean
  }
}

/** Check 6: is a key revoked at `now` (t_body)? Answered from memory: no lookup per request. */
export interface RevocationCheck {
  isRevoked: (principal: string, fields: KeyIdFields, now: number) => boolean
  /** True when the list may be out of date: signed requests then answer 503 `REVOCATIONS_STALE`. */
  isStale?: (now: number) => boolean
}

/** Revocations kept in this process alone (one instance; several need a shared source). */
export class MemoryRevocations implements RevocationCheck {
  readonly #view = new RevocationView()
  /** Revokes per `r`: every key of one session (`sid`), or every session begun before `before`. */
  revoke (r: Revocation): void { this.#view.add(r) }
  /** Every key of one session (a logout), from `now` on. */
  revokeSession (principal: string, sid: string, now: number): void {
    this.#view.add({ principal, sid, before: null, effectiveAt: now, expiresAt: null })
  }

  isRevoked (principal: string, fields: KeyIdFields, now: number): boolean { return this.#view.isRevoked(principal, fields, now) }
}

export interface SignedApiOptions {
  /** The secret keyring every key derives from. */
  keyring: Keyring
  /** Binds keys to this API: a key issued for another audience never verifies here. */
  audience: string
  /** Check 6. Default: a MemoryRevocations nobody revokes through (pass your own to revoke). */
  revocations?: RevocationCheck
  /** Check 7. Default: in memory (one instance; several need a shared cache, such as Redis). */
  replay?: ReplayCache
  /** Per-(principal, address) limit after check 7; false for none. Default: 1200 a minute in memory. */
  limiter?: PrincipalLimiter | false
  /** Unix ms. Default Date.now. A reading that is not a finite number refuses the request (500), never passes it. */
  now?: () => number
  /** Check 3's skew (default 10 000). */
  clockSkewMs?: number
  /** How long a request may take from its first byte (default 30 000): bounds t_body and replay entries. Set the server's requestTimeout to it. */
  bodyTimeoutMs?: number
  /** A user key's lifetime cap (default 6 h). */
  keyTtlMs?: number
  /** A session's lifetime cap (default 7 days). */
  sessionMaxMs?: number
  /** Largest body a signed route reads (default 1 MiB); keep Fastify's bodyLimit at least this. */
  bodyLimit?: number
  /** Prefix a path-rewriting proxy strips (default ''): signatures cover the target as the client sent it. */
  publicPathPrefix?: string
  /** AUTH_BAD_SIGNATURE answers show the canonical string the server built (never the key). Default true. */
  signatureDebug?: boolean
  /** A user's current roles, or null when unknown or disabled; needed by routes whose rule names roles. */
  rolesOf?: (username: string) => Promise<readonly string[] | null>
}

export const DEFAULTS = {
  clockSkewMs: 10_000,
  bodyTimeoutMs: 30_000,
  keyTtlMs: 6 * 3600_000,
  sessionMaxMs: 7 * 86_400_000,
  bodyLimit: 1_048_576,
  rateLimitPerMinute: 1200
} as const

/** Check 8. Synchronous unless the route needs the user's roles. */
export function mayUse (principal: Principal, access: Access, rolesOf: SignedApiOptions['rolesOf']): boolean | Promise<boolean> {
  if (!access.kinds.includes(principal.kind)) return false
  if (principal.kind === 'user') {
    if (access.roles === undefined) return true
    const needed = access.roles
    if (rolesOf === undefined) return false
    return rolesOf(principal.name).then(roles => roles !== null && roles.some(r => needed.includes(r)))
  }
  if (access.scopes === undefined) return true
  const held: readonly string[] = parseClientSid(principal.fields.sid)?.scopes ?? []
  return held.some(s => access.scopes?.includes(s))
}

/** Why `signed` is not a usable access rule, or null. */
function accessProblem (signed: unknown, hasRolesOf: boolean): string | null {
  if (signed === null || typeof signed !== 'object') return 'config.signed must be an access rule such as { kinds: [\'user\'] }'
  const rule = signed as Partial<Access>
  const kinds: unknown = rule.kinds
  if (!Array.isArray(kinds) || kinds.length === 0 || !kinds.every(k => k === 'user' || k === 'app' || k === 'service')) return 'config.signed.kinds must list the principal kinds that may call it (user, app, service)'
  for (const field of ['roles', 'scopes'] as const) {
    const list: unknown = rule[field]
    if (list !== undefined && (!Array.isArray(list) || list.length === 0 || !list.every(v => typeof v === 'string'))) return `config.signed.${field} must be a non-empty list of names`
  }
  if (rule.roles !== undefined && !hasRolesOf) return 'config.signed.roles needs the plugin\'s rolesOf option'
  return null
}

/** The request target exactly as sent, with the prefix a rewriting proxy stripped added back. */
function signedTarget (request: FastifyRequest, prefix: string): string {
  return prefix + request.originalUrl
}

const EMPTY = Buffer.alloc(0)
/** A time that, read as seconds, is within a day of now: the usual mistake behind AUTH_STALE. */
function looksLikeSeconds (timeMs: number, now: number): boolean {
  return Math.abs(timeMs * 1000 - now) <= 86_400_000
}

/** The failed signature's debug answer; without the body's hash where the body holds a password. */
function debugView<T extends { bodySha256: string }> (canonical: T, request: FastifyRequest): T | Omit<T, 'bodySha256'> {
  if (request.routeOptions.config.secretBody !== true) return canonical
  const { bodySha256: _omitted, ...rest } = canonical
  return rest
}

function asList<T> (value: T | T[] | undefined): T[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value]
}

type Done = (err?: Error) => void

async function signedApiPlugin (fastify: FastifyInstance, opts: SignedApiOptions): Promise<void> {
  if (opts.keyring === undefined || typeof opts.audience !== 'string' || opts.audience === '') throw new TypeError('signed-api/fastify needs the keyring and a non-empty audience')
  const now = opts.now ?? Date.now
  const ctx: VerifyContext = {
    keyring: opts.keyring,
    audience: opts.audience,
    clockSkewMs: opts.clockSkewMs ?? DEFAULTS.clockSkewMs,
    bodyTimeoutMs: opts.bodyTimeoutMs ?? DEFAULTS.bodyTimeoutMs,
    keyTtlMs: opts.keyTtlMs ?? DEFAULTS.keyTtlMs,
    sessionMaxMs: opts.sessionMaxMs ?? DEFAULTS.sessionMaxMs,
    keyCache: new KeyCache()
  }
  const bodyLimit = opts.bodyLimit ?? DEFAULTS.bodyLimit
  const prefix = opts.publicPathPrefix ?? ''
  const debug = opts.signatureDebug ?? true
  const revocations: RevocationCheck = opts.revocations ?? new MemoryRevocations()
  const replay = opts.replay ?? new MemoryReplayCache()
  const limiter = opts.limiter === false ? null : opts.limiter ?? principalLimiter({ max: DEFAULTS.rateLimitPerMinute, windowMs: 60_000 })
  const jsonParser = fastify.getDefaultJsonParser('error', 'error')
  /** Strict UTF-8, then Fastify's prototype-poisoning-safe parser; an empty body is undefined. */
  const parseJson = (request: FastifyRequest, raw: Buffer | undefined): { ok: true, value: unknown } | { ok: false } =>
    parseJsonBody(raw, text => {
      let result: unknown
      let failure: Error | null = null
      jsonParser(request, text, (err: Error | null, value?: unknown) => { failure = err; result = value })
      if (failure !== null) throw failure
      return result
    })

  fastify.decorateRequest('principal', null)

  /** Answers a refusal in the protocol's shape; the request goes no further. */
  const refuse = (reply: FastifyReply, err: ApiError): void => {
    if (err.statusCode === 401) reply.header('www-authenticate', `HMAC-SHA256 error="${err.code}"`)
    if (err.headers !== undefined) reply.headers(err.headers)
    reply.code(err.statusCode).type('application/json; charset=utf-8').send(err.body())
  }
  /** A clock that reads not-a-number fails the request (500, logged); other errors are the app's. */
  const fault = (request: FastifyRequest, reply: FastifyReply, done: Done, err: unknown): void => {
    if (err instanceof ApiError) { refuse(reply, err); return }
    if (err instanceof ClockError) {
      request.log.error({ err }, 'the server clock is not a number: request refused')
      refuse(reply, new ApiError('INTERNAL_ERROR'))
      return
    }
    done(err as Error)
  }

  // Raw bytes for signed routes; Fastify's own JSON parsing, strict UTF-8, for the rest.
  fastify.removeContentTypeParser('application/json')
  fastify.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit }, (request, body, done) => {
    const raw = body as Buffer
    if (request.routeOptions.config.signed !== undefined) { done(null, raw); return }
    const parsed = parseJson(request, raw)
    if (parsed.ok) done(null, parsed.value)
    else done(new ApiError('INVALID_JSON'), undefined)
  })

  const onHead = (request: FastifyRequest, reply: FastifyReply, done: Done): void => {
    let head: HeadCheck
    try {
      const tHead = now()
      if (!reply.hasHeader('x-server-time')) reply.header('x-server-time', String(tHead))
      head = checkHead(request.headers, tHead, ctx)
      if (!head.ok) {
        if (head.code === 'AUTH_STALE' && looksLikeSeconds(Number(request.headers['x-microtime']), tHead)) {
          throw new ApiError('AUTH_STALE', 'X-Microtime is too far from the server time; it is Unix time in milliseconds, and this one looks like seconds')
        }
        throw new ApiError(head.code)
      }
      heads.set(request, head)
      const rule = bodyRuleFromHead(request.method, request.headers, bodyLimit)
      if (rule !== null) throw new ApiError(rule)
    } catch (err) {
      fault(request, reply, done, err)
      return
    }
    done()
  }
  // The head's verdict, for the body's checks (a request is its own key: nothing to clean up).
  const heads = new WeakMap<FastifyRequest, HeadCheck & { ok: true }>()

  // Callback style, synchronous end to end when the replay cache and the limiter answer at once
  // (memory): no promise per signed request. Only Redis's answers and a role lookup are waited for.
  const onBody = (request: FastifyRequest, reply: FastifyReply, next: Done): void => {
    // Each step may continue in a callback of Redis or the store: the request is answered once, and
    // a throw in a step before that becomes the answer, never an uncaught exception.
    let answered = false
    const done = (err?: unknown): void => {
      if (answered) return
      answered = true
      if (err === undefined) next()
      else fault(request, reply, next, err)
    }
    const step = <T>(fn: (value: T) => void) => (value: T): void => {
      try { fn(value) } catch (err) { if (answered) throw err; done(err) }
    }
    const access = request.routeOptions.config.signed as Access
    let principal: Principal
    const afterReplay = step((answer: ReplayAnswer) => {
      if (answer === 'replay') throw new ApiError('AUTH_REPLAY')
      if (answer === 'unavailable') throw new ApiError('REPLAY_CACHE_UNAVAILABLE', undefined, undefined, { 'retry-after': '1' })
      if (limiter === null) afterLimit(null)
      else limiter.hit(`${principal.name}|${limitAddress(request.ip)}`, afterLimit)
    })
    const afterLimit = step((retryAfterSeconds: LimitAnswer) => {
      if (retryAfterSeconds !== null) throw new ApiError('RATE_LIMITED', undefined, undefined, { 'retry-after': String(retryAfterSeconds) })
      const allowed = mayUse(principal, access, opts.rolesOf)
      if (typeof allowed === 'boolean') finish(allowed)
      else allowed.then(finish, done)
    })
    const finish = step((allowed: boolean) => {
      if (!allowed) throw new ApiError('FORBIDDEN')
      const parsed = parseJson(request, Buffer.isBuffer(request.body) ? request.body : undefined)
      if (!parsed.ok) throw new ApiError('INVALID_JSON')
      request.principal = principal
      request.body = parsed.value
      done()
    })
    const replayFailed = (err: unknown): void => { request.log.error({ err }, 'replay cache failed'); afterReplay('unavailable') }

    let pending: ReplayAnswer | Promise<ReplayAnswer>
    try {
      const head = heads.get(request)
      if (head === undefined) throw new Error('signed-api: the head of a signed request was not checked')
      const body = request.body
      if (!Buffer.isBuffer(body) && body !== undefined && body !== null) {
        // Another parser read this body: what it verified is not what was sent. Refuse (fail closed).
        request.log.error('signed-api: a signed route received a parsed body; register signed-api/fastify before the plugins that hold signed routes')
        throw new ApiError('INTERNAL_ERROR')
      }
      // t_body: the body is complete. What can change while a body is in flight is judged now,
      // never at t_head, so holding back the last byte gains nothing (protocol-v1.md, "Two instants matter").
      const tBody = now()
      const late = checkBodyTime(head, tBody, ctx)
      if (late !== null) throw new ApiError(late)
      const sig = checkSignature(head.auth, head.fields, request.method, signedTarget(request, prefix), Buffer.isBuffer(body) ? body : EMPTY, ctx, head.cached)
      if (!sig.ok) throw new ApiError('AUTH_BAD_SIGNATURE', undefined, debug ? { canonical: debugView(sig.canonical, request) } : undefined)
      principal = sig.principal
      if (revocations.isStale?.(tBody) === true) throw new ApiError('REVOCATIONS_STALE', undefined, undefined, { 'retry-after': '1' })
      if (revocations.isRevoked(principal.name, principal.fields, tBody)) throw new ApiError('AUTH_KEY_REVOKED')
      const entry = replayEntry(head.auth, ctx)
      try {
        pending = replay.remember(entry.key, entry.expiresAt, tBody)
      } catch (err) {
        pending = 'unavailable'
        request.log.error({ err }, 'replay cache failed')
      }
    } catch (err) {
      done(err)
      return
    }
    if (typeof pending === 'string') afterReplay(pending)
    else pending.then(afterReplay, replayFailed)
  }

  fastify.addHook('onRoute', (route: RouteOptions) => {
    const signed = route.config?.signed
    if (signed === undefined) return
    const problem = accessProblem(signed, opts.rolesOf !== undefined)
    if (problem !== null) throw new Error(`signed-api: ${String(route.method)} ${route.url}: ${problem}`)
    // First among the route's own hooks: nothing of the route runs before the head is checked.
    route.onRequest = [onHead, ...asList(route.onRequest)] as RouteOptions['onRequest']
    route.preValidation = [onBody, ...asList(route.preValidation)] as RouteOptions['preValidation']
  })
}

/** The plugin; see the top of this file. */
const signedApi = fp(signedApiPlugin, { name: 'signed-api', fastify: '5.x' })
export default signedApi
export { signedApi }
