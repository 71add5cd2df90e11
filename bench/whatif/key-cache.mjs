/**
 * Stand-in for dist/src/auth/keys.js as verify.js sees it: everything the
 * same, except keyFor() memoises the derived key per (keyring version,
 * principal, key id) in a bounded Map, so a verified request costs one HMAC
 * instead of two. (Audience is fixed per process.)
 */
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'

const real = await import(join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'src', 'auth', 'keys.js'))
export const { deriveKey, parseKeyId, kindMatchesPrincipal, keyDeadline, signatureMatches, formatKeyId, issueKey, newSessionId, parseKeyring, addKeyringVersion, KEYRING_FORMAT } = real

const MAX = 10_000
const cache = new Map()

export function keyFor (keyring, audience, principal, keyId, fields) {
  const secret = keyring.secrets.get(fields.keyringVersion)
  if (secret === undefined) return null
  const id = `${fields.keyringVersion} ${principal} ${keyId}`
  let key = cache.get(id)
  if (key === undefined) {
    key = real.deriveKey(secret, audience, fields.kind, principal, keyId)
    if (cache.size >= MAX) cache.delete(cache.keys().next().value)
    cache.set(id, key)
  }
  return key
}
