/**
 * The website performs API requests on the browser's behalf: it signs them
 * exactly per protocol-v1.md with the session's key (or the server's own
 * `app:web` client key for visitors) and dispatches them with `app.inject`
 * to the real route, so the verify path (signature, revocation, replay, rate
 * limit, access rule, validation) is the one every mobile app goes through.
 */
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import { ApiError } from '../errors.js'
import { canonicalBytes, signCanonical } from '../auth/canonical.js'
import { issueKey, type Keyring } from '../auth/keys.js'
import { clientSid } from '../auth/scopes.js'

export interface Credential {
  username: string
  keyId: string
  signingKey: string
}

/**
 * The server's own client key for visitors: kind `app`, scope `public:read`
 * only, derived statelessly from the keyring (every instance derives the same
 * key; it never leaves the process). Fixed times keep it identical everywhere.
 */
export const WEB_APP_PRINCIPAL = 'app:web'
export function webAppCredential (keyring: Keyring, audience: string): Credential {
  const key = issueKey(keyring, audience, WEB_APP_PRINCIPAL, { kind: 'app', sessionStart: 1, issuedAt: 1, expiresAt: null, sid: clientSid(1, ['public:read']) })
  return { username: WEB_APP_PRINCIPAL, keyId: key.keyId, signingKey: key.signingKey }
}

/** X-Microtime per key as the protocol asks of every client: max(now, last + 1), so two requests never share a signature. */
export class MicrotimeSource {
  readonly #last = new Map<string, number>()
  next (keyId: string, now: number): number {
    if (this.#last.size > 10_000) for (const [k, t] of this.#last) if (t < now) this.#last.delete(k)
    const t = Math.max(now, (this.#last.get(keyId) ?? 0) + 1)
    this.#last.set(keyId, t)
    return t
  }
}

/** The four auth headers for one request (target as signed: with PUBLIC_PATH_PREFIX). */
export function signRequest (cred: Credential, time: number, method: string, signedTarget: string, body: Buffer): Record<string, string> {
  const canonical = canonicalBytes({ username: cred.username, keyId: cred.keyId, time: String(time), method, target: signedTarget }, body)
  return { 'auth-username': cred.username, 'auth-key-id': cred.keyId, 'x-microtime': String(time), 'auth-signature': signCanonical(cred.signingKey, canonical) }
}

/**
 * True when `app.inject` will deliver exactly this target: it parses the URL
 * with WHATWG rules, which resolve dot segments (also %2e%2e) and re-encode
 * some bytes, and the signature must cover what the route sees.
 */
export function injectableTarget (target: string): boolean {
  if (!target.startsWith('/') || target.startsWith('//')) return false
  try {
    const url = new URL(target, 'http://localhost')
    return url.pathname + url.search === target
  } catch {
    return false
  }
}

export interface Dispatch {
  method: string
  target: string
  body?: Buffer | undefined
  contentType?: string | undefined
  /** Signs the request when given. */
  cred?: Credential | undefined
  /** The browser's address, so per-address limits count the browser, not the server. */
  ip: string
  headers?: Record<string, string>
}

export function dispatcher (app: FastifyInstance, opts: { now: () => number, publicPathPrefix: string }): (d: Dispatch) => Promise<LightMyRequestResponse> {
  const times = new MicrotimeSource()
  return async (d) => {
    const body = d.body ?? Buffer.alloc(0)
    const headers: Record<string, string> = { ...d.headers }
    if (d.cred !== undefined) Object.assign(headers, signRequest(d.cred, times.next(d.cred.keyId, opts.now()), d.method, opts.publicPathPrefix + d.target, body))
    if (body.length > 0) headers['content-type'] = d.contentType ?? 'application/json'
    const request: InjectOptions = {
      method: d.method as InjectOptions['method'],
      url: d.target,
      headers,
      remoteAddress: d.ip,
      ...(body.length > 0 ? { payload: body } : {})
    }
    try {
      const res = await app.inject(request)
      // Client duty (protocol-v1.md): on AUTH_REPLAY for an idempotent method, re-sign once. Another
      // instance signing for the shared app:web key in the same millisecond can cause it.
      if (res.statusCode === 401 && d.cred !== undefined && (d.method === 'GET' || d.method === 'HEAD') && res.headers['www-authenticate'] === 'HMAC-SHA256 error="AUTH_REPLAY"') {
        Object.assign(headers, signRequest(d.cred, times.next(d.cred.keyId, opts.now()), d.method, opts.publicPathPrefix + d.target, body))
        return await app.inject(request)
      }
      return res
    } catch (err) {
      // The instance began closing while this request was in flight: it can perform no more internal requests.
      if ((err as { code?: string }).code === 'FST_ERR_REOPENED_CLOSE_SERVER') throw new ApiError('NOT_READY', 'The server is shutting down; try again', undefined, { 'retry-after': '1' })
      throw err
    }
  }
}
