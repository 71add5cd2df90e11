/**
 * The key never reaches the browser in any form: a whole session through the
 * website (signup, login, every kind of request, errors, refresh, password
 * change, logout) and no response body or header carries any of its keys,
 * encoded or not; nor do the logs carry a key, a cookie or a password.
 */
import t from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import { cookieSealer, type WebSession } from '../../src/web/session-cookie.js'
import { buildTestApp } from '../helper.js'
import { browser, cookiePair, PASSWORD, webApi, webLogin, webSignup } from './web-helper.js'

/** Every way a key could be written down: as is, as the bytes it names in base64/base64url/hex, and its own UTF-8 in base64/hex. */
function forms (key: string): string[] {
  const bytes = Buffer.from(key, 'base64url')
  const utf8 = Buffer.from(key, 'utf8')
  return [key, bytes.toString('base64'), bytes.toString('base64url'), bytes.toString('hex'), utf8.toString('base64'), utf8.toString('hex'), encodeURIComponent(key)]
    .filter(f => f.length >= 20)
}

t.test('the detector finds a key where one is: the API\'s own login answer', async t => {
  const { app } = await buildTestApp(t)
  await webSignup(app, 'alice')
  const res = await app.inject({ method: 'POST', url: '/auth/login', headers: { 'x-forwarded-proto': 'https', 'content-type': 'application/json' }, payload: JSON.stringify({ username: 'alice', password: PASSWORD }) })
  const key = (res.json() as { signingKey: string }).signingKey
  t.ok(forms(key).some(f => res.body.includes(f)), 'found in the API answer')
  t.ok(forms(key).length >= 5, 'several encodings are looked for')
})

t.test('no response of /web/* carries the session key, and no log line a key, cookie or password', async t => {
  const { app, keyring, config, advance, logs } = await buildTestApp(t, { env: { LOG_LEVEL: 'trace' } })
  const sealer = cookieSealer(keyring, config.audience)
  const responses: Array<{ what: string, res: LightMyRequestResponse }> = []
  const sessions: WebSession[] = []
  const cookies: string[] = []
  const keep = (what: string, res: LightMyRequestResponse): LightMyRequestResponse => {
    responses.push({ what, res })
    const set = res.headers['set-cookie']
    const m = /^__Host-session=([^;]+)/.exec(String(set ?? ''))
    if (m !== null) {
      cookies.push(m[1] as string)
      const opened = sealer.open(m[1] as string)
      if (opened !== null) sessions.push(opened)
    }
    return res
  }

  keep('signup alice', await webSignup(app, 'alice'))
  keep('signup bob', await webSignup(app, 'bob'))
  keep('visitor articles', await webApi(app, null, 'GET', '/v1/public/articles'))
  keep('visitor whoami', await webApi(app, null, 'GET', '/auth/whoami'))
  keep('wrong password', await webLogin(app, 'alice', 'wrong password'))
  let cookie = cookiePair(keep('login', await webLogin(app, 'alice')))
  keep('whoami', await webApi(app, cookie, 'GET', '/auth/whoami'))
  const note = keep('create', await webApi(app, cookie, 'POST', '/v1/notes', { title: 'hello', body: 'world' })).json() as { id: string }
  keep('list', await webApi(app, cookie, 'GET', '/v1/notes?limit=5'))
  keep('head', await webApi(app, cookie, 'HEAD', '/v1/notes'))
  keep('patch', await webApi(app, cookie, 'PATCH', `/v1/notes/${note.id}`, { body: 'edited' }))
  keep('share', await webApi(app, cookie, 'PUT', `/v1/notes/${note.id}/grants/bob`, { access: 'read' }))
  keep('validation error', await webApi(app, cookie, 'POST', '/v1/notes', { title: '' }))
  keep('bad json', await webApi(app, cookie, 'POST', '/v1/notes', '{"title":'))
  keep('not found', await webApi(app, cookie, 'GET', '/v1/notes/nope'))
  keep('refused path', await webApi(app, cookie, 'POST', '/auth/refresh'))
  keep('refused path', await webApi(app, cookie, 'POST', '/auth/login', { username: 'alice', password: PASSWORD }))
  keep('csrf', await webApi(app, cookie, 'POST', '/v1/notes', { title: 'x', body: '' }, { 'sec-fetch-site': 'cross-site' }))
  await advance(5.5 * 3_600_000)
  const refreshed = keep('refresh', await webApi(app, cookie, 'GET', '/v1/notes'))
  t.match(String(refreshed.headers['set-cookie']), /^__Host-session=v1\./, 'a refresh happened')
  const oldCookie = cookie
  cookie = cookiePair(refreshed)
  keep('password', await webApi(app, cookie, 'POST', '/auth/password', { password: PASSWORD, newPassword: 'a new password' }))
  keep('revoked', await webApi(app, cookie, 'GET', '/v1/notes'))
  keep('old revoked', await webApi(app, oldCookie, 'GET', '/v1/notes'))
  cookie = cookiePair(keep('login again', await webLogin(app, 'alice', 'a new password')))
  keep('logout', await app.inject({ method: 'POST', url: '/web/logout', headers: browser({ cookie }) }))
  keep('after logout', await webApi(app, cookie, 'GET', '/v1/notes'))
  keep('page', await app.inject({ method: 'GET', url: '/', headers: { cookie } }))

  t.equal(sessions.length, 3, 'three keys were in play: login, refresh, second login')
  t.equal(new Set(sessions.map(s => s.signingKey)).size, 3)
  for (const { what, res } of responses) {
    const everything = `${JSON.stringify(res.headers)}\n${res.body}`
    for (const s of sessions) {
      for (const f of forms(s.signingKey)) {
        if (everything.includes(f)) t.fail(`${what}: the key appears (as ${f === s.signingKey ? 'itself' : 'an encoding'})`)
      }
    }
    t.notMatch(res.body, /signingKey|"secret"/, `${what}: no key field`)
  }
  t.pass(`${responses.length} responses checked`)

  const logText = logs.join('')
  t.ok(logText.includes('/web/api/v1/notes'), 'the logs did record the requests')
  for (const s of sessions) for (const f of forms(s.signingKey)) t.notOk(logText.includes(f), 'no key in the logs')
  for (const c of cookies.filter(c => c.length > 20)) t.notOk(logText.includes(c), 'no cookie value in the logs')
  t.notOk(logText.includes(PASSWORD), 'no password in the logs')
  t.notOk(logText.includes('a new password'), 'no new password in the logs')
  t.notOk(cookies.some(c => sessions.some(s => c.includes(s.signingKey))), 'the cookie holds the key sealed, never in clear')
})
