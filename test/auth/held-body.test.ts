/**
 * Requests whose body is held back (protocol-v1.md, "Two instants matter"):
 * key expiry, revocation and replay are judged when the body is complete
 * (t_body), and a body completing after X-Microtime + skew + BODY_TIMEOUT_MS
 * is AUTH_STALE. The attacker resends a captured request's headers within
 * the skew, withholds the last body byte, lets the clock run, then finishes.
 *
 * The body is a stream whose last byte is released on demand; the server's
 * clock is the test's, moved while the body is held.
 */
import t from 'tap'
import { PassThrough } from 'node:stream'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { buildTestApp, login, sign, signedInject, signupAndLogin, type Credential, type Tap, type TestApp } from '../helper.js'

const SKEW = 10_000
const BODY_TIMEOUT = 30_000

interface Held {
  /** Sends the last byte; resolves with the answer. */
  release (): Promise<LightMyRequestResponse>
}

/** Starts a request whose body arrives but for its last byte; the head is in once this resolves. */
async function holdBody (app: FastifyInstance, method: 'POST' | 'PATCH' | 'PUT', url: string, body: string, headers: Record<string, string>): Promise<Held> {
  const stream = new PassThrough()
  const bytes = Buffer.from(body, 'utf8')
  stream.write(bytes.subarray(0, bytes.length - 1))
  const answer = app.inject({ method, url, headers: { ...headers, 'content-type': 'application/json', 'content-length': String(bytes.length) }, payload: stream })
  // Let the server take the head and read what was sent.
  await new Promise(resolve => setImmediate(resolve))
  return {
    async release () {
      stream.end(bytes.subarray(bytes.length - 1))
      return answer
    }
  }
}

function codeOf (res: LightMyRequestResponse): string | number {
  return res.statusCode < 300 ? res.statusCode : `${res.statusCode} ${String(res.json().code)}`
}

async function withNote (t: Tap, env: Record<string, string> = {}): Promise<{ test: TestApp, cred: Credential }> {
  const test = await buildTestApp(t, { env })
  const cred = await signupAndLogin(test.app, 'alice')
  return { test, cred }
}

t.test('replay by holding the body: a captured request resent with its last byte held is refused after its first copy\'s window', async t => {
  const { test, cred } = await withNote(t)
  const { app, clock } = test
  const body = JSON.stringify({ title: 'pay', body: 'once' })
  const captured = sign(cred, 'POST', '/v1/notes', body, clock.now())
  const first = await app.inject({ method: 'POST', url: '/v1/notes', headers: { ...captured, 'content-type': 'application/json' }, payload: body })
  t.equal(first.statusCode, 201, 'the original request is accepted')

  // Resent 5 s later (within the skew), last byte held.
  await test.advance(5_000)
  const held = await holdBody(app, 'POST', '/v1/notes', body, captured)
  // X-Microtime + skew passes; another signed request sweeps the cache meanwhile.
  await test.advance(SKEW)
  t.equal((await signedInject(app, clock, cred, { method: 'GET', url: '/auth/whoami' })).statusCode, 200, 'another request, which sweeps expired entries')
  t.equal(codeOf(await held.release()), '401 AUTH_REPLAY', 'the entry outlives any body that can still be accepted')
  const notes = await signedInject(app, clock, cred, { method: 'GET', url: '/v1/notes' })
  t.equal(notes.json().items.length, 1, 'one note, not two')
})

t.test('a body completing after X-Microtime + skew + BODY_TIMEOUT_MS is AUTH_STALE, one completing at that instant is accepted', async t => {
  const { test, cred } = await withNote(t)
  const { app, clock } = test
  const body = JSON.stringify({ title: 'late', body: 'by one ms' })
  const late = await holdBody(app, 'POST', '/v1/notes', body, sign(cred, 'POST', '/v1/notes', body, clock.now()))
  await test.advance(SKEW + BODY_TIMEOUT + 1)
  t.equal(codeOf(await late.release()), '401 AUTH_STALE')

  const edgeBody = JSON.stringify({ title: 'edge', body: 'just in time' })
  const edge = await holdBody(app, 'POST', '/v1/notes', edgeBody, sign(cred, 'POST', '/v1/notes', edgeBody, clock.now()))
  await test.advance(SKEW + BODY_TIMEOUT)
  t.equal(codeOf(await edge.release()), 201, 'the last instant of the window is inside it')
})

t.test('a replay at the very end of the window is still refused (the entry lives one ms past it)', async t => {
  const { test, cred } = await withNote(t)
  const { app, clock } = test
  const body = JSON.stringify({ title: 'edge', body: 'replayed' })
  const headers = { ...sign(cred, 'POST', '/v1/notes', body, clock.now()), 'content-type': 'application/json' }
  t.equal((await app.inject({ method: 'POST', url: '/v1/notes', headers, payload: body })).statusCode, 201)
  const held = await holdBody(app, 'POST', '/v1/notes', body, headers)
  await test.advance(SKEW + BODY_TIMEOUT)
  t.equal((await signedInject(app, clock, cred, { method: 'GET', url: '/auth/whoami' })).statusCode, 200, 'a sweep at the last instant')
  t.equal(codeOf(await held.release()), '401 AUTH_REPLAY')
})

t.test('revocation stops requests in flight: a body completing after logout, password change or disable is AUTH_KEY_REVOKED', async t => {
  const kinds = [
    {
      name: 'logout',
      revoke: async (test: TestApp, cred: Credential) => signedInject(test.app, test.clock, cred, { method: 'POST', url: '/auth/logout' })
    },
    {
      name: 'password change',
      revoke: async (test: TestApp, cred: Credential) => signedInject(test.app, test.clock, cred, { method: 'POST', url: '/auth/password', body: JSON.stringify({ password: 'correct horse battery', newPassword: 'a brand new password' }) })
    },
    {
      name: 'disable',
      revoke: async (test: TestApp) => {
        const admin = await login(test.app, 'root', 'root password long')
        return signedInject(test.app, test.clock, admin, { method: 'PATCH', url: '/admin/users/alice', body: JSON.stringify({ disabled: true }) })
      }
    }
  ]
  for (const kind of kinds) {
    await t.test(kind.name, async t => {
      const { test, cred } = await withNote(t, { ADMIN_USERNAME: 'root', ADMIN_PASSWORD: 'root password long' })
      const body = JSON.stringify({ title: 'stolen', body: 'pre-signed with a stolen key' })
      // Signed in advance, sent with all but its last byte before the victim's revocation.
      const held = await holdBody(test.app, 'POST', '/v1/notes', body, sign(cred, 'POST', '/v1/notes', body, test.clock.now()))
      await test.advance(1_000)
      const revoked = await kind.revoke(test, cred)
      t.ok(revoked.statusCode === 204 || revoked.statusCode === 200, `${kind.name} answered ${revoked.statusCode}`)
      await test.advance(3_000)
      t.equal(codeOf(await held.release()), '401 AUTH_KEY_REVOKED', 'the last byte arrives 3 s after the revocation')
    })
  }
})

t.test('a key that expires while its body is held is AUTH_KEY_EXPIRED', async t => {
  const { test, cred } = await withNote(t, { KEY_TTL_SECONDS: '60' })
  const { app, clock } = test
  await test.advance(55_000)
  const body = JSON.stringify({ title: 'x', body: 'y' })
  const held = await holdBody(app, 'POST', '/v1/notes', body, sign(cred, 'POST', '/v1/notes', body, clock.now()))
  await test.advance(10_000)
  t.equal(codeOf(await held.release()), '401 AUTH_KEY_EXPIRED')
})

t.test('a clock that reads not-a-number refuses the request (500, logged), never passes a check', async t => {
  const test = await buildTestApp(t, { env: { LOG_LEVEL: 'error' } })
  const cred = await signupAndLogin(test.app, 'alice')
  const body = JSON.stringify({ title: 'x', body: 'y' })
  const held = await holdBody(test.app, 'POST', '/v1/notes', body, sign(cred, 'POST', '/v1/notes', body, test.clock.now()))
  test.clock.t = Number.NaN
  const res = await held.release()
  t.equal(res.statusCode, 500)
  t.equal(res.json().code, 'INTERNAL_ERROR')
  t.ok(test.logs.some(line => line.includes('the server clock is not a number')), 'logged')
  const head = await test.app.inject({ method: 'GET', url: '/auth/whoami', headers: sign(cred, 'GET', '/auth/whoami', '', Date.UTC(2026, 0, 1)) })
  t.equal(head.statusCode, 500, 'at the head too')
})
