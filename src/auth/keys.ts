/**
 * Keyring, key-id format and key derivation (protocol-v1.md, "Principals and
 * keys"). Pure: no I/O, time passed in.
 *
 *   key = base64url(HMAC-SHA256(masterKey[version], "v1|" audience "|" kind "|" principal "|" keyId))
 *
 * Everything the verifier must know about a key (format version, kind,
 * keyring version, session start, issued-at, expiry, session id) is in the key
 * id, and the derivation authenticates all of it: change one character of the
 * key id and the derived key is unrelated, so the signature fails.
 */
import { createHmac, randomBytes } from 'node:crypto'

export type KeyKind = 'user' | 'app' | 'service'
const KIND_TO_CODE: Record<KeyKind, string> = { user: 'u', app: 'a', service: 's' }
const CODE_TO_KIND: Record<string, KeyKind> = { u: 'user', a: 'app', s: 'service' }

export interface KeyIdFields {
  kind: KeyKind
  keyringVersion: number
  /** Unix ms when the session (or client key generation) began. */
  sessionStart: number
  /** Unix ms when this key was issued. */
  issuedAt: number
  /** Unix ms after which the key is dead; null for client keys (they live until rotated or revoked). */
  expiresAt: number | null
  /** Session id (users) or key generation (clients): 1..64 chars of [A-Za-z0-9_-]. */
  sid: string
}

// Numbers are lowercase base36 without leading zeros, so each key has exactly one id.
const B36 = '[1-9a-z][0-9a-z]{0,10}'
const KEY_ID = new RegExp(`^1\\.([uas])\\.([1-9][0-9]{0,5})\\.(${B36})\\.(${B36})\\.(0|${B36})\\.([A-Za-z0-9_-]{1,64})$`)
const SID = /^[A-Za-z0-9_-]{1,64}$/

export function formatKeyId (f: KeyIdFields): string {
  if (!SID.test(f.sid)) throw new RangeError('sid must be 1..64 chars of [A-Za-z0-9_-]')
  const exp = f.expiresAt === null ? '0' : f.expiresAt.toString(36)
  return `1.${KIND_TO_CODE[f.kind]}.${f.keyringVersion}.${f.sessionStart.toString(36)}.${f.issuedAt.toString(36)}.${exp}.${f.sid}`
}

/** Parses a key id; null when it is not one this server could have issued. */
export function parseKeyId (keyId: string): KeyIdFields | null {
  const m = KEY_ID.exec(keyId)
  if (m === null) return null
  const [, kind, version, sst, iat, exp, sid] = m as unknown as [string, string, string, string, string, string, string]
  const fields: KeyIdFields = {
    kind: CODE_TO_KIND[kind] as KeyKind,
    keyringVersion: Number(version),
    sessionStart: parseInt(sst, 36),
    issuedAt: parseInt(iat, 36),
    expiresAt: exp === '0' ? null : parseInt(exp, 36),
    sid
  }
  if (!Number.isSafeInteger(fields.sessionStart) || !Number.isSafeInteger(fields.issuedAt)) return null
  if (fields.expiresAt !== null && !Number.isSafeInteger(fields.expiresAt)) return null
  // Users' keys always expire and client keys never do: anything else was not issued here.
  if ((fields.kind === 'user') !== (fields.expiresAt !== null)) return null
  if (fields.sessionStart > fields.issuedAt) return null
  return fields
}

/** A principal of kind user has no ":"; a client principal is "app:<id>" or "service:<id>". */
export function kindMatchesPrincipal (kind: KeyKind, principal: string): boolean {
  return kind === 'user' ? !principal.includes(':') : principal.startsWith(`${kind}:`)
}

export interface Keyring {
  /** The newest version: it derives every new key. */
  readonly current: number
  /** Every held version; older ones still verify. */
  readonly secrets: ReadonlyMap<number, Buffer>
}

export function deriveKey (secret: Buffer, audience: string, kind: KeyKind, principal: string, keyId: string): string {
  return createHmac('sha256', secret)
    .update(`v1|${audience}|${KIND_TO_CODE[kind]}|${principal}|${keyId}`)
    .digest('base64url')
}

/** The key for (principal, keyId), or null when the key id names a version the keyring does not hold. */
export function keyFor (keyring: Keyring, audience: string, principal: string, keyId: string, fields: KeyIdFields): string | null {
  const secret = keyring.secrets.get(fields.keyringVersion)
  if (secret === undefined) return null
  return deriveKey(secret, audience, fields.kind, principal, keyId)
}

export interface IssuedKey {
  keyId: string
  signingKey: string
  fields: KeyIdFields
}

/** Issues a key with the keyring's current version. */
export function issueKey (keyring: Keyring, audience: string, principal: string, fields: Omit<KeyIdFields, 'keyringVersion'>): IssuedKey {
  const full: KeyIdFields = { ...fields, keyringVersion: keyring.current }
  const keyId = formatKeyId(full)
  const secret = keyring.secrets.get(keyring.current) as Buffer
  return { keyId, signingKey: deriveKey(secret, audience, full.kind, principal, keyId), fields: full }
}

/** A new random session id: 128 bits, base64url. */
export function newSessionId (): string {
  return randomBytes(16).toString('base64url')
}

/**
 * When a key stops working: its own expiry, capped by the current key TTL and
 * session limit (protocol check 4), so lowering either takes effect at once.
 */
export function keyDeadline (f: KeyIdFields, keyTtlMs: number, sessionMaxMs: number): number {
  if (f.expiresAt === null) return Infinity
  return Math.min(f.expiresAt, f.issuedAt + keyTtlMs, f.sessionStart + sessionMaxMs)
}

/**
 * Constant-time comparison of the expected hex digest with the hex signature
 * from the wire (both 64 lowercase hex chars by the header grammar): every
 * character is compared, with no early exit.
 */
export function signatureMatches (expectedHex: string, givenHex: string): boolean {
  if (expectedHex.length !== 64 || givenHex.length !== 64) return false
  let diff = 0
  for (let i = 0; i < 64; i++) diff |= expectedHex.charCodeAt(i) ^ givenHex.charCodeAt(i)
  return diff === 0
}

// ---- keyring file format ------------------------------------------------------

export const KEYRING_FORMAT = 'signed-api.keyring.v1'
const MIN_SECRET_BYTES = 32

export interface KeyringFile {
  format: typeof KEYRING_FORMAT
  keys: Array<{ version: number, secret: string, createdAt: string }>
}

/** Parses a keyring file's text; throws an Error whose message names the problem (never a secret). */
export function parseKeyring (text: string): Keyring {
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch {
    throw new Error('the keyring is not valid JSON')
  }
  const file = doc as Partial<KeyringFile> | null
  if (file === null || typeof file !== 'object' || file.format !== KEYRING_FORMAT || !Array.isArray(file.keys) || file.keys.length === 0) {
    throw new Error(`the keyring must be {"format":"${KEYRING_FORMAT}","keys":[...]} with at least one key`)
  }
  const secrets = new Map<number, Buffer>()
  for (const entry of file.keys) {
    const version = entry?.version
    if (typeof version !== 'number' || !Number.isInteger(version) || version < 1 || version > 999_999) {
      throw new Error('every keyring entry needs an integer version 1..999999')
    }
    if (secrets.has(version)) throw new Error(`keyring version ${version} appears twice`)
    const secret = typeof entry.secret === 'string' && /^[A-Za-z0-9_-]+$/.test(entry.secret) ? Buffer.from(entry.secret, 'base64url') : null
    if (secret === null || secret.length < MIN_SECRET_BYTES) {
      throw new Error(`keyring version ${version} needs a base64url secret of at least ${MIN_SECRET_BYTES} bytes`)
    }
    secrets.set(version, secret)
  }
  return { current: Math.max(...secrets.keys()), secrets }
}

/** A keyring file with one more version, newest last; `now` is the creation time. */
export function addKeyringVersion (file: KeyringFile | null, now: number): KeyringFile {
  const keys = file?.keys ?? []
  const version = keys.reduce((max, k) => Math.max(max, k.version), 0) + 1
  return {
    format: KEYRING_FORMAT,
    keys: [...keys, { version, secret: randomBytes(32).toString('base64url'), createdAt: new Date(now).toISOString() }]
  }
}
