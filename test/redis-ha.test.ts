/**
 * REDIS_SENTINELS + REDIS_SENTINEL_MASTER and REDIS_CLUSTER_NODES against real
 * processes on loopback (Debian's redis-server and redis-sentinel), files in a
 * temp dir, stopped by PID: two instances sharing a keyring and a store refuse
 * a replay across instances, share failed-login counts and see each other's
 * logouts. (Failover under load is not covered here.)
 */
import t from 'tap'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { buildTestApp, ManualClock, newKeyring, sign, signedInject, signup, signupAndLogin, tempDir, viaHttps, type Tap } from './helper.js'
import { freePort } from './redis-server.js'
import { connectRedis, type RedisTarget } from '../src/redis.js'

/** Starts `command args` and waits for `ready` in its output; killed (SIGKILL) at teardown. */
async function daemon (t: Tap, command: string, args: string[], ready: string, cwd: string): Promise<ChildProcess> {
  const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise(resolve => child.once('exit', resolve))
    child.kill('SIGKILL')
    await exited
  })
  await new Promise<void>((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => reject(new Error(`${command} did not start:\n${out}`)), 10_000)
    const seen = (c: Buffer): void => { out += c.toString(); if (out.includes(ready)) { clearTimeout(timer); resolve() } }
    child.stdout?.on('data', seen)
    child.stderr?.on('data', seen)
    child.once('exit', code => { clearTimeout(timer); reject(new Error(`${command} exited ${String(code)}:\n${out}`)) })
  })
  return child
}

async function redisServer (t: Tap, dir: string, extra: string[] = []): Promise<number> {
  const port = await freePort()
  const home = join(dir, String(port))
  mkdirSync(home)
  await daemon(t, 'redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', home, ...extra], 'Ready to accept connections', home)
  return port
}

async function sentinelLayout (t: Tap): Promise<RedisTarget> {
  const dir = tempDir(t, 'sentinel-')
  const master = await redisServer(t, dir)
  const port = await freePort()
  const conf = join(dir, 'sentinel.conf')
  const { writeFileSync } = await import('node:fs')
  writeFileSync(conf, `port ${port}\nbind 127.0.0.1\ndir ${dir}\nsentinel monitor signed-api 127.0.0.1 ${master} 1\nsentinel down-after-milliseconds signed-api 1000\n`)
  await daemon(t, 'redis-sentinel', [conf], 'Sentinel ID', dir)
  return { sentinels: [{ host: '127.0.0.1', port }], master: 'signed-api' }
}

async function clusterLayout (t: Tap): Promise<RedisTarget> {
  const dir = tempDir(t, 'cluster-')
  const ports: number[] = []
  for (let i = 0; i < 3; i++) ports.push(await redisServer(t, dir, ['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${i}.conf`]))
  const created = spawnSync('redis-cli', ['--cluster', 'create', ...ports.map(p => `127.0.0.1:${p}`), '--cluster-yes'], { encoding: 'utf8', timeout: 30_000 })
  if (created.status !== 0) throw new Error(`redis-cli --cluster create failed: ${created.stdout} ${created.stderr}`)
  // Wait until every node says the cluster is up.
  for (let i = 0; i < 100; i++) {
    const states = ports.map(p => spawnSync('redis-cli', ['-p', String(p), 'cluster', 'info'], { encoding: 'utf8' }).stdout)
    if (states.every(s => s.includes('cluster_state:ok'))) break
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  return { clusterNodes: ports.slice(0, 2).map(port => ({ host: '127.0.0.1', port })) }
}

const layouts: Array<[string, (t: Tap) => Promise<RedisTarget>]> = [['Sentinel', sentinelLayout], ['Cluster', clusterLayout]]

for (const [name, layout] of layouts) {
  t.test(`${name}: replay refused across instances, failed logins shared, a logout seen by the other instance`, async t => {
    const target = await layout(t)
    const dataDir = tempDir(t)
    const clock = new ManualClock(Date.now())
    const keyring = newKeyring()
    const env = { LOGIN_MAX_FAILURES: '2' }
    const link = (): ReturnType<typeof connectRedis> => connectRedis(target, () => {})
    const a = await buildTestApp(t, { env, clock, keyring, dataDir, deps: { redis: link(), revocationPollMs: 3_600_000 } })
    const b = await buildTestApp(t, { env, clock, keyring, dataDir, deps: { redis: link(), revocationPollMs: 3_600_000 } })
    t.equal((await a.app.inject({ method: 'GET', url: '/ready' })).statusCode, 200, 'ready through Redis')

    const cred = await signupAndLogin(a.app, 'alice')
    const headers = sign(cred, 'GET', '/auth/whoami', '', clock.now())
    t.equal((await a.app.inject({ method: 'GET', url: '/auth/whoami', headers })).statusCode, 200)
    const replayed = await b.app.inject({ method: 'GET', url: '/auth/whoami', headers })
    t.equal(replayed.json().code, 'AUTH_REPLAY', 'a replay to the other instance is refused')

    await signup(a.app, 'bob')
    const fail = async (app: typeof a.app): Promise<number> => (await app.inject({ method: 'POST', url: '/auth/login', headers: viaHttps(), payload: { username: 'bob', password: 'wrong password!' } })).statusCode
    t.same([await fail(a.app), await fail(b.app), await fail(a.app)], [401, 401, 429], 'two failures across two instances reach the limit of 2')

    t.equal((await signedInject(a.app, clock, cred, { method: 'POST', url: '/auth/logout' })).statusCode, 204)
    let code = ''
    for (let i = 0; i < 40 && code !== 'AUTH_KEY_REVOKED'; i++) {
      code = (await signedInject(b.app, clock, cred, { method: 'GET', url: '/auth/whoami' })).json().code
      if (code !== 'AUTH_KEY_REVOKED') await new Promise(resolve => setTimeout(resolve, 50))
    }
    t.equal(code, 'AUTH_KEY_REVOKED', 'the nudge reached the other instance (its poll is set to an hour)')
  })
}
