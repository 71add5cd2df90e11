/**
 * Typed errors of the SDK. Every answer the server refuses becomes an
 * ApiError carrying the server's stable `code` (protocol-v1.md, api-v1.md);
 * 401s are AuthError. Branch on `code`, not on the message. No error ever
 * holds a key.
 */

/** Codes of protocol-v1.md and api-v1.md; other strings may appear from newer servers. */
export type ErrorCode =
  | 'BAD_REQUEST_TARGET' | 'NOT_FOUND' | 'METHOD_NOT_ALLOWED'
  | 'AUTH_MISSING' | 'AUTH_MALFORMED' | 'AUTH_STALE' | 'AUTH_KEY_EXPIRED' | 'AUTH_BAD_SIGNATURE' | 'AUTH_KEY_REVOKED' | 'AUTH_REPLAY'
  | 'FORBIDDEN' | 'UNSUPPORTED_MEDIA_TYPE' | 'BODY_NOT_ALLOWED' | 'BODY_TOO_LARGE'
  | 'REVOCATIONS_STALE' | 'REPLAY_CACHE_UNAVAILABLE' | 'RATE_LIMITED'
  | 'AUTH_INVALID_CREDENTIALS' | 'USERNAME_TAKEN' | 'SIGNUP_CLOSED' | 'HTTPS_REQUIRED'
  | 'VALIDATION_FAILED' | 'INVALID_JSON' | 'BAD_REQUEST' | 'USER_NOT_FOUND' | 'NOT_READY' | 'INTERNAL_ERROR'
  | (string & {})

/** Base class: everything the SDK throws on purpose. */
export class SignedApiError extends Error {
  constructor (message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'SignedApiError'
  }
}

/** The server's canonical view on AUTH_BAD_SIGNATURE (when SIGNATURE_DEBUG is on). */
export interface CanonicalDebug {
  lines: string[]
  bodyLength: number
  bodySha256: string
}

/** A non-2xx answer from the server. */
export class ApiError extends SignedApiError {
  /** The server's stable code, or `HTTP_<status>` when the answer carried none (a proxy's page, say). */
  readonly code: ErrorCode
  readonly status: number
  readonly method: string
  readonly target: string
  /** The JSON error body, when there was one. */
  readonly body: unknown
  /** X-Server-Time of the answer (Unix ms), when present. */
  readonly serverTime: number | undefined
  /** Retry-After in seconds (429, 503), when present. */
  readonly retryAfter: number | undefined

  constructor (init: { code: string, status: number, message: string, method: string, target: string, body: unknown, serverTime: number | undefined, retryAfter: number | undefined }) {
    super(`${init.method} ${init.target}: ${init.status} ${init.code}: ${init.message}`)
    this.name = 'ApiError'
    this.code = init.code
    this.status = init.status
    this.method = init.method
    this.target = init.target
    this.body = init.body
    this.serverTime = init.serverTime
    this.retryAfter = init.retryAfter
  }

  /** The server's canonical lines on AUTH_BAD_SIGNATURE, to compare with what was signed. */
  get canonical (): CanonicalDebug | undefined {
    const c = (this.body as { canonical?: CanonicalDebug } | undefined)?.canonical
    return c !== undefined && Array.isArray(c.lines) ? c : undefined
  }
}

/**
 * A 401. What to do (protocol-v1.md, "Client duties"): AUTH_STALE and
 * AUTH_REPLAY are retried by the SDK once; AUTH_KEY_EXPIRED and
 * AUTH_KEY_REVOKED mean log in again; AUTH_BAD_SIGNATURE means the signer
 * or the target is wrong (see `canonical`).
 */
export class AuthError extends ApiError {
  constructor (init: ConstructorParameters<typeof ApiError>[0]) {
    super(init)
    this.name = 'AuthError'
  }

  /** True when only a new login helps. */
  get needsLogin (): boolean {
    return this.code === 'AUTH_KEY_EXPIRED' || this.code === 'AUTH_KEY_REVOKED'
  }
}

/** The request never got an HTTP answer: connection refused, TLS failure, timeout. */
export class TransportError extends SignedApiError {
  constructor (message: string, cause?: unknown) {
    super(message, { cause })
    this.name = 'TransportError'
  }
}

/** A mistake on the calling side, found before anything was sent. */
export class UsageError extends SignedApiError {
  constructor (message: string) {
    super(message)
    this.name = 'UsageError'
  }
}

/** True when `err` is an ApiError, with the given code when one is passed. */
export function isApiError (err: unknown, code?: ErrorCode): err is ApiError {
  return err instanceof ApiError && (code === undefined || err.code === code)
}
