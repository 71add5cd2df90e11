/**
 * The security headers of helmet's defaults (api-v1.md: "Every response
 * carries the security headers of @fastify/helmet's defaults"), computed once.
 * @fastify/helmet 13 calls helmet(options) on every request, rebuilding every
 * middleware and re-parsing the CSP: measured in bench/ at about 20 µs of CPU
 * per request, half the cost of an unsigned request. The headers are the same
 * for every response, so they are computed at start: written with the head
 * of every answer on a socket (server-response.ts), set on injected answers
 * in app.ts (its first onRequest hook and frameworkErrors), and written into
 * the raw parser-error answers.
 */
import helmet, { type HelmetOptions } from 'helmet'

export function securityHeaders (options: Readonly<HelmetOptions>): Record<string, string> {
  const headers: Record<string, string> = {}
  const res = {
    setHeader (name: string, value: string | number | readonly string[]) { headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value) },
    removeHeader (name: string) { delete headers[name.toLowerCase()] }
  }
  helmet(options)({} as never, res as never, () => {})
  return headers
}
