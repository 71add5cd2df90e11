/**
 * A small signer written from shared/protocol-v1.md alone (it never imports
 * src/): the canonical string is seven fields joined by LF, the body last and
 * raw; the HMAC key is the UTF-8 bytes of the key string exactly as received.
 *
 *   HMAC-SHA256-V1\n<Auth-Username>\n<Auth-Key-Id>\n<X-Microtime>\n<METHOD>\n<request-target>\n<body>
 */
import { createHmac } from 'node:crypto'

export const TAG = 'HMAC-SHA256-V1'

/** The exact bytes that are signed. `body` is a Buffer or a string (UTF-8); empty for none. */
export function canonical (username, keyId, time, method, target, body) {
  const head = Buffer.from(`${TAG}\n${username}\n${keyId}\n${time}\n${method}\n${target}\n`, 'latin1')
  if (body === undefined || body === null || body.length === 0) return head
  return Buffer.concat([head, Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8')])
}

/** Lowercase hex HMAC-SHA256 of the canonical bytes. */
export function sign (key, username, keyId, time, method, target, body) {
  return createHmac('sha256', key).update(canonical(username, keyId, time, method, target, body)).digest('hex')
}

/**
 * A principal's credentials plus the client duty of protocol-v1.md:
 * X-Microtime = max(now + offset, last + 1) per key, so two identical
 * requests never share a signature.
 */
export class Credential {
  constructor ({ username, keyId, signingKey }) {
    this.username = username
    this.keyId = keyId
    this.signingKey = signingKey
    this.last = 0
    this.offset = 0
  }

  /** Next X-Microtime for this key, never below `at` and strictly above the last one used. */
  nextTime (at = Date.now() + this.offset) {
    const t = Math.max(Math.round(at), this.last + 1)
    this.last = t
    return t
  }

  /** The four auth headers for one request (lower-case names). */
  headers (method, target, body, time = this.nextTime()) {
    const t = String(time)
    return {
      'auth-username': this.username,
      'auth-key-id': this.keyId,
      'x-microtime': t,
      'auth-signature': sign(this.signingKey, this.username, this.keyId, t, method, target, body)
    }
  }
}
