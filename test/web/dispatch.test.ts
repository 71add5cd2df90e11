/**
 * /web/api/* performs the API request through the real verify path: paths and
 * queries, validation, authorization, replay and revocation behave exactly as
 * for any signed client; signup and login follow the API's own rules.
 */
import t from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import { MemoryReplayCache, type ReplayCache } from '../../src/auth/replay.js'
import { injectableTarget, webAppCredential } from '../../src/web/dispatch.js'
import { issueKey } from '../../src/auth/keys.js'
import { buildTestApp, login, signedInject, viaHttps, type Credential, type ManualClock } from '../helper.js'
import { browser, cookiePair, PASSWORD, setCookieOf, webApi, webLogin, webSignup, webUser } from './web-helper.js'

/** The parts of an answer a client sees: status, the JSON error or item, and the headers that matter. */
function answer (res: LightMyRequestResponse): unknown {
  const body = res.body === '' ? null : res.json()
  return { status: res.statusCode, body, www: res.headers['www-authenticate'], retry: res.headers['retry-after'], allow: res.headers.allow }
}

/** The same request performed directly against the API with a signed credential (no website). */
async function direct (app: Parameters<typeof signedInject>[0], clock: ManualClock, cred: Credential, method: string, url: string, body?: string, headers?: Record<string, string>): Promise<LightMyRequestResponse> {
  return signedInject(app, clock, cred, { method, url, ...(body === undefined ? {} : { body }), ...(headers === undefined ? {} : { headers }) })
}

t.test('/web/api/<path> performs <path> with its query: GET /web/api/v1/notes?limit=5 is GET /v1/notes?limit=5', async t => {
  const { app, clock } = await buildTestApp(t)
  const cookie = await webUser(app, 'alice')
  for (let i = 0; i < 7; i++) {
    clock.advance(1000)
    t.equal((await webApi(app, cookie, 'POST', '/v1/notes', { title: `note ${i}`, body: `body ${i}` })).statusCode, 201)
  }
  const first = await webApi(app, cookie, 'GET', '/v1/notes?limit=5')
  t.equal(first.statusCode, 200)
  t.same(first.json().items.map((n: { title: string }) => n.title), ['note 6', 'note 5', 'note 4', 'note 3', 'note 2'])
  const next = first.json().next as string
  t.type(next, 'string')
  const second = await webApi(app, cookie, 'GET', `/v1/notes?limit=5&after=${next}`)
  t.same(second.json().items.map((n: { title: string }) => n.title), ['note 1', 'note 0'])
  t.equal(second.json().next, null)
  const cred = await login(app, 'alice')
  const viaApi = await direct(app, clock, cred, 'GET', '/v1/notes?limit=5')
  t.same(first.json(), viaApi.json(), 'the same answer as the API gives a signed client')
})

t.test('validation and body rules answer exactly as the API does', async t => {
  const { app, clock } = await buildTestApp(t, { env: { BODY_LIMIT_BYTES: '2048' } })
  const cookie = await webUser(app, 'alice')
  const cred = await login(app, 'alice')
  const note = (await webApi(app, cookie, 'POST', '/v1/notes', { title: 't', body: 'b' })).json() as { id: string }
  const cases: Array<{ name: string, method: string, path: string, body?: string, headers?: Record<string, string>, code: string }> = [
    { name: 'unknown field', method: 'POST', path: '/v1/notes', body: '{"title":"x","body":"y","color":"red"}', code: 'VALIDATION_FAILED' },
    { name: 'missing field', method: 'POST', path: '/v1/notes', body: '{"body":"y"}', code: 'VALIDATION_FAILED' },
    { name: 'malformed JSON', method: 'POST', path: '/v1/notes', body: '{"title":', code: 'INVALID_JSON' },
    { name: 'empty patch', method: 'PATCH', path: `/v1/notes/${note.id}`, body: '{}', code: 'VALIDATION_FAILED' },
    { name: 'limit out of range', method: 'GET', path: '/v1/notes?limit=500', code: 'VALIDATION_FAILED' },
    { name: 'unknown query parameter', method: 'GET', path: '/v1/notes?colour=red', code: 'VALIDATION_FAILED' },
    { name: 'garbled cursor', method: 'GET', path: '/v1/notes?after=not-a-real-cursor', code: 'VALIDATION_FAILED' },
    { name: 'bad id', method: 'GET', path: '/v1/notes/bad!id', code: 'VALIDATION_FAILED' },
    { name: 'text body', method: 'POST', path: '/v1/notes', body: 'title=x', headers: { 'content-type': 'text/plain' }, code: 'UNSUPPORTED_MEDIA_TYPE' },
    { name: 'gzip body', method: 'POST', path: '/v1/notes', body: '{"title":"x","body":""}', headers: { 'content-encoding': 'gzip' }, code: 'UNSUPPORTED_MEDIA_TYPE' },
    { name: 'body on GET', method: 'GET', path: '/v1/notes', body: '{"a":1}', code: 'BODY_NOT_ALLOWED' },
    { name: 'body too large', method: 'POST', path: '/v1/notes', body: JSON.stringify({ title: 'x', body: 'y'.repeat(3000) }), code: 'BODY_TOO_LARGE' },
    { name: 'no such route', method: 'GET', path: '/v1/nothing', code: 'NOT_FOUND' },
    { name: 'wrong method', method: 'DELETE', path: '/v1/notes', code: 'METHOD_NOT_ALLOWED' }
  ]
  for (const c of cases) {
    const headers = { ...(c.body === undefined ? {} : { 'content-type': 'application/json' }), ...c.headers }
    const viaWeb = await webApi(app, cookie, c.method, c.path, c.body, headers)
    const viaApi = await direct(app, clock, cred, c.method, c.path, c.body, headers)
    t.equal(viaWeb.json().code, c.code, `${c.name}: ${c.code}`)
    t.same(answer(viaWeb), answer(viaApi), `${c.name}: the same answer as the API`)
    t.equal(viaWeb.headers['set-cookie'], undefined, `${c.name}: the session is untouched`)
  }
})

t.test('authorization is the API\'s: ownership, grants, roles, unknown users', async t => {
  const { app, store } = await buildTestApp(t)
  const alice = await webUser(app, 'alice')
  const bob = await webUser(app, 'bob')
  const note = (await webApi(app, bob, 'POST', '/v1/notes', { title: 'bob\'s', body: 'secret' })).json() as { id: string }
  const code = async (cookie: string, method: string, path: string, body?: unknown): Promise<[number, string | undefined]> => {
    const res = await webApi(app, cookie, method, path, body)
    return [res.statusCode, res.body === '' ? undefined : res.json().code]
  }
  t.same(await code(alice, 'GET', `/v1/notes/${note.id}`), [404, 'NOT_FOUND'], 'not shared: invisible')
  t.same(await code(bob, 'PUT', `/v1/notes/${note.id}/grants/alice`, { access: 'read' }), [200, undefined])
  const seen = await webApi(app, alice, 'GET', `/v1/notes/${note.id}`)
  t.equal(seen.statusCode, 200)
  t.same(seen.json().grants, {}, 'a grantee does not see the grants')
  t.same(await code(alice, 'PATCH', `/v1/notes/${note.id}`, { title: 'mine now' }), [403, 'FORBIDDEN'], 'read-only grant')
  t.same(await code(alice, 'DELETE', `/v1/notes/${note.id}`), [403, 'FORBIDDEN'], 'only the owner deletes')
  t.same(await code(alice, 'PUT', `/v1/notes/${note.id}/grants/carol`, { access: 'read' }), [403, 'FORBIDDEN'], 'only the owner shares')
  t.same(await code(bob, 'PUT', `/v1/notes/${note.id}/grants/nobody-here`, { access: 'read' }), [404, 'USER_NOT_FOUND'])
  t.same(await code(bob, 'PUT', `/v1/notes/${note.id}/grants/bob`, { access: 'read' }), [400, 'VALIDATION_FAILED'])
  t.same(await code(bob, 'PUT', `/v1/notes/${note.id}/grants/alice`, { access: 'write' }), [200, undefined])
  t.same(await code(alice, 'PATCH', `/v1/notes/${note.id}`, { title: 'edited by alice' }), [200, undefined], 'write grant')
  t.same(await code(alice, 'POST', '/v1/public/articles', { title: 'news', body: '' }), [403, 'FORBIDDEN'], 'articles need a role')
  await store.updateUser('alice', { roles: ['editor'] }, Date.now())
  t.same(await code(alice, 'POST', '/v1/public/articles', { title: 'news', body: '' }), [201, undefined], 'roles are read from the store, as for the API')
})

t.test('every request is freshly signed and goes through the replay cache', async t => {
  let mode: 'normal' | 'replay' | 'unavailable' = 'normal'
  const seen: string[] = []
  const memory = new MemoryReplayCache()
  const replay: ReplayCache = {
    remember: (key, expiresAt, now) => {
      seen.push(key)
      return mode === 'normal' ? memory.remember(key, expiresAt, now) : mode
    },
    healthy: () => true,
    close: () => memory.close()
  }
  const { app } = await buildTestApp(t, { deps: { replay } })
  const cookie = await webUser(app, 'alice')
  seen.length = 0
  // The test clock stands still: the same request twice in the same millisecond still gets two signatures.
  t.equal((await webApi(app, cookie, 'GET', '/v1/notes')).statusCode, 200)
  t.equal((await webApi(app, cookie, 'GET', '/v1/notes')).statusCode, 200)
  t.equal((await webApi(app, null, 'GET', '/v1/public/articles')).statusCode, 200)
  t.equal(seen.length, 3)
  // Replay keys are the signatures (src/auth/verify.ts replayEntry); the visitors' app:web key has its own test below.
  for (const key of seen) t.match(key, /^[0-9a-f]{64}$/)
  t.not(seen[0], seen[1], 'a new X-Microtime, so a new signature')
  t.equal(new Set(seen).size, 3)

  mode = 'replay'
  const replayed = await webApi(app, cookie, 'GET', '/v1/notes')
  t.equal(replayed.statusCode, 401)
  t.equal(replayed.json().code, 'AUTH_REPLAY')
  t.equal(replayed.headers['www-authenticate'], 'HMAC-SHA256 error="AUTH_REPLAY"')
  t.equal(replayed.headers['set-cookie'], undefined, 'a replay does not end the session')
  mode = 'unavailable'
  const down = await webApi(app, cookie, 'POST', '/v1/notes', { title: 'x', body: '' })
  t.equal(down.statusCode, 503)
  t.equal(down.json().code, 'REPLAY_CACHE_UNAVAILABLE')
  t.equal(down.headers['retry-after'], '1')
  mode = 'normal'
  t.same((await webApi(app, cookie, 'GET', '/v1/notes')).json().items, [], 'the POST was never performed')
})

t.test('the per-principal rate limit applies, with Retry-After passed back', async t => {
  const { app } = await buildTestApp(t, { env: { RATE_LIMIT_PER_MINUTE: '3' } })
  const cookie = await webUser(app, 'alice')
  const codes: number[] = []
  for (let i = 0; i < 4; i++) codes.push((await webApi(app, cookie, 'GET', '/v1/notes')).statusCode)
  t.same(codes, [200, 200, 200, 429])
  const limited = await webApi(app, cookie, 'GET', '/v1/notes')
  t.equal(limited.json().code, 'RATE_LIMITED')
  t.match(limited.headers['retry-after'], /^\d+$/)
})

t.test('a password change through /web/api revokes the session; a wrong current password does not end it', async t => {
  const { app } = await buildTestApp(t)
  const cookie = await webUser(app, 'alice')
  const wrong = await webApi(app, cookie, 'POST', '/auth/password', { password: 'not the password', newPassword: 'another good one' })
  t.equal(wrong.statusCode, 401)
  t.equal(wrong.json().code, 'AUTH_INVALID_CREDENTIALS')
  t.equal(wrong.headers['set-cookie'], undefined, 'wrong credentials are not a dead session')
  t.equal((await webApi(app, cookie, 'POST', '/auth/password', { password: PASSWORD, newPassword: 'another good one' })).statusCode, 204)
  const after = await webApi(app, cookie, 'GET', '/v1/notes')
  t.equal(after.json().code, 'AUTH_KEY_REVOKED')
  t.match(setCookieOf(after), /Max-Age=0$/)
  t.equal((await webLogin(app, 'alice', 'another good one')).statusCode, 200)
})

t.test('visitors read the public area through the app:web key, and nothing else', async t => {
  const { app, clock, keyring, config, store } = await buildTestApp(t)
  const editor = await webUser(app, 'editor1')
  await store.updateUser('editor1', { roles: ['editor'] }, Date.now())
  const article = (await webApi(app, editor, 'POST', '/v1/public/articles', { title: 'Hello', body: 'World' })).json() as { id: string }
  const list = await webApi(app, null, 'GET', '/v1/public/articles?limit=10')
  t.equal(list.statusCode, 200)
  t.same(list.json().items.map((a: { title: string }) => a.title), ['Hello'])
  t.equal((await webApi(app, null, 'GET', `/v1/public/articles/${article.id}`)).json().body, 'World')
  const head = await webApi(app, null, 'HEAD', '/v1/public/articles')
  t.equal(head.statusCode, 200)
  t.equal(head.body, '')
  for (const [method, path, body, status, code] of [
    ['GET', '/v1/notes', undefined, 401, 'AUTH_MISSING'],
    ['GET', '/auth/whoami', undefined, 401, 'AUTH_MISSING'],
    ['POST', '/v1/public/articles', { title: 'spam', body: '' }, 401, 'AUTH_MISSING'],
    ['DELETE', `/v1/public/articles/${article.id}`, undefined, 401, 'AUTH_MISSING'],
    ['GET', '/v1/nothing', undefined, 404, 'NOT_FOUND']
  ] as const) {
    const res = await webApi(app, null, method, path, body)
    t.equal(res.statusCode, status, `visitor ${method} ${path}`)
    t.equal(res.json().code, code)
    if (status === 401) t.equal(res.headers['www-authenticate'], `HMAC-SHA256 error="${code}"`)
  }
  // The app:web key: derived from the keyring alone, the same each time, a client of kind app with public:read only.
  const key = webAppCredential(keyring, config.audience)
  t.same(webAppCredential(keyring, config.audience), key)
  t.match(key.keyId, /^1\.a\.1\..*\.1-r$/)
  t.equal((await direct(app, clock, key, 'GET', '/v1/public/articles')).statusCode, 200)
  t.equal((await direct(app, clock, key, 'GET', '/v1/notes')).json().code, 'FORBIDDEN', 'a client is no user')
  t.equal((await direct(app, clock, key, 'POST', '/v1/public/articles', '{"title":"x","body":""}', { 'content-type': 'application/json' })).json().code, 'FORBIDDEN', 'no write scope')
})

t.test('/web/api performs only the two areas and the user\'s account: never a route whose answer carries a key', async t => {
  const { app } = await buildTestApp(t)
  const cookie = await webUser(app, 'alice')
  for (const path of ['/auth/login', '/auth/signup', '/auth/refresh', '/auth/logout', '/auth/whoamix', '/admin/clients', '/health', '/openapi.json', '/', '/web/api/v1/notes', '/web/login']) {
    for (const c of [cookie, null]) {
      const res = await webApi(app, c, 'POST', path, {})
      t.equal(res.statusCode, 404, `${path} (${c === null ? 'visitor' : 'user'})`)
      t.equal(res.json().code, 'NOT_FOUND')
    }
  }
  t.equal((await webApi(app, cookie, 'GET', '/auth/whoami')).statusCode, 200)
})

t.test('targets the internal request could not deliver byte for byte are recognised', async t => {
  t.ok(injectableTarget('/v1/notes?limit=5&after=abc'))
  t.ok(injectableTarget('/v1/notes?q={a}'), 'query bytes are kept')
  for (const bad of ['/v1/../auth/login', '/v1/%2e%2e/auth/login', '/v1/%2E%2e/admin/clients', '/v1/./notes', '/v1/a{b}', '/v1/a"b', '//evil.example/v1', '/v1/notes#frag', 'v1/notes', '']) {
    t.notOk(injectableTarget(bad), JSON.stringify(bad))
  }
  // app.inject itself normalises URLs, so the answer to such a raw target is tested over real HTTPS (browser.test.ts).
})

t.test('signup and login: HTTPS only, the same answers, the same failure limits per browser address', async t => {
  const { app } = await buildTestApp(t, { env: { LOGIN_MAX_FAILURES: '3' } })
  const plain = { 'sec-fetch-site': 'same-origin', 'content-type': 'application/json' }
  const creds = JSON.stringify({ username: 'alice', password: PASSWORD })
  for (const url of ['/web/signup', '/web/login']) {
    const res = await app.inject({ method: 'POST', url, headers: plain, payload: creds })
    t.equal(res.statusCode, 403, `${url} over plain HTTP`)
    t.equal(res.json().code, 'HTTPS_REQUIRED')
  }
  // The internal token cannot be forged from outside.
  const forged = { ...plain, 'x-signed-api-web-https': 'A'.repeat(43) }
  t.equal((await app.inject({ method: 'POST', url: '/auth/login', headers: forged, payload: creds })).json().code, 'HTTPS_REQUIRED')
  t.equal((await app.inject({ method: 'POST', url: '/web/login', headers: forged, payload: creds })).json().code, 'HTTPS_REQUIRED')

  t.equal((await webSignup(app, 'alice')).statusCode, 201)
  const taken = await webSignup(app, 'alice')
  t.equal(taken.statusCode, 409)
  t.equal(taken.json().code, 'USERNAME_TAKEN')
  const badName = await webSignup(app, 'A!')
  const badNameApi = await app.inject({ method: 'POST', url: '/auth/signup', headers: viaHttps({ 'content-type': 'application/json' }), payload: JSON.stringify({ username: 'A!', password: PASSWORD }) })
  t.same(answer(badName), answer(badNameApi), 'validation as the API')

  const from = (ip: string, body: string): Promise<LightMyRequestResponse> => app.inject({ method: 'POST', url: '/web/login', headers: browser({ 'x-forwarded-for': ip, 'content-type': 'application/json' }), payload: body })
  const unknown = await from('10.0.0.1', JSON.stringify({ username: 'nobody', password: PASSWORD }))
  const wrong = await from('10.0.0.1', JSON.stringify({ username: 'alice', password: 'wrong password' }))
  t.same(answer(unknown), answer(wrong), 'unknown user and wrong password: one answer')
  t.equal(wrong.json().code, 'AUTH_INVALID_CREDENTIALS')
  t.equal(wrong.headers['set-cookie'], undefined)
  await from('10.0.0.1', JSON.stringify({ username: 'alice', password: 'wrong again' }))
  await from('10.0.0.1', JSON.stringify({ username: 'alice', password: 'and again!' }))
  const limited = await from('10.0.0.1', creds)
  t.equal(limited.statusCode, 429, 'the right password is refused once the failures are used up')
  t.equal(limited.json().code, 'RATE_LIMITED')
  t.match(limited.headers['retry-after'], /^\d+$/)
  const viaApi = await app.inject({ method: 'POST', url: '/auth/login', headers: viaHttps({ 'x-forwarded-for': '10.0.0.1', 'content-type': 'application/json' }), payload: creds })
  t.equal(viaApi.statusCode, 429, 'the API\'s own login counts the same failures')
  const elsewhere = await from('10.0.0.2', creds)
  t.equal(elsewhere.statusCode, 200, 'another browser address is not limited: the limit counts the browser, not the server')
  t.match(setCookieOf(elsewhere), /^__Host-session=/)
})

t.test('SIGNUP=closed refuses web signups', async t => {
  const closed = await buildTestApp(t, { env: { SIGNUP: 'closed' } })
  const refused = await webSignup(closed.app, 'alice')
  t.equal(refused.statusCode, 403)
  t.equal(refused.json().code, 'SIGNUP_CLOSED')
})

t.test('SIGNUP=client: /web/signup is 403 SIGNUP_CLOSED (the website is no app), /web/login still works', async t => {
  const { app, clock, keyring, config } = await buildTestApp(t, { env: { SIGNUP: 'client' } })
  const unsigned = await app.inject({ method: 'POST', url: '/auth/signup', headers: viaHttps({ 'content-type': 'application/json' }), payload: JSON.stringify({ username: 'alice', password: PASSWORD }) })
  t.equal(unsigned.json().code, 'AUTH_MISSING', 'the API wants a client signature')
  const refused = await webSignup(app, 'alice')
  t.equal(refused.statusCode, 403, 'the website\'s own key does not sign signups')
  t.equal(refused.json().code, 'SIGNUP_CLOSED')
  t.equal(refused.headers['set-cookie'], undefined)
  t.equal((await webLogin(app, 'alice')).json().code, 'AUTH_INVALID_CREDENTIALS', 'no account was made')
  // An account made by a real app (a registered client's signature) logs in through the website.
  const key = issueKey(keyring, config.audience, 'app:ios', { kind: 'app', sessionStart: clock.now(), issuedAt: clock.now(), expiresAt: null, sid: '1-r' })
  const appCred = { username: 'app:ios', keyId: key.keyId, signingKey: key.signingKey }
  const made = await signedInject(app, clock, appCred, { method: 'POST', url: '/auth/signup', body: JSON.stringify({ username: 'alice', password: PASSWORD }), headers: viaHttps({ 'content-type': 'application/json' }) })
  t.equal(made.statusCode, 201)
  const res = await webLogin(app, 'alice')
  t.equal(res.statusCode, 200)
  t.equal((await webApi(app, cookiePair(res), 'GET', '/auth/whoami')).json().username, 'alice')
})

t.test('behind a proxy that strips PUBLIC_PATH_PREFIX, requests are signed with the prefix the verifier adds back', async t => {
  const { app } = await buildTestApp(t, { env: { PUBLIC_PATH_PREFIX: '/api' } })
  const cookie = await webUser(app, 'alice')
  t.equal((await webApi(app, cookie, 'POST', '/v1/notes', { title: 'x', body: 'y' })).statusCode, 201)
  t.equal((await webApi(app, cookie, 'GET', '/v1/notes?limit=1')).json().items.length, 1)
  t.equal((await webApi(app, null, 'GET', '/v1/public/articles')).statusCode, 200)
})

t.test('the web routes refuse what they do not serve with JSON errors', async t => {
  const { app } = await buildTestApp(t)
  const get = await app.inject({ method: 'GET', url: '/web/login', headers: browser() })
  t.equal(get.statusCode, 405)
  t.equal(get.json().code, 'METHOD_NOT_ALLOWED')
  t.equal((await app.inject({ method: 'GET', url: '/web/nothing' })).json().code, 'NOT_FOUND')
  const badJson = await app.inject({ method: 'POST', url: '/web/login', headers: browser({ 'content-type': 'application/json' }), payload: '{"username":' })
  t.equal(badJson.statusCode, 400)
  t.equal(badJson.json().code, 'INVALID_JSON')
  const bodyOnLogout = await app.inject({ method: 'POST', url: '/web/logout', headers: browser({ 'content-type': 'text/plain' }), payload: 'x' })
  t.equal(bodyOnLogout.json().code, 'UNSUPPORTED_MEDIA_TYPE')
})

t.test('an instance that starts closing mid-request answers 503 NOT_READY, not an internal error', async t => {
  let hold: Promise<void> | null = null
  let entered: () => void = () => {}
  const inside = new Promise<void>(resolve => { entered = resolve })
  let release: () => void = () => {}
  const memory = new MemoryReplayCache()
  const replay: ReplayCache = {
    remember: async (key, expiresAt, now) => {
      if (hold !== null) { entered(); await hold }
      return memory.remember(key, expiresAt, now)
    },
    healthy: () => true,
    close: () => memory.close()
  }
  const { app, advance } = await buildTestApp(t, { deps: { replay } })
  const cookie = await webUser(app, 'alice')
  await advance(5 * 3_600_000 + 40 * 60_000)
  hold = new Promise<void>(resolve => { release = resolve })
  // The key is near its end: the first internal request (the refresh) is held while the instance starts closing.
  const pending = webApi(app, cookie, 'GET', '/v1/notes')
  await inside
  const closing = app.close()
  release()
  const res = await pending
  await closing
  t.equal(res.statusCode, 503)
  t.equal(res.json().code, 'NOT_READY')
  t.equal(res.headers['retry-after'], '1')
})

t.test('an AUTH_REPLAY on an idempotent request is re-signed once, as the protocol asks of clients', async t => {
  let replayOnce = true
  let calls = 0
  const memory = new MemoryReplayCache()
  const replay: ReplayCache = {
    remember: (key, expiresAt, now) => {
      calls++
      if (replayOnce) { replayOnce = false; return 'replay' }
      return memory.remember(key, expiresAt, now)
    },
    healthy: () => true,
    close: () => memory.close()
  }
  const { app } = await buildTestApp(t, { deps: { replay } })
  const cookie = await webUser(app, 'alice')
  calls = 0
  replayOnce = true
  const res = await webApi(app, cookie, 'GET', '/v1/notes')
  t.equal(res.statusCode, 200, 'the second signature went through')
  t.equal(calls, 2, 'signed and checked twice')
})
