/**
 * The signer of protocol-v1.md, written from the protocol page alone (it
 * imports nothing from the server). Pure: no clock, no I/O.
 *
 *   HMAC-SHA256-V1\n<Auth-Username>\n<Auth-Key-Id>\n<X-Microtime>\n<METHOD>\n<request-target>\n<body>
 *
 * The HMAC key is the UTF-8 bytes of the key string exactly as received:
 * never base64-decoded.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto'

export const SIGNATURE_TAG = 'HMAC-SHA256-V1'

/** Header grammar ("Request headers"): what the server accepts, so the SDK can refuse locally. */
export const USERNAME_RE = /^[A-Za-z0-9._:@-]{1,64}$/
export const KEY_ID_RE = /^[A-Za-z0-9._~:-]{1,200}$/
export const MICROTIME_RE = /^[0-9]{1,16}$/
export const SIGNATURE_RE = /^[0-9a-f]{64}$/
/** Origin form, bytes 0x21..0x7E only. */
export const TARGET_RE = /^\/[\x21-\x7e]*$/
/** An HTTP method token, upper case. */
export const METHOD_RE = /^[A-Z]{1,20}$/

/** What a signature binds, besides the body. `time` is X-Microtime exactly as sent. */
export interface SignedFields {
  username: string
  keyId: string
  time: string
  method: string
  target: string
}

/** A key as issued by login, refresh or client registration. */
export interface Credentials {
  /** Auth-Username: the username, or a client's principal (`app:<id>`, `service:<id>`). */
  username: string
  keyId: string
  /** The HMAC key. Never logged, never put in a URL. */
  signingKey: string
  /** ISO 8601 UTC for user keys; null or absent for client keys. */
  expiresAt?: string | null
}

export type Body = Uint8Array | string

/** Body bytes exactly as they will be sent: strings are UTF-8, bytes are taken as they are. */
export function bodyBytes (body: Body | undefined): Buffer {
  if (body === undefined) return Buffer.alloc(0)
  return typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.from(body.buffer, body.byteOffset, body.byteLength)
}

/**
 * Why these fields cannot be signed as a valid request, or null when they
 * can. Each problem names the code the server would answer.
 */
export function fieldProblem (f: SignedFields): string | null {
  if (!USERNAME_RE.test(f.username)) return 'Auth-Username must be 1..64 chars of [A-Za-z0-9._:@-] (the server answers AUTH_MALFORMED)'
  if (!KEY_ID_RE.test(f.keyId)) return 'Auth-Key-Id must be 1..200 chars of [A-Za-z0-9._~:-] (the server answers AUTH_MALFORMED)'
  if (!MICROTIME_RE.test(f.time)) return 'X-Microtime must be Unix milliseconds, 1..16 decimal digits (the server answers AUTH_MALFORMED)'
  if (!METHOD_RE.test(f.method)) return 'the method must be an upper-case token such as GET or POST'
  return targetProblem(f.target)
}

/** Why `target` is not a request target the protocol accepts, or null. */
export function targetProblem (target: string): string | null {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(target)) return 'the request target is a path such as /v1/notes?limit=10, not a URL: put the scheme and host in the base URL'
  if (!target.startsWith('/')) return 'the request target must start with "/"'
  if (!TARGET_RE.test(target)) return 'the request target may hold only bytes 0x21..0x7E: percent-encode spaces and non-ASCII (the server answers BAD_REQUEST_TARGET)'
  return null
}

/** The exact bytes that are signed: six lines, an LF after each, then the raw body. */
export function canonicalBytes (f: SignedFields, body: Body = ''): Buffer {
  const head = Buffer.from(`${SIGNATURE_TAG}\n${f.username}\n${f.keyId}\n${f.time}\n${f.method}\n${f.target}\n`, 'utf8')
  return Buffer.concat([head, bodyBytes(body)])
}

/** Lowercase hex HMAC-SHA256 of `canonical`, keyed with the UTF-8 bytes of `key`. */
export function signCanonical (key: string, canonical: Uint8Array): string {
  // The string itself: Node takes a string key as its UTF-8 bytes (a Buffer key costs ~14 µs more on Node 24).
  return createHmac('sha256', key).update(canonical).digest('hex')
}

/** The four auth headers, lower case as HTTP/2 and Node send them. */
export interface AuthHeaders {
  'auth-username': string
  'auth-key-id': string
  'x-microtime': string
  'auth-signature': string
}

export interface SignedRequest {
  headers: AuthHeaders
  /** The bytes that were signed (safe to show: it never holds the key). */
  canonical: Buffer
  signature: string
}

/**
 * Signs one request. Throws TypeError when a field cannot be sent as is
 * (the server would refuse it before looking at the signature).
 */
export function signRequest (creds: Pick<Credentials, 'username' | 'keyId' | 'signingKey'>, time: number | string, method: string, target: string, body: Body = ''): SignedRequest {
  const fields: SignedFields = { username: creds.username, keyId: creds.keyId, time: String(time), method, target }
  const problem = fieldProblem(fields)
  if (problem !== null) throw new TypeError(problem)
  const canonical = canonicalBytes(fields, body)
  const signature = signCanonical(creds.signingKey, canonical)
  return {
    headers: { 'auth-username': fields.username, 'auth-key-id': fields.keyId, 'x-microtime': fields.time, 'auth-signature': signature },
    canonical,
    signature
  }
}

/** Constant-time check of a claimed signature against the key and the request. */
export function signatureMatches (key: string, fields: SignedFields, body: Body, claimed: string): boolean {
  const expected = Buffer.from(signCanonical(key, canonicalBytes(fields, body)), 'utf8')
  const given = Buffer.from(claimed, 'utf8')
  return given.length === expected.length && timingSafeEqual(given, expected)
}

/**
 * The view the server returns in AUTH_BAD_SIGNATURE's `canonical`: the first
 * six lines, the body length and its SHA-256. Compare it with what you signed.
 */
export function canonicalSummary (f: SignedFields, body: Body = ''): { lines: string[], bodyLength: number, bodySha256: string } {
  const bytes = bodyBytes(body)
  return {
    lines: [SIGNATURE_TAG, f.username, f.keyId, f.time, f.method, f.target],
    bodyLength: bytes.length,
    bodySha256: createHash('sha256').update(bytes).digest('hex')
  }
}
