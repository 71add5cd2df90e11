/**
 * The checks of protocol-v1.md, "Server checks", as pure functions over plain
 * values: headers, the time the head arrived, the raw body and the keyring.
 * The Fastify wiring (plugin.ts) calls them in the protocol's order.
 */
import { canonicalDebug, canonicalDigest, type CanonicalParts } from './canonical.js'
import { parseAuthHeaders, type AuthHeaders } from './headers.js'
import { keyDeadline, keyFor, kindMatchesPrincipal, parseKeyId, signatureMatches, type KeyIdFields, type KeyKind, type Keyring } from './keys.js'

export interface VerifyContext {
  keyring: Keyring
  audience: string
  clockSkewMs: number
  /** BODY_TIMEOUT_MS: how long a request may take from its first byte; bounds t_body (check 3) and replay entries' lives. */
  bodyTimeoutMs: number
  keyTtlMs: number
  sessionMaxMs: number
  /** Derived keys of recently verified requests, so the next request of the same key costs one HMAC, not two. */
  keyCache?: KeyCache
}

/**
 * What a verified key id brings: its parsed fields and its derived key. The key stays a string: Node takes
 * it as its UTF-8 bytes, and on Node 24 createHmac costs several µs more with a Buffer key than with a string
 * (see secretKeyOf in keys.ts).
 */
export interface CachedKey {
  principal: string
  fields: KeyIdFields
  key: string
}

/**
 * A bounded memo of verified key ids, filled only after a signature held (so
 * a forger cannot evict anyone's entry), dropping the oldest entry when full.
 * Keyed by the key id alone (the header's own string, no concatenation) and
 * answered only for the principal it was verified with. Saves, per request of
 * a known key, the key id's parse and one of the two HMACs.
 */
export class KeyCache {
  readonly #map = new Map<string, CachedKey>()
  readonly #max: number
  constructor (max = 10_000) { this.#max = max }
  get (keyId: string, principal: string): CachedKey | undefined {
    const entry = this.#map.get(keyId)
    return entry !== undefined && entry.principal === principal ? entry : undefined
  }
  set (keyId: string, entry: CachedKey): void {
    if (this.#map.size >= this.#max) this.#map.delete(this.#map.keys().next().value as string)
    this.#map.set(keyId, entry)
  }
  get size (): number { return this.#map.size }
}

export interface Principal {
  name: string
  kind: KeyKind
  keyId: string
  fields: KeyIdFields
  /** Unix ms, or null for client keys. */
  expiresAt: number | null
}

export type HeadCheck =
  // cached: the key memo's entry for this key id and principal, when it has one (checkSignature's `memo`).
  | { ok: true, auth: AuthHeaders, fields: KeyIdFields | null, cached: CachedKey | undefined }
  | { ok: false, code: 'AUTH_MISSING' | 'AUTH_MALFORMED' | 'AUTH_STALE' | 'AUTH_KEY_EXPIRED' }

/** A clock reading every check can trust: a not-a-number or infinite `now` is a fault, never a pass. */
export class ClockError extends Error {
  constructor (value: number) {
    super(`the clock read ${String(value)}`)
    this.name = 'ClockError'
  }
}
function trusted (now: number): number {
  if (!Number.isFinite(now)) throw new ClockError(now)
  return now
}

/**
 * Checks 1-4 on the head alone, at t_head (`now`). `fields` is null when the key id does not
 * parse or names a keyring version not held: that is answered later exactly
 * like a failed signature, so the key id format is no oracle.
 * Throws ClockError when `now` is not a finite number.
 */
export function checkHead (headers: Record<string, string | string[] | undefined>, now: number, ctx: VerifyContext): HeadCheck {
  trusted(now)
  const parsed = parseAuthHeaders(headers)
  if (!parsed.ok) return parsed
  const auth = parsed.value
  // Written so that any comparison with a not-a-number fails the check rather than passing it.
  if (!(Math.abs(now - auth.timeMs) <= ctx.clockSkewMs)) return { ok: false, code: 'AUTH_STALE' }
  const cached = ctx.keyCache?.get(auth.keyId, auth.username)
  const fields = cached?.fields ?? parseKeyId(auth.keyId)
  if (fields === null || !ctx.keyring.secrets.has(fields.keyringVersion) || !kindMatchesPrincipal(fields.kind, auth.username)) {
    return { ok: true, auth, fields: null, cached: undefined }
  }
  if (!(now < keyDeadline(fields, ctx.keyTtlMs, ctx.sessionMaxMs))) return { ok: false, code: 'AUTH_KEY_EXPIRED' }
  return { ok: true, auth, fields, cached }
}

/**
 * Checks 3 and 4 again once the whole body is in, at t_body (protocol-v1.md,
 * "Two instants matter"): a body may not complete later than X-Microtime +
 * skew + BODY_TIMEOUT_MS (so no request outlives its replay entry), and the
 * key must still be within its lifetime. Null when both hold.
 * Throws ClockError when `tBody` is not a finite number.
 */
export function checkBodyTime (head: HeadCheck & { ok: true }, tBody: number, ctx: VerifyContext): 'AUTH_STALE' | 'AUTH_KEY_EXPIRED' | null {
  trusted(tBody)
  if (!(tBody <= head.auth.timeMs + ctx.clockSkewMs + ctx.bodyTimeoutMs)) return 'AUTH_STALE'
  // An unparsable key id (fields null) is answered by check 5, as at the head.
  if (head.fields !== null && !(tBody < keyDeadline(head.fields, ctx.keyTtlMs, ctx.sessionMaxMs))) return 'AUTH_KEY_EXPIRED'
  return null
}

export type SignatureCheck =
  | { ok: true, principal: Principal }
  | { ok: false, code: 'AUTH_BAD_SIGNATURE', canonical: ReturnType<typeof canonicalDebug> }

/**
 * Check 5: recompute the HMAC over the canonical bytes and compare in constant time.
 * `memo`: the key memo's entry checkHead found for these headers (one lookup per request);
 * without it, the memo is asked here.
 */
export function checkSignature (auth: AuthHeaders, fields: KeyIdFields | null, method: string, target: string, body: Uint8Array, ctx: VerifyContext, memo?: CachedKey): SignatureCheck {
  const parts: CanonicalParts = { username: auth.username, keyId: auth.keyId, time: auth.time, method, target }
  const cached = fields === null ? undefined : memo ?? ctx.keyCache?.get(auth.keyId, auth.username)
  const derived = cached === undefined && fields !== null ? keyFor(ctx.keyring, ctx.audience, auth.username, auth.keyId, fields) : null
  const key = cached?.key ?? derived
  // With no key we still compute an HMAC over the canonical bytes, so the answer costs the same.
  const digest = canonicalDigest(key ?? 'no key', parts, body)
  if (key === null || fields === null || !signatureMatches(digest, auth.signature)) {
    return { ok: false, code: 'AUTH_BAD_SIGNATURE', canonical: canonicalDebug(parts, body) }
  }
  // Frozen: from now on every request of this key shares the parsed fields (as principal.fields).
  if (cached === undefined) ctx.keyCache?.set(auth.keyId, { principal: auth.username, fields: Object.freeze(fields), key })
  const expiresAt = fields.expiresAt === null ? null : keyDeadline(fields, ctx.keyTtlMs, ctx.sessionMaxMs)
  return { ok: true, principal: { name: auth.username, kind: fields.kind, keyId: auth.keyId, fields, expiresAt } }
}

/**
 * Check 7's cache entry. `expiresAt` is the first instant it may be dropped:
 * one ms past X-Microtime + skew + BODY_TIMEOUT_MS, the last t_body check 3
 * accepts, so the entry is alive for every request that can still be
 * accepted (a body held back until the end of its window included). The key is the
 * signature itself, 64 hex chars: it is an HMAC over a canonical string that
 * names the principal, so it stands for (principal, signature), as
 * protocol-v1.md's "Why" says ("replay cache keyed by signature"). The
 * header's own string, flat as the HTTP parser made it: no allocation per
 * request (bench/: building a binary or composite key cost about 4 µs of CPU
 * per request) and about 120 bytes per live entry (bench/replay-memory.mjs).
 */
export function replayEntry (auth: AuthHeaders, ctx: Pick<VerifyContext, 'clockSkewMs' | 'bodyTimeoutMs'>): { key: string, expiresAt: number } {
  return { key: auth.signature, expiresAt: auth.timeMs + ctx.clockSkewMs + ctx.bodyTimeoutMs + 1 }
}
