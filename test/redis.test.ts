/**
 * REDIS_URL against a real redis-server: shared replay cache, failed-login
 * counters and rate limits across instances, revocation nudges, and an outage.
 */
import t from 'tap'
import { buildTestApp, login, ManualClock, newKeyring, sign, signedInject, signup, signupAndLogin, tempDir, viaHttps, type Tap } from './helper.js'
import { startRedis } from './redis-server.js'
import { call, startServer } from './server-process.js'
import { connectRedis } from '../src/redis.js'
import type { Keyring } from '../src/auth/keys.js'

/** Two instances sharing Redis, a keyring and (one DATA_DIR) a store; a clock near real time, since Redis expiries are absolute. */
async function pair (t: Tap, url: string, env: Record<string, string> = {}, keyring: Keyring = newKeyring()) {
  const dataDir = tempDir(t)
  const clock = new ManualClock(Date.now())
  const link = (): ReturnType<typeof connectRedis> => connectRedis(url, () => {})
  const a = await buildTestApp(t, { env, clock, keyring, dataDir, deps: { redis: link(), revocationPollMs: 3_600_000 } })
  const b = await buildTestApp(t, { env, clock, keyring, dataDir, deps: { redis: link(), revocationPollMs: 3_600_000 } })
  return { a, b, clock }
}

async function until (check: () => Promise<boolean>, ms: number): Promise<number> {
  const started = Date.now()
  while (Date.now() - started < ms) {
    if (await check()) return Date.now() - started
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  return -1
}

t.test('a request accepted by one instance and replayed to another is refused AUTH_REPLAY', async t => {
  const redis = await startRedis(t)
  const { a, b, clock } = await pair(t, redis.url)
  const cred = await signupAndLogin(a.app, 'alice')
  const headers = sign(cred, 'GET', '/auth/whoami', '', clock.now())
  t.equal((await a.app.inject({ method: 'GET', url: '/auth/whoami', headers })).statusCode, 200)
  const replayed = await b.app.inject({ method: 'GET', url: '/auth/whoami', headers })
  t.equal(replayed.statusCode, 401)
  t.equal(replayed.json().code, 'AUTH_REPLAY')
  t.equal((await signedInject(b.app, clock, cred, { method: 'GET', url: '/auth/whoami' })).statusCode, 200, 'a fresh signature works on B')
})

t.test('failed logins and signed-request rate limits count across instances', async t => {
  const redis = await startRedis(t)
  const { a, b, clock } = await pair(t, redis.url, { LOGIN_MAX_FAILURES: '2', RATE_LIMIT_PER_MINUTE: '3' })
  await signup(a.app, 'alice')
  const fail = (app: typeof a.app) => app.inject({ method: 'POST', url: '/auth/login', headers: viaHttps(), payload: { username: 'alice', password: 'wrong password' } })
  t.equal((await fail(a.app)).statusCode, 401)
  t.equal((await fail(b.app)).statusCode, 401)
  const limited = await a.app.inject({ method: 'POST', url: '/auth/login', headers: viaHttps(), payload: { username: 'alice', password: 'correct horse battery' } })
  t.equal(limited.statusCode, 429, 'two failures on two instances reach the limit of 2')
  t.equal(limited.json().code, 'RATE_LIMITED')

  await signup(a.app, 'bob')
  const bob = await login(b.app, 'bob')
  const codes = []
  for (const app of [a.app, b.app, a.app, b.app]) codes.push((await signedInject(app, clock, bob, { method: 'GET', url: '/auth/whoami' })).statusCode)
  t.same(codes, [200, 200, 200, 429], 'three signed requests per minute in total, whichever instance')
})

t.test('a logout on one instance reaches the other through the nudge, long before its poll', async t => {
  const redis = await startRedis(t)
  const { a, b, clock } = await pair(t, redis.url, { LOG_LEVEL: 'warn' })
  const cred = await signupAndLogin(a.app, 'alice')
  t.equal((await signedInject(b.app, clock, cred, { method: 'GET', url: '/auth/whoami' })).statusCode, 200)
  t.equal((await signedInject(a.app, clock, cred, { method: 'POST', url: '/auth/logout' })).statusCode, 204)
  const elapsed = await until(async () => (await signedInject(b.app, clock, cred, { method: 'GET', url: '/auth/whoami' })).json().code === 'AUTH_KEY_REVOKED', 2_000)
  // On failure, B's warnings and errors (a nudge subscription not ready in time says so there).
  const diagnostics = { bLog: b.logs.filter(l => /"level":(40|50|60)/.test(l)) }
  t.ok(elapsed >= 0 && elapsed < 2_000, `refused on B after ${elapsed} ms with B's poll set to an hour`, diagnostics)
})

t.test('Redis down: signed requests 503 REPLAY_CACHE_UNAVAILABLE, /ready 503, login 503; service resumes by itself', async t => {
  const redis = await startRedis(t)
  const { a, clock } = await pair(t, redis.url)
  const cred = await signupAndLogin(a.app, 'alice')
  await redis.stop()
  const down = await signedInject(a.app, clock, cred, { method: 'GET', url: '/auth/whoami' })
  t.equal(down.statusCode, 503)
  t.equal(down.json().code, 'REPLAY_CACHE_UNAVAILABLE', 'never accepted unproven')
  t.equal(down.headers['retry-after'], '1')
  const ready = await a.app.inject({ method: 'GET', url: '/ready' })
  t.equal(ready.statusCode, 503)
  t.equal(ready.json().checks.replayCache, false)
  const loginDown = await a.app.inject({ method: 'POST', url: '/auth/login', headers: viaHttps(), payload: { username: 'alice', password: 'correct horse battery' } })
  t.equal(loginDown.statusCode, 503, `failed-login limits cannot be checked, so no password is tried: ${loginDown.body}`)
  t.equal(loginDown.json().code, 'RATE_LIMIT_UNAVAILABLE')
  await redis.start()
  const resumed = await until(async () => (await signedInject(a.app, clock, cred, { method: 'GET', url: '/auth/whoami' })).statusCode === 200, 10_000)
  t.ok(resumed >= 0, `signed requests work again ${resumed} ms after Redis returned`)
  t.equal((await a.app.inject({ method: 'GET', url: '/ready' })).statusCode, 200)
})

t.test('a Redis that keeps the connection but stops answering: 503 after about a second, never a hang', async t => {
  const redis = await startRedis(t)
  const { a, clock } = await pair(t, redis.url)
  const cred = await signupAndLogin(a.app, 'alice')
  redis.freeze()
  const timed = async <T>(fn: () => Promise<T>): Promise<[T, number]> => { const started = Date.now(); const r = await fn(); return [r, Date.now() - started] }
  const [signed, signedMs] = await timed(async () => await signedInject(a.app, clock, cred, { method: 'GET', url: '/auth/whoami' }))
  t.equal(signed.statusCode, 503)
  t.equal(signed.json().code, 'REPLAY_CACHE_UNAVAILABLE')
  t.ok(signedMs < 5_000, `signed request answered in ${signedMs} ms`)
  const [login, loginMs] = await timed(async () => await a.app.inject({ method: 'POST', url: '/auth/login', headers: viaHttps(), payload: { username: 'alice', password: 'correct horse battery' } }))
  t.equal(login.statusCode, 503, login.body)
  t.ok(loginMs < 5_000, `login answered in ${loginMs} ms`)
  const [ready, readyMs] = await timed(async () => await a.app.inject({ method: 'GET', url: '/ready' }))
  t.equal(ready.statusCode, 503)
  t.ok(readyMs < 5_000, `/ready answered in ${readyMs} ms`)
  redis.thaw()
  const resumed = await until(async () => (await signedInject(a.app, clock, cred, { method: 'GET', url: '/auth/whoami' })).statusCode === 200, 10_000)
  t.ok(resumed >= 0, `signed requests work again ${resumed} ms after Redis answered again`)
})

t.test('the server starts with Redis unreachable and answers 503 until it is there', async t => {
  const redis = await startRedis(t)
  await redis.stop()
  const s = await startServer(t, { DATA_DIR: tempDir(t), REDIS_URL: redis.url })
  t.equal((await call(s, 'GET', '/health')).status, 200)
  t.equal((await call(s, 'GET', '/ready')).status, 503)
  await redis.start()
  const ok = await until(async () => (await call(s, 'GET', '/ready')).status === 200, 10_000)
  t.ok(ok >= 0, `ready ${ok} ms after Redis started`)
})
