/** config.ts: defaults, every bad variable named at once, and a clean exit for the process. */
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ConfigError, loadConfig, PROJECT_VARIABLES, VARIABLE_NAMES } from '../src/config.js'
import { readDoc } from './helper.js'

t.test('defaults match docs/api.md', async t => {
  const c = loadConfig({})
  t.match(c, {
    host: '127.0.0.1', port: 8443, tls: true, keyTtlSeconds: 21600, clockSkewMs: 10000, signup: 'open',
    bodyLimitBytes: 1048576, rateLimitPerMinute: 1200, loginMaxFailures: 10, loginWindowSeconds: 900,
    audience: 'dev', sessionMaxSeconds: 604800, clientKeyOverlapSeconds: 86400, publicPathPrefix: '',
    signatureDebug: true, logLevel: 'info', trustProxy: [], corsOrigins: [], admin: undefined, mongodbUri: undefined, redisUrl: undefined,
    redisSentinel: undefined, redisClusterNodes: undefined, headersTimeoutMs: 10000, bodyTimeoutMs: 30000, maxConnections: 10000
  })
  t.match(c.dataDir, /\/var$/)
  t.ok(Object.isFrozen(c))
})

t.test('the shutdown grace period outlasts a request body still arriving, unless set', async t => {
  t.equal(loadConfig({}).shutdownGraceMs, 35_000, 'BODY_TIMEOUT_MS (30 s) + 5 s by default')
  t.equal(loadConfig({ BODY_TIMEOUT_MS: '120000' }).shutdownGraceMs, 125_000, 'follows BODY_TIMEOUT_MS')
  t.equal(loadConfig({ BODY_TIMEOUT_MS: '1000', HEADERS_TIMEOUT_MS: '1000' }).shutdownGraceMs, 10_000, 'never under 10 s')
  t.equal(loadConfig({ SHUTDOWN_GRACE_MS: '4000' }).shutdownGraceMs, 4000, 'a value set is kept (the operator chose to cut slow uploads off)')
})

t.test('config.ts and the README name exactly the variables of docs/api.md and the project\'s own', async t => {
  const root = fileURLToPath(new URL('..', import.meta.url))
  const api = readDoc('api.md')
  const table = api.slice(api.indexOf('| variable |'))
  const documented = new Set<string>()
  for (const row of table.split('\n').filter(l => l.startsWith('| `'))) {
    for (const m of (row.split('|')[1] ?? '').matchAll(/`([A-Z_]+)`/g)) documented.add(m[1] as string)
  }
  t.same([...documented, ...PROJECT_VARIABLES].sort(), [...VARIABLE_NAMES].sort())
  for (const name of PROJECT_VARIABLES) t.notOk(documented.has(name), `${name} is the project's own, not docs/api.md's`)
  const readme = readFileSync(join(root, 'README.md'), 'utf8')
  for (const name of VARIABLE_NAMES) t.match(readme, `\`${name}\``, `README lists ${name}`)
})

t.test('Redis is reached one way; Sentinel needs its master name; the head timeout fits in the request timeout', async t => {
  const c = loadConfig({ REDIS_SENTINELS: '127.0.0.1:26379, [::1]:26380,sentinel-3.internal:26381', REDIS_SENTINEL_MASTER: 'signed-api' })
  t.same(c.redisSentinel, { sentinels: [{ host: '127.0.0.1', port: 26379 }, { host: '::1', port: 26380 }, { host: 'sentinel-3.internal', port: 26381 }], master: 'signed-api' })
  t.same(loadConfig({ REDIS_CLUSTER_NODES: '10.0.0.1:7000,10.0.0.2:7001' }).redisClusterNodes, [{ host: '10.0.0.1', port: 7000 }, { host: '10.0.0.2', port: 7001 }])
  const problemsOf = (env: Record<string, string>): string[] => {
    try { loadConfig(env) } catch (err) { return (err as ConfigError).problems }
    return []
  }
  t.match(problemsOf({ REDIS_URL: 'redis://127.0.0.1:6379', REDIS_CLUSTER_NODES: '127.0.0.1:7000' }), [/REDIS_URL and REDIS_CLUSTER_NODES are exclusive/])
  t.match(problemsOf({ REDIS_SENTINELS: '127.0.0.1:26379' }), [/REDIS_SENTINELS and REDIS_SENTINEL_MASTER must be set together/])
  t.match(problemsOf({ REDIS_CLUSTER_NODES: '127.0.0.1:70000' }), [/ports must be 1..65535/])
  t.match(problemsOf({ REDIS_CLUSTER_NODES: 'no-port' }), [/^REDIS_CLUSTER_NODES must be/])
  t.match(problemsOf({ HEADERS_TIMEOUT_MS: '20000', BODY_TIMEOUT_MS: '15000' }), [/HEADERS_TIMEOUT_MS must not be more than BODY_TIMEOUT_MS/])
  t.match(problemsOf({ BODY_TIMEOUT_MS: '0', MAX_CONNECTIONS: '0' }), [/^BODY_TIMEOUT_MS must be/, /^MAX_CONNECTIONS must be/])
})

t.test('values are parsed', async t => {
  const c = loadConfig({ PORT: '0', TLS: 'off', TRUST_PROXY: '127.0.0.1, 10.0.0.0/8,::1', CORS_ORIGINS: 'https://app.example.com', SIGNUP: 'client', PUBLIC_PATH_PREFIX: '/api/v1', ADMIN_USERNAME: 'root', ADMIN_PASSWORD: 'long enough password' })
  t.equal(c.port, 0)
  t.equal(c.tls, false)
  t.same(c.trustProxy, ['127.0.0.1', '10.0.0.0/8', '::1'])
  t.same(c.corsOrigins, ['https://app.example.com'])
  t.same(c.admin, { username: 'root', password: 'long enough password' })
})

t.test('every bad value is named in one error, secrets are not echoed', async t => {
  const bad = {
    PORT: '99999', TLS: 'yes', KEY_TTL_SECONDS: 'six hours', CLOCK_SKEW_MS: '-1', SIGNUP: 'maybe', TRUST_PROXY: 'proxy.local',
    BODY_LIMIT_BYTES: '1e6', AUDIENCE: 'has space', CORS_ORIGINS: 'https://x.com/path', PUBLIC_PATH_PREFIX: 'api/',
    SIGNATURE_DEBUG: 'true', LOG_LEVEL: 'loud', ADMIN_USERNAME: 'Root', ADMIN_PASSWORD: 'short', TLS_CERT_FILE: '/x.pem',
    MONGODB_URI: 'postgres://secret@host'
  }
  let error: unknown
  try { loadConfig(bad) } catch (err) { error = err }
  t.ok(error instanceof ConfigError)
  const problems = (error as ConfigError).problems
  for (const name of ['PORT', 'TLS', 'KEY_TTL_SECONDS', 'CLOCK_SKEW_MS', 'SIGNUP', 'TRUST_PROXY', 'BODY_LIMIT_BYTES', 'AUDIENCE', 'CORS_ORIGINS', 'PUBLIC_PATH_PREFIX', 'SIGNATURE_DEBUG', 'LOG_LEVEL', 'ADMIN_USERNAME', 'ADMIN_PASSWORD', 'TLS_CERT_FILE and TLS_KEY_FILE', 'MONGODB_URI']) {
    t.ok(problems.some(p => p.startsWith(name)), `${name} is named`)
  }
  t.notMatch((error as Error).message, 'short', 'the admin password is not echoed')
  t.notMatch((error as Error).message, 'secret@host', 'the MongoDB URI is not echoed')
})

t.test('the server exits non-zero with one clear message and no stack trace', async t => {
  const root = fileURLToPath(new URL('..', import.meta.url))
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: root, encoding: 'utf8', timeout: 30_000,
    env: { PATH: process.env.PATH ?? '', PORT: 'abc', SIGNUP: 'nope', DATA_DIR: '/nonexistent/should-not-be-created' }
  })
  t.equal(run.status, 2)
  t.match(run.stderr, /^Invalid configuration:\n/)
  t.match(run.stderr, /PORT must be an integer 0\.\.65535 \(got "abc"\)/)
  t.match(run.stderr, /SIGNUP must be open, client or closed/)
  t.notMatch(run.stderr, /\n\s+at /, 'no stack trace')
  t.equal(run.stdout, '')
})

t.test('a keyring readable by others is refused at start', async t => {
  const root = fileURLToPath(new URL('..', import.meta.url))
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs')
  const { join } = await import('node:path')
  const { tmpdir } = await import('node:os')
  const dir = mkdtempSync(join(tmpdir(), 'keyring-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'keyring')
  writeFileSync(file, '{"format":"signed-api.keyring.v1","keys":[{"version":1,"secret":"' + 'A'.repeat(43) + '","createdAt":"x"}]}', { mode: 0o644 })
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: root, encoding: 'utf8', timeout: 30_000,
    env: { PATH: process.env.PATH ?? '', MASTER_KEY_FILE: file, DATA_DIR: dir, PORT: '0' }
  })
  t.equal(run.status, 2)
  t.match(run.stderr, /readable by group or others/)
  t.notMatch(run.stderr, /AAAA/, 'the secret is not printed')
})
