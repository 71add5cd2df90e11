/** CSRF: state-changing /web/* requests must come from the app's own origin. */
import t from 'tap'
import type { InjectOptions } from 'fastify'
import { buildTestApp, viaHttps } from '../helper.js'
import { webApi, webUser } from './web-helper.js'

const CSRF = { statusCode: 403, code: 'CSRF_REJECTED', error: 'Forbidden', message: 'Cross-site request refused: /web/ accepts state-changing requests from its own origin only' }

t.test('a cross-site POST is refused with 403 CSRF_REJECTED before anything else is looked at', async t => {
  const { app } = await buildTestApp(t)
  for (const url of ['/web/signup', '/web/login', '/web/logout', '/web/api/v1/notes']) {
    // A classic CSRF form post: another content type, no JSON; still 403, not 415.
    const form = await app.inject({ method: 'POST', url, headers: viaHttps({ 'sec-fetch-site': 'cross-site', origin: 'https://evil.example', 'content-type': 'application/x-www-form-urlencoded' }), payload: 'username=mallory&password=12345678' })
    t.equal(form.statusCode, 403, `${url}: form post`)
    t.same(form.json(), CSRF)
    const json = await app.inject({ method: 'POST', url, headers: viaHttps({ 'sec-fetch-site': 'cross-site', 'content-type': 'application/json' }), payload: '{"username":"mallory","password":"12345678"}' })
    t.same(json.json(), CSRF, `${url}: JSON fetch`)
  }
})

t.test('Sec-Fetch-Site decides when present: only same-origin passes', async t => {
  const { app } = await buildTestApp(t)
  const post = (headers: Record<string, string>) => app.inject({ method: 'POST', url: '/web/login', headers: viaHttps({ 'content-type': 'application/json', ...headers }), payload: '{"username":"nobody","password":"12345678"}' })
  for (const site of ['cross-site', 'same-site', 'none', 'garbage']) {
    const res = await post({ 'sec-fetch-site': site, origin: 'https://localhost:80' })
    t.equal(res.json().code, 'CSRF_REJECTED', `Sec-Fetch-Site: ${site} (even with a matching Origin)`)
  }
  t.equal((await post({ 'sec-fetch-site': 'same-origin' })).json().code, 'AUTH_INVALID_CREDENTIALS', 'same-origin reaches login')
})

t.test('without Sec-Fetch-Site, Origin must be the server\'s own origin', async t => {
  const { app } = await buildTestApp(t)
  const post = (headers: Record<string, string>) => app.inject({ method: 'POST', url: '/web/login', headers: viaHttps({ host: 'notes.example', 'content-type': 'application/json', ...headers }), payload: '{"username":"nobody","password":"12345678"}' })
  t.equal((await post({ origin: 'https://notes.example' })).json().code, 'AUTH_INVALID_CREDENTIALS', 'own origin passes')
  for (const origin of ['https://evil.example', 'http://notes.example', 'https://notes.example:8443', 'https://sub.notes.example', 'null', 'https://notes.example.evil.example']) {
    t.equal((await post({ origin })).json().code, 'CSRF_REJECTED', `Origin: ${origin}`)
  }
  t.equal((await post({})).json().code, 'CSRF_REJECTED', 'neither header: refused')
})

t.test('a cross-site request changes nothing: no note created, edited or deleted, no logout', async t => {
  const { app } = await buildTestApp(t)
  const cookie = await webUser(app, 'alice')
  const note = (await webApi(app, cookie, 'POST', '/v1/notes', { title: 'mine', body: 'text' })).json() as { id: string }
  const evil = { 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' }
  const attempts: Array<[string, string, unknown]> = [
    ['POST', '/v1/notes', { title: 'planted', body: '' }],
    ['PATCH', `/v1/notes/${note.id}`, { title: 'defaced' }],
    ['PUT', `/v1/notes/${note.id}/grants/mallory`, { access: 'write' }],
    ['DELETE', `/v1/notes/${note.id}`, undefined]
  ]
  for (const [method, path, body] of attempts) {
    const res = await webApi(app, cookie, method, path, body, evil)
    t.equal(res.statusCode, 403, `${method} ${path}`)
    t.equal(res.json().code, 'CSRF_REJECTED')
  }
  const logout = await app.inject({ method: 'POST', url: '/web/logout', headers: viaHttps({ ...evil, cookie }) } as InjectOptions)
  t.equal(logout.json().code, 'CSRF_REJECTED')
  t.equal(logout.headers['set-cookie'], undefined, 'the cookie is left alone')
  const list = await webApi(app, cookie, 'GET', '/v1/notes')
  t.equal(list.statusCode, 200, 'still logged in')
  t.same(list.json().items.map((n: { title: string, grants: unknown }) => [n.title, n.grants]), [['mine', {}]], 'nothing changed')
})

t.test('reads are not state-changing: a GET is answered whatever its origin (the browser keeps cross-origin answers from the page, and sends no Strict cookie)', async t => {
  const { app } = await buildTestApp(t)
  const res = await webApi(app, null, 'GET', '/v1/public/articles', undefined, { 'sec-fetch-site': 'cross-site' })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['access-control-allow-origin'], undefined, 'no CORS grant')
})
