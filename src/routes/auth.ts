/**
 * Auth endpoints (protocol-v1.md, "Auth endpoints"). Signup and login are
 * registered in the unsigned scope, or in the signed scope for client keys
 * only when SIGNUP=client; refresh, logout, password and whoami are signed.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { ApiError } from '../errors.js'
import { issueKey, newSessionId, type IssuedKey } from '../auth/keys.js'
import type { Principal } from '../auth/verify.js'
import type { Access } from '../fastify/index.js'
import { ConflictError } from '../store/port.js'
import { Credentials, KeyResponse, NoContent, Password } from '../schemas/common.js'
import type { AppServices } from '../services.js'
import { isVouchedHttps } from '../web/https-vouch.js'
import { limitAddress } from '../auth/address.js'

const WhoAmI = Type.Object({
  username: Type.String(),
  kind: Type.Union([Type.Literal('user'), Type.Literal('app'), Type.Literal('service')]),
  keyId: Type.String(),
  // One schema type list, not anyOf: fast-json-stringify then serialises it without running a validator per response.
  expiresAt: Type.Unsafe<string | null>({ type: ['string', 'null'], format: 'date-time', description: 'ISO 8601 UTC; null for client keys' })
})
const PasswordChange = Type.Object({ password: Password, newPassword: Password }, { additionalProperties: false })

/** refresh and logout take no body; anything sent is a mistake worth naming. */
function requireNoBody (request: FastifyRequest): void {
  if (request.body !== undefined) throw new ApiError('VALIDATION_FAILED', 'This endpoint takes an empty body')
}

function requireHttps (request: FastifyRequest): void {
  // request.protocol honours X-Forwarded-Proto only from TRUST_PROXY addresses; the website's
  // internal request (src/web/https-vouch.ts) carries a one-time token when the browser used HTTPS.
  if (request.protocol !== 'https' && !isVouchedHttps(request.headers)) throw new ApiError('HTTPS_REQUIRED')
}

function keyAnswer (reply: FastifyReply, username: string, key: IssuedKey): { username: string, keyId: string, signingKey: string, expiresAt: string } {
  reply.header('cache-control', 'no-store')
  return { username, keyId: key.keyId, signingKey: key.signingKey, expiresAt: new Date(key.fields.expiresAt as number).toISOString() }
}

/**
 * Counts an attempt before any password is hashed (atomically: concurrent
 * guesses each see their own count); 429 once a key is over its limit. A
 * successful attempt is taken back with loginLimiter.succeeded.
 */
async function countAttempt (s: AppServices, keys: ReadonlyArray<{ key: string, max: number }>): Promise<void> {
  const wait = await s.loginLimiter.attempt(keys, s.now())
  if (wait > 0) throw new ApiError('RATE_LIMITED', undefined, undefined, { 'retry-after': String(wait) })
}

/** A user key of the session (sessionStart, sid): it lives KEY_TTL_SECONDS, never past the session's end. */
function userKey (s: AppServices, username: string, session: { sessionStart: number, sid: string }, now: number): IssuedKey {
  const { keyTtlSeconds, sessionMaxSeconds, audience } = s.config
  return issueKey(s.keyring, audience, username, {
    kind: 'user',
    sessionStart: session.sessionStart,
    issuedAt: now,
    expiresAt: Math.min(now + keyTtlSeconds * 1000, session.sessionStart + sessionMaxSeconds * 1000),
    sid: session.sid
  })
}

/**
 * After a successful login with a hash of an older kind or cost (scrypt, or
 * Argon2id with other parameters): stores a current hash of the same password.
 * Compare-and-set on the hash just verified, so a password changed meanwhile
 * is never overwritten. A failure only leaves the old hash: the login goes on.
 */
async function upgradeHash (s: AppServices, request: FastifyRequest, username: string, oldHash: string, password: string): Promise<void> {
  try {
    const replaced = await s.store.replacePasswordHash(username, oldHash, await s.passwords.hash(password), s.now())
    if (replaced) request.log.info({ username }, 'password hash upgraded to the current parameters')
  } catch (err) {
    // The error's name only: a store error may quote the document or the filter, which hold hashes.
    request.log.warn({ username, error: err instanceof Error ? err.name : 'unknown' }, 'password hash upgrade failed; the old hash stays')
  }
}

/**
 * POST /auth/signup and POST /auth/login. `signed`: with SIGNUP=client, the clients that must sign them; unsigned otherwise. */
export function credentialRoutes (scope: FastifyInstance, s: AppServices, signed?: Access): void {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>()
  const { config } = s
  const windowMs = config.loginWindowSeconds * 1000

  app.post('/auth/signup', {
    config: { ...(signed === undefined ? {} : { signed }), secretBody: true, rateLimit: { max: config.loginMaxFailures * 5, timeWindow: windowMs }, errors: ['USERNAME_TAKEN', 'SIGNUP_CLOSED', 'HTTPS_REQUIRED', 'RATE_LIMITED', 'RATE_LIMIT_UNAVAILABLE'] },
    schema: { body: Credentials, response: { 201: Type.Object({ username: Type.String() }) } },
    onRequest: async (request) => {
      if (config.signup === 'closed') throw new ApiError('SIGNUP_CLOSED')
      requireHttps(request)
    }
  }, async (request, reply) => {
    const { username, password } = request.body
    // 409 tells that a name exists: probes of one name are limited wherever they come from.
    const probes = [{ key: `signup|${username}`, max: config.loginMaxFailures }]
    await countAttempt(s, probes)
    if (await s.store.findUser(username) !== null) throw new ApiError('USERNAME_TAKEN')
    const passwordHash = await s.passwords.hash(password)
    try {
      await s.store.createUser({ username, passwordHash, roles: [] }, s.now())
    } catch (err) {
      if (err instanceof ConflictError) throw new ApiError('USERNAME_TAKEN')
      throw err
    }
    await s.loginLimiter.succeeded(probes, s.now())
    request.log.info({ username }, 'user signed up')
    return reply.code(201).send({ username })
  })

  app.post('/auth/login', {
    config: { ...(signed === undefined ? {} : { signed }), secretBody: true, rateLimit: { max: config.loginMaxFailures * 10, timeWindow: windowMs }, errors: ['AUTH_INVALID_CREDENTIALS', 'HTTPS_REQUIRED', 'RATE_LIMITED', 'RATE_LIMIT_UNAVAILABLE'] },
    schema: { body: Credentials, response: { 200: KeyResponse } },
    onRequest: async (request) => { requireHttps(request) }
  }, async (request, reply) => {
    const { username, password } = request.body
    // The session starts here, before the user is read. A password change or a disable takes its
    // cut-off after its write, so if this login read the old hash or the enabled flag, its
    // sessionStart is at or before that cut-off and the change revokes the key issued below.
    const now = s.now()
    // An IPv6 client is counted by its /64 network (src/auth/address.ts).
    const address = limitAddress(request.ip)
    const keys = [
      { key: `login|${address}|${username}`, max: config.loginMaxFailures },
      { key: `login|${address}`, max: config.loginMaxFailures * 5 }
    ]
    await countAttempt(s, keys)
    const user = await s.store.findUser(username)
    // Unknown user, wrong password and disabled user: one answer, one hash each.
    const ok = user === null ? await s.passwords.verifyDummy(password) : await s.passwords.verify(password, user.passwordHash)
    if (user === null || !ok || user.disabled) throw new ApiError('AUTH_INVALID_CREDENTIALS')
    await s.loginLimiter.succeeded(keys, now)
    if (s.passwords.needsRehash(user.passwordHash)) await upgradeHash(s, request, user.username, user.passwordHash, password)
    const key = userKey(s, username, { sessionStart: now, sid: newSessionId() }, now)
    request.log.info({ username }, 'user logged in')
    return keyAnswer(reply, username, key)
  })
}

const userOnly = { kinds: ['user'] as const }
const anyPrincipal = { kinds: ['user', 'app', 'service'] as const }

/** Signed routes: refresh, logout, password, whoami. */
export function sessionRoutes (scope: FastifyInstance, s: AppServices): void {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>()
  const { config } = s
  const sessionEnd = (p: Principal): number => p.fields.sessionStart + config.sessionMaxSeconds * 1000

  app.post('/auth/refresh', {
    config: { signed: userOnly, errors: ['VALIDATION_FAILED'] },
    schema: { response: { 200: KeyResponse } }
  }, async (request, reply) => {
    requireNoBody(request)
    const p = request.principal as Principal
    const now = s.now()
    // A fresh key of the same session; the session's absolute end never moves.
    const key = userKey(s, p.name, p.fields, now)
    return keyAnswer(reply, p.name, key)
  })

  app.post('/auth/logout', {
    config: { signed: userOnly, errors: ['VALIDATION_FAILED'] },
    schema: { response: { 204: NoContent } }
  }, async (request, reply) => {
    requireNoBody(request)
    const p = request.principal as Principal
    const now = s.now()
    await s.revoke({ principal: p.name, sid: p.fields.sid, before: null, effectiveAt: now, expiresAt: sessionEnd(p) })
    return reply.code(204).send(null)
  })

  app.post('/auth/password', {
    config: { signed: userOnly, secretBody: true, errors: ['AUTH_INVALID_CREDENTIALS', 'RATE_LIMIT_UNAVAILABLE'] },
    schema: { body: PasswordChange, response: { 204: NoContent } }
  }, async (request, reply) => {
    const p = request.principal as Principal
    const keys = [{ key: `password|${p.name}`, max: config.loginMaxFailures }]
    await countAttempt(s, keys)
    const user = await s.store.findUser(p.name)
    const ok = user !== null && await s.passwords.verify(request.body.password, user.passwordHash)
    if (user === null || !ok) throw new ApiError('AUTH_INVALID_CREDENTIALS', 'The current password is wrong')
    await s.loginLimiter.succeeded(keys, s.now())
    const newHash = await s.passwords.hash(request.body.newPassword)
    await s.store.setPassword(p.name, newHash, s.now())
    // The cut-off is read only once the new hash is stored. A login that read the old hash took its
    // sessionStart before that read, so at or before this instant: every session that began up to
    // now ends (this one included, and such a login's), `+ 1` covering the same millisecond.
    const cutoff = s.now()
    await s.revoke({ principal: p.name, sid: null, before: cutoff + 1, effectiveAt: cutoff, expiresAt: cutoff + config.sessionMaxSeconds * 1000 })
    request.log.info({ username: p.name }, 'password changed; sessions revoked')
    return reply.code(204).send(null)
  })

  app.get('/auth/whoami', {
    config: { signed: anyPrincipal },
    schema: { response: { 200: WhoAmI } }
  }, (request, reply) => {
    // Synchronous (no promise to settle): the cheapest signed route, the one bench/ measures.
    const p = request.principal as Principal
    void reply.send({ username: p.name, kind: p.kind, keyId: p.keyId, expiresAt: p.expiresAt === null ? null : new Date(p.expiresAt).toISOString() })
  })
}
