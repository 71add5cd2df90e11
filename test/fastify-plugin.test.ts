/**
 * signed-api/fastify on its own, in a bare Fastify app that has none of the
 * reference API's wiring (no root hook, no error handler of ours, no parser
 * set up for it): the verify path must not depend on anything app.ts does.
 */
import t from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import signedApi, { MemoryRevocations, type SignedApiOptions } from '../src/fastify/index.js'
import { issueClientKey, issueUserKey, newKeyring, newSessionId } from '../src/protocol/index.js'
import { ManualClock, sign, type Tap } from './helper.js'

const AUDIENCE = 'plugin-test'

async function bareApp (t: Tap, opts: Partial<SignedApiOptions> = {}, routes: (app: FastifyInstance) => void = defaultRoutes): Promise<{ app: FastifyInstance, clock: ManualClock, keyring: ReturnType<typeof newKeyring>, revocations: MemoryRevocations }> {
  const clock = new ManualClock(Date.UTC(2026, 11, 5, 12))
  const keyring = newKeyring()
  const revocations = new MemoryRevocations()
  const app = Fastify()
  // The app's own error handler answers in another shape: the plugin's refusals must not go through it.
  app.setErrorHandler((_err, _request, reply) => reply.code(418).send({ mine: true }))
  await app.register(signedApi, { keyring, audience: AUDIENCE, now: clock.now, revocations, ...opts })
  routes(app)
  await app.ready()
  t.teardown(() => app.close())
  return { app, clock, keyring, revocations }
}

function defaultRoutes (app: FastifyInstance): void {
  app.get('/me', { config: { signed: { kinds: ['user'] } } }, async (request) => ({ me: request.principal?.name, kind: request.principal?.kind }))
  app.post('/echo', { config: { signed: { kinds: ['user', 'service'] } } }, async (request) => ({ body: request.body }))
  app.post('/open', async (request) => ({ body: request.body }))
}

function userKey (keyring: ReturnType<typeof newKeyring>, clock: ManualClock, username = 'alice'): { username: string, keyId: string, signingKey: string, sid: string } {
  const sid = newSessionId()
  const key = issueUserKey(keyring, AUDIENCE, username, { now: clock.now(), sessionId: sid })
  return { username, keyId: key.keyId, signingKey: key.signingKey, sid }
}

t.test('a signed route in a bare app: 200 signed, 401 with the protocol\'s body and WWW-Authenticate otherwise', async t => {
  const { app, clock, keyring } = await bareApp(t)
  const cred = userKey(keyring, clock)
  const ok = await app.inject({ method: 'GET', url: '/me', headers: sign(cred, 'GET', '/me', '', clock.now()) })
  t.equal(ok.statusCode, 200)
  t.same(ok.json(), { me: 'alice', kind: 'user' })
  t.equal(ok.headers['x-server-time'], String(clock.now()))
  const missing = await app.inject({ method: 'GET', url: '/me' })
  t.equal(missing.statusCode, 401)
  t.same(Object.keys(missing.json()).sort(), ['code', 'error', 'message', 'statusCode'], 'the protocol\'s shape, not the app\'s error handler\'s')
  t.equal(missing.json().code, 'AUTH_MISSING')
  t.equal(missing.headers['www-authenticate'], 'HMAC-SHA256 error="AUTH_MISSING"')
  const body = '{"a":1}'
  const echo = await app.inject({ method: 'POST', url: '/echo', headers: { ...sign(cred, 'POST', '/echo', body, clock.now() + 1), 'content-type': 'application/json' }, payload: body })
  t.same(echo.json(), { body: { a: 1 } }, 'the handler gets the parsed body once the signature holds')
  const bad = await app.inject({ method: 'POST', url: '/echo', headers: { ...sign(cred, 'POST', '/echo', body, clock.now() + 2), 'content-type': 'application/json' }, payload: '{"a":2}' })
  t.equal(bad.json().code, 'AUTH_BAD_SIGNATURE')
  t.ok(bad.json().canonical, 'the debug view is on by default')
  const open = await app.inject({ method: 'POST', url: '/open', headers: { 'content-type': 'application/json' }, payload: '{"b":2}' })
  t.same(open.json(), { body: { b: 2 } }, 'unsigned routes get parsed JSON as usual')
  const client = issueClientKey(keyring, AUDIENCE, 'service:billing', { now: clock.now(), generation: 1, scopes: ['public:read'] })
  const svc = { username: 'service:billing', keyId: client.keyId, signingKey: client.signingKey }
  t.equal((await app.inject({ method: 'GET', url: '/me', headers: sign(svc, 'GET', '/me', '', clock.now() + 3) })).json().code, 'FORBIDDEN', 'check 8: a service key on a users-only route')
})

t.test('the held-request attacks fail in a bare app: a revoked key and an exact replay, an hour later or at once', async t => {
  const { app, clock, keyring, revocations } = await bareApp(t)
  const cred = userKey(keyring, clock)
  const headers = sign(cred, 'GET', '/me', '', clock.now())
  t.equal((await app.inject({ method: 'GET', url: '/me', headers })).statusCode, 200)
  t.equal((await app.inject({ method: 'GET', url: '/me', headers })).json().code, 'AUTH_REPLAY', 'the same request again')
  clock.advance(3600_000)
  t.equal((await app.inject({ method: 'GET', url: '/me', headers })).json().code, 'AUTH_STALE', 'an hour later')
  revocations.revokeSession('alice', cred.sid, clock.now())
  t.equal((await app.inject({ method: 'GET', url: '/me', headers: sign(cred, 'GET', '/me', '', clock.now()) })).json().code, 'AUTH_KEY_REVOKED', 'after the session is revoked')
})

t.test('X-Microtime in seconds: AUTH_STALE says so', async t => {
  const { app, clock, keyring } = await bareApp(t)
  const cred = userKey(keyring, clock)
  const res = await app.inject({ method: 'GET', url: '/me', headers: sign(cred, 'GET', '/me', '', Math.floor(clock.now() / 1000)) })
  t.equal(res.json().code, 'AUTH_STALE')
  t.match(res.json().message, /milliseconds.*looks like seconds/)
  const old = await app.inject({ method: 'GET', url: '/me', headers: sign(cred, 'GET', '/me', '', clock.now() - 60_000) })
  t.notMatch(old.json().message, /seconds/, 'a time a minute off in milliseconds gets no such hint')
})

t.test('a clock that reads not-a-number refuses the request (500), never passes it', async t => {
  let broken = false
  const clock = new ManualClock(Date.UTC(2026, 11, 5, 12))
  const { app, keyring } = await bareApp(t, { now: () => broken ? NaN : clock.now() })
  const cred = userKey(keyring, clock)
  broken = true
  const res = await app.inject({ method: 'GET', url: '/me', headers: sign(cred, 'GET', '/me', '', clock.now()) })
  t.equal(res.statusCode, 500)
  t.equal(res.json().code, 'INTERNAL_ERROR')
})

t.test('a signed route without an access rule fails at registration, not at request time', async t => {
  for (const signed of [true, {}, { kinds: [] }, { kinds: ['root'] }, { kinds: ['user'], roles: [] }, { kinds: ['user'], roles: ['admin'] }]) {
    const app = Fastify()
    await app.register(signedApi, { keyring: newKeyring(), audience: AUDIENCE })
    t.throws(() => app.get('/x', { config: { signed: signed as never } }, async () => 'x'), /signed-api: GET \/x: config\.signed/, JSON.stringify(signed))
    await app.close()
  }
})

t.test('a signed route whose body another parser read is refused, never verified against other bytes', async t => {
  const clock = new ManualClock(Date.UTC(2026, 11, 5, 12))
  const keyring = newKeyring()
  const app = Fastify()
  await app.register(signedApi, { keyring, audience: AUDIENCE, now: clock.now })
  await app.register(async (scope) => {
    // This scope parses JSON its own way: the bytes the client signed never reach the plugin.
    scope.removeContentTypeParser('application/json')
    scope.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => { done(null, JSON.parse(body as string)) })
    scope.post('/parsed', { config: { signed: { kinds: ['user'] } } }, async () => ({ reached: true }))
  })
  t.teardown(() => app.close())
  const cred = userKey(keyring, clock)
  const body = '{"a":1}'
  const res = await app.inject({ method: 'POST', url: '/parsed', headers: { ...sign(cred, 'POST', '/parsed', body, clock.now()), 'content-type': 'application/json' }, payload: body })
  t.equal(res.statusCode, 500)
  t.equal(res.json().code, 'INTERNAL_ERROR')
})

t.test('route plugins that depend on it by name are refused when registered before it', async t => {
  const fp = (await import('fastify-plugin')).default
  const app = Fastify()
  await t.rejects(async () => { await app.register(fp(async () => {}, { name: 'my-routes', dependencies: ['signed-api'] })) }, /signed-api/)
})

t.test('roles come from rolesOf, asked only for routes that name roles', async t => {
  const asked: string[] = []
  const { app, clock, keyring } = await bareApp(t, { rolesOf: async (name) => { asked.push(name); return name === 'root' ? ['admin'] : [] } }, app => {
    app.get('/admin', { config: { signed: { kinds: ['user'], roles: ['admin'] } } }, async () => ({ ok: true }))
    app.get('/me', { config: { signed: { kinds: ['user'] } } }, async () => ({ ok: true }))
  })
  const root = userKey(keyring, clock, 'root')
  const alice = userKey(keyring, clock, 'alice')
  t.equal((await app.inject({ method: 'GET', url: '/admin', headers: sign(root, 'GET', '/admin', '', clock.now()) })).statusCode, 200)
  t.equal((await app.inject({ method: 'GET', url: '/admin', headers: sign(alice, 'GET', '/admin', '', clock.now()) })).json().code, 'FORBIDDEN')
  t.equal((await app.inject({ method: 'GET', url: '/me', headers: sign(alice, 'GET', '/me', '', clock.now() + 1) })).statusCode, 200)
  t.same(asked, ['root', 'alice'])
  // A name that is also a property of Object.prototype is only a name.
  const ctor = userKey(keyring, clock, 'constructor')
  t.equal((await app.inject({ method: 'GET', url: '/admin', headers: sign(ctor, 'GET', '/admin', '', clock.now() + 2) })).json().code, 'FORBIDDEN')
})
