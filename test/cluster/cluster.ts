/**
 * A scale-out deployment on loopback: redis-server, several instances sharing
 * one keyring, one store (the embedded store's DATA_DIR; MongoDB in
 * production) and Redis, and nginx terminating TLS in front. Every file lives
 * under one temp dir; every process is stopped by PID. Used by
 * test/cluster.test.ts and by `make cluster`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { addKeyringVersion } from '../../src/auth/keys.js'
import { loadTls } from '../../src/tls.js'
import { freePort } from '../redis-server.js'
import { startSentinelLayout, type SentinelLayout } from '../redis-layouts.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

export function findBinary (name: string): string {
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/local/sbin', '/sbin']) {
    if (dir !== '' && existsSync(join(dir, name))) return join(dir, name)
  }
  throw new Error(`${name} is not installed (make test installs it: apt-get install ${name === 'nginx' ? 'nginx-light' : name})`)
}

/** Waits until a TCP port accepts connections. */
async function waitForPort (port: number, timeoutMs: number, what: string, exited: () => boolean): Promise<void> {
  const { connect } = await import('node:net')
  const started = Date.now()
  while (Date.now() - started < timeoutMs) {
    if (exited()) throw new Error(`${what} exited during start`)
    const ok = await new Promise<boolean>(resolve => {
      const s = connect(port, '127.0.0.1')
      s.once('connect', () => { s.destroy(); resolve(true) })
      s.once('error', () => resolve(false))
    })
    if (ok) return
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  throw new Error(`${what} did not listen on ${port} within ${timeoutMs} ms`)
}

export interface Instance {
  name: string
  port: number
  env: Record<string, string>
  proc: ChildProcess
  exited: Promise<number | null>
}

export interface ClusterOptions {
  instances?: number
  nginxPort?: number
  /** Extra env for every instance (e.g. LOGIN_MAX_FAILURES). */
  env?: Record<string, string>
  /** One more instance behind nginx's /api/ location, with PUBLIC_PATH_PREFIX=/api and no TRUST_PROXY. */
  prefixed?: boolean
  /** Where logs and data go; a new temp dir by default. */
  dir?: string
  /** 'sentinel': a master, two replicas and three Sentinels instead of one redis-server (REDIS_SENTINELS). */
  redis?: 'single' | 'sentinel'
}

export interface Cluster {
  dir: string
  url: string
  caFile: string
  ca: string
  redisUrl: string
  /** With `redis: 'sentinel'`: the layout (its master can be killed to watch a failover). */
  sentinel: SentinelLayout | undefined
  instances: Instance[]
  prefixed: Instance | undefined
  nginxConf: string
  /** SIGTERM one instance and wait for it to exit; returns its exit code. */
  stopInstance (i: Instance): Promise<number | null>
  /** Starts an instance again on the same port with the same env. */
  restartInstance (i: Instance): Promise<Instance>
  /** The keyring file every instance names as MASTER_KEY_FILE. */
  keyringFile: string
  /** The instances' DATA_DIR: the embedded store they share. */
  dataDir: string
  /**
   * Restarts the instances one at a time, as an operator rolls a change out:
   * SIGTERM one, wait for its exit (code 0 expected), start it again, then the
   * next. `down` runs while it is stopped, `up` once it is back. Returns the exit codes.
   */
  rollingRestart (hooks?: { down?: (stopped: Instance) => Promise<void>, up?: (started: Instance) => Promise<void> }): Promise<Array<number | null>>
  stop (): Promise<void>
}

function nginxConfig (dir: string, port: number, upstreams: number[], prefixedPort: number | undefined, tls: { cert: string, key: string }): string {
  const asRoot = process.getuid?.() === 0
  return `# Written by test/cluster/cluster.ts; docs/operations.md, "Several instances behind a proxy", explains each line.
${asRoot ? 'user root root;' : ''}
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  # $request_id: nginx's id for the request, sent to the instances as X-Request-Id (README "Request ids").
  log_format with_id '$remote_addr [$time_local] "$request" $status $request_id';
  access_log ${dir}/access.log with_id;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  client_max_body_size 1m;

  upstream api {
    ${upstreams.map(p => `server 127.0.0.1:${p} max_fails=1 fail_timeout=2s;`).join('\n    ')}
    keepalive 32;
  }
${prefixedPort === undefined ? '' : `  upstream api_prefixed { server 127.0.0.1:${prefixedPort}; }\n`}
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${tls.cert};
    ssl_certificate_key ${tls.key};
    ssl_protocols TLSv1.2 TLSv1.3;

    location / {
      proxy_pass http://api;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Request-Id $request_id;
      # Every 503 this API sends (closing, Redis or revocations unavailable) comes
      # before any state changes, so even a POST may be passed to another instance.
      proxy_next_upstream error timeout http_503 non_idempotent;
      proxy_next_upstream_tries 3;
    }
${prefixedPort === undefined
    ? ''
    : `    # A deployment under a path prefix: nginx strips /api; the instance adds it back (PUBLIC_PATH_PREFIX=/api).
    location /api/ {
      proxy_pass http://api_prefixed/;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Request-Id $request_id;
    }
`}  }
}
`
}

export async function startCluster (opts: ClusterOptions = {}): Promise<Cluster> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'signed-api-cluster-'))
  for (const d of ['data', 'redis', 'nginx', 'logs', 'tls']) mkdirSync(join(dir, d), { recursive: true, mode: 0o700 })
  for (const d of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, 'nginx', d), { recursive: true })
  const processes: ChildProcess[] = []
  const keyring = join(dir, 'keyring')
  writeFileSync(keyring, JSON.stringify(addKeyringVersion(null, Date.now()), null, 2), { mode: 0o600 })
  const tls = await loadTls({ certFile: undefined, keyFile: undefined, dataDir: join(dir, 'tls') })
  const certFile = join(dir, 'tls', 'cert.pem')
  const keyFile = join(dir, 'tls', 'key.pem')
  writeFileSync(certFile, tls.cert)
  writeFileSync(keyFile, tls.key, { mode: 0o600 })

  let sentinel: SentinelLayout | undefined
  let redis: ChildProcess | undefined
  let redisUrl = ''
  if (opts.redis === 'sentinel') {
    findBinary('redis-sentinel')
    sentinel = await startSentinelLayout(join(dir, 'redis'), { replicas: 2, sentinels: 3 })
    await sentinel.settled()
  } else {
    const redisPort = await freePort()
    const single = spawn(findBinary('redis-server'), ['--port', String(redisPort), '--bind', '127.0.0.1', '--dir', join(dir, 'redis'), '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'ignore', 'ignore'] })
    redis = single
    processes.push(single)
    await waitForPort(redisPort, 10_000, 'redis-server', () => single.exitCode !== null)
    redisUrl = `redis://127.0.0.1:${redisPort}`
  }

  const baseEnv = {
    PATH: process.env.PATH ?? '',
    HOST: '127.0.0.1',
    TLS: 'off',
    DATA_DIR: join(dir, 'data'),
    MASTER_KEY_FILE: keyring,
    ...(sentinel === undefined ? { REDIS_URL: redisUrl } : sentinel.env),
    LOG_LEVEL: 'warn',
    ...opts.env
  }
  const launch = async (name: string, port: number, env: Record<string, string>): Promise<Instance> => {
    const log = createWriteStream(join(dir, 'logs', `${name}.log`), { flags: 'a' })
    const proc = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/server.ts')], { cwd: ROOT, env: { ...env, PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] })
    proc.stdout?.pipe(log)
    proc.stderr?.pipe(log)
    processes.push(proc)
    const exited = new Promise<number | null>(resolve => proc.once('exit', code => resolve(code)))
    await waitForPort(port, 30_000, name, () => proc.exitCode !== null)
    return { name, port, env, proc, exited }
  }
  const trusted = { ...baseEnv, TRUST_PROXY: '127.0.0.1' }
  const ports = await Promise.all(Array.from({ length: opts.instances ?? 3 }, async () => freePort()))
  const instances = await Promise.all(ports.map(async (port, i) => launch(`instance-${i + 1}`, port, trusted)))
  const prefixed = opts.prefixed === true ? await launch('prefixed', await freePort(), { ...baseEnv, PUBLIC_PATH_PREFIX: '/api' }) : undefined

  const nginxPort = opts.nginxPort ?? await freePort()
  const nginxConf = nginxConfig(join(dir, 'nginx'), nginxPort, ports, prefixed?.port, { cert: certFile, key: keyFile })
  writeFileSync(join(dir, 'nginx', 'nginx.conf'), nginxConf)
  const nginxBin = findBinary('nginx')
  const check = spawnSync(nginxBin, ['-t', '-p', join(dir, 'nginx'), '-c', join(dir, 'nginx', 'nginx.conf')], { encoding: 'utf8' })
  if (check.status !== 0) throw new Error(`nginx -t failed:\n${check.stderr}`)
  const nginx = spawn(nginxBin, ['-p', join(dir, 'nginx'), '-c', join(dir, 'nginx', 'nginx.conf'), '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] })
  processes.push(nginx)
  await waitForPort(nginxPort, 10_000, 'nginx', () => nginx.exitCode !== null)

  const stopProcess = async (p: ChildProcess, signal: NodeJS.Signals, graceMs: number): Promise<void> => {
    if (p.exitCode !== null || p.signalCode !== null) return
    const done = new Promise(resolve => p.once('exit', resolve))
    p.kill(signal)
    const timer = setTimeout(() => p.kill('SIGKILL'), graceMs)
    await done
    clearTimeout(timer)
  }

  return {
    dir,
    url: `https://127.0.0.1:${nginxPort}`,
    caFile: certFile,
    ca: tls.cert,
    redisUrl,
    sentinel,
    instances,
    prefixed,
    nginxConf,
    async stopInstance (i) {
      i.proc.kill('SIGTERM')
      return await i.exited
    },
    async restartInstance (i) {
      const next = await launch(i.name, i.port, i.env)
      instances[instances.indexOf(i)] = next
      return next
    },
    keyringFile: keyring,
    dataDir: baseEnv.DATA_DIR,
    async rollingRestart (hooks = {}) {
      const codes: Array<number | null> = []
      for (const name of instances.map(i => i.name)) {
        const current = instances.find(i => i.name === name) as Instance
        current.proc.kill('SIGTERM')
        codes.push(await current.exited)
        await hooks.down?.(current)
        const next = await launch(current.name, current.port, current.env)
        instances[instances.indexOf(current)] = next
        await hooks.up?.(next)
      }
      return codes
    },
    async stop () {
      await stopProcess(nginx, 'SIGQUIT', 5_000)
      await Promise.all(processes.filter(p => p !== nginx && p !== redis).map(async p => stopProcess(p, 'SIGTERM', 10_000)))
      if (redis !== undefined) await stopProcess(redis, 'SIGTERM', 5_000)
      await sentinel?.stop()
      if (opts.dir === undefined) rmSync(dir, { recursive: true, force: true })
    }
  }
}
