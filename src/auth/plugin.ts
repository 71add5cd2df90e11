/**
 * Wiring of the verify path into Fastify. `signed(scope)` adds the hooks to a
 * child scope that holds signed routes; unsigned routes live outside it.
 *
 *   onRequest      checks 1-4 on the head at t_head, then the body rules (before the body is read)
 *   (body read as raw bytes by the buffer content-type parser)
 *   preValidation  at t_body (the body is complete): checks 3 and 4 again, check 5,
 *                  REVOCATIONS_STALE, checks 6 and 7, per-principal rate limit, check 8,
 *                  then JSON parsing, then the route's own schema validation (callback style:
 *                  synchronous when the memory replay cache and rate limiter answer)
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { ApiError } from '../errors.js'
import { bodyRuleFromHead, parseJsonBody } from '../body.js'
import { checkBodyTime, checkHead, checkSignature, ClockError, replayEntry, type HeadCheck, type Principal, type VerifyContext } from './verify.js'
import { limitAddress } from './address.js'
import type { KeyKind } from './keys.js'
import { parseClientSid, type Scope } from './scopes.js'
import type { Role } from '../store/port.js'
import type { RevocationView } from './revocation.js'
import type { ReplayAnswer, ReplayCache } from './replay.js'
import type { LimitAnswer, PrincipalLimiter } from './principal-limit.js'

/** Revocations older than this make signed requests 503 (protocol-v1.md). */
export const REVOCATIONS_MAX_AGE_MS = 30_000

/**
 * Check 8 for a route: which kinds of principal may call it, and, when set,
 * the user roles (any one of) or client scopes (any one of) it needs. Scopes
 * come from the key id; roles from the store, and only for routes that name
 * roles (admin and article writes, which go to the store anyway).
 */
export interface Access {
  kinds: readonly KeyKind[]
  roles?: readonly Role[]
  scopes?: readonly Scope[]
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Unix ms when the head arrived (t_head): check 3's skew and the first check 4. */
    receivedAt: number
    /** The verified principal; null outside the signed scope. */
    principal: Principal | null
    authHead: (HeadCheck & { ok: true }) | null
  }
  interface FastifyContextConfig {
    access?: Access
    /**
     * The route's body carries a password: a failed signature's debug answer
     * leaves out the body's SHA-256 (an unsalted hash of a password is a guessing aid).
     */
    secretBody?: boolean
  }
}

export interface AuthServices {
  ctx: VerifyContext
  /** Unix ms: read once the body is complete (t_body). */
  now: () => number
  revocations: RevocationView
  replay: ReplayCache
  signatureDebug: boolean
  bodyLimit: number
  publicPathPrefix: string
  /** Per-(principal, address) limit, counted by @fastify/rate-limit's store (principal-limit.ts). */
  rateLimit: PrincipalLimiter
  jsonParse: (text: string) => unknown
  /** A user's current roles, or null when the user is unknown or disabled (role-gated routes only). */
  rolesOf: (username: string) => Promise<readonly Role[] | null>
}

/** Check 8. Synchronous unless the route needs the user's roles from the store. */
export function mayUse (principal: Principal, access: Access | undefined, rolesOf: AuthServices['rolesOf']): boolean | Promise<boolean> {
  if (access === undefined || !access.kinds.includes(principal.kind)) return false
  if (principal.kind === 'user') {
    if (access.roles === undefined) return true
    const needed = access.roles
    return rolesOf(principal.name).then(roles => roles !== null && roles.some(r => needed.includes(r)))
  }
  if (access.scopes === undefined) return true
  const held = parseClientSid(principal.fields.sid)?.scopes ?? []
  return held.some(s => access.scopes?.includes(s))
}

/** The request target exactly as sent, with the prefix a rewriting proxy stripped added back. */
export function signedTarget (request: FastifyRequest, prefix: string): string {
  const raw = request.raw as typeof request.raw & { originalUrl?: string }
  return prefix + (raw.originalUrl ?? raw.url ?? '')
}

/** The body rules' answer for this head, if it breaks one (protocol-v1.md: decided before the body is read). */
function bodyRuleError (request: FastifyRequest, limit: number): ApiError | undefined {
  const code = bodyRuleFromHead(request.method, request.headers, limit)
  return code === null ? undefined : new ApiError(code)
}

export function enforceBodyRules (request: FastifyRequest, limit: number): void {
  const error = bodyRuleError(request, limit)
  if (error !== undefined) throw error
}

/** Replaces the raw body buffer with parsed JSON (after the signature holds, for signed routes). */
export function parseBodyInPlace (request: FastifyRequest, jsonParse: (text: string) => unknown): void {
  const parsed = parseJsonBody(Buffer.isBuffer(request.body) ? request.body : undefined, jsonParse)
  if (!parsed.ok) throw new ApiError('INVALID_JSON')
  request.body = parsed.value
}

export function rawBody (request: FastifyRequest): Buffer {
  return Buffer.isBuffer(request.body) ? request.body : EMPTY
}
const EMPTY = Buffer.alloc(0)

/** A clock that reads not-a-number fails the request (500, logged), never passes a check. Other errors pass through. */
function clockFault (request: FastifyRequest, err: unknown): Error {
  if (!(err instanceof ClockError)) return err as Error
  request.log.error({ err }, 'the server clock is not a number: request refused')
  return new ApiError('INTERNAL_ERROR')
}

/** The failed signature's debug answer; without the body's hash where the body holds a password. */
function debugView<T extends { bodySha256: string }> (canonical: T, request: FastifyRequest): T | Omit<T, 'bodySha256'> {
  if (request.routeOptions.config.secretBody !== true) return canonical
  const { bodySha256: _omitted, ...rest } = canonical
  return rest
}

/** Adds the verify hooks to `scope`; every route registered in it is signed. */
export function signed (scope: FastifyInstance, services: AuthServices): void {
  const { ctx, revocations, replay } = services
  scope.addHook('onRoute', (route) => { route.config = { ...route.config, signed: true } })

  scope.addHook('onRequest', (request: FastifyRequest, _reply: FastifyReply, done: (err?: Error) => void) => {
    let head: HeadCheck
    try {
      head = checkHead(request.headers, request.receivedAt, ctx)
    } catch (err) {
      done(clockFault(request, err))
      return
    }
    if (!head.ok) { done(new ApiError(head.code)); return }
    request.authHead = head
    done(bodyRuleError(request, services.bodyLimit))
  })

  // Callback style, and synchronous end to end when the replay cache and the
  // limiter answer at once (memory): no promise per signed request. Only
  // Redis's answers and a role lookup (role-gated routes) are waited for.
  scope.addHook('preValidation', (request: FastifyRequest, _reply: FastifyReply, next: (err?: Error) => void) => {
    // Each step may continue in a callback of Redis or the store: `done` answers once, and a
    // throw in a step before the answer becomes the request's error, never an uncaught exception.
    // (A throw after it comes from Fastify's later steps, which run inside done(): passed on.)
    let answered = false
    const done = (err?: Error): void => { if (!answered) { answered = true; next(err) } }
    const step = <T>(fn: (value: T) => void) => (value: T): void => {
      try { fn(value) } catch (err) { if (answered) throw err; done(err as Error) }
    }
    let principal: Principal
    const afterReplay = step((answer: ReplayAnswer) => {
      if (answer === 'replay') throw new ApiError('AUTH_REPLAY')
      if (answer === 'unavailable') throw new ApiError('REPLAY_CACHE_UNAVAILABLE', undefined, undefined, { 'retry-after': '1' })
      request.principal = principal
      services.rateLimit.hit(`${principal.name}|${limitAddress(request.ip)}`, afterLimit)
    })
    const afterLimit = step((retryAfterSeconds: LimitAnswer) => {
      if (retryAfterSeconds !== null) throw new ApiError('RATE_LIMITED', undefined, undefined, { 'retry-after': String(retryAfterSeconds) })
      const allowed = mayUse(principal, request.routeOptions.config.access, services.rolesOf)
      if (typeof allowed === 'boolean') finish(allowed)
      else allowed.then(finish, done)
    })
    const finish = step((allowed: boolean) => {
      if (!allowed) {
        request.principal = null
        throw new ApiError('FORBIDDEN')
      }
      parseBodyInPlace(request, services.jsonParse)
      done()
    })
    const replayFailed = (err: unknown): void => { request.log.error({ err }, 'replay cache failed'); afterReplay('unavailable') }

    let pending: ReplayAnswer | Promise<ReplayAnswer>
    try {
      const head = request.authHead as HeadCheck & { ok: true }
      // t_body: the body is complete. What can change while a body is in flight is judged now,
      // never at t_head, so holding back the last byte gains nothing (protocol-v1.md, "Two instants matter").
      const now = services.now()
      const late = checkBodyTime(head, now, ctx)
      if (late !== null) throw new ApiError(late)
      const sig = checkSignature(head.auth, head.fields, request.method, signedTarget(request, services.publicPathPrefix), rawBody(request), ctx, head.cached)
      if (!sig.ok) throw new ApiError('AUTH_BAD_SIGNATURE', undefined, services.signatureDebug ? { canonical: debugView(sig.canonical, request) } : undefined)
      principal = sig.principal
      if (revocations.isStale(now, REVOCATIONS_MAX_AGE_MS)) throw new ApiError('REVOCATIONS_STALE', undefined, undefined, { 'retry-after': '1' })
      if (revocations.isRevoked(principal.name, principal.fields, now)) throw new ApiError('AUTH_KEY_REVOKED')
      const entry = replayEntry(head.auth, ctx)
      try {
        pending = replay.remember(entry.key, entry.expiresAt, now)
      } catch (err) {
        pending = 'unavailable'
        request.log.error({ err }, 'replay cache failed')
      }
    } catch (err) {
      done(clockFault(request, err))
      return
    }
    if (typeof pending === 'string') afterReplay(pending)
    else pending.then(afterReplay, replayFailed)
  })
}

/** Hooks for the unsigned scope: the same body rules and JSON parsing, no signature. */
export function unsigned (scope: FastifyInstance, services: Pick<AuthServices, 'bodyLimit' | 'jsonParse'>): void {
  scope.addHook('onRequest', (request: FastifyRequest, _reply: FastifyReply, done: (err?: Error) => void) => {
    done(bodyRuleError(request, services.bodyLimit))
  })
  scope.addHook('preValidation', async (request: FastifyRequest) => {
    parseBodyInPlace(request, services.jsonParse)
  })
}
