/**
 * Every /web answer that depends on the session cookie (login, logout, signup,
 * anything performed through /web/api, and their errors) is private to the
 * browser that sent it: `Cache-Control: no-store` and `Vary: Cookie`, so no
 * shared or browser cache hands one visitor's notes or session to another.
 * The page and its static files stay cacheable (they hold nothing private).
 */
import t from 'tap'
import type { Test } from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import { buildTestApp } from '../helper.js'
import { browser, cookiePair, webApi, webLogin, webSignup, webUser } from './web-helper.js'

function varyList (res: LightMyRequestResponse): string[] {
  const value = res.headers.vary
  const text = Array.isArray(value) ? value.join(',') : String(value ?? '')
  return text.split(',').map(v => v.trim().toLowerCase()).filter(v => v !== '')
}

function isPrivate (t: Test, res: LightMyRequestResponse, what: string): void {
  t.equal(res.headers['cache-control'], 'no-store', `${what} (${res.statusCode}): Cache-Control: no-store`)
  t.ok(varyList(res).includes('cookie'), `${what} (${res.statusCode}): Vary names Cookie (got ${JSON.stringify(res.headers.vary)})`)
}

t.test('every kind of /web answer that depends on the cookie is no-store and varies on Cookie', async t => {
  const { app } = await buildTestApp(t)
  const json = { 'content-type': 'application/json' }

  // signup: created, taken, refused cross-site
  isPrivate(t, await webSignup(app, 'alice'), 'signup')
  isPrivate(t, await webSignup(app, 'alice'), 'signup, name taken')
  isPrivate(t, await app.inject({ method: 'POST', url: '/web/signup', headers: { ...json, 'sec-fetch-site': 'cross-site' }, payload: '{}' }), 'signup, cross-site')

  // login: ok (sets the cookie), wrong password, malformed JSON
  const login = await webLogin(app, 'alice')
  t.equal(login.statusCode, 200)
  isPrivate(t, login, 'login')
  const cookie = cookiePair(login)
  isPrivate(t, await webLogin(app, 'alice', 'wrong password'), 'login, wrong password')
  isPrivate(t, await app.inject({ method: 'POST', url: '/web/login', headers: browser(json), payload: '{"username":' }), 'login, malformed JSON')

  // the API through /web/api: the user's data, the user's session info, errors, a visitor's reads
  const note = await webApi(app, cookie, 'POST', '/v1/notes', { title: 'private', body: 'only mine' })
  t.equal(note.statusCode, 201)
  isPrivate(t, note, 'note created')
  const notes = await webApi(app, cookie, 'GET', '/v1/notes')
  t.equal(notes.json().items[0].body, 'only mine')
  isPrivate(t, notes, 'notes list')
  isPrivate(t, await webApi(app, cookie, 'GET', `/v1/notes/${String(note.json().id)}`), 'one note')
  isPrivate(t, await webApi(app, cookie, 'HEAD', '/v1/notes'), 'HEAD notes')
  const whoami = await webApi(app, cookie, 'GET', '/auth/whoami')
  t.equal(whoami.json().username, 'alice')
  isPrivate(t, whoami, 'whoami')
  isPrivate(t, await webApi(app, cookie, 'GET', '/v1/notes/nope'), 'no such note')
  isPrivate(t, await webApi(app, cookie, 'GET', '/v1/notes?limit=500'), 'validation error')
  isPrivate(t, await webApi(app, cookie, 'GET', '/admin/clients'), 'path not allowed')
  isPrivate(t, await webApi(app, null, 'GET', '/v1/public/articles'), 'visitor, public articles')
  isPrivate(t, await webApi(app, null, 'GET', '/auth/whoami'), 'visitor, whoami (AUTH_MISSING)')
  isPrivate(t, await webApi(app, null, 'GET', '/v1/notes'), 'visitor, notes (AUTH_MISSING)')
  isPrivate(t, await webApi(app, 'junk', 'GET', '/v1/notes'), 'junk cookie header')
  isPrivate(t, await webApi(app, '__Host-session=v1.1.garbage', 'GET', '/v1/notes'), 'a cookie that does not open')
  isPrivate(t, await webApi(app, cookie, 'POST', '/v1/notes', { title: 'x', body: '' }, { 'sec-fetch-site': 'cross-site' }), 'cross-site write')

  // a session that ended: the API's 401 and the cleared cookie
  const loggedOutBob = await webUser(app, 'bob')
  isPrivate(t, await app.inject({ method: 'POST', url: '/web/logout', headers: browser({ cookie: loggedOutBob }) }), 'logout')
  isPrivate(t, await app.inject({ method: 'POST', url: '/web/logout', headers: browser() }), 'logout without a cookie')
  isPrivate(t, await app.inject({ method: 'POST', url: '/web/logout', headers: browser({ cookie: '__Host-session=v1.1.garbage' }) }), 'logout, a cookie that does not open')
  isPrivate(t, await webApi(app, loggedOutBob, 'GET', '/v1/notes'), 'a revoked session')
})

t.test('with CORS_ORIGINS set, Vary keeps Origin and adds Cookie', async t => {
  const { app } = await buildTestApp(t, { env: { CORS_ORIGINS: 'https://app.example.com' } })
  const res = await webApi(app, null, 'GET', '/v1/public/articles', undefined, { origin: 'https://app.example.com' })
  t.equal(res.statusCode, 200)
  t.same(varyList(res).sort(), ['cookie', 'origin'])
  t.equal(res.headers['cache-control'], 'no-store')
})

t.test('the page and its static files stay cacheable', async t => {
  const { app } = await buildTestApp(t)
  for (const url of ['/', '/web/static/app.css', '/web/static/favicon.svg']) {
    const res = await app.inject({ method: 'GET', url })
    t.equal(res.statusCode, 200, url)
    t.equal(res.headers['cache-control'], 'no-cache', `${url}: revalidated, not no-store`)
    t.notOk(varyList(res).includes('cookie'), `${url}: the same for everyone`)
  }
})
