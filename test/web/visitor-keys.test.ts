/**
 * Visitors' requests are signed with a pool of app:web keys, so a burst of
 * visitors never pushes X-Microtime ahead of the clock past the skew: each key
 * gives one signature per millisecond, and no time is signed more than a
 * small bound ahead of the clock (MAX_AHEAD_MS).
 */
import t from 'tap'
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import { parseKeyId } from '../../src/auth/keys.js'
import { parseClientSid } from '../../src/auth/scopes.js'
import { MemoryReplayCache, type ReplayCache } from '../../src/auth/replay.js'
import { ApiError } from '../../src/errors.js'
import { dispatcher, WEB_KEY_POOL_SIZE, WebKeyPool, webAppCredentials } from '../../src/web/dispatch.js'
import { buildTestApp, ManualClock, newKeyring } from '../helper.js'
import { webApi } from './web-helper.js'

/** Records the auth headers of every internal request the website makes. */
function recordSignatures (app: FastifyInstance): Array<{ username: string, keyId: string, time: number }> {
  const seen: Array<{ username: string, keyId: string, time: number }> = []
  const inject = app.inject.bind(app) as (opts: InjectOptions) => Promise<LightMyRequestResponse>
  ;(app as unknown as { inject: typeof inject }).inject = async (opts: InjectOptions) => {
    const h = (opts.headers ?? {}) as Record<string, string>
    if (h['auth-key-id'] !== undefined) seen.push({ username: h['auth-username'] as string, keyId: h['auth-key-id'], time: Number(h['x-microtime']) })
    return inject(opts)
  }
  return seen
}

t.test('a burst of 5,000 visitor requests in one millisecond: all answered 200, unique signatures, no time past now + 1 s', async t => {
  // A 2 s skew: one key stepping max(now, last + 1) would sign 5,000 requests up to now + 4,999 ms.
  const { app, clock } = await buildTestApp(t, { env: { CLOCK_SKEW_MS: '2000' } })
  const seen = recordSignatures(app)
  const now = clock.now()
  const statuses = new Map<number, number>()
  const codes = new Map<string, number>()
  const total = 5000
  for (let batch = 0; batch < total; batch += 500) {
    const answers = await Promise.all(Array.from({ length: 500 }, async (_, i) => {
      const n = batch + i
      // One address per visitor, as in life (the per-address rate limit is not what this tests).
      return webApi(app, null, 'GET', '/v1/public/articles?limit=5', undefined, { 'x-forwarded-for': `10.${n >> 16 & 255}.${n >> 8 & 255}.${n & 255}` })
    }))
    for (const res of answers) {
      statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1)
      if (res.statusCode !== 200) codes.set(res.json().code, (codes.get(res.json().code) ?? 0) + 1)
    }
  }
  t.equal(clock.now(), now, 'the clock stood still')
  t.same(Object.fromEntries(statuses), { 200: total }, `every visitor got 200 (other answers: ${JSON.stringify(Object.fromEntries(codes))})`)
  t.equal(seen.length, total, 'one signed internal request each, none re-signed')
  t.equal(new Set(seen.map(s => `${s.keyId} ${s.time}`)).size, total, 'every (key id, time) pair is used once')
  t.ok(seen.every(s => s.time >= now && s.time <= now + 1000), `every time within [now, now + 1000] (highest: now + ${Math.max(...seen.map(s => s.time)) - now})`)
  const keyIds = new Set(seen.map(s => s.keyId))
  t.ok(keyIds.size > 1, `several keys used (${keyIds.size})`)
  for (const keyId of keyIds) {
    const fields = parseKeyId(keyId)
    t.equal(fields?.kind, 'app', keyId)
    t.same(parseClientSid(fields?.sid ?? '')?.scopes, ['public:read'], `${keyId}: public:read only`)
  }
  t.ok(seen.every(s => s.username === 'app:web'))
})

t.test('two instances sharing the replay cache sign the same visitor request in the same millisecond without colliding', async t => {
  const keyring = newKeyring()
  const clock = new ManualClock()
  const shared = new MemoryReplayCache()
  const replay: ReplayCache = { remember: (key, expiresAt, now) => shared.remember(key, expiresAt, now), healthy: () => true, close: () => {} }
  t.teardown(() => shared.close())
  const a = await buildTestApp(t, { keyring, clock, deps: { replay } })
  const b = await buildTestApp(t, { keyring, clock, deps: { replay } })
  const seenA = recordSignatures(a.app)
  const seenB = recordSignatures(b.app)
  const codes: string[] = []
  for (let i = 0; i < 300; i++) {
    const [ra, rb] = await Promise.all([a.app, b.app].map(app => webApi(app, null, 'GET', '/v1/public/articles', undefined, { 'x-forwarded-for': `10.1.${i >> 8}.${i & 255}` })))
    for (const res of [ra, rb] as LightMyRequestResponse[]) if (res.statusCode !== 200) codes.push(res.json().code)
  }
  t.same(codes, [], 'every request answered 200')
  t.equal(seenA.length + seenB.length, 600, 'none needed a second signature')
  const keysA = new Set(seenA.map(s => s.keyId))
  t.notOk(seenB.some(s => keysA.has(s.keyId)), 'each instance signs with keys of its own')
})

t.test('the key pool: one signature per key and millisecond, never past now + bound, 503 when used up', async t => {
  const { app, clock, keyring, config } = await buildTestApp(t)
  const creds = webAppCredentials(keyring, config.audience, 3, 7)
  t.same(creds.map(c => parseKeyId(c.keyId)?.issuedAt), [8, 9, 10], 'consecutive keys from the given index')
  t.same(webAppCredentials(keyring, config.audience, 3, 7), creds, 'derived from the keyring alone')
  t.equal(new Set(webAppCredentials(keyring, config.audience).map(c => c.keyId)).size, WEB_KEY_POOL_SIZE)
  t.not(webAppCredentials(keyring, config.audience, 1)[0]?.keyId, webAppCredentials(keyring, config.audience, 1)[0]?.keyId, 'each instance picks its own slice')

  const pool = new WebKeyPool(creds, 10)
  const now = 1_000_000
  // Light load: each request at the clock's own time, the keys taking turns.
  const light = [0, 1, 2, 3].map(ms => pool.next(now - 100 + ms))
  t.same(light.map(p => p?.time), [now - 100, now - 99, now - 98, now - 97])
  t.same(light.map(p => p?.cred.keyId), [creds[0], creds[1], creds[2], creds[0]].map(c => c?.keyId))
  // A burst in one millisecond: 3 keys x 11 times (now .. now + 10), then nothing more.
  const burst: Array<{ keyId: string, time: number }> = []
  for (;;) {
    const pick = pool.next(now)
    if (pick === null) break
    burst.push({ keyId: pick.cred.keyId, time: pick.time })
  }
  t.equal(burst.length, 33)
  t.equal(new Set(burst.map(p => `${p.keyId} ${p.time}`)).size, 33, 'no pair twice')
  t.ok(burst.every(p => p.time >= now && p.time <= now + 10))
  t.equal(pool.next(now), null, 'still used up in the same millisecond')
  t.equal(pool.next(now + 1)?.time, now + 11, 'one millisecond later, one more per key')
  // The clock steps back: times go on from the highest clock seen, so no pair comes back.
  const back = pool.next(now - 5000)
  t.equal(back?.time, now + 11)
  t.not(back?.cred.keyId, burst.find(p => p.time === now + 11)?.keyId)

  // Through the dispatcher and the real verify path: a used-up pool is 503 NOT_READY with Retry-After, never a stale signature.
  const dispatch = dispatcher(app, { now: clock.now, publicPathPrefix: config.publicPathPrefix })
  const small = new WebKeyPool(creds.slice(0, 2), 1)
  const answers: number[] = []
  for (let i = 0; i < 4; i++) answers.push((await dispatch({ method: 'GET', target: '/v1/public/articles', cred: small, ip: `10.2.0.${i}` })).statusCode)
  t.same(answers, [200, 200, 200, 200])
  const refused = await dispatch({ method: 'GET', target: '/v1/public/articles', cred: small, ip: '10.2.0.9' }).then(() => null, (err: unknown) => err)
  t.type(refused, ApiError)
  t.equal((refused as ApiError).code, 'NOT_READY')
  t.same((refused as ApiError).headers, { 'retry-after': '1' })
  clock.advance(1)
  t.equal((await dispatch({ method: 'GET', target: '/v1/public/articles', cred: small, ip: '10.2.0.10' })).statusCode, 200, 'and the next millisecond signs again')
})
