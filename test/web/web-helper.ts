/** Helpers for the website's inject tests: same-origin browser headers, the session cookie, logging in through /web/login. */
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import { viaHttps } from '../helper.js'

export const PASSWORD = 'correct horse battery'

/** What a browser sends with a same-origin fetch over HTTPS (here through the trusted test proxy). */
export function browser (headers: Record<string, string> = {}): Record<string, string> {
  return viaHttps({ 'sec-fetch-site': 'same-origin', ...headers })
}

/** The Set-Cookie header of an answer as one string ('' when none). */
export function setCookieOf (res: LightMyRequestResponse): string {
  const value = res.headers['set-cookie']
  return value === undefined ? '' : Array.isArray(value) ? value.join('\n') : String(value)
}

/** The `name=value` pair of a Set-Cookie, for sending back in a Cookie header. */
export function cookiePair (res: LightMyRequestResponse): string {
  const m = /^(__Host-session=[^;]*)/.exec(setCookieOf(res))
  if (m === null) throw new Error(`no session cookie in ${JSON.stringify(res.headers['set-cookie'])}`)
  return m[1] as string
}

export const cookieValue = (pair: string): string => pair.slice('__Host-session='.length)

export async function webSignup (app: FastifyInstance, username: string, password = PASSWORD): Promise<LightMyRequestResponse> {
  return app.inject({ method: 'POST', url: '/web/signup', headers: browser({ 'content-type': 'application/json' }), payload: JSON.stringify({ username, password }) })
}

export async function webLogin (app: FastifyInstance, username: string, password = PASSWORD): Promise<LightMyRequestResponse> {
  return app.inject({ method: 'POST', url: '/web/login', headers: browser({ 'content-type': 'application/json' }), payload: JSON.stringify({ username, password }) })
}

/** Signs up and logs in through the website; returns the cookie pair to send back. */
export async function webUser (app: FastifyInstance, username: string): Promise<string> {
  const up = await webSignup(app, username)
  if (up.statusCode !== 201) throw new Error(`signup failed: ${up.statusCode} ${up.body}`)
  const res = await webLogin(app, username)
  if (res.statusCode !== 200) throw new Error(`login failed: ${res.statusCode} ${res.body}`)
  return cookiePair(res)
}

/** A request to /web/api/<path> as the browser would send it, with the session cookie when given. */
export async function webApi (app: FastifyInstance, cookie: string | null, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
  const h = browser(headers)
  if (cookie !== null) h.cookie = cookie
  const req: InjectOptions = { method: method as InjectOptions['method'], url: `/web/api${path}`, headers: h }
  if (body !== undefined) {
    req.payload = typeof body === 'string' ? body : JSON.stringify(body)
    h['content-type'] ??= 'application/json'
  }
  return app.inject(req)
}
