/**
 * The website's session cookie. The browser holds the session's username, key
 * id and signing key sealed with AES-256-GCM, so it can neither read nor
 * change them, and any instance holding the keyring opens it with no store
 * lookup. Pure: no Fastify, no I/O, time passed in.
 *
 *   cookie key = HMAC-SHA256(masterKey[version], "signed-api web session v1|" AUDIENCE)
 *   value      = "v1." version "." base64url(iv[12] | ciphertext | tag[16])
 *
 * New cookies are sealed under the keyring's active version; every other
 * held version still opens its own (an added one before it is activated, an
 * older one until it is retired), so rotating the master key logs nobody out. The audience
 * in the derivation means a staging cookie never opens on production.
 */
import { createCipheriv, createDecipheriv, createHmac, createSecretKey, randomBytes, type KeyObject } from 'node:crypto'
import { keyDeadline, parseKeyId, secretKeyOf, type Keyring } from '../auth/keys.js'

export const COOKIE_NAME = '__Host-session'
const LABEL = 'signed-api web session v1|'
const VALUE = /^v1\.([1-9][0-9]{0,5})\.([A-Za-z0-9_-]{40,1400})$/
const USERNAME = /^[A-Za-z0-9._-]{1,64}$/
const KEY_ID = /^[A-Za-z0-9._~:-]{1,200}$/
const SIGNING_KEY = /^[A-Za-z0-9_-]{16,128}$/

/** What the cookie carries: a user session's credential, exactly as login or refresh returned it. */
export interface WebSession {
  username: string
  keyId: string
  signingKey: string
}

export interface CookieSealer {
  seal (session: WebSession): string
  /** The session, or null when the value is not one this deployment sealed (tampered, foreign keyring or audience, garbage). */
  open (value: string): WebSession | null
}

export function cookieSealer (keyring: Keyring, audience: string): CookieSealer {
  // KeyObjects, not Buffers: see secretKeyOf in auth/keys.ts for what a Buffer key costs on Node 24.
  const keys = new Map<number, KeyObject>()
  const keyOf = (version: number): KeyObject | undefined => {
    let key = keys.get(version)
    const secret = keyring.secrets.get(version)
    if (key === undefined && secret !== undefined) {
      key = createSecretKey(createHmac('sha256', secretKeyOf(secret)).update(LABEL + audience).digest())
      keys.set(version, key)
    }
    return key
  }
  return {
    seal (session) {
      const version = keyring.current
      const iv = randomBytes(12)
      const cipher = createCipheriv('aes-256-gcm', keyOf(version) as KeyObject, iv)
      cipher.setAAD(Buffer.from(`v1.${version}`))
      const plain = Buffer.from(JSON.stringify({ u: session.username, i: session.keyId, k: session.signingKey }), 'utf8')
      const sealed = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()])
      return `v1.${version}.${sealed.toString('base64url')}`
    },
    open (value) {
      const m = VALUE.exec(value)
      if (m === null) return null
      const version = Number(m[1])
      const key = keyOf(version)
      const sealed = Buffer.from(m[2] as string, 'base64url')
      // Only the canonical encoding: any change to the text is a change to the bytes.
      if (key === undefined || sealed.length < 12 + 16 + 2 || sealed.toString('base64url') !== m[2]) return null
      let plain: Buffer
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, 12))
        decipher.setAAD(Buffer.from(`v1.${version}`))
        decipher.setAuthTag(sealed.subarray(sealed.length - 16))
        plain = Buffer.concat([decipher.update(sealed.subarray(12, sealed.length - 16)), decipher.final()])
      } catch {
        return null
      }
      let doc: unknown
      try { doc = JSON.parse(plain.toString('utf8')) } catch { return null }
      const { u, i, k } = (doc ?? {}) as { u?: unknown, i?: unknown, k?: unknown }
      if (typeof u !== 'string' || typeof i !== 'string' || typeof k !== 'string') return null
      if (!USERNAME.test(u) || !KEY_ID.test(i) || !SIGNING_KEY.test(k) || parseKeyId(i)?.kind !== 'user') return null
      return { username: u, keyId: i, signingKey: k }
    }
  }
}

/** When the session's key stops working (protocol check 4), or 0 when its key id does not parse. */
export function sessionDeadline (session: WebSession, keyTtlMs: number, sessionMaxMs: number): number {
  const fields = parseKeyId(session.keyId)
  return fields === null ? 0 : keyDeadline(fields, keyTtlMs, sessionMaxMs)
}

/** The one value of `name` in a Cookie header (the first when repeated), or undefined. */
export function readCookie (header: string | string[] | undefined, name: string): string | undefined {
  const text = Array.isArray(header) ? header.join('; ') : header
  if (text === undefined) return undefined
  for (const part of text.split(';')) {
    const eq = part.indexOf('=')
    if (eq === -1) continue
    if (part.slice(0, eq).trim() === name) {
      const value = part.slice(eq + 1).trim()
      return value === '' ? undefined : value
    }
  }
  return undefined
}

const ATTRIBUTES = 'Path=/; Secure; HttpOnly; SameSite=Strict'

/** Set-Cookie for a session that lives `maxAgeSeconds` (its key's remaining lifetime). */
export function sessionCookie (value: string, maxAgeSeconds: number): string {
  return `${COOKIE_NAME}=${value}; ${ATTRIBUTES}; Max-Age=${Math.max(0, Math.floor(maxAgeSeconds))}`
}

/** Set-Cookie that removes the session cookie. */
export function clearedCookie (): string {
  return `${COOKIE_NAME}=; ${ATTRIBUTES}; Max-Age=0`
}
