/**
 * REDIS_URL against a real redis-server: shared replay cache, failed-login
 * counters and rate limits across instances, revocation nudges, and an outage.
 */
import t from 'tap'
import type { Redis } from 'ioredis'
import { PassThrough } from 'node:stream'
import { buildTestApp, login, ManualClock, newKeyring, sign, signedInject, signup, signupAndLogin, tempDir, viaHttps, type Tap } from './helper.js'
import { startRedis } from './redis-server.js'
import { call, startServer } from './server-process.js'
import { connectRedis, RedisReplayCache, RedisRevocationBus } from '../src/redis.js'
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
  const diagnostics = { aLog: a.logs.filter(l => /"level":(40|50|60)/.test(l)), bLog: b.logs.filter(l => /"level":(40|50|60)/.test(l)) }
  t.ok(elapsed >= 0 && elapsed < 2_000, `refused on B after ${elapsed} ms with B's poll set to an hour`, diagnostics)
})

t.test('nudges subscribed while the connection is still in its handshake are heard (the SUBSCRIBE waits for ready)', async t => {
  const redis = await startRedis(t)
  const link = connectRedis(redis.url, () => {})
  t.teardown(() => link.close())
  const events: string[] = []
  for (const ev of ['connect', 'ready', 'close']) link.subscriber.on(ev, () => { events.push(ev) })
  // Subscribe at the 'connect' event, before ioredis's own handshake (CLIENT SETINFO, then INFO) is done. On the old
  // code the SUBSCRIBE went out at once, its reply made ioredis refuse its own INFO, the connection was dropped and
  // the new one never subscribed again: nudges were lost for good.
  const heard: string[] = []
  link.subscriber.on('message', (_channel: string, message: string) => { heard.push(message) })
  const bus = new RedisRevocationBus(link, 'dev')
  const subscribed = await new Promise<boolean>(resolve => {
    link.subscriber.once('connect', () => { bus.subscribe(() => {}, 5000).then(resolve, () => resolve(false)) })
  })
  t.equal(subscribed, true, 'subscribed')
  t.ok(await link.ready(5000))
  t.equal(await bus.publish(7), true)
  t.ok(await until(async () => heard.includes('7'), 3000) >= 0, 'the nudge was heard')
  t.same(events.filter(e => e === 'close'), [], 'the subscriber connection was never dropped')
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

t.test('replay entries live for a relative time: an instance whose clock is an hour behind Redis still refuses a replay', async t => {
  const redis = await startRedis(t)
  const link = connectRedis(redis.url, () => {})
  t.teardown(() => link.close())
  t.ok(await link.ready(3000))
  const cache = new RedisReplayCache(link.client, 'ttl-test')
  const behind = Date.now() - 3_600_000
  // An entry that must live 5 s from this instance's point of view.
  t.equal(await cache.remember('sig-behind', behind + 5_000, behind), 'fresh')
  t.equal(await cache.remember('sig-behind', behind + 5_000, behind + 10), 'replay', 'still there, whatever Redis\'s clock says')
  const ttl = await link.client.pttl('signed-api:ttl-test:replay:sig-behind')
  t.ok(ttl > 4_000 && ttl <= 5_000, `life counted from the store: ${ttl} ms left`)
  t.equal(await cache.remember('sig-past', behind - 1, behind), 'replay', 'an entry already past its life is never stored as fresh')
})

t.test('replay by holding the body, through Redis: the entry outlives any body that can still be accepted', async t => {
  const redis = await startRedis(t)
  // The smallest skew, so that the old absolute expiry (X-Microtime + skew, on Redis's clock) passes in real time.
  const { a, b, clock } = await pair(t, redis.url, { CLOCK_SKEW_MS: '1000' })
  const cred = await signupAndLogin(a.app, 'alice')
  const body = JSON.stringify({ title: 'pay', body: 'once' })
  const headers = { ...sign(cred, 'POST', '/v1/notes', body, clock.now()), 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) }
  t.equal((await a.app.inject({ method: 'POST', url: '/v1/notes', headers, payload: body })).statusCode, 201)
  // Resent to the other instance with the last byte held, past X-Microtime + skew in real time and on the server clock.
  const stream = new PassThrough()
  stream.write(body.slice(0, -1))
  const answer = b.app.inject({ method: 'POST', url: '/v1/notes', headers, payload: stream })
  await new Promise(resolve => setTimeout(resolve, 1_500))
  clock.advance(1_500)
  await b.app.syncRevocations()
  stream.end(body.slice(-1))
  const res = await answer
  t.equal(res.statusCode, 401)
  t.equal(res.json().code, 'AUTH_REPLAY')
})

/** The version that introduced a command, and each of its flags (`COMMAND DOCS`, Redis 7), by token. */
function sinceOf (docs: unknown[]): Map<string, { since: string, tokens: Map<string, string> }> {
  const pairs = (list: unknown[]): Map<string, unknown> => { const m = new Map<string, unknown>(); for (let i = 0; i + 1 < list.length; i += 2) m.set(String(list[i]), list[i + 1]); return m }
  const out = new Map<string, { since: string, tokens: Map<string, string> }>()
  for (let i = 0; i + 1 < docs.length; i += 2) {
    const doc = pairs(docs[i + 1] as unknown[])
    const tokens = new Map<string, string>()
    const walk = (args: unknown, since: string): void => {
      for (const raw of (args as unknown[] | undefined) ?? []) {
        const arg = pairs(raw as unknown[])
        const argSince = typeof arg.get('since') === 'string' ? arg.get('since') as string : since
        if (typeof arg.get('token') === 'string') tokens.set((arg.get('token') as string).toUpperCase(), argSince)
        walk(arg.get('arguments'), argSince)
      }
    }
    walk(doc.get('arguments'), '0.0.0')
    out.set(String(docs[i]).toLowerCase(), { since: String(doc.get('since')), tokens })
  }
  return out
}
const atMost = (version: string, limit: string): boolean => {
  const [a, b] = [version, limit].map(v => v.split('.').map(Number)) as [number[], number[]]
  for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) < (b[i] ?? 0)
  return true
}

t.test('every command and flag the server sends exists in Redis 6.2 (the README\'s minimum)', async t => {
  const redis = await startRedis(t)
  const { a, clock } = await pair(t, redis.url, { LOGIN_MAX_FAILURES: '3' })
  const watcher = connectRedis(redis.url, () => {})
  t.teardown(() => watcher.close())
  t.ok(await watcher.ready(3000))
  const monitor = await (watcher.client as Redis).monitor()
  t.teardown(() => monitor.disconnect())
  const seen: string[][] = []
  monitor.on('monitor', (_time: string, args: string[]) => { seen.push(args) })
  await new Promise(resolve => setTimeout(resolve, 100))

  // Everything that reaches Redis: replay entries, the signed-request limit, failed-login counters
  // counted and taken back, a revocation nudge, and /ready's ping.
  await signup(a.app, 'alice')
  const wrong = await a.app.inject({ method: 'POST', url: '/auth/login', headers: viaHttps(), payload: { username: 'alice', password: 'wrong password!' } })
  t.equal(wrong.statusCode, 401)
  const cred = await login(a.app, 'alice')
  t.equal((await signedInject(a.app, clock, cred, { method: 'GET', url: '/auth/whoami' })).statusCode, 200)
  t.equal((await signedInject(a.app, clock, cred, { method: 'POST', url: '/auth/logout' })).statusCode, 204)
  t.equal((await a.app.inject({ method: 'GET', url: '/ready' })).statusCode, 200)
  await new Promise(resolve => setTimeout(resolve, 300))

  const docs = sinceOf(await watcher.client.call('COMMAND', 'DOCS') as unknown[])
  const names = new Set(seen.map(args => String(args[0]).toLowerCase()))
  for (const name of ['set', 'eval', 'publish', 'ping']) t.ok(names.has(name) || names.has('evalsha'), `${name} was seen`)
  for (const args of seen) {
    const name = String(args[0]).toLowerCase()
    if (['monitor', 'info', 'client', 'command', 'select', 'subscribe'].includes(name) && !docs.has(name)) continue
    const doc = docs.get(name)
    if (doc === undefined) { t.fail(`unknown command ${name}`); continue }
    t.ok(atMost(doc.since, '6.2.0'), `${name} exists since ${doc.since}`)
    for (const word of args.slice(1)) {
      const since = doc.tokens.get(String(word).toUpperCase())
      if (since !== undefined && !atMost(since, '6.2.0')) t.fail(`${args.join(' ')}: ${String(word)} needs Redis ${since}`)
    }
  }
})
