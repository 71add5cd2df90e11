/**
 * REDIS_SENTINELS + REDIS_SENTINEL_MASTER and REDIS_CLUSTER_NODES against real
 * processes on loopback (Debian's redis-server and redis-sentinel, see
 * test/redis-layouts.ts), files in a temp dir, stopped by PID: two instances
 * sharing a keyring and a store use each other's keys, refuse a replay across
 * instances, share failed-login and signed-request counts and see each other's
 * logouts. On a Cluster also: the revocation nudge reaches a subscriber on
 * every node, /ready follows the cluster's state, and replay entries wait for
 * replicas only when told to. Failover: test/redis-failover.test.ts and
 * test/redis-replay-window.test.ts.
 */
import t from 'tap'
import { Redis } from 'ioredis'
import { buildTestApp, ManualClock, newKeyring, nextTime, sign, signedInject, signup, signupAndLogin, tempDir, viaHttps, type Tap } from './helper.js'
import { startClusterLayout, startSentinelLayout } from './redis-layouts.js'
import { connectRedis, RedisReplayCache, RedisRevocationBus, type RedisLink, type RedisTarget } from '../src/redis.js'
import { loadConfig } from '../src/config.js'

interface Layout { target: RedisTarget, replicas: number, ports: number[], password?: string }

async function sentinelLayout (t: Tap): Promise<Layout> {
  // With passwords on the nodes and on the Sentinel, so both reach ioredis; one replica, so the
  // replay cache's default for Sentinel (one replica holds each entry) is what runs here.
  const layout = await startSentinelLayout(tempDir(t, 'sentinel-'), { replicas: 1, sentinels: 1, password: 'node secret 1', sentinelPassword: 'sentinel secret 2' })
  t.teardown(layout.stop)
  // The layout's environment is a configuration; what the instances get is what it names.
  const config = loadConfig(layout.env)
  if (config.redisAuth.password !== 'node secret 1' || config.redisAuth.sentinelPassword !== 'sentinel secret 2') throw new Error('REDIS_PASSWORD and REDIS_SENTINEL_PASSWORD not read')
  return { target: layout.target, replicas: config.redisReplayReplicas, ports: [layout.master.port, ...layout.replicas.map(r => r.port)], password: 'node secret 1' }
}

async function clusterLayout (t: Tap): Promise<Layout> {
  const layout = await startClusterLayout(tempDir(t, 'cluster-'))
  t.teardown(layout.stop)
  // Three masters and no replica: entries cannot wait for one (REDIS_REPLAY_REPLICAS=0).
  return { target: layout.target, replicas: loadConfig({ ...layout.env, REDIS_REPLAY_REPLICAS: '0' }).redisReplayReplicas, ports: layout.nodes.map(n => n.port) }
}

/** Two instances on one keyring and store (the embedded store's DATA_DIR), each with its own Redis connections. */
async function pair (t: Tap, layout: Layout, env: Record<string, string>): Promise<{ a: Awaited<ReturnType<typeof buildTestApp>>, b: Awaited<ReturnType<typeof buildTestApp>>, clock: ManualClock, links: RedisLink[], events: string[] }> {
  const dataDir = tempDir(t)
  const clock = new ManualClock(Date.now())
  const keyring = newKeyring()
  const links: RedisLink[] = []
  // The subscribers' connection events, shown when a nudge does not arrive.
  const events: string[] = []
  const t0 = Date.now()
  const instance = async (): Promise<Awaited<ReturnType<typeof buildTestApp>>> => {
    const redis = connectRedis(layout.target, () => {})
    links.push(redis)
    const name = links.length === 1 ? 'a' : 'b'
    for (const ev of ['connect', 'ready', 'close', 'reconnecting', 'end', 'error']) redis.subscriber.on(ev, (arg: unknown) => { events.push(`${Date.now() - t0} ${name}.subscriber ${ev} ${arg instanceof Error ? arg.message : ''}`) })
    const replay = new RedisReplayCache(redis.client, 'dev', { replicas: layout.replicas })
    // Warnings kept (the helper's default is silent), so that a failure below shows what the instances saw.
    return await buildTestApp(t, { env: { LOG_LEVEL: 'warn', ...env }, clock, keyring, dataDir, deps: { redis, replay, revocationPollMs: 3_600_000 } })
  }
  return { a: await instance(), b: await instance(), clock, links, events }
}

for (const [name, layoutOf] of [['Sentinel', sentinelLayout], ['Cluster', clusterLayout]] as const) {
  t.test(`${name}: keys, replays, failed logins, request limits and logouts are shared by two instances`, async t => {
    const layout = await layoutOf(t)
    t.equal(layout.replicas, name === 'Sentinel' ? 1 : 0)
    const { a, b, clock, links, events } = await pair(t, layout, { LOGIN_MAX_FAILURES: '2', RATE_LIMIT_PER_MINUTE: '6' })
    t.equal((await a.app.inject({ method: 'GET', url: '/ready' })).statusCode, 200, 'ready through Redis')

    const cred = await signupAndLogin(a.app, 'alice')
    const headers = sign(cred, 'GET', '/auth/whoami', '', clock.now())
    t.equal((await b.app.inject({ method: 'GET', url: '/auth/whoami', headers })).statusCode, 200, 'a key issued by one instance works on the other')
    const replayed = await a.app.inject({ method: 'GET', url: '/auth/whoami', headers })
    t.equal(replayed.json().code, 'AUTH_REPLAY', 'a replay to the other instance is refused')

    // The signed-request limit (@fastify/rate-limit's Redis store) counts across instances: 6 a minute.
    const carol = await signupAndLogin(b.app, 'carol')
    const whoami = async (app: typeof a.app): Promise<number> => (await signedInject(app, clock, carol, { method: 'GET', url: '/auth/whoami' })).statusCode
    const answers: number[] = []
    for (let i = 0; i < 7; i++) answers.push(await whoami(i % 2 === 0 ? a.app : b.app))
    t.same(answers, [200, 200, 200, 200, 200, 200, 429], 'the seventh request, whichever instance it reaches, is over the limit of 6')

    await signup(a.app, 'bob')
    const fail = async (app: typeof a.app): Promise<number> => (await app.inject({ method: 'POST', url: '/auth/login', headers: viaHttps(), payload: { username: 'bob', password: 'wrong password!' } })).statusCode
    t.same([await fail(a.app), await fail(b.app), await fail(a.app)], [401, 401, 429], 'two failures across two instances reach the limit of 2')

    t.equal((await signedInject(a.app, clock, cred, { method: 'POST', url: '/auth/logout' })).statusCode, 204)
    let code = ''
    const loggedOut = Date.now()
    // Generous for a loaded machine: the nudge usually arrives within milliseconds.
    for (let i = 0; i < 150 && code !== 'AUTH_KEY_REVOKED'; i++) {
      // Each poll from its own address, so that the request limit (per principal and address) never answers first.
      code = (await b.app.inject({ method: 'GET', url: '/auth/whoami', headers: sign(cred, 'GET', '/auth/whoami', '', nextTime(clock)), remoteAddress: `192.0.${Math.floor(i / 250)}.${(i % 250) + 1}` })).json().code
      if (code !== 'AUTH_KEY_REVOKED') await new Promise(resolve => setTimeout(resolve, 50))
    }
    if (code !== 'AUTH_KEY_REVOKED') {
      const [la, lb] = links
      t.comment(`subscriber status a=${la?.subscriber.status} b=${lb?.subscriber.status}`)
      t.comment(events.join('\n'))
      for (const port of layout.ports) {
        const r = new Redis({ port, host: '127.0.0.1', ...(layout.password === undefined ? {} : { password: layout.password }) })
        r.on('error', () => {})
        const role = await r.role().catch((err: unknown) => String(err))
        const subs = await r.pubsub('NUMSUB', 'signed-api:dev:revocations').catch((err: unknown) => String(err))
        r.disconnect()
        t.comment(`node ${port}: role ${JSON.stringify(role)}; NUMSUB ${JSON.stringify(subs)}`)
      }
      t.comment([...a.logs, ...b.logs].join(''))
    }
    t.equal(code, 'AUTH_KEY_REVOKED', `the nudge reached the other instance (its poll is set to an hour) within ${Date.now() - loggedOut} ms`)
  })
}

t.test('Cluster: a nudge reaches a subscriber on every node; /ready follows the cluster; entries wait for replicas only when told', async t => {
  const layout = await startClusterLayout(tempDir(t, 'cluster-'))
  t.teardown(layout.stop)
  const link = connectRedis(layout.target, () => {})
  t.teardown(() => link.close())
  t.ok(await link.ready(5000))

  // PUBLISH on a Cluster is passed to every node: an instance hears it whichever node its subscriber chose.
  const heard = layout.nodes.map(() => [] as string[])
  const listeners = await Promise.all(layout.nodes.map(async (node, i) => {
    const r = new Redis({ port: node.port, host: '127.0.0.1' })
    t.teardown(() => r.disconnect())
    r.on('error', () => {})
    r.on('message', (_channel: string, message: string) => { heard[i]?.push(message) })
    await r.subscribe('signed-api:dev:revocations')
    return r
  }))
  t.equal(listeners.length, 3)
  const bus = new RedisRevocationBus(link, 'dev')
  for (let seq = 1; seq <= 5; seq++) await bus.publish(seq)
  for (let i = 0; i < 100 && heard.some(h => h.length < 5); i++) await new Promise(resolve => setTimeout(resolve, 20))
  // Order across nodes is not kept (each PUBLISH may enter through another node); a nudge only says "look now".
  t.same(heard.map(h => [...h].sort()), [['1', '2', '3', '4', '5'], ['1', '2', '3', '4', '5'], ['1', '2', '3', '4', '5']], 'every node delivered every nudge, whichever node each PUBLISH went to')

  // REDIS_CLUSTER_NODES' default waits for one replica per entry: a Cluster without replicas refuses
  // rather than accept unreplicated entries; REDIS_REPLAY_REPLICAS=0 accepts them.
  t.equal(loadConfig(layout.env).redisReplayReplicas, 1)
  const strict = new RedisReplayCache(link.client, 'dev', { replicas: 1 })
  const lax = new RedisReplayCache(link.client, 'dev', { replicas: 0 })
  const now = Date.now()
  t.equal(await strict.remember('sig-strict', now + 40_000, now), 'unavailable', 'no replica acknowledged: not accepted')
  t.equal(await strict.remember('sig-strict', now + 40_000, now), 'unavailable', 'and its entry was taken back, so a retry is not a replay')
  t.equal(await lax.remember('sig-lax', now + 40_000, now), 'fresh')
  t.equal(await lax.remember('sig-lax', now + 40_000, now), 'replay')
  // Keys spread over the nodes: each SET went to its own key's node.
  for (let i = 0; i < 30; i++) t.equal(await lax.remember(`spread-${i}`, now + 40_000, now), 'fresh')
  const perNode = await Promise.all(layout.nodes.map(async node => {
    const r = new Redis({ port: node.port, host: '127.0.0.1' })
    try { return Number(await r.dbsize()) } finally { r.disconnect() }
  }))
  t.ok(perNode.every(n => n > 0), `entries on every node: ${perNode.join(', ')}`)

  t.equal(await lax.healthy(), true, 'healthy while every slot is served')
  // A master without a replica stops: its slots are not served any more, and the cluster says so.
  await layout.nodes[2]?.kill('SIGKILL')
  let healthy = true
  for (let i = 0; i < 150 && healthy; i++) {
    healthy = await lax.healthy()
    if (healthy) await new Promise(resolve => setTimeout(resolve, 100))
  }
  t.equal(healthy, false, 'not healthy once the cluster is down (cluster_state:fail after the node timeout of 2 s)')
})
