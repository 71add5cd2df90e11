/**
 * GET /metrics (issue 17, point 1): on its own listener only, counters that
 * move by what was done, route patterns rather than raw URLs, and an
 * exposition that Prometheus's own checker (`promtool check metrics`,
 * Debian's prometheus package) accepts.
 */
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { buildTestApp, sign, tempDir } from './helper.js'
import { call, startServer, type ServerProcess } from './server-process.js'
import { ConfigError, loadConfig } from '../src/config.js'
import { connectRedis } from '../src/redis.js'
import { startRedis } from './redis-server.js'

const PASSWORD = 'correct horse battery staple'

/** The samples of an exposition, keyed as written: `name{label="value",...}`. */
function samples (text: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const at = line.lastIndexOf(' ')
    out.set(line.slice(0, at), Number(line.slice(at + 1)))
  }
  return out
}

async function scrape (metricsUrl: string): Promise<{ text: string, values: Map<string, number>, contentType: string | undefined }> {
  const url = new URL(metricsUrl)
  const res = await call({ url: url.origin, ca: () => undefined }, 'GET', url.pathname)
  if (res.status !== 200) throw new Error(`scrape answered ${res.status}: ${res.body}`)
  return { text: res.body, values: samples(res.body), contentType: res.headers['content-type'] }
}

const moved = (before: Map<string, number>, after: Map<string, number>, key: string): number => (after.get(key) ?? 0) - (before.get(key) ?? 0)

t.test('the real server: /metrics on METRICS_PORT only, counters move by what was done, promtool accepts it', async t => {
  const s: ServerProcess = await startServer(t, { DATA_DIR: tempDir(t), METRICS_PORT: '0' })
  const listening = JSON.parse(s.lines.find(l => l.includes('"msg":"listening"')) as string) as { metrics?: string }
  t.match(listening.metrics, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/, 'the listening line gives the metrics URL, on loopback by default')
  const metricsUrl = listening.metrics as string
  t.not(new URL(metricsUrl).port, String(s.port), 'a port of its own')

  const publicAnswer = await call(s, 'GET', '/metrics')
  t.equal(publicAnswer.status, 404, 'the public port does not serve /metrics')
  t.equal(publicAnswer.json().code, 'NOT_FOUND')
  const elsewhere = await call({ url: new URL(metricsUrl).origin, ca: () => undefined }, 'GET', '/v1/notes')
  t.equal(elsewhere.status, 404, 'the metrics listener serves nothing else')
  t.equal(elsewhere.json().code, 'NOT_FOUND')
  // Junk sent to the listener is the sender's mistake: a 4xx of the catalogue, and no error line in the log.
  const metricsOrigin = { url: new URL(metricsUrl).origin, ca: () => undefined }
  const junk = [
    { headers: { 'content-type': 'application/json' }, body: 'x'.repeat(4096), status: 413, code: 'BODY_TOO_LARGE' },
    { headers: { 'content-type': 'application/x-junk' }, body: 'hello', status: 404, code: 'NOT_FOUND' },
    { headers: { 'content-type': 'application/json' }, body: '{"a":', status: 400, code: 'INVALID_JSON' }
  ]
  for (const j of junk) {
    const answer = await call(metricsOrigin, 'POST', '/metrics', { headers: j.headers, body: j.body })
    t.equal(answer.status, j.status, `junk to the metrics listener: ${j.code}`)
    t.equal(answer.json().code, j.code)
  }
  t.notOk(s.lines.some(l => l.includes('metrics scrape failed')), 'a client\'s junk is not logged as a failed scrape')

  const before = await scrape(metricsUrl)
  t.match(before.contentType, /^text\/plain; version=0\.0\.4/)
  t.equal((await call(s, 'POST', '/auth/signup', { body: JSON.stringify({ username: 'alice', password: PASSWORD }) })).status, 201)
  const login = await call(s, 'POST', '/auth/login', { body: JSON.stringify({ username: 'alice', password: PASSWORD }) })
  t.equal(login.status, 200)
  const cred = login.json()
  const good = await call(s, 'GET', '/auth/whoami', { headers: sign(cred, 'GET', '/auth/whoami') })
  t.equal(good.status, 200)
  const bad = await call(s, 'GET', '/auth/whoami', { headers: sign({ ...cred, signingKey: 'not the key' }, 'GET', '/auth/whoami') })
  t.equal(bad.json().code, 'AUTH_BAD_SIGNATURE')
  const missing = await call(s, 'GET', '/v1/notes/abc123', { headers: sign(cred, 'GET', '/v1/notes/abc123') })
  t.equal(missing.json().code, 'NOT_FOUND', 'a signed request that passed verification and found nothing')
  t.equal((await call(s, 'GET', '/v1/notes/def456')).json().code, 'AUTH_MISSING')
  const after = await scrape(metricsUrl)
  const v = after.values

  const requests = (method: string, route: string, status: number): string => `signed_api_http_requests_total{method="${method}",route="${route}",status="${status}"}`
  t.equal(moved(before.values, v, requests('POST', '/auth/signup', 201)), 1, 'the signup')
  t.equal(moved(before.values, v, requests('POST', '/auth/login', 200)), 1, 'the login')
  t.equal(moved(before.values, v, requests('GET', '/auth/whoami', 200)), 1, 'the good signed request')
  t.equal(moved(before.values, v, requests('GET', '/auth/whoami', 401)), 1, 'the bad signature')
  t.equal(moved(before.values, v, requests('GET', '/v1/notes/:id', 404)), 1, 'the route pattern, not the URL')
  t.equal(moved(before.values, v, requests('GET', '/v1/notes/:id', 401)), 1)
  t.notOk([...v.keys()].some(k => k.includes('abc123') || k.includes('def456')), 'no raw URL in a label')

  t.equal(moved(before.values, v, 'signed_api_signed_refused_total{code="AUTH_BAD_SIGNATURE"}'), 1, 'one refusal for the bad signature')
  t.equal(moved(before.values, v, 'signed_api_signed_refused_total{code="AUTH_MISSING"}'), 1, 'one for the unsigned request')
  t.equal([...v.keys()].filter(k => k.startsWith('signed_api_signed_refused_total{')).length, 2, 'the 404 after verification is not a refusal')
  t.equal(moved(before.values, v, 'signed_api_password_hash_seconds_count{operation="hash"}'), 1, 'the signup hashed once')
  t.equal(moved(before.values, v, 'signed_api_password_hash_seconds_count{operation="verify"}'), 1, 'the login verified once')
  t.ok((v.get('signed_api_password_hash_seconds_sum{operation="verify"}') ?? 0) > 0, 'and took time')
  t.equal(moved(before.values, v, 'signed_api_replay_cache_entries'), 2, 'two accepted signatures are remembered (not the bad one)')
  const age = v.get('signed_api_revocations_sync_age_seconds') as number
  t.ok(age >= 0 && age < 30, `the revocation list synced ${age} s ago`)
  t.equal(v.get('signed_api_revocations_entries'), 0)
  t.notOk(v.has('signed_api_redis_up'), 'no Redis, no Redis gauge')
  for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_eventloop_lag_p99_seconds', 'nodejs_heap_size_used_bytes']) {
    t.ok(v.has(name), `default metric ${name}`)
  }

  // promtool parses the exposition (a parse error is fatal), then lints names. Its only remarks may be
  // about three gauges prom-client's default metrics name `*_total` (nodejs_active_handles_total and
  // the like): theirs, not ours, and kept since dashboards know them by those names.
  const promtool = spawnSync('promtool', ['check', 'metrics'], { input: after.text, encoding: 'utf8' })
  t.equal(promtool.error, undefined, 'promtool runs (make system-deps installs Debian\'s prometheus package)')
  const remarks = `${promtool.stdout}${promtool.stderr}`.split('\n').filter(l => l.trim() !== '')
  t.notMatch(remarks.join('\n'), /parsing error|signed_api_/, 'it parses, and our own metrics draw no remark')
  t.same(remarks.filter(l => !/^nodejs_active_(handles|requests|resources)_total non-counter metrics should not have "_total" suffix$/.test(l)), [], `no other remark (exit ${promtool.status})`)
  const ours = spawnSync('promtool', ['check', 'metrics'], { input: after.text.split('\n').filter(l => !l.includes('nodejs_active_')).join('\n'), encoding: 'utf8' })
  t.equal(ours.status, 0, `without those three, promtool finds nothing: ${ours.stdout}${ours.stderr}`)
  const broken = spawnSync('promtool', ['check', 'metrics'], { input: `${after.text}signed_api_http_requests_total{route="x" 1\n`, encoding: 'utf8' })
  t.not(broken.status, 0, 'and promtool does refuse a broken exposition')
  t.match(broken.stderr, /parsing error/)
})

t.test('without METRICS_PORT nothing is measured and there is no listener', async t => {
  const { app } = await buildTestApp(t)
  t.equal(app.metricsServer, null)
  t.equal((await app.inject({ method: 'GET', url: '/metrics' })).statusCode, 404)
})

t.test('two apps in one process keep their own figures', async t => {
  const a = await buildTestApp(t, { env: { METRICS_PORT: '0' } })
  const b = await buildTestApp(t, { env: { METRICS_PORT: '0' } })
  await a.app.inject({ method: 'GET', url: '/health' })
  const figures = async (app: typeof a.app): Promise<Map<string, number>> => samples((await app.metricsServer?.inject({ method: 'GET', url: '/metrics' }))?.body ?? '')
  const key = 'signed_api_http_requests_total{method="GET",route="/health",status="200"}'
  t.equal((await figures(a.app)).get(key), 1)
  t.notOk((await figures(b.app)).has(key))
})

t.test('with Redis: redis_up follows the connection, and the replay cache is not counted', async t => {
  const redis = await startRedis(t)
  const { app } = await buildTestApp(t, { env: { METRICS_PORT: '0', REDIS_URL: redis.url }, deps: { redis: connectRedis(redis.url, () => {}) } })
  const figures = async (): Promise<Map<string, number>> => samples((await app.metricsServer?.inject({ method: 'GET', url: '/metrics' }))?.body ?? '')
  t.equal((await figures()).get('signed_api_redis_up'), 1)
  t.notOk((await figures()).has('signed_api_replay_cache_entries'), 'not counted in Redis (a SCAN per scrape)')
  await redis.stop()
  const until = performance.now() + 10_000
  while ((await figures()).get('signed_api_redis_up') !== 0 && performance.now() < until) await new Promise(resolve => setTimeout(resolve, 50))
  t.equal((await figures()).get('signed_api_redis_up'), 0, 'down once Redis is gone')
})

t.test('METRICS_HOST alone is a configuration error', async t => {
  t.throws(() => loadConfig({ METRICS_HOST: '0.0.0.0' }), ConfigError)
  t.same(loadConfig({ METRICS_PORT: '9464' }).metrics, { host: '127.0.0.1', port: 9464 })
  t.same(loadConfig({ METRICS_PORT: '9464', METRICS_HOST: '10.0.0.5' }).metrics, { host: '10.0.0.5', port: 9464 })
  t.equal(loadConfig({}).metrics, undefined)
})

t.test('a metrics listener that could never listen is refused at start, not after the public port is up', async t => {
  const problems = (env: Record<string, string>): string => {
    try { loadConfig(env); return '' } catch (err) { return (err as Error).message }
  }
  t.match(problems({ PORT: '9464', METRICS_PORT: '9464' }), /METRICS_PORT must differ from PORT/, 'the public port')
  t.equal(loadConfig({ PORT: '0', METRICS_PORT: '0' }).metrics?.port, 0, 'two free ports is fine')
  t.match(problems({ METRICS_PORT: '9464', METRICS_HOST: '[::1]' }), /METRICS_HOST.*without brackets/, 'an address in brackets')
  t.same(loadConfig({ METRICS_PORT: '9464', METRICS_HOST: '::1' }).metrics, { host: '::1', port: 9464 })
  t.match(problems({ HOST: '[::1]' }), /HOST.*without brackets/, 'the public host too')
  t.match(problems({ MAX_EVENT_LOOP_UTILIZATION: '1' }), /MAX_EVENT_LOOP_UTILIZATION.*below 1/, 'a utilization bound that can never be passed')
  t.equal(loadConfig({ MAX_EVENT_LOOP_UTILIZATION: '0.98' }).maxEventLoopUtilization, 0.98)
})
