/**
 * `signed-api/protocol`: the pure core of protocol-v1.md, with no Fastify and
 * no I/O. What a server's own login route needs to hand out keys, and what any
 * verifier needs to check them.
 *
 *   import { issueUserKey, newSessionId } from 'signed-api/protocol'
 *   const key = issueUserKey(keyring, 'my-api', 'alice', { now: Date.now(), sessionId: newSessionId() })
 *   // answer { username: 'alice', keyId: key.keyId, signingKey: key.signingKey, expiresAt: key.expiresAt }
 */
import { randomBytes } from 'node:crypto'
import { issueKey, type IssuedKey, type Keyring } from '../auth/keys.js'
import { clientSid, type Scope } from '../auth/scopes.js'

export { SIGNATURE_TAG, canonicalBytes, canonicalDebug, canonicalDigest, canonicalHead, canonicalLines, isValidRequestTarget, signCanonical, type CanonicalParts } from '../auth/canonical.js'
export { AUTH_HEADERS, parseAuthHeaders, type AuthHeaders, type HeaderResult } from '../auth/headers.js'
export {
  KEYRING_FORMAT, addKeyringVersion, deriveKey, formatKeyId, issueKey, keyDeadline, keyFor, kindMatchesPrincipal, newSessionId, parseKeyId, parseKeyring, signatureMatches,
  type IssuedKey, type KeyIdFields, type KeyKind, type Keyring, type KeyringFile
} from '../auth/keys.js'
export { checkBodyTime, checkHead, checkSignature, ClockError, KeyCache, replayEntry, type CachedKey, type HeadCheck, type Principal, type SignatureCheck, type VerifyContext } from '../auth/verify.js'
export { bodyRuleFromHead, hasBody, parseJsonBody } from '../body.js'
export { SCOPE_NAMES, parseClientSid, type Scope } from '../auth/scopes.js'
export { ERRORS, ApiError, isErrorCode, type ErrorBody, type ErrorCode } from '../errors.js'

/** A user key as a login answer carries it: `expiresAt` in Unix ms. */
export interface UserKey extends IssuedKey {
  expiresAt: number
}

export interface UserKeyOptions {
  /** Unix ms: the key is issued now. */
  now: number
  /** The session the key belongs to: a new one at login (newSessionId()), the same one on refresh. */
  sessionId: string
  /** When the session began (default `now`: a login). A refresh passes the session's own start. */
  sessionStart?: number
  /** The key's lifetime (default 6 h). */
  keyTtlMs?: number
  /** The session's limit, counted from sessionStart (default 7 days): no key of it outlives that. */
  sessionMaxMs?: number
}

/** A user's signing key: it lives `keyTtlMs`, never past the session's limit. */
export function issueUserKey (keyring: Keyring, audience: string, username: string, o: UserKeyOptions): UserKey {
  const sessionStart = o.sessionStart ?? o.now
  const expiresAt = Math.min(o.now + (o.keyTtlMs ?? 6 * 3600_000), sessionStart + (o.sessionMaxMs ?? 7 * 86_400_000))
  const key = issueKey(keyring, audience, username, { kind: 'user', sessionStart, issuedAt: o.now, expiresAt, sid: o.sessionId })
  return { ...key, expiresAt }
}

export interface ClientKeyOptions {
  /** Unix ms. */
  now: number
  /** The key's generation: rotating a client issues generation + 1 and revokes the older one. */
  generation: number
  /** What the client may do (check 8 reads them from the key id). */
  scopes: readonly Scope[]
}

/**
 * A client's key (`app:<id>` bundled in a mobile app, `service:<id>` for a
 * service): it does not expire; it ends when revoked.
 */
export function issueClientKey (keyring: Keyring, audience: string, principal: `app:${string}` | `service:${string}`, o: ClientKeyOptions): IssuedKey {
  const kind = principal.startsWith('app:') ? 'app' : 'service'
  return issueKey(keyring, audience, principal, { kind, sessionStart: o.now, issuedAt: o.now, expiresAt: null, sid: clientSid(o.generation, o.scopes) })
}

/** A new keyring of one version, for development and examples: production keyrings live in a file (keyring-file). */
export function newKeyring (version = 1): Keyring {
  return { current: version, secrets: new Map([[version, randomBytes(32)]]) }
}
