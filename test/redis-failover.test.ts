/**
 * Issue 18, failover under load (Sentinel): a master, two replicas and three
 * Sentinels (down-after 1 s) on loopback (test/redis-layouts.ts), two
 * instances on one keyring and store, each reaching Redis through the
 * Sentinels with the defaults of REDIS_SENTINELS (entries wait for one replica).
 * Continuous signed reads and writes, replays of accepted requests mixed in;
 * the master is SIGKILLed. Until the failover completes signed requests answer
 * 503 REPLAY_CACHE_UNAVAILABLE and nothing else (no other 5xx, no accepted
 * replay, none waits past two command timeouts); after it they succeed
 * without restarting anything. The time to recovery is reported (a bound of
 * 45 s only keeps a broken failover from hanging the test). Every
 * acknowledged write is read back, and the requests accepted just before the
 * kill are refused as replays after it: their entries survived the failover.
 *
 * Two replicas, not one: with one, the promoted master would have no replica
 * left to hold entries, and REDIS_REPLAY_REPLICAS=1 would refuse until one
 * joins (the README's deployment section says so).
 */
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildTestApp, ManualClock, newKeyring, sign, signupAndLogin, tempDir, type Credential } from './helper.js'
import { startSentinelLayout } from './redis-layouts.js'
import { COMMAND_TIMEOUT_MS, connectRedis, RedisReplayCache } from '../src/redis.js'
import { loadConfig } from '../src/config.js'

interface Sent { method: 'GET' | 'POST', url: string, headers: Record<string, string>, payload?: string }
interface Answer { kind: 'fresh' | 'replay', at: number, ms: number, status: number, code: string | undefined, what: string }

const bound = 2 * COMMAND_TIMEOUT_MS + 3_000

t.test('Sentinel: SIGKILL the master under signed load', async t => {
  const layout = await startSentinelLayout(tempDir(t, 'failover-'), { replicas: 2, sentinels: 3, password: 'failover test password' })
  t.teardown(layout.stop)
  await layout.settled()
  const config = loadConfig(layout.env)
  t.equal(config.redisReplayReplicas, 1, 'Sentinel\'s default: one replica holds each entry before its request is accepted')

  const dataDir = tempDir(t)
  const keyring = newKeyring()
  const clock = new ManualClock()
  clock.now = () => Date.now()
  // A wide skew, so that a request captured before the kill is still inside its window after the failover.
  const env = { CLOCK_SKEW_MS: '60000', RATE_LIMIT_PER_MINUTE: '1000000' }
  const instance = async (): Promise<FastifyInstance> => {
    const redis = connectRedis(layout.target, () => {})
    const replay = new RedisReplayCache(redis.client, config.audience, { replicas: config.redisReplayReplicas })
    return (await buildTestApp(t, { env, clock, keyring, dataDir, deps: { redis, replay } })).app
  }
  const apps = [await instance(), await instance()] as const
  const cred: Credential = await signupAndLogin(apps[0], 'loaded')

  const answers: Answer[] = []
  const accepted: Array<{ sent: Sent, app: number }> = []
  const notes = new Map<string, { title: string, body: string }>()
  let stop = false
  let sequence = 0
  const send = async (app: number, sent: Sent, kind: Answer['kind'], what: string): Promise<{ statusCode: number, json: () => any }> => {
    const at = Date.now()
    const res = await (apps[app] as FastifyInstance).inject(sent)
    const ms = Date.now() - at
    let code: string | undefined
    try { code = res.json().code } catch {}
    answers.push({ kind, at, ms, status: res.statusCode, code, what })
    return res
  }
  const fresh = (method: Sent['method'], url: string, body?: object): Sent => {
    const payload = body === undefined ? undefined : JSON.stringify(body)
    return { method, url, headers: { ...sign(cred, method, url, payload ?? ''), ...(payload === undefined ? {} : { 'content-type': 'application/json' }) }, ...(payload === undefined ? {} : { payload }) }
  }
  const worker = async (w: number): Promise<void> => {
    while (!stop) {
      const n = sequence++
      const app = n % 2
      if (n % 5 === 4 && accepted.length > 0) {
        // A replay of an accepted request, to either instance.
        const old = accepted[Math.floor(Math.random() * accepted.length)] as { sent: Sent, app: number }
        await send(1 - old.app, old.sent, 'replay', `${old.sent.method} ${old.sent.url}`)
        continue
      }
      const known = [...notes.keys()]
      const sent = n % 3 === 0
        ? fresh('POST', '/v1/notes', { title: `note ${w}-${n}`, body: `written by worker ${w} as request ${n}` })
        : (n % 3 === 1 || known.length === 0 ? fresh('GET', '/auth/whoami') : fresh('GET', `/v1/notes/${known[n % known.length] as string}`))
      const res = await send(app, sent, 'fresh', `${sent.method} ${sent.url}`)
      // As a client honouring Retry-After would, a little more eagerly: do not spin on 503s.
      if (res.statusCode === 503) await new Promise(resolve => setTimeout(resolve, 20))
      if (res.statusCode >= 200 && res.statusCode < 300) {
        accepted.push({ sent, app })
        if (accepted.length > 200) accepted.shift()
        if (sent.method === 'POST') {
          const note = res.json()
          notes.set(note.id, { title: note.title, body: note.body })
        }
      }
    }
  }
  const running = Promise.all([0, 1, 2, 3].map(worker))

  // Load before the kill, until a good number of requests went through.
  const loadStarted = Date.now()
  while (Date.now() - loadStarted < 2_000 || answers.filter(a => a.status < 300).length < 100) await new Promise(resolve => setTimeout(resolve, 50))
  const before = accepted.slice(-20)
  const oldMaster = layout.master.port
  const killedAt = Date.now()
  await layout.master.kill('SIGKILL')

  // Run on until fresh requests have succeeded for 2 s on end after the kill (or the bound).
  let recoveredAt: number | undefined
  while (Date.now() - killedAt < 45_000) {
    await new Promise(resolve => setTimeout(resolve, 100))
    const after = answers.filter(a => a.kind === 'fresh' && a.at >= killedAt)
    const lastFailure = after.filter(a => a.status >= 300).reduce((m, a) => Math.max(m, a.at + a.ms), killedAt)
    const since = after.filter(a => a.at > lastFailure)
    if (since.length > 20 && Date.now() - lastFailure > 2_000) { recoveredAt = lastFailure; break }
  }
  stop = true
  await running
  const newMaster = await layout.currentMaster()
  if (recoveredAt === undefined) {
    // What the layout looked like, to tell a failover that did not happen from a replica that did not join.
    for (const d of [...layout.replicas, ...layout.sentinels]) t.comment(`${d.port}:\n${d.output().split('\n').slice(-25).join('\n')}`)
    const last = answers.slice(-5).map(a => `${a.what} ${a.status} ${String(a.code)} ${a.ms}ms`)
    t.comment(`last answers: ${last.join('; ')}`)
  }
  t.not(newMaster, oldMaster, `the Sentinels promoted a replica (${String(newMaster)})`)

  const fresh503 = answers.filter(a => a.kind === 'fresh' && a.status === 503)
  const unexpected = answers.filter(a => a.kind === 'fresh'
    ? !((a.status >= 200 && a.status < 300) || (a.status === 503 && a.code === 'REPLAY_CACHE_UNAVAILABLE'))
    : !((a.status === 401 && a.code === 'AUTH_REPLAY') || (a.status === 503 && a.code === 'REPLAY_CACHE_UNAVAILABLE')))
  const slowest = answers.reduce((m, a) => Math.max(m, a.ms), 0)
  const recovery = recoveredAt === undefined ? undefined : recoveredAt - killedAt
  t.comment(`${answers.length} signed requests (${answers.filter(a => a.kind === 'replay').length} replays), ${notes.size} notes written; ` +
    `${fresh503.length} answered 503 during the failover; time to recovery ${String(recovery)} ms after SIGKILL; slowest answer ${slowest} ms`)

  t.same(unexpected.slice(0, 5), [], 'fresh requests answer 2xx or 503 REPLAY_CACHE_UNAVAILABLE, replays 401 AUTH_REPLAY or that 503: nothing else')
  t.equal(answers.filter(a => a.kind === 'replay' && a.status < 300).length, 0, 'no replay accepted')
  t.ok(answers.filter(a => a.kind === 'replay' && a.code === 'AUTH_REPLAY').length > 10, 'replays were refused as replays before and after the kill')
  t.ok(fresh503.length > 0 && fresh503.every(a => a.at + a.ms >= killedAt), 'the 503s came with the failover, none before it')
  t.ok(slowest <= bound, `no answer waited past two command timeouts and a margin (${slowest} ms <= ${bound} ms)`)
  t.ok(recovery !== undefined && recovery < 45_000, 'signed requests succeed again without restarting anything')

  // The entries of the requests accepted just before the kill are on the new master.
  const replayed = await Promise.all(before.map(async ({ sent, app }) => (await (apps[1 - app] as FastifyInstance).inject(sent)).json().code))
  t.same(replayed, before.map(() => 'AUTH_REPLAY'), `the ${before.length} requests accepted last before the kill are refused as replays after it`)

  // Every acknowledged write is there, whole, through either instance.
  let found = 0
  for (const [id, note] of notes) {
    const res = await (apps[found % 2] as FastifyInstance).inject(fresh('GET', `/v1/notes/${id}`))
    if (res.statusCode === 200 && res.json().title === note.title && res.json().body === note.body) found++
  }
  t.equal(found, notes.size, `every acknowledged note read back (${found} of ${notes.size})`)
  for (const app of apps) {
    const codes = new Set<number>()
    for (let i = 0; i < 10; i++) codes.add((await app.inject(fresh('GET', '/auth/whoami'))).statusCode)
    t.same([...codes], [200], 'each instance answers on the new master')
  }
})
