/**
 * The canonical string of protocol-v1.md: seven fields joined by LF, the body
 * last and raw. Pure and byte-exact; the signer and the verifier share it.
 */
import { createHash, createHmac } from 'node:crypto'

export const SIGNATURE_TAG = 'HMAC-SHA256-V1'

/** Only bytes 0x21..0x7E, origin form (starts with "/"). */
const REQUEST_TARGET = /^\/[\x21-\x7e]*$/

export function isValidRequestTarget (target: string): boolean {
  return REQUEST_TARGET.test(target)
}

export interface CanonicalParts {
  username: string
  keyId: string
  time: string
  method: string
  target: string
}

/** The first six lines, as shown in AUTH_BAD_SIGNATURE's `canonical.lines`. */
export function canonicalLines (p: CanonicalParts): string[] {
  return [SIGNATURE_TAG, p.username, p.keyId, p.time, p.method, p.target]
}

/** The six lines with an LF after each: the canonical string up to the body. ASCII by the header grammar and isValidRequestTarget. */
export function canonicalHead (p: CanonicalParts): string {
  return `${SIGNATURE_TAG}\n${p.username}\n${p.keyId}\n${p.time}\n${p.method}\n${p.target}\n`
}

/** The exact bytes that are signed: six lines, LF after each, then the raw body. */
export function canonicalBytes (p: CanonicalParts, body: Uint8Array): Buffer {
  const head = Buffer.from(canonicalHead(p), 'latin1')
  return body.length === 0 ? head : Buffer.concat([head, body])
}

/**
 * Lowercase hex HMAC-SHA256 over the canonical bytes, fed in two parts (no
 * copy of the body). Hex, like the Auth-Signature it is compared with: a
 * string answer allocates no Buffer (a native backing store per request).
 * The key is the signing key's string, taken as its UTF-8 bytes: never a
 * Buffer, which costs several µs more per call on Node 24 (keys.ts, secretKeyOf).
 */
export function canonicalDigest (key: string, p: CanonicalParts, body: Uint8Array): string {
  const hmac = createHmac('sha256', key).update(canonicalHead(p), 'latin1')
  if (body.length > 0) hmac.update(body)
  return hmac.digest('hex')
}

/** Lowercase hex HMAC-SHA256 over the canonical bytes; the key is the UTF-8 bytes of the key string. */
export function signCanonical (key: string, canonical: Uint8Array): string {
  return createHmac('sha256', key).update(canonical).digest('hex')
}

/** Debug view of what the server built, never including the key. */
export function canonicalDebug (p: CanonicalParts, body: Uint8Array): { lines: string[], bodyLength: number, bodySha256: string } {
  return {
    lines: canonicalLines(p),
    bodyLength: body.length,
    bodySha256: createHash('sha256').update(body).digest('hex')
  }
}
