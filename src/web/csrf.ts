/**
 * Cross-site request forgery: a state-changing request to /web/* must come
 * from the web app's own origin. The cookie is SameSite=Strict as well, but
 * SameSite is about sites, not origins (a sibling subdomain is same-site), and
 * older browsers ignore it, so the server checks the origin itself.
 */
import type { FastifyRequest } from 'fastify'

export const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

/**
 * `Sec-Fetch-Site: same-origin` when the browser sends Sec-Fetch-Site;
 * otherwise an `Origin` equal to this server's own origin. Neither: refused.
 */
export function isSameOrigin (request: FastifyRequest): boolean {
  const site = request.headers['sec-fetch-site']
  if (site !== undefined) return site === 'same-origin'
  const origin = request.headers.origin
  return typeof origin === 'string' && request.host !== '' && origin === `${request.protocol}://${request.host}`
}
