/// <reference lib="dom" />
/**
 * The browser's only way to the API: same-origin requests to /web/*, which
 * the server performs with the session key it keeps sealed in an HttpOnly
 * cookie. This script never sees a key. Paths are relative, so the app also
 * works under a proxy's path prefix.
 */
export class ApiFailure extends Error {
  readonly status: number
  readonly code: string
  readonly retryAfter: string | null
  constructor (status: number, code: string, message: string, retryAfter: string | null) {
    super(message)
    this.name = 'ApiFailure'
    this.status = status
    this.code = code
    this.retryAfter = retryAfter
  }
}

/** Codes that mean the session is over: the page goes back to "logged out". */
export const SESSION_OVER = new Set(['AUTH_KEY_EXPIRED', 'AUTH_KEY_REVOKED', 'AUTH_BAD_SIGNATURE', 'AUTH_MISSING'])

/** One request to `web/<path>`; resolves with the JSON answer (null for 204), rejects with ApiFailure. */
export async function web (method: string, path: string, body?: unknown): Promise<unknown> {
  const init: RequestInit = { method, credentials: 'same-origin', headers: { accept: 'application/json' } }
  if (body !== undefined) {
    init.headers = { accept: 'application/json', 'content-type': 'application/json' }
    init.body = JSON.stringify(body)
  }
  let res: Response
  try {
    res = await fetch(`web/${path}`, init)
  } catch {
    throw new ApiFailure(0, 'NETWORK', 'The server cannot be reached.', null)
  }
  if (res.status === 204) return null
  const text = await res.text()
  let data: unknown = null
  try { data = text === '' ? null : JSON.parse(text) } catch { data = null }
  if (!res.ok) {
    const err = (data ?? {}) as { code?: unknown, message?: unknown }
    throw new ApiFailure(res.status, typeof err.code === 'string' ? err.code : 'UNKNOWN', typeof err.message === 'string' ? err.message : `HTTP ${res.status}`, res.headers.get('retry-after'))
  }
  return data
}

/** An API request on the user's behalf: `api('GET', 'v1/notes?limit=10')` performs GET /v1/notes?limit=10. */
export async function api (method: string, path: string, body?: unknown): Promise<unknown> {
  return web(method, `api/${path}`, body)
}

export interface Page<T> { items: T[], next: string | null }
export interface Note { id: string, owner: string, title: string, body: string, grants: Record<string, 'read' | 'write'>, createdAt: string, updatedAt: string }
export interface Article { id: string, title: string, body: string, author: string, createdAt: string, updatedAt: string }
