#!/usr/bin/env node
/**
 * The bench runner (issue 8). Started by bench/run.sh, pinned to the load
 * core; every server it starts is pinned to the other core. See README.md.
 *
 *   BENCH_QUICK=1      short runs (the whole thing in under 2 minutes)
 *   BENCH_PROFILE=1    instead of the table: CPU-profile the verify path under load
 *   BENCH_ONLY=a,b     only some groups: product-https, product-http, soak, peers, replay, queries, whatif, attribution, metrics
 *   BENCH_SCENARIOS=a,b only some rows: whoami, articles, notes, login, health, bare, jwt, express, read-floor, write-floor, metrics
 *   BENCH_DURATION, BENCH_WARMUP, BENCH_REPEATS, BENCH_CONNECTIONS, BENCH_SOAK: override
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir, loadavg, cpus } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { randomBytes } from 'node:crypto'
import { Credential } from './lib/signer.mjs'
import { call, signedCall } from './lib/http.mjs'
import { PROBE, awaitQuiet, freePort, pinning, probe, startProcess, stopAll } from './lib/procs.mjs'
import { SignedTraffic, runLoad } from './lib/load.mjs'
import { renderMarkdown } from './lib/report.mjs'
import { summarizeProfile } from './lib/profile-summary.mjs'

const HERE = dirname(fileURLToPath(import.meta.url))
const ROOT = resolve(HERE, '..')
const env = process.env
// BENCH_SERVER: another build of the server (an experiment's patched copy of dist/); default the built one.
const SERVER = env.BENCH_SERVER ?? join(ROOT, 'dist', 'src', 'server.js')
const QUICK = env.BENCH_QUICK === '1'
const PROFILE = env.BENCH_PROFILE === '1' || process.argv.includes('--profile')
const num = (name, dflt) => (env[name] !== undefined && env[name] !== '' ? Number(env[name]) : dflt)

const cfg = {
  quick: QUICK,
  warmup: num('BENCH_WARMUP', QUICK ? 0.4 : 3),
  duration: num('BENCH_DURATION', QUICK ? 0.6 : 10),
  ramp: QUICK ? 0.15 : 0.5,
  repeats: num('BENCH_REPEATS', 3),
  connections: num('BENCH_CONNECTIONS', 50),
  // One login at a time: the CPU of one hash, not of four fighting over one core's cache.
  loginConnections: num('BENCH_LOGIN_CONNECTIONS', 1),
  // The memory soak: 5 minutes of the realistic mix in a full run, 30 s in a quick one.
  soak: num('BENCH_SOAK', QUICK ? 30 : 300),
  rateLimitPerMinute: 1_000_000,
  loginMaxFailures: 1000,
  users: 4,
  keysPerUser: 16,
  articles: 30,
  // Before each measured run, wait this long at most for the machine to be idle (others' tests, builds).
  quietWaitMs: num('BENCH_QUIET_WAIT_MS', QUICK ? 0 : 30_000)
}
const only = env.BENCH_ONLY ? new Set(env.BENCH_ONLY.split(',').map((s) => s.trim())) : null
const want = (group) => only === null || only.has(group)
// BENCH_SCENARIOS=whoami,health,bare,jwt: only these rows (keys: whoami articles notes login health bare jwt express read-floor write-floor).
const scenarioKeys = env.BENCH_SCENARIOS ? new Set(env.BENCH_SCENARIOS.split(',').map((s) => s.trim())) : null
const wantRow = (key) => scenarioKeys === null || scenarioKeys.has(key)
const transports = new Set((env.BENCH_TRANSPORTS ?? 'https,http').split(',').map((s) => s.trim().toLowerCase()))

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b)
  if (s.length === 0) return NaN
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}
const log = (msg) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`)

const pin = pinning()
const tmp = mkdtempSync(join(tmpdir(), 'signed-api-bench-'))
const dataDir = join(tmp, 'data')
const PASSWORD = `bench-${randomBytes(9).toString('base64url')}`
const ADMIN = { username: 'benchadmin', password: `admin-${randomBytes(9).toString('base64url')}` }

/** The environment of every child: nothing of the caller's product settings leaks in. */
function baseEnv () {
  const keep = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TMPDIR', 'SYSTEMROOT']
  return Object.fromEntries(keep.filter((k) => env[k] !== undefined).map((k) => [k, env[k]]))
}

// ---- servers -------------------------------------------------------------------

const WHATIF = join(HERE, 'whatif', 'register.mjs')

async function startProduct ({ tls, nodeArgs = [], whatif, variant, extraEnv = {} }) {
  const port = await freePort()
  const transport = tls ? 'https' : 'http'
  const tag = whatif === undefined ? (variant === undefined ? '' : `-${variant}`) : `-${whatif.replace(/,/g, '+')}`
  const probeFile = join(tmp, `probe-product${tag}-${transport}.json`)
  const server = await startProcess({
    name: `product${tag}-${transport}`,
    command: process.execPath,
    args: ['--expose-gc', '--import', pathToFileURL(PROBE).href, ...(whatif === undefined ? [] : ['--import', pathToFileURL(WHATIF).href]), ...nodeArgs, SERVER],
    cwd: ROOT,
    core: pin.server,
    port,
    probeFile,
    env: {
      ...baseEnv(),
      DATA_DIR: dataDir,
      HOST: '127.0.0.1',
      PORT: String(port),
      TLS: tls ? 'on' : 'off',
      // Production defaults (helmet and the rate-limit plugin are always on),
      // with limits high enough that the load never meets them:
      LOG_LEVEL: 'warn',
      RATE_LIMIT_PER_MINUTE: String(cfg.rateLimitPerMinute),
      LOGIN_MAX_FAILURES: String(cfg.loginMaxFailures),
      ADMIN_USERNAME: ADMIN.username,
      ADMIN_PASSWORD: ADMIN.password,
      // Plain HTTP is what a server behind a TLS-terminating proxy serves.
      ...(tls ? {} : { TRUST_PROXY: '127.0.0.1' }),
      BENCH_PROBE_FILE: probeFile,
      ...(whatif === undefined ? {} : { BENCH_WHATIF: whatif }),
      ...extraEnv
    }
  })
  server.base = `${transport}://127.0.0.1:${port}`
  server.host = `127.0.0.1:${port}`
  server.transport = transport.toUpperCase()
  return server
}

async function startPeer (script, { tls, redisUrl, variant }) {
  const port = await freePort()
  const transport = tls ? 'https' : 'http'
  const probeFile = join(tmp, `probe-${script}${variant ? `-${variant}` : ''}-${transport}.json`)
  const server = await startProcess({
    name: `${script}${variant ? `-${variant}` : ''}-${transport}`,
    command: process.execPath,
    args: ['--expose-gc', '--import', pathToFileURL(PROBE).href, join(HERE, 'peers', `${script}.mjs`)],
    cwd: HERE,
    core: pin.server,
    port,
    probeFile,
    env: {
      ...baseEnv(),
      HOST: '127.0.0.1',
      PORT: String(port),
      TLS: tls ? 'on' : 'off',
      NODE_ENV: 'production',
      BENCH_TLS_PAIR: join(dataDir, 'dev-tls.pem'),
      ...(redisUrl === undefined ? {} : { BENCH_REDIS_URL: redisUrl }),
      ...(variant === undefined ? {} : { BENCH_VARIANT: variant }),
      // The data-path floors read and write the product's own SQLite file.
      BENCH_SQLITE: join(dataDir, 'store.sqlite'),
      BENCH_PROBE_FILE: probeFile
    }
  })
  server.base = `${transport}://127.0.0.1:${port}`
  server.transport = transport.toUpperCase()
  return server
}

function findRedis () {
  for (const dir of (env.PATH ?? '').split(':').concat(['/usr/bin', '/usr/sbin', '/usr/local/bin'])) {
    const p = join(dir, 'redis-server')
    if (dir !== '' && existsSync(p)) return p
  }
  return null
}

async function startRedis () {
  const bin = findRedis()
  if (bin === null) return null
  const port = await freePort()
  const dir = join(tmp, 'redis')
  mkdirSync(dir, { recursive: true })
  const redis = await startProcess({
    name: 'redis-server',
    command: bin,
    args: ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--logfile', join(dir, 'redis.log'), '--protected-mode', 'yes'],
    env: baseEnv(),
    cwd: dir,
    core: pin.load,
    port
  })
  redis.url = `redis://127.0.0.1:${port}`
  return redis
}

// ---- product setup ----------------------------------------------------------------

const ca = () => readFileSync(join(dataDir, 'dev-cert.pem'), 'utf8')
const missing = (status) => status === 404 || status === 405

/** Users, their keys (one login, then refreshes), the admin's key, which routes exist, seed articles. */
async function prepareProduct (server) {
  const opts = { ca: ca() }
  const creds = []
  for (let u = 0; u < cfg.users; u++) {
    const username = `bench${u}`
    const up = await call(server.base, 'POST', '/auth/signup', { ...opts, body: { username, password: PASSWORD } })
    if (up.status !== 201 && up.status !== 409) throw new Error(`signup ${username}: ${up.status} ${up.body}`)
    const login = await call(server.base, 'POST', '/auth/login', { ...opts, body: { username, password: PASSWORD } })
    if (login.status !== 200) throw new Error(`login ${username}: ${login.status} ${login.body}`)
    let cred = new Credential(login.json)
    creds.push(cred)
    const seen = new Set([cred.keyId])
    while (seen.size < cfg.keysPerUser) {
      const r = await signedCall(server.base, cred, 'POST', '/auth/refresh', opts)
      if (r.status !== 200) throw new Error(`refresh ${username}: ${r.status} ${r.body}`)
      if (seen.has(r.json.keyId)) { await sleep(2); continue } // same millisecond, same key id
      seen.add(r.json.keyId)
      cred = new Credential(r.json)
      creds.push(cred)
    }
  }
  // Interleave users so that consecutive requests spread over the per-principal rate limits.
  creds.sort((a, b) => (a.keyId < b.keyId ? -1 : 1))
  const byUser = Array.from({ length: cfg.users }, (_, u) => creds.filter((c) => c.username === `bench${u}`))
  const interleaved = []
  for (let i = 0; i < cfg.keysPerUser; i++) for (const list of byUser) if (list[i] !== undefined) interleaved.push(list[i])

  const adminLogin = await call(server.base, 'POST', '/auth/login', { ...opts, body: ADMIN })
  const admin = adminLogin.status === 200 ? new Credential(adminLogin.json) : null

  const probeCred = interleaved[0]
  const routes = {}
  const check = async (name, method, target, body) => {
    const r = await signedCall(server.base, probeCred, method, target, { ...opts, body })
    routes[name] = { status: r.status, code: r.json?.code, exists: !missing(r.status), ok: r.status >= 200 && r.status < 300 }
  }
  await check('whoami', 'GET', '/auth/whoami')
  await check('articles', 'GET', '/v1/public/articles')
  await check('notes', 'POST', '/v1/notes', { title: 'bench probe', body: 'created by bench/run.mjs to see whether the route exists' })

  let seeded = 0
  if (routes.articles.exists && admin !== null) {
    for (let i = 0; i < cfg.articles; i++) {
      const r = await signedCall(server.base, admin, 'POST', '/v1/public/articles', { ...opts, body: article(i) })
      if (missing(r.status)) break
      if (r.status !== 201) { log(`seeding articles: ${r.status} ${r.body.slice(0, 200)}`); break }
      seeded++
    }
  }
  log(`product ready: ${interleaved.length} keys of ${cfg.users} users; routes ${JSON.stringify(Object.fromEntries(Object.entries(routes).map(([k, v]) => [k, v.status])))}; ${seeded} articles seeded`)
  return { creds: interleaved, admin, routes, seeded }
}

function article (i) {
  return {
    title: `Bench article ${i}: what a signed request costs`,
    body: `Article ${i}. ` + 'A paragraph of realistic length for a list page, written by the bench so the store has something to read. '.repeat(3)
  }
}

const noteBody = (seq) => JSON.stringify({ title: `bench note ${seq}`, body: `Note ${seq} written by the bench: a short private note of realistic length, about one hundred bytes.` })

const SIGNED_ROUTES = {
  whoami: { method: 'GET', target: '/auth/whoami' },
  articles: { method: 'GET', target: '/v1/public/articles' },
  notes: { method: 'POST', target: '/v1/notes', body: noteBody }
}

// ---- measuring -------------------------------------------------------------------

/** Warm-up, then `repeats` measured runs; the median of each figure. */
async function measure ({ server, url, connections = cfg.connections, request, traffic }) {
  const base = { url, connections, ramp: cfg.ramp, request, traffic, cores: pin }
  let rate = 20_000
  if (traffic !== undefined) traffic.buildPools({ connections, rate, seconds: cfg.ramp + cfg.warmup + 1 })
  const warm = await runLoad({ ...base, duration: cfg.warmup, server: null })
  traffic?.clearPools()
  rate = Math.max(warm.rps, 200)
  const reps = []
  let busyBefore = 0
  for (let r = 0; r < cfg.repeats; r++) {
    if (cfg.quietWaitMs > 0) busyBefore = Math.max(busyBefore, await awaitQuiet(cfg.quietWaitMs))
    if (traffic !== undefined) traffic.buildPools({ connections, rate, seconds: cfg.ramp + cfg.duration + 0.5, factor: r === 0 ? 2.5 : 1.8 })
    const m = await runLoad({ ...base, duration: cfg.duration, server })
    traffic?.clearPools()
    reps.push(m)
    rate = Math.max(m.rps, 200)
  }
  const statuses = {}
  for (const m of reps) for (const [s, n] of Object.entries(m.statuses)) statuses[s] = (statuses[s] ?? 0) + n
  return {
    rps: median(reps.map((m) => m.rps)),
    p50: median(reps.map((m) => m.p50)),
    p99: median(reps.map((m) => m.p99)),
    usPerReq: median(reps.map((m) => m.usPerReq)),
    cpuPct: median(reps.map((m) => m.cpuPct)),
    foreignPct: Math.max(...reps.map((m) => m.foreignPct ?? 0)),
    machineBusyBefore: busyBefore,
    responses: reps.reduce((n, m) => n + m.responses, 0),
    notOk: reps.reduce((n, m) => n + m.responses - m.ok, 0),
    errors: reps.reduce((n, m) => n + m.errors, 0),
    liveSigned: reps.reduce((n, m) => n + m.liveSigned, 0),
    statuses,
    repeats: reps.map(({ rps, p50, p99, usPerReq, cpuPct, responses, foreignPct, liveSigned }) => ({ rps, p50, p99, usPerReq, cpuPct, responses, foreignPct, liveSigned }))
  }
}

async function scenario (rows, meta, fn) {
  const started = Date.now()
  log(`${meta.scenario} over ${meta.transport} ...`)
  try {
    const row = { ...meta, ...(await fn()) }
    rows.push(row)
    if (row.missing) log(`  route missing (${row.note})`)
    else if (row.skipped) log(`  skipped: ${row.note}`)
    else log(`  ${row.rps.toFixed(0)} req/s, ${row.usPerReq.toFixed(1)} µs/req CPU, p50 ${row.p50.toFixed(2)} ms, p99 ${row.p99.toFixed(2)} ms (${((Date.now() - started) / 1000).toFixed(1)} s)`)
  } catch (err) {
    log(`  failed: ${err.stack ?? err}`)
    rows.push({ ...meta, skipped: true, note: `failed: ${String(err.message ?? err).slice(0, 200)}` })
  }
}

async function productScenarios (rows, server, setup) {
  const T = server.transport
  const product = (scenario, label) => ({ group: 'product', key: scenario, scenario: label, transport: T })
  const signedRow = (name, label) => !wantRow(name) ? undefined : scenario(rows, product(name, label), async () => {
    const info = setup.routes[name]
    if (!info.exists) return { missing: true, note: `route missing (${info.status})` }
    if (!info.ok) return { skipped: true, note: `probe answered ${info.status} ${info.code ?? ''}` }
    if (name === 'articles' && setup.seeded === 0) log('  (no articles could be seeded: the list is empty)')
    const traffic = new SignedTraffic({ host: server.host, routes: [SIGNED_ROUTES[name]], creds: setup.creds })
    return measure({ server, url: server.base, traffic })
  })
  await signedRow('whoami', 'signed GET /auth/whoami (no store)')
  await signedRow('articles', 'signed GET /v1/public/articles (store read)')
  await signedRow('notes', 'signed POST /v1/notes (store write)')

  if (wantRow('login')) await scenario(rows, product('login', 'POST /auth/login (Argon2id)'), async () => {
    const request = {
      method: 'POST',
      path: '/auth/login',
      headers: { 'content-type': 'application/json', ...(T === 'HTTP' ? { 'x-forwarded-proto': 'https' } : {}) },
      body: JSON.stringify({ username: 'bench0', password: PASSWORD })
    }
    const once = await call(server.base, 'POST', '/auth/login', { ca: T === 'HTTPS' ? ca() : undefined, headers: request.headers, body: request.body })
    if (missing(once.status)) return { missing: true, note: `route missing (${once.status})` }
    if (once.status !== 200) return { skipped: true, note: `login answered ${once.status} ${once.json?.code ?? ''}` }
    return measure({ server, url: server.base, connections: cfg.loginConnections, request })
  })

  if (wantRow('health')) await scenario(rows, product('health', 'unsigned GET /health'), async () => {
    return measure({ server, url: server.base, request: { method: 'GET', path: '/health' } })
  })
}

/**
 * Heap of the server over a long signed load of the realistic mix: every
 * signed route that exists (whoami, article list, note write, 3:1:1 so the
 * replay cache sees a high rate), signed at send time. Heap after a full GC
 * at the start, once the replay cache is full (entries live X-Microtime +
 * skew + body timeout, 10 + 30 s by default: `steadyAt`), then every
 * `every` seconds.
 */
async function soak (server, setup) {
  const names = ['whoami', 'articles', 'notes'].filter((n) => setup.routes[n].ok)
  const mix = names.flatMap((n) => (n === 'whoami' ? [n, n, n] : [n]))
  const traffic = new SignedTraffic({ host: server.host, routes: mix.map((n) => SIGNED_ROUTES[n]), creds: setup.creds })
  log(`soak: ${cfg.soak} s of signed ${names.join(' + ')} over ${server.transport} ...`)
  const mb = (x) => x / 1e6
  const start = await probe(server, { gc: true })
  // Replay entries live X-Microtime + 10 s skew + 30 s body timeout (+ under 2 s of bucket rounding and sweep).
  const steadyAt = Math.min(42, cfg.soak / 2.5)
  const every = cfg.soak >= 300 ? 30 : cfg.soak >= 60 ? 10 : 6
  const snapshots = []
  const running = runLoad({ url: server.base, connections: cfg.connections, ramp: cfg.ramp, duration: cfg.soak, server, traffic, cores: pin })
  const t0 = Date.now()
  for (let at = steadyAt; at < cfg.soak - 0.5; at += every) {
    const wait = (cfg.ramp + at) * 1000 - (Date.now() - t0)
    if (wait > 0) await sleep(wait)
    const snap = await probe(server, { gc: true })
    snapshots.push({ t: Math.round((Date.now() - t0) / 100) / 10, heapMB: mb(snap.mem.heapUsed), rssMB: mb(snap.mem.rss) })
  }
  const load = await running
  const end = await probe(server, { gc: true })
  snapshots.push({ t: Math.round((Date.now() - t0) / 100) / 10, heapMB: mb(end.mem.heapUsed), rssMB: mb(end.mem.rss) })
  const steady = snapshots.slice(0, -1).map((x) => x.heapMB)
  const last = snapshots[snapshots.length - 1].heapMB
  return {
    routes: names,
    load,
    startMB: mb(start.mem.heapUsed),
    snapshots,
    steadyAtS: steadyAt,
    // Growth past the lowest steady-state heap: a leak keeps climbing, a full cache does not.
    growthMB: last - Math.min(...steady),
    growthWindowS: snapshots[snapshots.length - 1].t - snapshots[0].t,
    // Before 42 s the replay cache is still filling: a shorter soak (the quick run's) shows no steady state to judge.
    judged: cfg.soak >= 42 + 2 * every
  }
}

function replayMemory () {
  return new Promise((resolve) => {
    const args = ['--expose-gc', join(HERE, 'replay-memory.mjs'), '--json', '--variants']
    const argv = pin.ok ? ['taskset', '-c', pin.load, process.execPath, ...args] : [process.execPath, ...args]
    const child = spawn(argv[0], argv.slice(1), { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => { out += d })
    child.stderr.on('data', (d) => { err += d })
    child.on('exit', (code) => {
      try { resolve(JSON.parse(out)) } catch { resolve({ error: `replay-memory.mjs exited ${code}: ${err.trim().slice(-400)}` }) }
    })
  })
}

/** Statements one notes list runs, with 1 and with 20 shared notes (bench/notes-queries.mjs). */
function notesQueries () {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(HERE, 'notes-queries.mjs'), '--json'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => { out += d })
    child.stderr.on('data', (d) => { err += d })
    child.on('exit', (code) => {
      try { resolve(JSON.parse(out)) } catch { resolve({ error: `notes-queries.mjs exited ${code}: ${err.trim().slice(-400)}` }) }
    })
  })
}

async function peerScenarios (rows, redis) {
  const peers = [
    { script: 'bare-fastify', key: 'bare', label: 'peer: bare Fastify route (ceiling)' },
    { script: 'fastify-jwt', key: 'jwt', label: 'peer: Fastify + @fastify/jwt HS256 bearer' },
    { script: 'express-redis-session', key: 'express', label: 'peer: Express + express-session in redis-server' }
  ]
  for (const tls of [true, false]) {
    if (!transports.has(tls ? 'https' : 'http')) continue
    for (const p of peers) {
      if (!wantRow(p.key)) continue
      const T = tls ? 'HTTPS' : 'HTTP'
      await scenario(rows, { group: 'peer', key: p.key, scenario: p.label, transport: T }, async () => {
        if (p.key === 'express' && redis === null) return { skipped: true, note: 'redis-server not installed (bench/run.sh installs it)' }
        const server = await startPeer(p.script, { tls, redisUrl: redis?.url })
        try {
          const opts = { ca: tls ? ca() : undefined }
          const headers = {}
          if (p.key === 'jwt') {
            const t = await call(server.base, 'GET', '/token', opts)
            headers.authorization = `Bearer ${t.json.token}`
          } else if (p.key === 'express') {
            const l = await call(server.base, 'POST', '/login', { ...opts, body: {} })
            const cookie = [l.headers['set-cookie']].flat().find((c) => c?.startsWith('sid='))
            if (cookie === undefined) throw new Error(`no session cookie from /login (${l.status})`)
            headers.cookie = cookie.split(';')[0]
          }
          const once = await call(server.base, 'GET', '/auth/whoami', { ...opts, headers })
          if (once.status !== 200 || once.json?.username === undefined) throw new Error(`whoami answered ${once.status} ${once.body.slice(0, 200)}`)
          return await measure({ server, url: server.base, request: { method: 'GET', path: '/auth/whoami', headers } })
        } finally {
          await server.stop()
        }
      })
    }
    await floorScenarios(rows, tls)
  }
}

/**
 * The data-path floors (issue 20): bare Fastify routes on the product's own
 * SQLite file, with the product's response schemas (peers/store-floor.mjs).
 * The read floor serves the first page of the articles the product seeded;
 * the write floor inserts the same ~150-byte note, one commit per request.
 */
async function floorScenarios (rows, tls) {
  const floors = [
    { key: 'read-floor', label: 'peer: bare Fastify + the same SQLite file, first page of articles (read floor)', request: { method: 'GET', path: '/v1/public/articles' }, expect: 200 },
    { key: 'write-floor', label: 'peer: bare Fastify + the same SQLite file, one note INSERT per request, WAL synchronous=FULL (write floor)', request: { method: 'POST', path: '/v1/notes', headers: { 'content-type': 'application/json' }, body: noteBody(0) }, expect: 201 }
  ].filter((f) => wantRow(f.key))
  if (floors.length === 0) return
  const T = tls ? 'HTTPS' : 'HTTP'
  if (!existsSync(join(dataDir, 'store.sqlite'))) {
    for (const f of floors) rows.push({ group: 'peer', key: f.key, scenario: f.label, transport: T, skipped: true, note: 'no product store in this run' })
    return
  }
  const server = await startPeer('store-floor', { tls })
  try {
    for (const f of floors) {
      await scenario(rows, { group: 'peer', key: f.key, scenario: f.label, transport: T }, async () => {
        const once = await call(server.base, f.request.method, f.request.path, { ca: tls ? ca() : undefined, headers: f.request.headers, body: f.request.body })
        if (once.status !== f.expect) throw new Error(`${f.request.method} ${f.request.path} answered ${once.status} ${once.body.slice(0, 200)}`)
        if (f.key === 'read-floor' && once.json?.items?.length === 0) log('  (the product seeded no articles: the floor reads an empty list)')
        return await measure({ server, url: server.base, request: f.request })
      })
    }
  } finally {
    await server.stop()
  }
}

/** What one layer of the product costs: the bare route plus @fastify/helmet, and plus the same headers precomputed. */
async function attributionScenarios (rows) {
  const variants = [
    { variant: 'helmet', key: 'bare+helmet', label: 'attribution: bare Fastify + @fastify/helmet (as the product registers it)' },
    { variant: 'static-headers', key: 'bare+static', label: 'attribution: bare Fastify + the same headers precomputed once' }
  ]
  for (const v of variants) {
    await scenario(rows, { group: 'attribution', key: v.key, scenario: v.label, transport: 'HTTPS' }, async () => {
      const server = await startPeer('bare-fastify', { tls: true, variant: v.variant })
      try {
        const once = await call(server.base, 'GET', '/auth/whoami', { ca: ca() })
        if (once.status !== 200 || once.headers['x-content-type-options'] !== 'nosniff') throw new Error(`whoami answered ${once.status} without helmet's headers`)
        return await measure({ server, url: server.base, request: { method: 'GET', path: '/auth/whoami' } })
      } finally {
        await server.stop()
      }
    })
  }
}

/** The product with one suggested change swapped in by bench/whatif (src/ untouched): what it would save. */
async function whatifScenarios (rows, setup) {
  // BENCH_WHATIFS=a,b;c picks other variants (see bench/whatif/register.mjs).
  // The default prices each required step of a signed request alone, then all four at once
  // (what is left is the request pipeline itself: hooks, header parsing, the key memo, the handler).
  // A variant measures signed whoami unless it names another signed route after '@': `no-group-commit@notes`
  // is the note write as the store wrote before group commit (issue 20's before/after, in the same run).
  const variants = (env.BENCH_WHATIFS ?? 'skip-hmac;skip-security-headers;skip-replay;skip-rate-limit;skip-hmac,skip-security-headers,skip-replay,skip-rate-limit;no-group-commit@notes').split(';').map((spec) => {
    const [w, routeName = 'whoami'] = spec.split('@')
    if (SIGNED_ROUTES[routeName] === undefined) throw new Error(`BENCH_WHATIFS: no signed route ${routeName} (known: ${Object.keys(SIGNED_ROUTES).join(', ')})`)
    return { whatif: w, routeName, label: `what-if: product with ${w.split(',').join(' + ')} (bench/whatif; ${w.startsWith('skip-') ? 'attribution, not a fix' : 'the code before a change'})` }
  })
  for (const v of variants) {
    const route = SIGNED_ROUTES[v.routeName]
    const key = v.routeName === 'whoami' ? `whatif:${v.whatif}` : `whatif:${v.whatif}@${v.routeName}`
    await scenario(rows, { group: 'whatif', key, scenario: `${v.label}: signed ${route.method} ${route.target}`, transport: 'HTTPS' }, async () => {
      const server = await startProduct({ tls: true, whatif: v.whatif })
      try {
        const once = await signedCall(server.base, setup.creds[0], route.method, route.target, { ca: ca(), ...(route.body === undefined ? {} : { body: route.body(0), headers: { 'content-type': 'application/json' } }) })
        if (once.status < 200 || once.status > 299) throw new Error(`${route.method} ${route.target} answered ${once.status} ${once.body.slice(0, 200)}`)
        const traffic = new SignedTraffic({ host: server.host, routes: [route], creds: setup.creds })
        return await measure({ server, url: server.base, traffic })
      } finally {
        await server.stop()
      }
    })
  }
}

/**
 * What GET /metrics costs the verify path: the product with METRICS_PORT set (issue 17), signed whoami,
 * against the `whoami` row of the same run. Nothing scrapes during the measured window (a Prometheus
 * scrape every 15 s is one request among hundreds of thousands): this is the per-request cost of the
 * counters and hooks.
 */
async function metricsScenario (rows, setup) {
  await scenario(rows, { group: 'metrics', key: 'metrics', scenario: 'signed GET /auth/whoami, metrics on (METRICS_PORT set)', transport: 'HTTPS' }, async () => {
    const metricsPort = await freePort()
    const server = await startProduct({ tls: true, variant: 'metrics', extraEnv: { METRICS_PORT: String(metricsPort) } })
    try {
      const once = await signedCall(server.base, setup.creds[0], 'GET', '/auth/whoami', { ca: ca() })
      if (once.status !== 200) throw new Error(`whoami answered ${once.status} ${once.body.slice(0, 200)}`)
      const traffic = new SignedTraffic({ host: server.host, routes: [SIGNED_ROUTES.whoami], creds: setup.creds })
      const m = await measure({ server, url: server.base, traffic })
      // The counters saw the load: metrics were really on.
      const scrape = await call(`http://127.0.0.1:${metricsPort}`, 'GET', '/metrics')
      const line = scrape.body.split('\n').find((l) => l.startsWith('signed_api_http_requests_total{method="GET",route="/auth/whoami",status="200"}'))
      const counted = line === undefined ? NaN : Number(line.slice(line.lastIndexOf(' ') + 1))
      if (scrape.status !== 200 || !(counted >= m.responses)) throw new Error(`metrics did not count the load (${scrape.status}, whoami 200 counted ${counted}, ${m.responses} answers measured)`)
      return { ...m, note: `${counted.toLocaleString('en-US')} whoami answers counted by /metrics` }
    } finally {
      await server.stop()
    }
  })
}

// ---- profile mode --------------------------------------------------------------------

async function profileMode () {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-')
  const outDir = join(HERE, 'results', `profile-${stamp}`)
  mkdirSync(outDir, { recursive: true })
  // A first server makes the keyring, the certificate and the users; the profiled ones reuse them.
  const first = await startProduct({ tls: true })
  const setup = await prepareProduct(first)
  await first.stop()
  const reports = []
  // BENCH_PROFILE_ROUTE: whoami (signed, default) or health (unsigned); BENCH_WHATIF: profile a what-if variant.
  const route = env.BENCH_PROFILE_ROUTE ?? 'whoami'
  const whatif = env.BENCH_WHATIF || undefined
  for (const tls of transports.has('http') ? [true, false] : [true]) {
    const dir = join(outDir, tls ? 'https' : 'http')
    const server = await startProduct({ tls, whatif, nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`, '--cpu-prof-interval=250'] })
    const what = route === 'health' ? 'unsigned GET /health' : 'signed GET /auth/whoami'
    log(`profiling ${what}${whatif ? ` (what-if ${whatif})` : ''} over ${server.transport} for ${cfg.repeats} x ${cfg.duration} s ...`)
    const m = route === 'health'
      ? await measure({ server, url: server.base, request: { method: 'GET', path: '/health' } })
      : await measure({ server, url: server.base, traffic: new SignedTraffic({ host: server.host, routes: [SIGNED_ROUTES.whoami], creds: setup.creds }) })
    await server.stop()
    // The main thread's profile (a what-if also runs a module-hooks thread, profiled as well).
    const files = (await import('node:fs')).readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).sort()
    const file = files.find((f) => /\.0\.\d+\.cpuprofile$/.test(f)) ?? files[0]
    const summary = summarizeProfile(JSON.parse(readFileSync(join(dir, file), 'utf8')))
    reports.push(`## ${what}${whatif ? ` (what-if ${whatif})` : ''} over ${server.transport}: ${m.rps.toFixed(0)} req/s, ${m.usPerReq.toFixed(1)} µs CPU/req (profiler on)\n\nProfile: ${join(dir, file)}\n\n${summary}`)
  }
  const text = `# CPU profile of the verify path (${new Date().toISOString()})\n\n${reports.join('\n\n')}\n`
  writeFileSync(join(outDir, 'summary.md'), text)
  process.stdout.write(text)
}

// ---- main ------------------------------------------------------------------------------

async function main () {
  if (!existsSync(SERVER)) throw new Error(`${SERVER} is missing: build first (npx tsc -p tsconfig.json, or make build)`)
  if (!pin.ok) log(`warning: cannot pin server and load to different cores (cores: ${pin.cores}); figures will be noisier`)
  log(`${QUICK ? 'quick' : 'full'} run: warm-up ${cfg.warmup} s, ${cfg.repeats} x ${cfg.duration} s, ${cfg.connections} connections; server on core ${pin.server ?? '-'}, load on core ${pin.load ?? '-'}; temp ${tmp}`)
  if (PROFILE) return profileMode()

  const started = Date.now()
  const rows = []
  const meta = {
    date: new Date().toISOString(),
    mode: QUICK ? 'quick' : 'full',
    node: process.version,
    cpu: cpus()[0]?.model,
    cores: pin.cores,
    pinned: pin.ok,
    loadavgBefore: loadavg(),
    cfg
  }
  let soakResult = null
  let replay = null

  const whatif = (only === null && !QUICK) || only?.has('whatif')
  const metricsRow = want('metrics') && wantRow('metrics') && transports.has('https')
  if (want('product-https') || want('soak') || want('product-http') || whatif || metricsRow) {
    const server = await startProduct({ tls: true })
    try {
      const setup = await prepareProduct(server)
      meta.routes = setup.routes
      if (want('product-https') && transports.has('https')) await productScenarios(rows, server, setup)
      if (want('soak')) {
        const replayRun = want('replay') ? replayMemory() : Promise.resolve(null)
        soakResult = await soak(server, setup)
        replay = await replayRun
      }
      await server.stop()
      if (metricsRow) await metricsScenario(rows, setup)
      if (whatif) await whatifScenarios(rows, setup)
      if (want('product-http') && transports.has('http')) {
        const plain = await startProduct({ tls: false })
        try {
          await productScenarios(rows, plain, setup)
        } finally {
          await plain.stop()
        }
      }
    } finally {
      await server.stop()
    }
  } else if (want('peers')) {
    // Peers need the product's certificate, and the data-path floors its store with the articles seeded.
    const server = await startProduct({ tls: true })
    try {
      if (wantRow('read-floor') || wantRow('write-floor')) await prepareProduct(server)
    } finally {
      await server.stop()
    }
  }
  if (replay === null && want('replay')) replay = await replayMemory()
  const queries = want('queries') ? await notesQueries() : null

  if (want('peers')) {
    const redis = await startRedis()
    if (redis === null) log('redis-server not found: the Express + Redis peer is skipped (bench/run.sh installs it)')
    try {
      await peerScenarios(rows, redis)
    } finally {
      await redis?.stop()
    }
  }
  if ((only === null && !QUICK) || only?.has('attribution')) await attributionScenarios(rows)

  meta.loadavgAfter = loadavg()
  meta.seconds = (Date.now() - started) / 1000
  const result = { meta, rows, soak: soakResult, replay, queries }
  const md = renderMarkdown(result)
  const stamp = meta.date.replace(/[:.]/g, '-')
  const outDir = join(HERE, 'results')
  mkdirSync(outDir, { recursive: true })
  writeFileSync(join(outDir, `bench-${meta.mode}-${stamp}.json`), JSON.stringify(result, null, 2))
  writeFileSync(join(outDir, `bench-${meta.mode}-${stamp}.md`), md)
  writeFileSync(join(outDir, `latest-${meta.mode}.md`), md)
  process.stdout.write(md)
  log(`done in ${meta.seconds.toFixed(0)} s; results in bench/results/bench-${meta.mode}-${stamp}.{md,json}`)
}

let stopping = false
async function shutdown (code) {
  if (stopping) return
  stopping = true
  await stopAll()
  rmSync(tmp, { recursive: true, force: true })
  process.exit(code)
}
process.on('SIGINT', () => { log('interrupted'); shutdown(130) })
process.on('SIGTERM', () => { log('terminated'); shutdown(143) })

main().then(() => shutdown(0), (err) => {
  log(`failed: ${err.stack ?? err}`)
  shutdown(1)
})
