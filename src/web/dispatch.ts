/**
 * The website performs API requests on the browser's behalf: it signs them
 * exactly per protocol-v1.md with the session's key (or the server's own
 * `app:web` client key for visitors) and dispatches them with `app.inject`
 * to the real route, so the verify path (signature, revocation, replay, rate
 * limit, access rule, validation) is the one every mobile app goes through.
 */
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import { randomInt } from 'node:crypto'
import { ApiError } from '../errors.js'
import { signRequest as sdkSign } from '../sdk/signer.js'
import { issueKey, type Keyring } from '../auth/keys.js'
import { clientSid } from '../auth/scopes.js'

export interface Credential {
  username: string
  keyId: string
  signingKey: string
}

/**
 * The server's own client keys for visitors: kind `app`, scope `public:read`
 * only, derived statelessly from the keyring (any instance derives key `i`
 * the same way and verifies it; none leaves the process). Key `i` differs
 * only in its issued-at (`1 + i`), so each has its own key id and key; fixed
 * times keep key `i` identical everywhere.
 */
export const WEB_APP_PRINCIPAL = 'app:web'
export function webAppCredential (keyring: Keyring, audience: string, index = 0): Credential {
  const key = issueKey(keyring, audience, WEB_APP_PRINCIPAL, { kind: 'app', sessionStart: 1, issuedAt: 1 + index, expiresAt: null, sid: clientSid(1, ['public:read']) })
  return { username: WEB_APP_PRINCIPAL, keyId: key.keyId, signingKey: key.signingKey }
}

/** How many app:web keys one instance signs visitors' requests with: each signs at most one request per millisecond (WebKeyPool). */
export const WEB_KEY_POOL_SIZE = 32
/** The key indexes an instance picks its slice from: two instances share a key with odds of about 63 in 2^30. */
const WEB_KEY_INDEXES = 2 ** 30

/**
 * One instance's slice of the app:web keys: `size` consecutive keys from a
 * random index, so instances that share the replay cache (Redis) almost never
 * sign with the same key, and two identical visitor requests signed in the
 * same millisecond on two instances do not collide (AUTH_REPLAY).
 */
export function webAppCredentials (keyring: Keyring, audience: string, size = WEB_KEY_POOL_SIZE, first = randomInt(WEB_KEY_INDEXES)): Credential[] {
  return Array.from({ length: size }, (_, i) => webAppCredential(keyring, audience, first + i))
}

/**
 * The time each visitor request is signed at. One shared key stepping
 * `max(now, last + 1)` runs ahead of the clock as soon as more than one
 * request per millisecond comes in, and past CLOCK_SKEW_MS every visitor gets
 * AUTH_STALE. Instead each request takes the key whose last time is lowest:
 * `n` keys sign `n` requests per millisecond at the clock's own time, and a
 * burst spreads over at most `maxAheadMs` after it. When every key is used up
 * to that bound, `next` answers null (the caller answers 503) rather than
 * sign a time the verifier would refuse.
 *
 * Each instance has its own keys (webAppCredentials), so its pairs of key
 * id and time are its own; should two instances ever share a key, the
 * verifier answers AUTH_REPLAY to the second identical request and the
 * dispatcher re-signs once. If the clock steps back, times go on from the
 * highest clock seen (as a single key's would), so a pair is never signed twice.
 * Cost per request: one pass over at most `n` numbers, stopping at the first key free this millisecond.
 */
export class WebKeyPool {
  readonly #keys: readonly Credential[]
  readonly #last: Float64Array
  readonly #maxAheadMs: number
  #clock = 0
  /** Where the next scan starts: just after the key used last, so keys take turns. */
  #start = 0

  constructor (keys: readonly Credential[], maxAheadMs: number) {
    if (keys.length === 0) throw new RangeError('the pool needs at least one key')
    this.#keys = keys
    this.#last = new Float64Array(keys.length)
    this.#maxAheadMs = maxAheadMs
  }

  get size (): number { return this.#keys.length }

  /** The key and time for the next request, or null when every key is used up to `now + maxAheadMs`. */
  next (now: number): { cred: Credential, time: number } | null {
    if (now > this.#clock) this.#clock = now
    const base = this.#clock
    const last = this.#last
    const n = last.length
    let i = this.#start
    let best = i
    for (let k = 0; k < n; k++, i = i + 1 === n ? 0 : i + 1) {
      const t = last[i] as number
      if (t < base) { best = i; break }
      if (t < (last[best] as number)) best = i
    }
    const time = Math.max(base, (last[best] as number) + 1)
    if (time > base + this.#maxAheadMs) return null
    last[best] = time
    this.#start = best + 1 === n ? 0 : best + 1
    return { cred: this.#keys[best] as Credential, time }
  }
}

/** How far ahead of the clock a visitor request may be signed: 1 s, or half the skew when that is less. */
export const maxAheadMs = (clockSkewMs: number): number => Math.min(1000, Math.floor(clockSkewMs / 2))

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
  // The SDK's signer, as any client of the API signs.
  return { ...sdkSign(cred, time, method, signedTarget, body).headers }
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
  /** Signs the request when given: with this credential, or with a key of this pool (visitors). */
  cred?: Credential | WebKeyPool | undefined
  /** The browser's address, so per-address limits count the browser, not the server. */
  ip: string
  headers?: Record<string, string>
}

export function dispatcher (app: FastifyInstance, opts: { now: () => number, publicPathPrefix: string }): (d: Dispatch) => Promise<LightMyRequestResponse> {
  const times = new MicrotimeSource()
  /** The four auth headers for `d`, with a fresh time (and, from a pool, the key least used lately). */
  const sign = (d: Dispatch, cred: Credential | WebKeyPool, body: Buffer): Record<string, string> => {
    const now = opts.now()
    if (cred instanceof WebKeyPool) {
      const pick = cred.next(now)
      if (pick === null) throw new ApiError('NOT_READY', 'The website is answering too many visitors at once; try again in a moment', undefined, { 'retry-after': '1' })
      return signRequest(pick.cred, pick.time, d.method, opts.publicPathPrefix + d.target, body)
    }
    return signRequest(cred, times.next(cred.keyId, now), d.method, opts.publicPathPrefix + d.target, body)
  }
  return async (d) => {
    const body = d.body ?? Buffer.alloc(0)
    const headers: Record<string, string> = { ...d.headers }
    if (d.cred !== undefined) Object.assign(headers, sign(d, d.cred, body))
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
      // instance signing the same request with the same app:web key in the same millisecond can cause it.
      if (res.statusCode === 401 && d.cred !== undefined && (d.method === 'GET' || d.method === 'HEAD') && res.headers['www-authenticate'] === 'HMAC-SHA256 error="AUTH_REPLAY"') {
        Object.assign(headers, sign(d, d.cred, body))
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
