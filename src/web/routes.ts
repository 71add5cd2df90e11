/**
 * The website (issue 9): a same-origin web app whose browser never holds a key.
 *
 *   GET  /                  the app (src/web/public, script from src/web/client)
 *   POST /web/signup        performs POST /auth/signup
 *   POST /web/login         performs POST /auth/login; the key goes into a sealed cookie
 *   POST /web/logout        performs POST /auth/logout; clears the cookie
 *   *    /web/api/<path>    performs <path>, signed with the session's key
 *                           (visitors: GET /v1/public/... with the server's app:web keys)
 *
 * Every API request is made with `app.inject` against the real route, signed
 * per protocol-v1.md, so it passes the very checks a mobile app's request
 * does. The browser holds only `__Host-session`, sealed (session-cookie.ts).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, FastifySchema, LightMyRequestResponse, RouteOptions } from 'fastify'
import Type from 'typebox'
import fp from 'fastify-plugin'
import { ApiError, type ErrorCode } from '../errors.js'
import { bodyRuleFromHead, rawBody } from '../body.js'
import { parseKeyId } from '../auth/keys.js'
import { Credentials } from '../schemas/common.js'
import type { AppServices } from '../services.js'
import { clearedCookie, COOKIE_NAME, cookieSealer, readCookie, sessionCookie, sessionDeadline, type WebSession } from './session-cookie.js'
import { dispatcher, injectableTarget, maxAheadMs, WebKeyPool, webAppCredentials, type Credential } from './dispatch.js'
import { isSameOrigin, STATE_CHANGING } from './csrf.js'
import { vouchHttps } from './https-vouch.js'
import { staticRoutes, type StaticDirs } from './static.js'

const API_PREFIX = '/web/api'
/** What /web/api may perform: the two areas and the user's own account. Never login, refresh or admin answers: they carry keys. */
const ALLOWED = (target: string): boolean => target.startsWith('/v1/') || /^\/auth\/(whoami|password)(\?|$)/.test(target)
const PUBLIC_READ = (method: string, target: string): boolean => (method === 'GET' || method === 'HEAD') && target.startsWith('/v1/public/')
/** API answers that mean the session is over: the cookie is cleared with them. */
const SESSION_OVER = new Set(['AUTH_KEY_EXPIRED', 'AUTH_KEY_REVOKED', 'AUTH_BAD_SIGNATURE'])
/** Headers of the API's answer the browser needs (the rest, such as X-Server-Time, the web answer has itself; Cache-Control is always no-store here). */
const PASSED_HEADERS = ['content-type', 'www-authenticate', 'retry-after', 'allow'] as const

/** Also NOT_READY: an instance that starts closing mid-request can perform no more internal requests. */
const SIGNED_ERRORS: ErrorCode[] = ['NOT_READY', 'AUTH_MISSING', 'AUTH_KEY_EXPIRED', 'AUTH_BAD_SIGNATURE', 'AUTH_KEY_REVOKED', 'AUTH_REPLAY', 'FORBIDDEN', 'RATE_LIMITED', 'REVOCATIONS_STALE', 'REPLAY_CACHE_UNAVAILABLE']
const NOT_VALIDATED_HERE = (): ((data: unknown) => boolean) => () => true
const WebLoginAnswer = Type.Object({ username: Type.String(), expiresAt: Type.String({ format: 'date-time', description: 'When the session key expires; it is refreshed as the app is used, up to SESSION_MAX_SECONDS' }) })

/**
 * onSend of every /web route that reads or sets the session cookie (all but
 * the page's static files): the answer is this browser's alone, errors too, so
 * no cache may store it or hand it to a request with another cookie.
 */
function privateAnswer (_request: FastifyRequest, reply: FastifyReply, payload: unknown, done: (err: null, payload: unknown) => void): void {
  reply.header('cache-control', 'no-store')
  const vary = reply.getHeader('vary')
  const names = vary === undefined ? '' : String(vary)
  if (names === '') reply.header('vary', 'Cookie')
  else if (!names.split(',').some(n => { const v = n.trim().toLowerCase(); return v === 'cookie' || v === '*' })) reply.header('vary', `${names}, Cookie`)
  done(null, payload)
}

export interface WebOptions {
  staticDirs?: StaticDirs
}

/** Registers the website on `app` (the root instance: internal requests are injected into it). */
async function webRoutes (app: FastifyInstance, s: AppServices, opts: WebOptions = {}): Promise<void> {
  const { config } = s
  const keyTtlMs = config.keyTtlSeconds * 1000
  const sessionMaxMs = config.sessionMaxSeconds * 1000
  /** A key with less than this left is refreshed on the next request that needs it. */
  const refreshWithin = keyTtlMs / 4
  const sealer = cookieSealer(s.keyring, config.audience)
  const dispatch = dispatcher(app, { now: s.now, publicPathPrefix: config.publicPathPrefix })
  /** The app:web keys visitors' requests (and, with SIGNUP=client, logins) are signed with. */
  const webApp = new WebKeyPool(webAppCredentials(s.keyring, config.audience), maxAheadMs(config.clockSkewMs))

  /** One Set-Cookie per answer: a later decision (refreshed, then ended) replaces an earlier one. */
  function setCookie (reply: FastifyReply, value: string): void {
    reply.removeHeader('set-cookie')
    reply.header('set-cookie', value)
  }

  function setSession (reply: FastifyReply, session: WebSession): void {
    const left = sessionDeadline(session, keyTtlMs, sessionMaxMs) - s.now()
    setCookie(reply, sessionCookie(sealer.seal(session), left / 1000))
  }

  /** The session in the cookie; null without one; a cookie that does not open is refused (and cleared). */
  function sessionOf (request: FastifyRequest, reply: FastifyReply): WebSession | null {
    const value = readCookie(request.headers.cookie, COOKIE_NAME)
    if (value === undefined) return null
    const session = sealer.open(value)
    if (session === null) {
      setCookie(reply, clearedCookie())
      throw new ApiError('AUTH_BAD_SIGNATURE', 'The session cookie is not valid here; log in again')
    }
    return session
  }

  function passBack (reply: FastifyReply, res: LightMyRequestResponse): FastifyReply {
    for (const name of PASSED_HEADERS) {
      const value = res.headers[name]
      if (value !== undefined) reply.header(name, value)
    }
    reply.code(res.statusCode)
    return res.rawPayload.length === 0 ? reply.send() : reply.send(res.rawPayload)
  }

  const errorCodeOf = (res: LightMyRequestResponse): string | undefined =>
    /error="([A-Z_]+)"/.exec(String(res.headers['www-authenticate'] ?? ''))?.[1]

  /** The session's credential, refreshed through POST /auth/refresh when its key nears its end (never past the session's limit). */
  async function liveCredential (request: FastifyRequest, reply: FastifyReply, session: WebSession): Promise<{ cred: Credential } | { refused: LightMyRequestResponse }> {
    const fields = parseKeyId(session.keyId)
    const deadline = sessionDeadline(session, keyTtlMs, sessionMaxMs)
    const now = s.now()
    // Already dead: the request itself gets the API's answer (AUTH_KEY_EXPIRED).
    if (fields === null || now >= deadline || deadline - now > refreshWithin || deadline >= fields.sessionStart + sessionMaxMs) return { cred: session }
    const res = await dispatch({ method: 'POST', target: '/auth/refresh', cred: session, ip: request.ip })
    if (res.statusCode === 200) {
      const key = res.json() as { username: string, keyId: string, signingKey: string }
      const fresh = { username: key.username, keyId: key.keyId, signingKey: key.signingKey }
      setSession(reply, fresh)
      return { cred: fresh }
    }
    if (SESSION_OVER.has(errorCodeOf(res) ?? '')) return { refused: res }
    // Anything else (429, 503) is passing: the current key still works.
    return { cred: session }
  }

  /** POST /auth/signup or /auth/login on the browser's behalf: its address, its HTTPS, its exact bytes. */
  async function credentialRequest (request: FastifyRequest, target: string): Promise<LightMyRequestResponse> {
    const vouch = request.protocol === 'https' ? vouchHttps() : undefined
    try {
      return await dispatch({
        method: 'POST',
        target,
        body: rawBody(request),
        contentType: request.headers['content-type'],
        ip: request.ip,
        // With SIGNUP=client login needs a client signature: the website signs it with its own app key (signup never gets here then).
        cred: config.signup === 'client' ? webApp : undefined,
        ...(vouch === undefined ? {} : { headers: vouch.header })
      })
    } finally {
      vouch?.release()
    }
  }

  await app.register(async (scope) => {
    staticRoutes(scope, opts.staticDirs)

    // The API request is performed with the body exactly as the browser sent it: bytes, never parsed here.
    scope.removeContentTypeParser('application/json')
    scope.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => { done(null, body) })
    scope.addHook('onRequest', async (request: FastifyRequest) => {
      if (STATE_CHANGING.has(request.method) && !isSameOrigin(request)) throw new ApiError('CSRF_REJECTED')
      const rule = bodyRuleFromHead(request.method, request.headers, config.bodyLimitBytes)
      if (rule !== null) throw new ApiError(rule)
    })

    scope.post('/web/signup', {
      config: { errors: ['CSRF_REJECTED', 'USERNAME_TAKEN', 'SIGNUP_CLOSED', 'HTTPS_REQUIRED', 'RATE_LIMITED', 'RATE_LIMIT_UNAVAILABLE', 'NOT_READY'] },
      validatorCompiler: NOT_VALIDATED_HERE,
      onSend: privateAnswer,
      schema: {
        summary: 'Website: create an account (performs POST /auth/signup)',
        description: 'Same-origin only (`Sec-Fetch-Site: same-origin`, else `Origin` equal to this server\'s): a cross-site request is 403 `CSRF_REJECTED`. The body is passed to `POST /auth/signup` byte for byte and its answer returned, under the same rules (HTTPS only, rate limits, `SIGNUP`). With `SIGNUP=client` or `SIGNUP=closed` it is 403 `SIGNUP_CLOSED`: the website is not an app, so it signs no signups.',
        body: Credentials,
        response: { 201: Type.Object({ username: Type.String() }) }
      }
    }, async (request, reply) => {
      // With SIGNUP=client only an app may sign a signup: the website's own key would prove no app is calling (api-v1.md).
      if (config.signup === 'client') throw new ApiError('SIGNUP_CLOSED', 'Signup is open to apps only on this server; the website creates no accounts')
      return passBack(reply, await credentialRequest(request, '/auth/signup'))
    })

    scope.post('/web/login', {
      config: { errors: ['CSRF_REJECTED', 'AUTH_INVALID_CREDENTIALS', 'HTTPS_REQUIRED', 'RATE_LIMITED', 'RATE_LIMIT_UNAVAILABLE', 'NOT_READY'] },
      validatorCompiler: NOT_VALIDATED_HERE,
      onSend: privateAnswer,
      schema: {
        summary: 'Website: log in (performs POST /auth/login)',
        description: 'Same-origin only (403 `CSRF_REJECTED` otherwise). Performs `POST /auth/login` with the body byte for byte, under its rules (HTTPS only, failed-login limits, one answer for an unknown user and a wrong password). On success the session\'s username, key id and key are sealed (AES-256-GCM, key derived from the keyring and `AUDIENCE`) into the cookie `__Host-session` (`HttpOnly; Secure; SameSite=Strict; Path=/`, `Max-Age` the key\'s remaining lifetime); the key is never sent to the browser.',
        body: Credentials,
        response: { 200: WebLoginAnswer }
      }
    }, async (request, reply) => {
      const res = await credentialRequest(request, '/auth/login')
      if (res.statusCode !== 200) return passBack(reply, res)
      const key = res.json() as { username: string, keyId: string, signingKey: string, expiresAt: string }
      setSession(reply, { username: key.username, keyId: key.keyId, signingKey: key.signingKey })
      request.log.info({ username: key.username }, 'web session started')
      return reply.send({ username: key.username, expiresAt: key.expiresAt })
    })

    scope.post('/web/logout', {
      config: { errors: ['CSRF_REJECTED', 'VALIDATION_FAILED', ...SIGNED_ERRORS] },
      onSend: privateAnswer,
      schema: {
        summary: 'Website: log out (performs POST /auth/logout)',
        description: 'Same-origin only (403 `CSRF_REJECTED` otherwise). Revokes every key of the session through `POST /auth/logout` and clears the cookie. Without a cookie: 204. A cookie that does not open, or whose session is already over, is answered 401 and cleared.',
        response: { 204: Type.Null({ description: 'Logged out; the cookie is cleared' }) }
      }
    }, async (request, reply) => {
      const session = sessionOf(request, reply)
      if (session === null) {
        setCookie(reply, clearedCookie())
        return reply.code(204).send()
      }
      const res = await dispatch({ method: 'POST', target: '/auth/logout', cred: session, body: rawBody(request), contentType: request.headers['content-type'], ip: request.ip })
      if (res.statusCode === 204 || SESSION_OVER.has(errorCodeOf(res) ?? '')) setCookie(reply, clearedCookie())
      if (res.statusCode === 204) request.log.info({ username: session.username }, 'web session ended')
      return passBack(reply, res)
    })

    const apiRoute: RouteOptions = {
      method: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
      url: `${API_PREFIX}/*`,
      onSend: privateAnswer,
      config: { errors: ['CSRF_REJECTED', 'NOT_FOUND', 'METHOD_NOT_ALLOWED', 'VALIDATION_FAILED', 'INVALID_JSON', 'UNSUPPORTED_MEDIA_TYPE', 'BODY_TOO_LARGE', 'BODY_NOT_ALLOWED', 'USER_NOT_FOUND', 'RATE_LIMIT_UNAVAILABLE', ...SIGNED_ERRORS] },
      schema: {
        summary: 'Website: perform an API request as the logged-in user',
        params: { type: 'object', properties: { '*': { type: 'string', description: 'The API path and query to perform, without its leading "/"' } }, required: ['*'] },
        description: '`/web/api/<path>` performs the API request `<path>` (for example `GET /web/api/v1/notes?limit=5` performs `GET /v1/notes?limit=5`) with the same method and body bytes, signed per protocol-v1.md with the key in the `__Host-session` cookie, and answers with the API\'s status, JSON and `WWW-Authenticate`/`Retry-After`/`Allow`. `<path>` may be `/v1/...`, `/auth/whoami` or `/auth/password`; anything else is 404 `NOT_FOUND`. Without a cookie (visitors) `GET /v1/public/...` is signed with one of the server\'s own `app:web` client keys (scope `public:read`) and anything else is sent unsigned (401 `AUTH_MISSING`); when visitors come faster than those keys can sign without running ahead of the clock, 503 `NOT_READY` with `Retry-After`. A key near its end is refreshed through `POST /auth/refresh` (a new cookie is set), up to `SESSION_MAX_SECONDS`; when the API answers `AUTH_KEY_EXPIRED`, `AUTH_KEY_REVOKED` or `AUTH_BAD_SIGNATURE` the cookie is cleared. State-changing methods are same-origin only (403 `CSRF_REJECTED`). Every answer of `/web/api`, `/web/signup`, `/web/login` and `/web/logout`, errors included, carries `Cache-Control: no-store` and `Vary: Cookie`.'
      } as FastifySchema,
      handler: async (request, reply) => {
        const target = request.url.slice(API_PREFIX.length)
        if (!injectableTarget(target)) throw new ApiError('BAD_REQUEST_TARGET', 'The path must not hold dot segments or bytes a URL parser re-encodes')
        if (!ALLOWED(target)) throw new ApiError('NOT_FOUND', 'Not available through /web/api')
        const session = sessionOf(request, reply)
        let cred: Credential | WebKeyPool | undefined
        if (session === null) {
          cred = PUBLIC_READ(request.method, target) ? webApp : undefined
        } else {
          const live = await liveCredential(request, reply, session)
          if ('refused' in live) {
            setCookie(reply, clearedCookie())
            return passBack(reply, live.refused)
          }
          cred = live.cred
        }
        const res = await dispatch({ method: request.method, target, body: rawBody(request), contentType: request.headers['content-type'], cred, ip: request.ip })
        if (session !== null && SESSION_OVER.has(errorCodeOf(res) ?? '')) setCookie(reply, clearedCookie())
        return passBack(reply, res)
      }
    }
    scope.route(apiRoute)
  })
}

/** The website as a plugin of the root instance (its API requests are injected into the app's own routes). */
export const website = fp(async (app: FastifyInstance, o: WebOptions & { services: AppServices }) => {
  await webRoutes(app, o.services, o)
}, { name: 'website', fastify: '5.x', dependencies: ['routes'] })
