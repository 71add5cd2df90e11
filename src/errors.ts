/**
 * The error catalogue: every error the API sends has a stable `code` and
 * status here. Handlers throw `ApiError`; the error handler in app.ts maps
 * Fastify's own errors onto these codes and never forwards a 5xx message.
 */
export const ERRORS = {
  // protocol-v1.md, "Server checks"
  BAD_REQUEST_TARGET: { status: 400, message: 'The request target must be origin-form with bytes 0x21..0x7E only' },
  NOT_FOUND: { status: 404, message: 'Not found' },
  METHOD_NOT_ALLOWED: { status: 405, message: 'Method not allowed on this route' },
  AUTH_MISSING: { status: 401, message: 'Auth-Username, Auth-Key-Id, X-Microtime and Auth-Signature are all required' },
  AUTH_MALFORMED: { status: 401, message: 'An auth header is malformed' },
  AUTH_STALE: { status: 401, message: 'X-Microtime is too far from the server clock; see X-Server-Time' },
  AUTH_KEY_EXPIRED: { status: 401, message: 'The key has expired; refresh or log in again' },
  AUTH_BAD_SIGNATURE: { status: 401, message: 'The signature does not match' },
  AUTH_KEY_REVOKED: { status: 401, message: 'The key has been revoked; log in again' },
  AUTH_REPLAY: { status: 401, message: 'This signature was already accepted; sign the request again' },
  FORBIDDEN: { status: 403, message: 'This principal may not use this route' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'A request body must be application/json (charset utf-8) without Content-Encoding' },
  BODY_NOT_ALLOWED: { status: 400, message: 'GET, HEAD and DELETE requests must not have a body' },
  BODY_TOO_LARGE: { status: 413, message: 'The request body is larger than the limit' },
  REQUEST_TIMEOUT: { status: 408, message: 'The request took too long to arrive; send it again in one go' },
  REVOCATIONS_STALE: { status: 503, message: 'The revocation list is out of date; try again shortly' },
  REPLAY_CACHE_UNAVAILABLE: { status: 503, message: 'The replay cache cannot answer; try again shortly' },
  RATE_LIMITED: { status: 429, message: 'Too many requests; see Retry-After' },
  RATE_LIMIT_UNAVAILABLE: { status: 503, message: 'The shared rate limiter cannot answer; try again shortly' },
  // protocol-v1.md, "Auth endpoints"
  AUTH_INVALID_CREDENTIALS: { status: 401, message: 'Invalid username or password' },
  USERNAME_TAKEN: { status: 409, message: 'That username is taken' },
  SIGNUP_CLOSED: { status: 403, message: 'Signup is closed on this server' },
  HTTPS_REQUIRED: { status: 403, message: 'This endpoint is served over HTTPS only' },
  // api-v1.md
  VALIDATION_FAILED: { status: 400, message: 'The request is not valid' },
  INVALID_JSON: { status: 400, message: 'The request body is not valid JSON' },
  BAD_REQUEST: { status: 400, message: 'The request is malformed' },
  HEADERS_TOO_LARGE: { status: 431, message: 'The request headers are too large' },
  USER_NOT_FOUND: { status: 404, message: 'No such user' },
  CLIENT_NAME_TAKEN: { status: 409, message: 'A client with that name exists' },
  NOT_READY: { status: 503, message: 'The server is not ready' },
  INTERNAL_ERROR: { status: 500, message: 'Internal server error' },
  // The website (src/web)
  CSRF_REJECTED: { status: 403, message: 'Cross-site request refused: /web/ accepts state-changing requests from its own origin only' }
} as const satisfies Record<string, { status: number, message: string }>

export type ErrorCode = keyof typeof ERRORS

/** HTTP reason phrases for the `error` field of the JSON error body. */
const REASONS: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable'
}

export interface ErrorBody {
  statusCode: number
  code: ErrorCode
  error: string
  message: string
  [extra: string]: unknown
}

export class ApiError extends Error {
  readonly code: ErrorCode
  readonly statusCode: number
  readonly extra: Record<string, unknown> | undefined
  readonly headers: Record<string, string> | undefined

  constructor (code: ErrorCode, message?: string, extra?: Record<string, unknown>, headers?: Record<string, string>) {
    super(message ?? ERRORS[code].message)
    this.name = 'ApiError'
    this.code = code
    this.statusCode = ERRORS[code].status
    this.extra = extra
    this.headers = headers
  }

  body (): ErrorBody {
    return { statusCode: this.statusCode, code: this.code, error: REASONS[this.statusCode] ?? 'Error', message: this.message, ...this.extra }
  }
}

export function isErrorCode (value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERRORS, value)
}
