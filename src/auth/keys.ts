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
import { createHmac, createSecretKey, randomBytes, type KeyObject } from 'node:crypto'

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
  /**
   * The active version: it derives every new key, cursor and website cookie.
   * Not necessarily the newest: a version just added is held (it verifies)
   * until `keyring activate` makes it the active one.
   */
  readonly current: number
  /** Every held version (active, added, or no longer active but not retired): each verifies. */
  readonly secrets: ReadonlyMap<number, Buffer>
}

const keyObjects = new WeakMap<Buffer, KeyObject>()

/**
 * A keyring secret as a KeyObject, made once per secret (a keyring's secrets are never written to after
 * loading). Node 24 tells whether a key given to createHmac or createCipheriv is a KeyObject by catching an
 * error it throws for any other object: with a Buffer key that costs about 14 µs per call there (a KeyObject or
 * a string key, under 3 µs; bench/README.md, "Crypto keys"). Node 20 and 22 do not have this cost.
 */
export function secretKeyOf (secret: Buffer): KeyObject {
  let key = keyObjects.get(secret)
  if (key === undefined) {
    key = createSecretKey(secret)
    keyObjects.set(secret, key)
  }
  return key
}

export function deriveKey (secret: Buffer, audience: string, kind: KeyKind, principal: string, keyId: string): string {
  return createHmac('sha256', secretKeyOf(secret))
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

/** Issues a key with the keyring's active version. */
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
//
// {"format":"signed-api.keyring.v2",
//  "keys":[{"version":1,"secret":"<base64url>","createdAt":"<ISO>"},
//          {"version":2,"secret":"<base64url>","createdAt":"<ISO>"},
//          {"version":0,...,"retiredAt":"<ISO>"} (a retired version: no secret, its number never reused)],
//  "activations":[{"version":1,"at":"<ISO>"},{"version":2,"at":"<ISO>"}]}
//
// The last activation names the active version. The activation log is also
// the record of when each version issued, which `keyring retire` needs.
// A v1 file ({"format":"signed-api.keyring.v1","keys":[...]}, every version
// held, the newest one issuing) is read as v2: each version counts as
// activated when it was created (that is when it began to issue), so its
// newest version is the active one.

export const KEYRING_FORMAT = 'signed-api.keyring.v2'
export const KEYRING_FORMAT_V1 = 'signed-api.keyring.v1'
const MIN_SECRET_BYTES = 32
const MAX_VERSION = 999_999

export interface KeyringEntry {
  version: number
  /** Absent once the version is retired. */
  secret?: string
  createdAt: string
  retiredAt?: string
}

export interface KeyringActivation {
  version: number
  at: string
}

export interface KeyringFile {
  format: typeof KEYRING_FORMAT
  keys: KeyringEntry[]
  /** In time order; the last one names the active version. */
  activations: KeyringActivation[]
}

const isoTime = (text: unknown): number | null => {
  if (typeof text !== 'string' || !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?Z$/.test(text)) return null
  const ms = Date.parse(text)
  return Number.isFinite(ms) ? ms : null
}

/**
 * Parses and checks a keyring file's text (v2, or v1 read as v2); throws an
 * Error whose message names the problem, never a secret. `now` stands for a
 * v1 file's creation times that are missing or unreadable: later is the safe
 * side, since it only delays when a version may be retired.
 */
export function parseKeyringFile (text: string, now: number): KeyringFile {
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch {
    throw new Error('the keyring is not valid JSON')
  }
  const file = doc as { format?: unknown, keys?: unknown, activations?: unknown } | null
  const v1 = file !== null && typeof file === 'object' && file.format === KEYRING_FORMAT_V1
  if (file === null || typeof file !== 'object' || (file.format !== KEYRING_FORMAT && !v1) || !Array.isArray(file.keys) || file.keys.length === 0) {
    throw new Error(`the keyring must be {"format":"${KEYRING_FORMAT}","keys":[...],"activations":[...]} (or a ${KEYRING_FORMAT_V1} file) with at least one key`)
  }
  const keys: KeyringEntry[] = []
  const seen = new Set<number>()
  for (const raw of file.keys as unknown[]) {
    const entry = (raw ?? {}) as { version?: unknown, secret?: unknown, createdAt?: unknown, retiredAt?: unknown }
    const version = entry.version
    if (typeof version !== 'number' || !Number.isInteger(version) || version < 1 || version > MAX_VERSION) {
      throw new Error(`every keyring entry needs an integer version 1..${MAX_VERSION}`)
    }
    if (seen.has(version)) throw new Error(`keyring version ${version} appears twice`)
    seen.add(version)
    const retired = !v1 && entry.retiredAt !== undefined
    if (retired) {
      if (isoTime(entry.retiredAt) === null) throw new Error(`keyring version ${version}: retiredAt must be an ISO 8601 UTC time`)
      if (entry.secret !== undefined) throw new Error(`keyring version ${version} is retired and must hold no secret`)
    } else {
      const secret = typeof entry.secret === 'string' && /^[A-Za-z0-9_-]+$/.test(entry.secret) ? Buffer.from(entry.secret, 'base64url') : null
      if (secret === null || secret.length < MIN_SECRET_BYTES) {
        throw new Error(`keyring version ${version} needs a base64url secret of at least ${MIN_SECRET_BYTES} bytes`)
      }
    }
    let createdAt = typeof entry.createdAt === 'string' ? entry.createdAt : ''
    if (isoTime(createdAt) === null) {
      if (!v1) throw new Error(`keyring version ${version}: createdAt must be an ISO 8601 UTC time`)
      createdAt = new Date(now).toISOString()
    }
    keys.push({
      version,
      ...(retired ? {} : { secret: entry.secret as string }),
      createdAt,
      ...(retired ? { retiredAt: entry.retiredAt as string } : {})
    })
  }
  if (v1) {
    // The old rule: every version issued from its creation on, the newest winning.
    const activations = [...keys].sort((a, b) => a.version - b.version).map(k => ({ version: k.version, at: k.createdAt }))
    // Creation times out of order (a file edited by hand): each activation no earlier than the one before.
    for (let i = 1; i < activations.length; i++) {
      const prev = activations[i - 1] as KeyringActivation
      const cur = activations[i] as KeyringActivation
      if (Date.parse(cur.at) < Date.parse(prev.at)) cur.at = prev.at
    }
    return { format: KEYRING_FORMAT, keys, activations }
  }
  if (!Array.isArray(file.activations) || file.activations.length === 0) {
    throw new Error('the keyring needs "activations": [{"version":N,"at":"<ISO time>"}, ...], the last naming the active version')
  }
  const activations: KeyringActivation[] = []
  let last = -Infinity
  for (const raw of file.activations as unknown[]) {
    const a = (raw ?? {}) as { version?: unknown, at?: unknown }
    const at = isoTime(a.at)
    if (typeof a.version !== 'number' || !seen.has(a.version) || at === null) {
      throw new Error('every keyring activation needs the version of a keyring entry and an ISO 8601 UTC time "at"')
    }
    if (at < last) throw new Error('keyring activations must be in time order')
    last = at
    activations.push({ version: a.version, at: a.at as string })
  }
  const active = activations.at(-1) as KeyringActivation
  if (keys.find(k => k.version === active.version)?.secret === undefined) throw new Error(`the active keyring version ${active.version} is retired`)
  return { format: KEYRING_FORMAT, keys, activations }
}

/** The version that issues: the last activated. */
export function activeVersion (file: KeyringFile): number {
  return (file.activations.at(-1) as KeyringActivation).version
}

/** The server's view of a checked keyring file: the active version and every held secret. */
export function keyringOf (file: KeyringFile): Keyring {
  const secrets = new Map<number, Buffer>()
  for (const k of file.keys) if (k.secret !== undefined) secrets.set(k.version, Buffer.from(k.secret, 'base64url'))
  return { current: activeVersion(file), secrets }
}

/** Parses a keyring file's text; throws an Error whose message names the problem (never a secret). */
export function parseKeyring (text: string): Keyring {
  // The times only matter to `keyring retire`: the server needs the active version and the secrets.
  return keyringOf(parseKeyringFile(text, 0))
}

/**
 * With no file: a new keyring whose version 1 is active at once (no instance
 * issues anything yet, so there is nothing to coordinate). With a file: one
 * more version, held but not active (it verifies, it does not issue) until
 * activateKeyringVersion. Version numbers are never reused, retired ones
 * included.
 */
export function addKeyringVersion (file: KeyringFile | null, now: number): KeyringFile {
  const at = new Date(now).toISOString()
  const secret = randomBytes(32).toString('base64url')
  if (file === null) {
    return { format: KEYRING_FORMAT, keys: [{ version: 1, secret, createdAt: at }], activations: [{ version: 1, at }] }
  }
  const version = file.keys.reduce((max, k) => Math.max(max, k.version), 0) + 1
  if (version > MAX_VERSION) throw new Error(`the keyring has no version number left (${MAX_VERSION} is the last)`)
  return { ...file, keys: [...file.keys, { version, secret, createdAt: at }] }
}

/** The file with `version` active from `now` on; throws when the version is unknown or retired. */
export function activateKeyringVersion (file: KeyringFile, version: number, now: number): KeyringFile {
  const entry = file.keys.find(k => k.version === version)
  if (entry === undefined) throw new Error(`the keyring has no version ${version}`)
  if (entry.secret === undefined) throw new Error(`keyring version ${version} is retired; add a new version instead`)
  const last = Date.parse((file.activations.at(-1) as KeyringActivation).at)
  // Never before the previous activation, so the log stays in time order even if the clock stepped back.
  return { ...file, activations: [...file.activations, { version, at: new Date(Math.max(now, last)).toISOString() }] }
}

/** The file with `version`'s secret removed (its number kept); throws when it is unknown, retired or active. No safety check: see retireBlockers. */
export function retireKeyringVersion (file: KeyringFile, version: number, now: number): KeyringFile {
  const entry = file.keys.find(k => k.version === version)
  if (entry === undefined) throw new Error(`the keyring has no version ${version}`)
  if (entry.secret === undefined) throw new Error(`keyring version ${version} is already retired`)
  if (activeVersion(file) === version) throw new Error(`keyring version ${version} is the active version; activate another one first`)
  return { ...file, keys: file.keys.map(k => k.version === version ? { version, createdAt: k.createdAt, retiredAt: new Date(now).toISOString() } : k) }
}

/**
 * When `version` issued: [from, to) per activation of it, `to` being the next
 * activation (of any version) or Infinity while it is active. The instances
 * pick an activation up at their restart, so each interval really ends once
 * the rolling restart after that next activation is over.
 */
export function issuingIntervals (file: KeyringFile, version: number): Array<{ from: number, to: number }> {
  const out: Array<{ from: number, to: number }> = []
  file.activations.forEach((a, i) => {
    if (a.version !== version) return
    const next = file.activations[i + 1]
    out.push({ from: Date.parse(a.at), to: next === undefined ? Infinity : Date.parse(next.at) })
  })
  return out
}

/** A client's key issuance as the store records it (src/store/port.ts Client). */
export interface ClientKeyRecord {
  id: string
  name: string
  kind: string
  generation: number
  /** When its current key was issued (registration or last rotation). */
  rotatedAt: number
}

export interface RetireLimits {
  keyTtlMs: number
  sessionMaxMs: number
  clientKeyOverlapMs: number
  clockSkewMs: number
  /** How long the rolling restart after an activation may have taken: until it is over, some instance may still issue the previous version. */
  rolloutMs: number
}

/**
 * Why `version` may not be retired at `now`: what could still need it.
 * Empty when it may.
 *
 * - User keys (and website cookies, which hold one and are sealed by the
 *   instance that issued it): each dies at most min(KEY_TTL, SESSION_MAX)
 *   after it was issued (keyDeadline), and a refresh issues under the active
 *   version. So the last one of `version` is dead by the end of its last
 *   issuing interval + rollout + that lifetime + clock skew.
 * - Client keys never expire: a client's current key (issued at rotatedAt)
 *   may be of `version` when it was issued inside one of its issuing
 *   intervals (stretched by rollout and skew); its previous key, which works
 *   for CLIENT_KEY_OVERLAP_SECONDS after the rotation, may be when any
 *   interval began before that rotation. Those clients must be rotated (and
 *   the overlap be over) first.
 * - Cursors have no lifetime: one made under a retired version is refused
 *   (400), and the listing starts again from its first page.
 */
export function retireBlockers (file: KeyringFile, version: number, clients: readonly ClientKeyRecord[], limits: RetireLimits, now: number): string[] {
  const entry = file.keys.find(k => k.version === version)
  if (entry === undefined) return [`the keyring has no version ${version}`]
  if (entry.secret === undefined) return [`version ${version} is already retired`]
  if (activeVersion(file) === version) return [`version ${version} is the active version: activate another one (and restart every instance) first`]
  const intervals = issuingIntervals(file, version)
  // Never activated: it never issued anything.
  if (intervals.length === 0) return []
  const { keyTtlMs, sessionMaxMs, clientKeyOverlapMs, clockSkewMs, rolloutMs } = limits
  const iso = (ms: number): string => new Date(ms).toISOString()
  const problems: string[] = []
  const stoppedIssuing = Math.max(...intervals.map(i => i.to)) + rolloutMs
  const userKeysDead = stoppedIssuing + Math.min(keyTtlMs, sessionMaxMs) + clockSkewMs
  if (now < userKeysDead) {
    problems.push(`user keys and website sessions of version ${version} may live until ${iso(userKeysDead)}: version ${version} issued until ${iso(stoppedIssuing - rolloutMs)} (+ ${rolloutMs / 1000} s for the rolling restart), and a user key lives at most ${Math.min(keyTtlMs, sessionMaxMs) / 1000} s (KEY_TTL_SECONDS, SESSION_MAX_SECONDS) + ${clockSkewMs} ms (CLOCK_SKEW_MS)`)
  }
  const duringIssuing = (t: number): boolean => intervals.some(i => t >= i.from - clockSkewMs && t <= i.to + rolloutMs + clockSkewMs)
  for (const c of clients) {
    const principal = `${c.kind}:${c.id}`
    if (duringIssuing(c.rotatedAt)) {
      problems.push(`client ${JSON.stringify(c.name)} (${principal}): its current key was issued at ${iso(c.rotatedAt)}, possibly under version ${version}; rotate it (POST /admin/clients/${c.id}/rotate), give the new key to its users, and retire after the overlap (CLIENT_KEY_OVERLAP_SECONDS)`)
      continue
    }
    const overlapEnds = c.rotatedAt + clientKeyOverlapMs + clockSkewMs
    if (c.generation > 1 && now < overlapEnds && intervals.some(i => i.from - clockSkewMs < c.rotatedAt)) {
      problems.push(`client ${JSON.stringify(c.name)} (${principal}): its previous key, possibly of version ${version}, works until ${iso(overlapEnds)} (rotated at ${iso(c.rotatedAt)}, CLIENT_KEY_OVERLAP_SECONDS + CLOCK_SKEW_MS)`)
    }
  }
  return problems
}
