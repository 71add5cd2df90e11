/** The public area, client registration and rotation, admin users, CORS (api-v1.md). */
import t from 'tap'
import { buildTestApp, login, signedInject, signup, signupAndLogin, type Credential } from '../helper.js'

const ADMIN = { ADMIN_USERNAME: 'root', ADMIN_PASSWORD: 'admin password 1' }

async function setup (t: Parameters<typeof buildTestApp>[0], env: Record<string, string> = {}) {
  const ctx = await buildTestApp(t, { env: { ...ADMIN, ...env } })
  const call = async (c: Credential, method: string, url: string, body?: unknown): Promise<{ status: number, json: any, headers: Record<string, unknown> }> => { // eslint-disable-line @typescript-eslint/no-explicit-any
    const res = await signedInject(ctx.app, ctx.clock, c, { method, url, ...(body === undefined ? {} : { body: JSON.stringify(body) }) })
    return { status: res.statusCode, json: res.body === '' ? null : res.json(), headers: res.headers }
  }
  const admin = await login(ctx.app, 'root', 'admin password 1')
  const register = async (body: unknown): Promise<Credential & { id: string }> => {
    const res = await call(admin, 'POST', '/admin/clients', body)
    if (res.status !== 201) throw new Error(`register: ${res.status} ${JSON.stringify(res.json)}`)
    return { id: res.json.id, username: res.json.principal, keyId: res.json.keyId, signingKey: res.json.secret }
  }
  return { ...ctx, call, admin, register }
}

t.test('public area: any valid signature reads, unsigned is 401; writers need a role or a scope', async t => {
  const { app, call, admin, register, clock } = await setup(t)
  const alice = await signupAndLogin(app, 'alice')
  const ios = await register({ name: 'iOS 1.0', kind: 'app' })
  const backend = await register({ name: 'backend', kind: 'service', scopes: ['public:read', 'articles:write'] })
  const writeOnly = await register({ name: 'importer', kind: 'service', scopes: ['articles:write'] })

  const unsigned = await app.inject({ method: 'GET', url: '/v1/public/articles' })
  t.equal(unsigned.statusCode, 401)
  t.equal(unsigned.json().code, 'AUTH_MISSING')

  t.equal((await call(alice, 'POST', '/v1/public/articles', { title: 'x', body: 'y' })).status, 403, 'a plain user may not write')
  t.equal((await call(ios, 'POST', '/v1/public/articles', { title: 'x', body: 'y' })).status, 403, 'an app key may not write')
  const byAdmin = await call(admin, 'POST', '/v1/public/articles', { title: 'Hello', body: 'World' })
  t.equal(byAdmin.status, 201)
  t.match(byAdmin.json, { title: 'Hello', body: 'World', author: 'root' })
  clock.advance(1)
  const byService = await call(backend, 'POST', '/v1/public/articles', { title: 'From the backend', body: '' })
  t.equal(byService.status, 201)
  t.equal(byService.json.author, backend.username)

  t.equal((await call(admin, 'PATCH', '/admin/users/alice', { roles: ['editor'] })).json.roles[0], 'editor')
  clock.advance(1)
  const byEditor = await call(alice, 'POST', '/v1/public/articles', { title: 'By an editor', body: '' })
  t.equal(byEditor.status, 201, 'a role change takes effect at once, with the same key')

  for (const reader of [alice, ios, backend]) {
    const list = await call(reader, 'GET', '/v1/public/articles')
    t.equal(list.status, 200)
    t.same(list.json.items.map((a: { title: string }) => a.title), ['By an editor', 'From the backend', 'Hello'])
  }
  t.equal((await call(writeOnly, 'GET', '/v1/public/articles')).status, 403, 'a client without public:read cannot read')
  const one = await call(ios, 'GET', `/v1/public/articles/${byAdmin.json.id as string}`)
  t.same(one.json, byAdmin.json)
  t.equal((await call(ios, 'GET', '/v1/public/articles/nope')).json.code, 'NOT_FOUND')
  const patched = await call(backend, 'PATCH', `/v1/public/articles/${byAdmin.json.id as string}`, { title: 'Hello again' })
  t.equal(patched.json.title, 'Hello again')
  t.equal((await call(backend, 'DELETE', `/v1/public/articles/${byAdmin.json.id as string}`)).status, 204)
  t.equal((await call(backend, 'DELETE', `/v1/public/articles/${byAdmin.json.id as string}`)).status, 404)
  t.equal((await call(alice, 'PATCH', '/v1/public/articles/nope', { title: 'x' })).status, 404)
})

t.test('clients: registered by an admin, secret shown once, app never holds a write scope', async t => {
  const { app, call, admin, store, dataDir } = await setup(t)
  const alice = await signupAndLogin(app, 'alice')
  const res = await call(admin, 'POST', '/admin/clients', { name: 'Android 2', kind: 'app' })
  t.equal(res.status, 201)
  t.equal(res.headers['cache-control'], 'no-store')
  t.match(res.json.principal, /^app:[0-9a-f]{16}$/)
  t.same(res.json.scopes, ['public:read'], 'public:read by default')
  t.ok(res.json.secret.length >= 43)
  const listed = await call(admin, 'GET', '/admin/clients')
  t.same(listed.json.items.map((c: Record<string, unknown>) => Object.keys(c).sort()), [['createdAt', 'id', 'kind', 'name', 'principal', 'scopes']])
  t.notMatch(JSON.stringify(listed.json), res.json.secret, 'never the secret')
  t.notMatch(JSON.stringify(await store.listClients()), res.json.secret, 'the secret is not stored')
  const { readFileSync } = await import('node:fs')
  const { join } = await import('node:path')
  t.notOk(readFileSync(join(dataDir, 'store.sqlite')).includes(res.json.secret), 'not in the database file either')

  const writeApp = await call(admin, 'POST', '/admin/clients', { name: 'bad', kind: 'app', scopes: ['articles:write'] })
  t.equal(writeApp.status, 400)
  t.equal(writeApp.json.code, 'VALIDATION_FAILED')
  t.match(writeApp.json.message, /write scope/)
  t.equal((await call(admin, 'POST', '/admin/clients', { name: 'x', kind: 'service', scopes: ['everything'] })).json.code, 'VALIDATION_FAILED', 'unknown scope')
  t.equal((await call(admin, 'POST', '/admin/clients', { name: 'x', kind: 'robot' })).json.code, 'VALIDATION_FAILED', 'unknown kind')
  const dup = await call(admin, 'POST', '/admin/clients', { name: 'Android 2', kind: 'service' })
  t.equal(dup.status, 409)
  t.equal(dup.json.code, 'CLIENT_NAME_TAKEN')
  t.equal((await call(alice, 'POST', '/admin/clients', { name: 'mine', kind: 'service' })).status, 403, 'only admins')
  t.equal((await call(alice, 'GET', '/admin/clients')).status, 403)
})

t.test('rotation: the new key works, the previous one for the overlap, then AUTH_KEY_REVOKED', async t => {
  const { call, admin, register, advance } = await setup(t, { CLIENT_KEY_OVERLAP_SECONDS: '3600' })
  const v1 = await register({ name: 'svc', kind: 'service' })
  const r1 = await call(admin, 'POST', `/admin/clients/${v1.id}/rotate`)
  t.equal(r1.status, 200)
  t.equal(r1.headers['cache-control'], 'no-store')
  const v2 = { username: r1.json.principal, keyId: r1.json.keyId, signingKey: r1.json.secret }
  t.equal(v2.username, v1.username, 'same principal')
  t.not(v2.keyId, v1.keyId)
  t.equal((await call(v2, 'GET', '/auth/whoami')).status, 200)
  t.equal((await call(v1, 'GET', '/auth/whoami')).status, 200, 'the previous key works during the overlap')
  await advance(3600_000)
  const old = await call(v1, 'GET', '/auth/whoami')
  t.equal(old.status, 401)
  t.equal(old.json.code, 'AUTH_KEY_REVOKED', 'and is revoked after it')
  t.equal((await call(v2, 'GET', '/auth/whoami')).status, 200)
  const r2 = await call(admin, 'POST', `/admin/clients/${v1.id}/rotate`)
  const r3 = await call(admin, 'POST', `/admin/clients/${v1.id}/rotate`)
  const v3 = { username: r2.json.principal, keyId: r2.json.keyId, signingKey: r2.json.secret }
  const v4 = { username: r3.json.principal, keyId: r3.json.keyId, signingKey: r3.json.secret }
  t.equal((await call(v2, 'GET', '/auth/whoami')).json.code, 'AUTH_KEY_REVOKED', 'only the immediately previous key keeps working')
  t.equal((await call(v3, 'GET', '/auth/whoami')).status, 200)
  t.equal((await call(v4, 'GET', '/auth/whoami')).status, 200)
  t.equal((await call(admin, 'POST', '/admin/clients/nope/rotate')).status, 404)
})

t.test('deleting a client revokes its keys; disabling a user revokes theirs and blocks login', async t => {
  const { app, call, admin, register, clock } = await setup(t)
  const svc = await register({ name: 'svc', kind: 'service' })
  t.equal((await call(admin, 'DELETE', `/admin/clients/${svc.id}`)).status, 204)
  t.equal((await call(svc, 'GET', '/auth/whoami')).json.code, 'AUTH_KEY_REVOKED')
  t.equal((await call(admin, 'DELETE', `/admin/clients/${svc.id}`)).status, 404)

  const bob = await signupAndLogin(app, 'bob')
  const disabled = await call(admin, 'PATCH', '/admin/users/bob', { disabled: true })
  t.same(disabled.json, { username: 'bob', roles: [], disabled: true })
  t.equal((await call(bob, 'GET', '/auth/whoami')).json.code, 'AUTH_KEY_REVOKED')
  const denied = await app.inject({ method: 'POST', url: '/auth/login', headers: { 'x-forwarded-proto': 'https' }, payload: { username: 'bob', password: 'correct horse battery' } })
  t.equal(denied.json().code, 'AUTH_INVALID_CREDENTIALS', 'a disabled user cannot log in')
  clock.advance(1)
  await call(admin, 'PATCH', '/admin/users/bob', { disabled: false })
  const back = await login(app, 'bob')
  t.equal((await call(back, 'GET', '/auth/whoami')).status, 200, 're-enabled: a new login works')
  t.equal((await call(admin, 'PATCH', '/admin/users/nobody', { disabled: true })).json.code, 'USER_NOT_FOUND')
  t.equal((await call(admin, 'PATCH', '/admin/users/bob', { roles: ['root'] })).json.code, 'VALIDATION_FAILED')
  t.equal((await call(admin, 'PATCH', '/admin/users/bob', {})).json.code, 'VALIDATION_FAILED')
})

/** A promise resolved from outside: pauses a request at a chosen step, so a race is played in a fixed order. */
function deferred (): { promise: Promise<void>, resolve: () => void } {
  let resolve = (): void => {}
  const promise = new Promise<void>(r => { resolve = r })
  return { promise, resolve }
}

t.test('a login that races a disable never keeps its key', async t => {
  await t.test('the login reads the user while the disable is being written', async t => {
    const { app, call, admin, store, clock, advance } = await setup(t)
    t.equal((await signup(app, 'bob')).statusCode, 201)
    const reached = deferred()
    const release = deferred()
    const updateUser = store.updateUser.bind(store)
    store.updateUser = async (...args) => { reached.resolve(); await release.promise; return await updateUser(...args) }
    const disabling = call(admin, 'PATCH', '/admin/users/bob', { disabled: true })
    await reached.promise
    clock.advance(10)
    const raced = await login(app, 'bob')
    release.resolve()
    t.equal((await disabling).status, 200)
    await advance(1)
    const res = await call(raced, 'GET', '/auth/whoami')
    t.equal(res.status, 401, 'the raced login\'s key is refused')
    t.equal(res.json.code, 'AUTH_KEY_REVOKED')
  })

  await t.test('the login read the user before the disable and issues its key after it', async t => {
    const { app, call, admin, store, clock, advance } = await setup(t)
    t.equal((await signup(app, 'bob')).statusCode, 201)
    const readDone = deferred()
    const release = deferred()
    const findUser = store.findUser.bind(store)
    store.findUser = async (name) => {
      const user = await findUser(name)
      if (name === 'bob') { readDone.resolve(); await release.promise }
      return user
    }
    const logging = login(app, 'bob')
    await readDone.promise
    clock.advance(10)
    t.equal((await call(admin, 'PATCH', '/admin/users/bob', { disabled: true })).status, 200)
    release.resolve()
    const raced = await logging
    await advance(1)
    t.equal((await call(raced, 'GET', '/auth/whoami')).json.code, 'AUTH_KEY_REVOKED')
  })
})

t.test('CORS: preflight answered before any signature check, for CORS_ORIGINS only', async t => {
  const { app, call, admin } = await setup(t, { CORS_ORIGINS: 'https://app.example.com' })
  const preflight = (origin: string) => app.inject({ method: 'OPTIONS', url: '/v1/notes', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'auth-username,content-type' } })
  const ok = await preflight('https://app.example.com')
  t.equal(ok.statusCode, 204)
  t.equal(ok.headers['x-content-type-options'], 'nosniff', 'a preflight carries the security headers too')
  t.equal(ok.headers['access-control-allow-origin'], 'https://app.example.com')
  for (const h of ['Auth-Username', 'Auth-Key-Id', 'X-Microtime', 'Auth-Signature', 'Content-Type']) t.match(ok.headers['access-control-allow-headers'], h)
  t.match(ok.headers['access-control-allow-methods'], 'POST')
  const evil = await preflight('https://evil.example.com')
  t.equal(evil.statusCode, 204)
  t.equal(evil.headers['access-control-allow-origin'], undefined, 'another origin gets no CORS headers')
  const res = await call(admin, 'GET', '/auth/whoami')
  t.equal(res.status, 200)
  const fromBrowser = await app.inject({ method: 'GET', url: '/auth/whoami', headers: { origin: 'https://app.example.com' } })
  t.equal(fromBrowser.statusCode, 401)
  t.equal(fromBrowser.headers['access-control-allow-origin'], 'https://app.example.com', 'errors carry CORS headers too, so the browser can read the code')
  t.match(fromBrowser.headers['access-control-expose-headers'], 'X-Server-Time')
  t.match(fromBrowser.headers['access-control-expose-headers'], 'WWW-Authenticate')
})

