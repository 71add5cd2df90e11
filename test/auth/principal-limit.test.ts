/**
 * The per-(principal, address) limiter over @fastify/rate-limit's stores:
 * the memory store counts and answers in the same tick, the Redis store's
 * answers are mapped the same way, and a store that cannot answer lets the
 * request through (as the plugin's skipOnError).
 */
import t from 'tap'
import type { Redis } from 'ioredis'
import { principalLimiter, type LimitAnswer } from '../../src/auth/principal-limit.js'

t.test('memory: max requests per window, then the seconds left; keys counted apart; answered synchronously', async t => {
  const limiter = principalLimiter({ max: 2, windowMs: 60_000 })
  const answers: LimitAnswer[] = []
  for (let i = 0; i < 3; i++) {
    let answered = false
    limiter.hit('alice|127.0.0.1', (a) => { answers.push(a); answered = true })
    t.ok(answered, `hit ${i + 1} answered before hit() returned`)
  }
  t.same(answers.slice(0, 2), [null, null])
  t.ok(typeof answers[2] === 'number' && answers[2] >= 1 && answers[2] <= 60, `third hit over the limit, retry after ${String(answers[2])} s`)
  let other: LimitAnswer | undefined
  limiter.hit('alice|10.0.0.2', (a) => { other = a })
  t.equal(other, null, 'the same principal from another address has its own count')
})

/** A stand-in for ioredis with the one command RedisStore defines and calls. */
function fakeRedis (reply: (key: string) => [Error | null, [number, number] | null]): Redis & { keys: string[] } {
  const keys: string[] = []
  return {
    keys,
    defineCommand () {},
    rateLimit (key: string, _window: number, _max: number, _ce: boolean, _eb: boolean, cb: (err: Error | null, result: [number, number] | null) => void) {
      keys.push(key)
      const [err, result] = reply(key)
      setImmediate(() => { cb(err, result) })
    }
  } as unknown as Redis & { keys: string[] }
}

t.test('Redis: the store\'s count and ttl map to the same answers, under the namespace', async t => {
  let count = 0
  const redis = fakeRedis(() => [null, [++count, 59_001]])
  const limiter = principalLimiter({ max: 1, windowMs: 60_000, redis: { client: redis, nameSpace: 'ns:' } })
  const hit = async (): Promise<LimitAnswer> => await new Promise(resolve => { limiter.hit('bob|::1', resolve) })
  t.equal(await hit(), null)
  t.equal(await hit(), 60, 'over the limit: ttl 59.001 s rounds up to 60')
  t.same(redis.keys, ['ns:bob|::1', 'ns:bob|::1'])
})

t.test('Redis: a store error lets the request through (the replay check before it has already answered)', async t => {
  const limiter = principalLimiter({ max: 1, windowMs: 60_000, redis: { client: fakeRedis(() => [new Error('Connection is closed.'), null]), nameSpace: 'ns:' } })
  const answer = await new Promise<LimitAnswer>(resolve => { limiter.hit('bob|::1', resolve) })
  t.equal(answer, null)
})
