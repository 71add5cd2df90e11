/**
 * Header grammar of protocol-v1.md, "Request headers" (checks 1 and 2).
 * Pure: takes the raw header map, returns the four values or the failing code.
 */
export const AUTH_HEADERS = ['auth-username', 'auth-key-id', 'x-microtime', 'auth-signature'] as const

const USERNAME = /^[A-Za-z0-9._:@-]{1,64}$/
const KEY_ID = /^[A-Za-z0-9._~:-]{1,200}$/
const MICROTIME = /^[0-9]{1,16}$/
const SIGNATURE = /^[0-9a-f]{64}$/

export interface AuthHeaders {
  username: string
  keyId: string
  /** X-Microtime exactly as sent: it is signed as text. */
  time: string
  timeMs: number
  signature: string
}

export type HeaderResult =
  | { ok: true, value: AuthHeaders }
  | { ok: false, code: 'AUTH_MISSING' | 'AUTH_MALFORMED' }

type RawHeaders = Record<string, string | string[] | undefined>

/** Checks 1 (all four present) and 2 (each well formed), in that order. */
export function parseAuthHeaders (headers: RawHeaders): HeaderResult {
  const username = headers['auth-username']
  const keyId = headers['auth-key-id']
  const time = headers['x-microtime']
  const signature = headers['auth-signature']
  if (username === undefined || keyId === undefined || time === undefined || signature === undefined) {
    return { ok: false, code: 'AUTH_MISSING' }
  }
  // A repeated header arrives as an array (or joined with ", "): either way it is malformed.
  if (typeof username !== 'string' || !USERNAME.test(username) ||
      typeof keyId !== 'string' || !KEY_ID.test(keyId) ||
      typeof time !== 'string' || !MICROTIME.test(time) ||
      typeof signature !== 'string' || !SIGNATURE.test(signature)) {
    return { ok: false, code: 'AUTH_MALFORMED' }
  }
  return { ok: true, value: { username, keyId, time, timeMs: Number(time), signature } }
}
