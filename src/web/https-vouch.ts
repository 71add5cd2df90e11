/**
 * Signup and login are HTTPS only (protocol-v1.md). The website performs them
 * with `app.inject`, whose requests have no TLS socket, so the web layer
 * vouches for a browser request that itself arrived over HTTPS: it registers a
 * single-use random token for the one internal request it is about to make,
 * and `requireHttps` (src/routes/auth.ts) accepts that token in place of
 * `request.protocol === 'https'`. A token is 256 random bits, lives only while
 * its internal request runs, and never leaves the process, so no outside
 * request can carry one.
 */
import { randomBytes } from 'node:crypto'

export const VOUCH_HEADER = 'x-signed-api-web-https'
const pending = new Set<string>()

/** A token for one internal request; `release` it when that request has answered. */
export function vouchHttps (): { header: Record<string, string>, release (): void } {
  const token = randomBytes(32).toString('base64url')
  pending.add(token)
  return { header: { [VOUCH_HEADER]: token }, release: () => { pending.delete(token) } }
}

/** True (once) when the request carries a live token from `vouchHttps`. */
export function isVouchedHttps (headers: Record<string, string | string[] | undefined>): boolean {
  const token = headers[VOUCH_HEADER]
  return typeof token === 'string' && pending.delete(token)
}
