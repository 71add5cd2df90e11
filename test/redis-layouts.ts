/**
 * Redis layouts on loopback for the tests and `make cluster`: Debian's
 * redis-server and redis-sentinel, every file under the given directory,
 * every process stopped by PID (`stop()`). No tap here, so test/cluster can
 * use it too; tests register `stop` as a teardown.
 *
 * - Sentinel: a master, replicas, Sentinels watching them (down-after 1 s),
 *   optionally with passwords on the nodes and on the Sentinels.
 * - Cluster: masters with --cluster-enabled, joined by `redis-cli --cluster create`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { freePort } from './redis-server.js'

export const SENTINEL_MASTER = 'signed-api'

export interface Daemon {
  port: number
  proc: ChildProcess
  /** Everything it printed so far. */
  output (): string
  kill (signal: NodeJS.Signals): Promise<void>
}

/** Processes started for one layout, all stopped together by PID. */
export class Daemons {
  readonly #all: Daemon[] = []

  /** Starts `command args` in `cwd` and waits (up to 15 s) for `ready` in its output. */
  async start (command: string, args: string[], ready: string | RegExp, cwd: string, port: number): Promise<Daemon> {
    const proc = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    const exited = new Promise<void>(resolve => proc.once('exit', () => resolve()))
    const daemon: Daemon = {
      port,
      proc,
      output: () => out,
      async kill (signal) {
        if (proc.exitCode !== null || proc.signalCode !== null) return
        proc.kill('SIGCONT')
        proc.kill(signal)
        const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000)
        await exited
        clearTimeout(timer)
      }
    }
    this.#all.push(daemon)
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${command} did not start within 15 s:\n${out}`)), 15_000)
      const seen = (c: Buffer): void => {
        out += c.toString()
        if (typeof ready === 'string' ? out.includes(ready) : ready.test(out)) { clearTimeout(timer); resolve() }
      }
      proc.stdout?.on('data', seen)
      proc.stderr?.on('data', seen)
      proc.once('exit', code => { clearTimeout(timer); reject(new Error(`${command} exited ${String(code)}:\n${out}`)) })
    })
    return daemon
  }

  async stop (): Promise<void> {
    await Promise.all(this.#all.map(async d => d.kill('SIGKILL')))
  }
}

/**
 * A port is free when picked and may be taken before redis-server binds it (another test process,
 * or a cluster node's bus port, which is its port + 10000): such a start is tried on a new port.
 */
async function redisNode (daemons: Daemons, dir: string, extra: string[], ready: string | RegExp = 'Ready to accept connections'): Promise<Daemon> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort()
    const home = join(dir, `node-${port}`)
    mkdirSync(home, { recursive: true })
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', home,
      // A replica that needs a full copy gets it at once (Redis 7 waits 5 s for more replicas by default).
      '--repl-diskless-sync-delay', '0', ...extra]
    try {
      return await daemons.start('redis-server', args, ready, home, port)
    } catch (err) {
      if (attempt >= 5 || !(err instanceof Error) || !err.message.includes('Address already in use')) throw err
    }
  }
}

export interface SentinelLayoutOptions {
  replicas?: number
  sentinels?: number
  /** requirepass and masterauth of every node. */
  password?: string
  /** requirepass of every Sentinel. */
  sentinelPassword?: string
  /**
   * Sentinel's failover-timeout (default here 5000 ms): a failover whose election failed (split votes,
   * likelier on a loaded machine) is tried again after twice this. It is also how long a replica may
   * replicate from another address than the master's before the Sentinels point it at the master.
   */
  failoverTimeoutMs?: number
  /** Where replica `i` finds its master (a test may put a proxy between them); the master's port by default. */
  replicaOf?: (masterPort: number, i: number) => Promise<number>
}

export interface SentinelLayout {
  daemons: Daemons
  master: Daemon
  replicas: Daemon[]
  sentinels: Daemon[]
  /** REDIS_SENTINELS, REDIS_SENTINEL_MASTER and the passwords, as a server's environment. */
  env: Record<string, string>
  target: { sentinels: Array<{ host: string, port: number }>, master: string, password?: string, sentinelPassword?: string }
  /** The master's port as the Sentinels name it now. */
  currentMaster (): Promise<number | undefined>
  /** Resolves once every Sentinel knows every replica and every other Sentinel (a failover needs them). */
  settled (timeoutMs?: number): Promise<void>
  stop (): Promise<void>
}

async function askSentinel<T> (port: number, password: string | undefined, ask: (s: Redis) => Promise<T>): Promise<T | undefined> {
  const s = new Redis({ port, host: '127.0.0.1', lazyConnect: true, enableOfflineQueue: false, retryStrategy: () => null, connectTimeout: 1000, commandTimeout: 1000, ...(password === undefined ? {} : { password }) })
  s.on('error', () => {})
  try {
    await s.connect()
    return await ask(s)
  } catch {
    return undefined
  } finally {
    s.disconnect()
  }
}

/** A master, `replicas` replicas and `sentinels` Sentinels (quorum: a majority), down-after 1 s. */
export async function startSentinelLayout (dir: string, opts: SentinelLayoutOptions = {}): Promise<SentinelLayout> {
  const daemons = new Daemons()
  try {
    const auth = opts.password === undefined ? [] : ['--requirepass', opts.password, '--masterauth', opts.password]
    const master = await redisNode(daemons, dir, auth)
    const replicas: Daemon[] = []
    for (let i = 0; i < (opts.replicas ?? 1); i++) {
      const via = opts.replicaOf === undefined ? master.port : await opts.replicaOf(master.port, i)
      replicas.push(await redisNode(daemons, dir, [...auth, '--replicaof', '127.0.0.1', String(via)], 'MASTER <-> REPLICA sync: Finished with success'))
    }
    const count = opts.sentinels ?? 3
    const sentinels: Daemon[] = []
    for (let i = 0; i < count; i++) {
      const port = await freePort()
      const home = join(dir, `sentinel-${port}`)
      mkdirSync(home, { recursive: true })
      const conf = join(home, 'sentinel.conf')
      writeFileSync(conf, [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${home}`,
        ...(opts.sentinelPassword === undefined ? [] : [`requirepass "${opts.sentinelPassword}"`]),
        `sentinel monitor ${SENTINEL_MASTER} 127.0.0.1 ${master.port} ${Math.floor(count / 2) + 1}`,
        ...(opts.password === undefined ? [] : [`sentinel auth-pass ${SENTINEL_MASTER} "${opts.password}"`]),
        `sentinel down-after-milliseconds ${SENTINEL_MASTER} 1000`,
        `sentinel parallel-syncs ${SENTINEL_MASTER} 4`,
        `sentinel failover-timeout ${SENTINEL_MASTER} ${opts.failoverTimeoutMs ?? 5000}`,
        ''
      ].join('\n'))
      sentinels.push(await daemons.start('redis-sentinel', [conf], 'Sentinel ID', home, port))
    }
    const ask = async <T>(port: number, fn: (s: Redis) => Promise<T>): Promise<T | undefined> => await askSentinel(port, opts.sentinelPassword, fn)
    const target = {
      sentinels: sentinels.map(s => ({ host: '127.0.0.1', port: s.port })),
      master: SENTINEL_MASTER,
      ...(opts.password === undefined ? {} : { password: opts.password }),
      ...(opts.sentinelPassword === undefined ? {} : { sentinelPassword: opts.sentinelPassword })
    }
    return {
      daemons,
      master,
      replicas,
      sentinels,
      target,
      env: {
        REDIS_SENTINELS: sentinels.map(s => `127.0.0.1:${s.port}`).join(','),
        REDIS_SENTINEL_MASTER: SENTINEL_MASTER,
        ...(opts.password === undefined ? {} : { REDIS_PASSWORD: opts.password }),
        ...(opts.sentinelPassword === undefined ? {} : { REDIS_SENTINEL_PASSWORD: opts.sentinelPassword })
      },
      async currentMaster () {
        for (const s of sentinels) {
          if (s.proc.exitCode !== null) continue
          const addr = await ask(s.port, async r => await r.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', SENTINEL_MASTER) as string[] | null)
          if (Array.isArray(addr)) return Number(addr[1])
        }
        return undefined
      },
      async settled (timeoutMs = 30_000) {
        const started = Date.now()
        for (;;) {
          const known = await Promise.all(sentinels.map(async s => await ask(s.port, async r => {
            const reps = await r.call('SENTINEL', 'REPLICAS', SENTINEL_MASTER) as unknown[]
            const others = await r.call('SENTINEL', 'SENTINELS', SENTINEL_MASTER) as unknown[]
            return reps.length === replicas.length && others.length === sentinels.length - 1
          })))
          if (known.every(k => k === true)) return
          if (Date.now() - started > timeoutMs) throw new Error(`the Sentinels did not find each other and the replicas within ${timeoutMs} ms`)
          await new Promise(resolve => setTimeout(resolve, 200))
        }
      },
      stop: async () => await daemons.stop()
    }
  } catch (err) {
    await daemons.stop()
    throw err
  }
}

export interface ClusterLayout {
  daemons: Daemons
  nodes: Daemon[]
  env: Record<string, string>
  target: { clusterNodes: Array<{ host: string, port: number }> }
  stop (): Promise<void>
}

/** `masters` nodes with --cluster-enabled, joined by `redis-cli --cluster create`, no replicas. */
export async function startClusterLayout (dir: string, masters = 3): Promise<ClusterLayout> {
  const daemons = new Daemons()
  try {
    const nodes: Daemon[] = []
    for (let i = 0; i < masters; i++) nodes.push(await redisNode(daemons, dir, ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000']))
    const created = spawnSync('redis-cli', ['--cluster', 'create', ...nodes.map(n => `127.0.0.1:${n.port}`), '--cluster-yes'], { encoding: 'utf8', timeout: 30_000 })
    if (created.status !== 0) throw new Error(`redis-cli --cluster create failed: ${created.stdout} ${created.stderr}`)
    // Every node must see every slot served before the layout is used.
    for (let i = 0; ; i++) {
      const states = nodes.map(n => spawnSync('redis-cli', ['-p', String(n.port), 'cluster', 'info'], { encoding: 'utf8' }).stdout)
      if (states.every(s => s.includes('cluster_state:ok'))) break
      if (i > 300) throw new Error('the cluster did not reach cluster_state:ok within 30 s')
      await new Promise(resolve => setTimeout(resolve, 100))
    }
    // Two seeds: the client learns the rest of the cluster from them.
    const seeds = nodes.slice(0, 2).map(n => ({ host: '127.0.0.1', port: n.port }))
    return {
      daemons,
      nodes,
      env: { REDIS_CLUSTER_NODES: seeds.map(s => `${s.host}:${s.port}`).join(',') },
      target: { clusterNodes: seeds },
      stop: async () => await daemons.stop()
    }
  } catch (err) {
    await daemons.stop()
    throw err
  }
}
