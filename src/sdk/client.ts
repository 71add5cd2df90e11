/**
 * The signed-request client (protocol-v1.md, "Client duties"):
 *
 * - X-Microtime is `max(now + offset, last + 1)` per key, so two identical
 *   requests never share a signature; every retry is signed again.
 * - On AUTH_STALE the offset is set from X-Server-Time and the request is
 *   signed again, once.
 * - On AUTH_REPLAY the request is signed again, once, for idempotent methods
 *   only (a POST that was accepted must not run twice).
 * - A user key is refreshed before its `expiresAt`.
 * - Every refusal is an ApiError (AuthError for 401) carrying the server's code.
 * - The key lives in a private field: never logged, never in an error, not
 *   shown by console.log / util.inspect.
 */
import { ApiError, AuthError, UsageError } from './errors.js'
import { bodyBytes, signRequest, targetProblem, type Credentials } from './signer.js'
import { nodeTransport, type HttpResponse, type Transport } from './transport.js'

export interface ClientOptions {
  /** https://host:port, optionally with a path prefix (https://host/api) that is sent and signed in front of every target. */
  baseUrl: string
  /** PEM to trust instead of the system CAs, e.g. the contents of $DATA_DIR/dev-cert.pem. */
  ca?: string | Buffer
  /** A user key (from an earlier login) or a client key (`app:<id>` / `service:<id>` and its secret). */
  credentials?: Credentials
  /** A client key that signs signup and login, for servers run with SIGNUP=client. */
  loginSigner?: Credentials
  /** Unix ms; inject to test or to use a monotonic source. Default Date.now. */
  now?: () => number
  /** Refresh a user key this long before its expiresAt (default 5 minutes). */
  refreshBeforeMs?: number
  /** Per request; default 30 s. */
  timeoutMs?: number
  /** Replaces HTTP (tests, other runtimes). */
  transport?: Transport
  /** Called whenever the key changes (login, refresh, logout: null), e.g. to store it. */
  onCredentials?: (creds: Credentials | null) => void
  /** Called with what was signed, before each attempt: for debugging. Never carries the key. */
  onSign?: (info: SignInfo) => void
  /** Called when a request is signed again after AUTH_STALE or AUTH_REPLAY. */
  onRetry?: (info: { code: 'AUTH_STALE' | 'AUTH_REPLAY', method: string, target: string, offsetMs: number }) => void
}

export interface SignInfo {
  method: string
  target: string
  canonical: Buffer
  headers: Record<string, string>
  attempt: number
}

export interface ApiResponse<T = unknown> {
  status: number
  headers: HttpResponse['headers']
  /** Raw answer bytes. */
  raw: Buffer
  /** Parsed JSON, or undefined for an empty or non-JSON answer. */
  data: T
}

/** A JSON value to serialise once, or the exact body bytes / text to send. */
export type RequestBody = Uint8Array | string | Record<string, unknown> | unknown[] | undefined

interface LoginAnswer { username: string, keyId: string, signingKey: string, expiresAt: string }

const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS'])

export class SignedApiClient {
  readonly baseUrl: URL
  #prefix: string
  #transport: Transport
  #now: () => number
  #refreshBeforeMs: number
  #creds: Credentials | null
  #loginSigner: Credentials | null
  #offsetMs = 0
  /** Last X-Microtime used, per key id. */
  #last = new Map<string, number>()
  #refreshing: Promise<void> | null = null
  /** Set when a refresh did not move expiresAt: the session is at its absolute limit. */
  #refreshExhausted = false
  #opts: ClientOptions

  constructor (opts: ClientOptions) {
    let url: URL
    try {
      url = new URL(opts.baseUrl)
    } catch {
      throw new UsageError(`base URL ${JSON.stringify(opts.baseUrl)} is not a URL such as https://127.0.0.1:8443`)
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new UsageError(`base URL must be https:// (or http:// behind a TLS proxy), got ${url.protocol}`)
    if (url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') throw new UsageError('base URL must have no query, fragment or user info')
    this.baseUrl = url
    this.#prefix = url.pathname.replace(/\/+$/, '')
    this.#opts = opts
    this.#transport = opts.transport ?? nodeTransport({ origin: new URL(url.origin), ...(opts.ca === undefined ? {} : { ca: opts.ca }), ...(opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs }) })
    this.#now = opts.now ?? Date.now
    this.#refreshBeforeMs = opts.refreshBeforeMs ?? 300_000
    this.#creds = opts.credentials === undefined ? null : checkCredentials(opts.credentials)
    this.#loginSigner = opts.loginSigner === undefined ? null : checkCredentials(opts.loginSigner)
  }

  /** Who is signing (no key), or null when logged out. */
  get principal (): { username: string, keyId: string, expiresAt: string | null } | null {
    const c = this.#creds
    return c === null ? null : { username: c.username, keyId: c.keyId, expiresAt: c.expiresAt ?? null }
  }

  /** The learned difference between the server clock and `now`, in ms. */
  get offsetMs (): number {
    return this.#offsetMs
  }

  /** A copy of the current key, to store it (mode 0600) or hand it to another client. */
  exportCredentials (): Credentials | null {
    return this.#creds === null ? null : { ...this.#creds }
  }

  /** POST /auth/signup. */
  async signup (username: string, password: string): Promise<{ username: string }> {
    const res = await this.#send('POST', '/auth/signup', bodyBytes(JSON.stringify({ username, password })), this.#loginSigner)
    return res.data as { username: string }
  }

  /** POST /auth/login: from now on requests are signed with the new user key. */
  async login (username: string, password: string): Promise<{ username: string, keyId: string, expiresAt: string }> {
    const res = await this.#send('POST', '/auth/login', bodyBytes(JSON.stringify({ username, password })), this.#loginSigner)
    const answer = parseKeyAnswer(res.data)
    this.#setCredentials(answer)
    this.#refreshExhausted = false
    return { username: answer.username, keyId: answer.keyId, expiresAt: answer.expiresAt }
  }

  /** POST /auth/refresh: a fresh key of the same session (the previous one stays valid until its own expiry). */
  async refresh (): Promise<{ username: string, keyId: string, expiresAt: string }> {
    const creds = this.#userCredentials('refresh')
    if (this.#refreshing !== null) await this.#refreshing
    else {
      this.#refreshing = this.#doRefresh(creds).finally(() => { this.#refreshing = null })
      await this.#refreshing
    }
    const c = this.#creds as Credentials
    return { username: c.username, keyId: c.keyId, expiresAt: c.expiresAt as string }
  }

  /**
   * POST /auth/logout: every key of this session is revoked, and this client
   * forgets its key. A key the server already refuses as revoked or expired
   * counts as logged out.
   */
  async logout (): Promise<void> {
    const creds = this.#userCredentials('logout')
    try {
      await this.#send('POST', '/auth/logout', Buffer.alloc(0), creds)
    } catch (err) {
      if (!(err instanceof AuthError && err.needsLogin)) throw err
    }
    this.#setCredentials(null)
  }

  /**
   * One signed request. `target` is the path and query exactly as it must
   * appear on the request line (percent-encode it yourself; nothing is
   * re-encoded). An object body is serialised with JSON.stringify once and
   * those bytes are signed and sent; a string or bytes body is sent as is.
   * Resolves on 2xx; throws ApiError / AuthError with the server's code otherwise.
   */
  async request<T = unknown> (method: string, target: string, body?: RequestBody): Promise<ApiResponse<T>> {
    const creds = this.#creds
    if (creds === null) throw new UsageError('not logged in: call login() first, or pass credentials')
    const bytes = body === undefined || typeof body === 'string' || body instanceof Uint8Array ? bodyBytes(body) : bodyBytes(JSON.stringify(body))
    await this.#refreshIfDue()
    return await this.#send<T>(method.toUpperCase(), target, bytes, this.#creds as Credentials)
  }

  /**
   * Signs without sending (what `request` would send next), for debugging
   * and for callers that bring their own HTTP. Advances the per-key clock.
   * `time` overrides X-Microtime.
   */
  sign (method: string, target: string, body?: Uint8Array | string, time?: number): { headers: Record<string, string>, canonical: Buffer, target: string } {
    const creds = this.#creds
    if (creds === null) throw new UsageError('not logged in: call login() first, or pass credentials')
    const full = this.#fullTarget(target)
    const signed = signRequest(creds, time ?? this.#nextTime(creds.keyId), method.toUpperCase(), full, bodyBytes(body))
    return { headers: { ...signed.headers }, canonical: signed.canonical, target: full }
  }

  // ---- internals ---------------------------------------------------------------

  #fullTarget (target: string): string {
    const problem = targetProblem(target)
    if (problem !== null) throw new UsageError(problem)
    return this.#prefix + target
  }

  #nextTime (keyId: string): number {
    const t = Math.max(Math.floor(this.#now() + this.#offsetMs), (this.#last.get(keyId) ?? 0) + 1)
    this.#last.set(keyId, t)
    return t
  }

  #setCredentials (c: Credentials | null): void {
    this.#creds = c === null ? null : checkCredentials(c)
    this.#opts.onCredentials?.(c === null ? null : { ...c })
  }

  #userCredentials (what: string): Credentials {
    const c = this.#creds
    if (c === null) throw new UsageError(`not logged in: nothing to ${what}`)
    if (c.username.includes(':')) throw new UsageError(`${what} is for user keys; a client key (${c.username}) is rotated by an admin`)
    return c
  }

  async #refreshIfDue (): Promise<void> {
    const c = this.#creds
    if (c === null || c.expiresAt == null || this.#refreshExhausted || c.username.includes(':')) return
    const expiresAt = Date.parse(c.expiresAt)
    if (Number.isNaN(expiresAt) || this.#now() + this.#offsetMs < expiresAt - this.#refreshBeforeMs) return
    await this.refresh()
  }

  async #doRefresh (creds: Credentials): Promise<void> {
    const res = await this.#send('POST', '/auth/refresh', Buffer.alloc(0), creds)
    const answer = parseKeyAnswer(res.data)
    // Near the session's absolute limit a refresh cannot extend the key: stop asking on every request.
    this.#refreshExhausted = creds.expiresAt != null && Date.parse(answer.expiresAt) <= Date.parse(creds.expiresAt)
    this.#setCredentials(answer)
  }

  async #send<T> (method: string, target: string, body: Buffer, creds: Credentials | null): Promise<ApiResponse<T>> {
    const full = this.#fullTarget(target)
    let staleRetried = false
    let replayRetried = false
    for (let attempt = 1; ; attempt++) {
      const headers: Record<string, string> = {}
      if (creds !== null) {
        let signed
        try {
          signed = signRequest(creds, this.#nextTime(creds.keyId), method, full, body)
        } catch (err) {
          throw new UsageError((err as Error).message)
        }
        Object.assign(headers, signed.headers)
        this.#opts.onSign?.({ method, target: full, canonical: signed.canonical, headers: { ...signed.headers }, attempt })
      }
      if (body.length > 0) headers['content-type'] = 'application/json'
      headers.accept = 'application/json'
      const sentAt = this.#now()
      const res = await this.#transport({ method, target: full, headers, body })
      const receivedAt = this.#now()
      if (res.status >= 200 && res.status < 300) return { status: res.status, headers: res.headers, raw: res.body, data: parseJson(res) as T }

      const err = toApiError(method, full, res)
      if (creds !== null && err.code === 'AUTH_STALE' && !staleRetried && err.serverTime !== undefined) {
        staleRetried = true
        // The server read its clock when the head arrived: about halfway through the exchange.
        this.#offsetMs = Math.round(err.serverTime - (sentAt + receivedAt) / 2)
        // Times above the corrected clock were refused as stale, never accepted,
        // so they may be used again; keeping them would leave `last + 1` in the future.
        const corrected = Math.floor(receivedAt + this.#offsetMs)
        const last = this.#last.get(creds.keyId) ?? 0
        if (last >= corrected) this.#last.set(creds.keyId, corrected - 1)
        this.#opts.onRetry?.({ code: 'AUTH_STALE', method, target: full, offsetMs: this.#offsetMs })
        continue
      }
      if (creds !== null && err.code === 'AUTH_REPLAY' && !replayRetried && IDEMPOTENT.has(method)) {
        replayRetried = true
        this.#opts.onRetry?.({ code: 'AUTH_REPLAY', method, target: full, offsetMs: this.#offsetMs })
        continue
      }
      throw err
    }
  }
}

function checkCredentials (c: Credentials): Credentials {
  if (typeof c !== 'object' || c === null || typeof c.username !== 'string' || typeof c.keyId !== 'string' || typeof c.signingKey !== 'string' || c.signingKey === '') {
    throw new UsageError('credentials must be {username, keyId, signingKey} strings')
  }
  if (c.expiresAt != null && (typeof c.expiresAt !== 'string' || Number.isNaN(Date.parse(c.expiresAt)))) throw new UsageError('credentials.expiresAt must be an ISO 8601 time or null')
  return { username: c.username, keyId: c.keyId, signingKey: c.signingKey, expiresAt: c.expiresAt ?? null }
}

function parseKeyAnswer (data: unknown): LoginAnswer {
  const a = data as Partial<LoginAnswer> | undefined
  if (typeof a?.username !== 'string' || typeof a.keyId !== 'string' || typeof a.signingKey !== 'string' || typeof a.expiresAt !== 'string') {
    throw new ApiError({ code: 'BAD_ANSWER', status: 200, message: 'the server answered without username, keyId, signingKey and expiresAt', method: 'POST', target: '', body: undefined, serverTime: undefined, retryAfter: undefined })
  }
  return { username: a.username, keyId: a.keyId, signingKey: a.signingKey, expiresAt: a.expiresAt }
}

function header (res: HttpResponse, name: string): string | undefined {
  const v = res.headers[name]
  return Array.isArray(v) ? v[0] : v
}

function parseJson (res: HttpResponse): unknown {
  if (res.body.length === 0 || !/^application\/([a-z.+-]*\+)?json/i.test(header(res, 'content-type') ?? '')) return undefined
  try {
    return JSON.parse(res.body.toString('utf8'))
  } catch {
    return undefined
  }
}

function toApiError (method: string, target: string, res: HttpResponse): ApiError {
  const body = parseJson(res)
  const fromBody = body as { code?: unknown, message?: unknown } | undefined
  // A HEAD answer has no body: WWW-Authenticate still names the code.
  const fromHeader = /error="([A-Z_]+)"/.exec(header(res, 'www-authenticate') ?? '')?.[1]
  const code = typeof fromBody?.code === 'string' ? fromBody.code : fromHeader ?? `HTTP_${res.status}`
  const message = typeof fromBody?.message === 'string' ? fromBody.message : 'the server gave no JSON error body'
  const time = Number(header(res, 'x-server-time'))
  const retry = Number(header(res, 'retry-after'))
  const init = {
    code,
    status: res.status,
    message,
    method,
    target,
    body,
    serverTime: Number.isFinite(time) && time > 0 ? time : undefined,
    retryAfter: Number.isFinite(retry) && retry >= 0 && header(res, 'retry-after') !== undefined ? retry : undefined
  }
  return res.status === 401 ? new AuthError(init) : new ApiError(init)
}
