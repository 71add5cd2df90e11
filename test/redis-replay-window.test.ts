/**
 * Issue 18, the replay guarantee across a failover. Replication is
 * asynchronous: an entry the master stored but had not passed on is lost when
 * a replica is promoted. Here the replicas reach the master through a proxy
 * the test controls, so the test can hold replication at a chosen moment,
 * SIGKILL the master, and let the Sentinels promote a replica that never saw
 * what came after. Two instances on the same Redis:
 *
 * - A with REDIS_REPLAY_REPLICAS=1 (Sentinel's default): a request whose entry
 *   no replica acknowledges is not accepted (503), so nothing it accepted can
 *   be replayed after the failover; the held request is accepted once, later.
 * - B with REDIS_REPLAY_REPLICAS=0: the request is accepted at once, and the
 *   same request is accepted a second time after the failover: the window the
 *   README states for that setting.
 */
import t from 'tap'
import { connect, createServer, type Socket } from 'node:net'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { Redis } from 'ioredis'
import { buildTestApp, ManualClock, newKeyring, sign, signupAndLogin, tempDir, type Credential, type Tap } from './helper.js'
import { startSentinelLayout } from './redis-layouts.js'
import { connectRedis, RedisReplayCache, REPLAY_WAIT_MS } from '../src/redis.js'

interface ReplicationProxy { port: number, hold (): void, cut (): void }

/** Passes a replica's connection to the master through; `hold` stops what the master sends, `cut` closes all. */
async function replicationProxy (t: Tap, masterPort: number): Promise<ReplicationProxy> {
  const sockets = new Set<Socket>()
  let holding = false
  const server = createServer(replica => {
    const master = connect(masterPort, '127.0.0.1')
    for (const s of [replica, master]) {
      sockets.add(s)
      s.on('error', () => {})
      s.on('close', () => { replica.destroy(); master.destroy(); sockets.delete(s) })
    }
    replica.on('data', chunk => master.write(chunk))
    // Held bytes are dropped: the connection is cut before anything else could follow them.
    master.on('data', chunk => { if (!holding) replica.write(chunk) })
  })
  const cut = (): void => {
    server.close()
    for (const s of sockets) s.destroy()
  }
  t.teardown(cut)
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  return { port: typeof address === 'object' && address !== null ? address.port : 0, hold: () => { holding = true }, cut }
}

t.test('a replay across a forced failover: refused when entries wait for a replica, accepted once more when they do not', async t => {
  const proxies: ReplicationProxy[] = []
  const password = 'window test password'
  const layout = await startSentinelLayout(tempDir(t, 'window-'), {
    replicas: 2,
    sentinels: 3,
    password,
    // Long enough that the Sentinels leave the proxied replicas alone until the failover (they point a
    // replica at the master's own address after this), short enough that a split vote is retried in 40 s.
    failoverTimeoutMs: 20_000,
    replicaOf: async (masterPort) => { const p = await replicationProxy(t, masterPort); proxies.push(p); return p.port }
  })
  t.teardown(layout.stop)
  await layout.settled()

  const dataDir = tempDir(t)
  const keyring = newKeyring()
  const clock = new ManualClock()
  clock.now = () => Date.now()
  const env = { CLOCK_SKEW_MS: '60000' }
  const instance = async (replicas: number): Promise<FastifyInstance> => {
    const redis = connectRedis(layout.target, () => {})
    return (await buildTestApp(t, { env, clock, keyring, dataDir, deps: { redis, replay: new RedisReplayCache(redis.client, 'dev', { replicas }) } })).app
  }
  const strict = await instance(1)
  const lax = await instance(0)
  const cred: Credential = await signupAndLogin(strict, 'alice')
  const request = (): { method: 'GET', url: string, headers: Record<string, string> } => ({ method: 'GET', url: '/auth/whoami', headers: sign(cred, 'GET', '/auth/whoami') })
  const answer = (res: LightMyRequestResponse): string => res.statusCode === 200 ? '200' : `${res.statusCode} ${String(res.json().code)}`

  // P: accepted while replication flows; a marker written after it and waited for by both replicas proves they hold P.
  const p = request()
  t.equal(answer(await strict.inject(p)), '200')
  const direct = new Redis({ port: layout.master.port, host: '127.0.0.1', password })
  direct.on('error', () => {})
  await direct.set('marker', '1')
  t.equal(await direct.wait(2, 5000), 2, 'both replicas hold everything written before the marker')
  direct.disconnect()

  for (const proxy of proxies) proxy.hold()
  const s = request()
  const started = Date.now()
  t.equal(answer(await strict.inject(s)), '503 REPLAY_CACHE_UNAVAILABLE', 'REDIS_REPLAY_REPLICAS=1: no replica acknowledged the entry, so the request is not accepted')
  t.ok(Date.now() - started >= REPLAY_WAIT_MS - 50, `it waited for the replicas (${Date.now() - started} ms)`)
  const l = request()
  t.equal(answer(await lax.inject(l)), '200', 'REDIS_REPLAY_REPLICAS=0: accepted on the master\'s word alone')

  const oldMaster = layout.master.port
  await layout.master.kill('SIGKILL')
  for (const proxy of proxies) proxy.cut()
  const killedAt = Date.now()
  let recovered = false
  while (!recovered && Date.now() - killedAt < 60_000) {
    await new Promise(resolve => setTimeout(resolve, 200))
    recovered = (await layout.currentMaster()) !== oldMaster && (await strict.inject(request())).statusCode === 200
  }
  t.ok(recovered, `a replica was promoted and the strict instance accepts again (${Date.now() - killedAt} ms after SIGKILL)`)

  t.equal(answer(await lax.inject(p)), '401 AUTH_REPLAY', 'a request accepted with its entry replicated stays refused after the failover')
  t.equal(answer(await strict.inject(l)), '200', 'REDIS_REPLAY_REPLICAS=0: the request accepted on the old master alone is accepted a second time (the stated window)')
  t.equal(answer(await lax.inject(s)), '200', 'the request refused with 503 had never been accepted: now it is, once')
  t.equal(answer(await strict.inject(s)), '401 AUTH_REPLAY', 'and never again')
  t.equal(answer(await lax.inject(l)), '401 AUTH_REPLAY')
})
