/** The website's session cookie: sealing, attributes, tamper, foreign deployments, expiry, logout, refresh. */
import t from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import { activateKeyringVersion, addKeyringVersion, parseKeyId, parseKeyring, type KeyringFile } from '../../src/auth/keys.js'
import { clearedCookie, cookieSealer, readCookie, sessionCookie } from '../../src/web/session-cookie.js'
import { buildTestApp, ManualClock, newKeyring, tempDir } from '../helper.js'
import { browser, cookiePair, cookieValue, setCookieOf, webApi, webLogin, webUser } from './web-helper.js'

const HOUR = 3_600_000
const session = { username: 'alice', keyId: '1.u.1.mjuoghpc.mjuoghpc.mjv1bgdc.abcdefghijklmnopqrstuv', signingKey: 'k'.repeat(43) }

/** What a refusal looks like: 401, the protocol's code in the body and in WWW-Authenticate, and the cookie cleared. */
const refusal = (res: LightMyRequestResponse): unknown => ({ status: res.statusCode, code: res.json().code, www: res.headers['www-authenticate'], cookie: res.headers['set-cookie'] })
const REFUSED = (code: string): unknown => ({ status: 401, code, www: `HMAC-SHA256 error="${code}"`, cookie: '__Host-session=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0' })

t.test('seal and open round trip; every seal is different; the value reveals nothing', async t => {
  const keyring = newKeyring()
  const sealer = cookieSealer(keyring, 'dev')
  const a = sealer.seal(session)
  const b = sealer.seal(session)
  t.match(a, /^v1\.1\.[A-Za-z0-9_-]+$/)
  t.not(a, b, 'a fresh IV each time')
  t.same(sealer.open(a), session)
  t.same(sealer.open(b), session)
  for (const secret of [session.signingKey, session.keyId, session.username]) {
    t.notOk(a.includes(secret), 'no part of the session in clear')
    t.notOk(Buffer.from(a.split('.')[2] as string, 'base64url').includes(Buffer.from(secret)), 'nor in the decoded bytes')
  }
})

t.test('a tampered, truncated, extended, foreign or garbage value does not open', async t => {
  const keyring = newKeyring()
  const sealer = cookieSealer(keyring, 'dev')
  const value = sealer.seal(session)
  const body = value.slice(5)
  for (let i = 0; i < body.length; i += 7) {
    const flipped = body[i] === 'A' ? 'B' : 'A'
    t.equal(sealer.open(`v1.1.${body.slice(0, i)}${flipped}${body.slice(i + 1)}`), null, `byte ${i} changed`)
  }
  t.equal(sealer.open(value.slice(0, -1)), null, 'truncated')
  t.equal(sealer.open(`${value}A`), null, 'extended')
  t.equal(sealer.open(value.replace(/^v1\.1\./, 'v1.2.')), null, 'another keyring version')
  t.equal(sealer.open(value.replace(/^v1\./, 'v2.')), null, 'another format')
  t.equal(cookieSealer(newKeyring(), 'dev').open(value), null, 'another keyring')
  t.equal(cookieSealer(keyring, 'prod').open(value), null, 'another audience')
  for (const junk of ['', 'v1', 'v1.1.', 'v1.1.!!!!', '{"u":"alice"}', `v1.1.${'A'.repeat(60)}`]) t.equal(sealer.open(junk), null, JSON.stringify(junk))
})

t.test('a session whose content is not a user credential does not open', async t => {
  const sealer = cookieSealer(newKeyring(), 'dev')
  t.equal(sealer.open(sealer.seal({ ...session, keyId: '1.a.1.1.1.0.1-r' })), null, 'a client key id')
  t.equal(sealer.open(sealer.seal({ ...session, username: 'bad name' })), null, 'a bad username')
})

t.test('cookies sealed before a master key rotation still open after it', async t => {
  const file1 = addKeyringVersion(null, 0)
  const before = cookieSealer(parseKeyring(JSON.stringify(file1)), 'dev').seal(session)
  const file2: KeyringFile = addKeyringVersion(file1, 0)
  const held = cookieSealer(parseKeyring(JSON.stringify(file2)), 'dev')
  t.match(held.seal(session), /^v1\.1\./, 'an added version seals nothing until it is activated')
  const after = cookieSealer(parseKeyring(JSON.stringify(activateKeyringVersion(file2, 2, 0))), 'dev')
  t.same(after.open(before), session)
  t.same(after.open(held.seal(session)), session)
  t.same(held.open(after.seal(session)), session, 'a cookie sealed under the activated version opens where it is only held')
  t.match(after.seal(session), /^v1\.2\./, 'new cookies use the active version')
})

t.test('readCookie and the Set-Cookie strings', async t => {
  t.equal(readCookie('a=1; __Host-session=xyz; b=2', '__Host-session'), 'xyz')
  t.equal(readCookie('__Host-session=first; __Host-session=second', '__Host-session'), 'first')
  t.equal(readCookie('__Host-session=', '__Host-session'), undefined)
  t.equal(readCookie('session=xyz', '__Host-session'), undefined)
  t.equal(readCookie(undefined, '__Host-session'), undefined)
  t.equal(sessionCookie('v', 90.7), '__Host-session=v; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=90')
  t.equal(clearedCookie(), '__Host-session=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0')
})

t.test('login sets __Host-session (HttpOnly, Secure, SameSite=Strict, Path=/) living as long as the key; the body has no key', async t => {
  const { app, keyring, config } = await buildTestApp(t)
  await webUser(app, 'alice')
  const res = await webLogin(app, 'alice')
  t.equal(res.statusCode, 200)
  t.equal(res.headers['cache-control'], 'no-store')
  t.same(Object.keys(res.json()).sort(), ['expiresAt', 'username'])
  t.equal(res.json().username, 'alice')
  const header = setCookieOf(res)
  t.match(header, /^__Host-session=v1\.1\.[A-Za-z0-9_-]+; Path=\/; Secure; HttpOnly; SameSite=Strict; Max-Age=21600$/)
  t.notMatch(header, /Domain=/i, '__Host- cookies have no Domain')
  const opened = cookieSealer(keyring, config.audience).open(cookieValue(cookiePair(res)))
  t.equal(opened?.username, 'alice')
  t.equal(parseKeyId(opened?.keyId ?? '')?.kind, 'user')
  const me = await webApi(app, cookiePair(res), 'GET', '/auth/whoami')
  t.equal(me.statusCode, 200)
  t.equal(me.json().username, 'alice')
  t.equal(me.json().kind, 'user')
})

t.test('a tampered cookie is refused with 401 AUTH_BAD_SIGNATURE and cleared, on every /web route that reads it', async t => {
  const { app } = await buildTestApp(t)
  const cookie = await webUser(app, 'alice')
  const value = cookieValue(cookie)
  const tampered = `__Host-session=${value.slice(0, 20)}${value[20] === 'A' ? 'B' : 'A'}${value.slice(21)}`
  t.same(refusal(await webApi(app, tampered, 'GET', '/v1/notes')), REFUSED('AUTH_BAD_SIGNATURE'))
  t.same(refusal(await webApi(app, tampered, 'GET', '/v1/public/articles')), REFUSED('AUTH_BAD_SIGNATURE'))
  t.same(refusal(await webApi(app, '__Host-session=garbage', 'GET', '/v1/notes')), REFUSED('AUTH_BAD_SIGNATURE'))
  t.same(refusal(await app.inject({ method: 'POST', url: '/web/logout', headers: browser({ cookie: tampered }) })), REFUSED('AUTH_BAD_SIGNATURE'))
  t.equal((await webApi(app, cookie, 'GET', '/v1/notes')).statusCode, 200, 'the real cookie still works')
})

t.test('a cookie from another keyring or another audience is refused', async t => {
  const clock = new ManualClock()
  const keyring = newKeyring()
  const a = await buildTestApp(t, { clock, keyring })
  const cookie = await webUser(a.app, 'alice')
  // Same data directory: the user exists there too; only the keyring or the audience differs.
  const otherKeyring = await buildTestApp(t, { clock, dataDir: a.dataDir, keyring: newKeyring() })
  t.same(refusal(await webApi(otherKeyring.app, cookie, 'GET', '/v1/notes')), REFUSED('AUTH_BAD_SIGNATURE'))
  const otherAudience = await buildTestApp(t, { clock, dataDir: a.dataDir, keyring, env: { AUDIENCE: 'staging' } })
  t.same(refusal(await webApi(otherAudience.app, cookie, 'GET', '/v1/notes')), REFUSED('AUTH_BAD_SIGNATURE'))
  const sameDeployment = await buildTestApp(t, { clock, dataDir: tempDir(t), keyring })
  const res = await webApi(sameDeployment.app, cookie, 'GET', '/auth/whoami')
  t.equal(res.statusCode, 200, 'any instance holding the keyring opens it, with no store lookup')
  t.equal(res.json().username, 'alice')
})

t.test('an expired session is refused with 401 AUTH_KEY_EXPIRED and the cookie cleared', async t => {
  const { app, advance } = await buildTestApp(t)
  const cookie = await webUser(app, 'alice')
  await advance(6 * HOUR)
  t.same(refusal(await webApi(app, cookie, 'GET', '/v1/notes')), REFUSED('AUTH_KEY_EXPIRED'))
  t.same(refusal(await webApi(app, cookie, 'GET', '/v1/public/articles')), REFUSED('AUTH_KEY_EXPIRED'))
})

t.test('logout revokes the session through the API and clears the cookie; the old cookie is then refused', async t => {
  const { app, store } = await buildTestApp(t)
  const cookie = await webUser(app, 'alice')
  const other = cookiePair(await webLogin(app, 'alice'))
  const res = await app.inject({ method: 'POST', url: '/web/logout', headers: browser({ cookie }) })
  t.equal(res.statusCode, 204)
  t.equal(setCookieOf(res), '__Host-session=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0')
  t.equal((await store.revocationsSince(0, 10)).length, 1, 'a revocation record, as POST /auth/logout makes')
  t.same(refusal(await webApi(app, cookie, 'GET', '/v1/notes')), REFUSED('AUTH_KEY_REVOKED'))
  t.same(refusal(await app.inject({ method: 'POST', url: '/web/logout', headers: browser({ cookie }) })), REFUSED('AUTH_KEY_REVOKED'))
  t.equal((await webApi(app, other, 'GET', '/v1/notes')).statusCode, 200, 'another session of the same user goes on')
  const none = await app.inject({ method: 'POST', url: '/web/logout', headers: browser() })
  t.equal(none.statusCode, 204, 'logging out with no cookie is a no-op')
  t.match(setCookieOf(none), /Max-Age=0/)
})

t.test('a logout on another instance ends the session here within the revocation poll', async t => {
  const clock = new ManualClock()
  const keyring = newKeyring()
  const a = await buildTestApp(t, { clock, keyring })
  const b = await buildTestApp(t, { clock, keyring, dataDir: a.dataDir })
  const cookie = await webUser(a.app, 'alice')
  t.equal((await webApi(b.app, cookie, 'GET', '/v1/notes')).statusCode, 200)
  t.equal((await a.app.inject({ method: 'POST', url: '/web/logout', headers: browser({ cookie }) })).statusCode, 204)
  await b.advance(1000)
  t.same(refusal(await webApi(b.app, cookie, 'GET', '/v1/notes')), REFUSED('AUTH_KEY_REVOKED'))
})

t.test('near its end the key is refreshed through POST /auth/refresh and a new cookie set; far from it, nothing changes', async t => {
  const { app, keyring, config, advance } = await buildTestApp(t)
  const sealer = cookieSealer(keyring, config.audience)
  const first = await webUser(app, 'alice')
  const firstKey = sealer.open(cookieValue(first))
  await advance(1 * HOUR)
  const early = await webApi(app, first, 'GET', '/v1/notes')
  t.equal(early.statusCode, 200)
  t.equal(early.headers['set-cookie'], undefined, 'no refresh while most of the key lifetime is left')

  await advance(4 * HOUR + 40 * 60_000) // 5 h 40 min: under a quarter of the 6 h lifetime is left
  const late = await webApi(app, first, 'GET', '/v1/notes')
  t.equal(late.statusCode, 200)
  t.match(setCookieOf(late), /Max-Age=21600$/, 'a new key of six hours')
  const second = cookiePair(late)
  const secondKey = sealer.open(cookieValue(second))
  t.equal(secondKey?.username, 'alice')
  t.not(secondKey?.keyId, firstKey?.keyId)
  t.not(secondKey?.signingKey, firstKey?.signingKey)
  t.equal(parseKeyId(secondKey?.keyId ?? '')?.sid, parseKeyId(firstKey?.keyId ?? '')?.sid, 'the same session')
  t.equal(parseKeyId(secondKey?.keyId ?? '')?.sessionStart, parseKeyId(firstKey?.keyId ?? '')?.sessionStart)

  await advance(30 * 60_000) // 6 h 10 min: the first key is past its end
  t.same(refusal(await webApi(app, first, 'GET', '/v1/notes')), REFUSED('AUTH_KEY_EXPIRED'))
  const still = await webApi(app, second, 'GET', '/v1/notes')
  t.equal(still.statusCode, 200, 'the refreshed cookie goes on')
  t.equal(still.headers['set-cookie'], undefined)
})

t.test('refreshes stop at SESSION_MAX_SECONDS: the cookie then expires with the session', async t => {
  const { app, advance } = await buildTestApp(t, { env: { KEY_TTL_SECONDS: '3600', SESSION_MAX_SECONDS: '7200' } })
  let cookie = await webUser(app, 'alice')
  await advance(50 * 60_000)
  let res = await webApi(app, cookie, 'GET', '/v1/notes')
  t.match(setCookieOf(res), /Max-Age=3600$/, 'at 50 min: a full hour')
  cookie = cookiePair(res)
  await advance(50 * 60_000)
  res = await webApi(app, cookie, 'GET', '/v1/notes')
  t.match(setCookieOf(res), /Max-Age=1200$/, 'at 100 min: only to the end of the session (120 min)')
  cookie = cookiePair(res)
  await advance(15 * 60_000)
  res = await webApi(app, cookie, 'GET', '/v1/notes')
  t.equal(res.statusCode, 200)
  t.equal(res.headers['set-cookie'], undefined, 'at 115 min: nothing left to extend')
  await advance(5 * 60_000)
  t.same(refusal(await webApi(app, cookie, 'GET', '/v1/notes')), REFUSED('AUTH_KEY_EXPIRED'))
})

t.test('a refresh refused by the API (session revoked) answers its 401, clears the cookie, and the request is not performed', async t => {
  const { app, advance, logs } = await buildTestApp(t, { env: { LOG_LEVEL: 'info' } })
  const cookie = await webUser(app, 'alice')
  await advance(5 * HOUR + 40 * 60_000)
  t.equal((await app.inject({ method: 'POST', url: '/web/logout', headers: browser({ cookie }) })).statusCode, 204)
  const from = logs.length
  t.same(refusal(await webApi(app, cookie, 'GET', '/v1/notes')), REFUSED('AUTH_KEY_REVOKED'))
  const urls = logs.slice(from).map(l => JSON.parse(l) as { req?: { url?: string } }).map(l => l.req?.url).filter(u => u !== undefined)
  t.same(urls, ['/web/api/v1/notes', '/auth/refresh'], 'the refresh was tried; GET /v1/notes never ran')
})
