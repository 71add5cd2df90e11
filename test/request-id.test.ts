/**
 * X-Request-Id (README "Request ids"): taken from a trusted proxy when well
 * formed, otherwise a fresh id; echoed on every answer; on every log line of
 * the request.
 */
import t from 'tap'
import { buildTestApp } from './helper.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

interface Line { reqId?: string, msg?: string }
const parse = (logs: string[]): Line[] => logs.map(l => JSON.parse(l) as Line)

t.test('from a trusted proxy, a well-formed id is used, echoed and on every line of the request', async t => {
  const { app, logs } = await buildTestApp(t, { env: { LOG_LEVEL: 'info', TRUST_PROXY: '10.0.0.0/8' } })
  const id = 'b5e3c0a4f1d24a0c9e7f6a5b4c3d2e1f'
  const res = await app.inject({ method: 'GET', url: '/health', remoteAddress: '10.1.2.3', headers: { 'x-request-id': id } })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['x-request-id'], id, 'echoed')
  const lines = parse(logs).filter(l => l.reqId !== undefined)
  t.same(lines.map(l => l.msg), ['incoming request', 'request completed'], 'the request wrote its lines')
  t.ok(lines.every(l => l.reqId === id), 'each line carries the proxy\'s id')

  for (const other of ['a', 'x'.repeat(128), 'trace-1:span.2_x', 'A-Z.0:9_z']) {
    const r = await app.inject({ method: 'GET', url: '/health', remoteAddress: '10.9.9.9', headers: { 'x-request-id': other } })
    t.equal(r.headers['x-request-id'], other, `accepted: ${other.slice(0, 20)}`)
  }
})

t.test('a malformed id from a trusted proxy is replaced by a fresh one', async t => {
  const { app, logs } = await buildTestApp(t, { env: { LOG_LEVEL: 'info', TRUST_PROXY: '127.0.0.1' } })
  for (const bad of ['', 'x'.repeat(129), 'has space', 'semi;colon', 'new\tline', 'é', 'a,b', '"quoted"', '../../etc']) {
    const res = await app.inject({ method: 'GET', url: '/health', headers: { 'x-request-id': bad } })
    const echoed = res.headers['x-request-id'] as string
    t.match(echoed, UUID, `${JSON.stringify(bad)}: a fresh id`)
    t.ok(parse(logs).some(l => l.reqId === echoed), 'which the log lines carry')
    t.notOk(logs.join('').includes(`"reqId":${JSON.stringify(bad)}`), 'the given one on no line')
  }
  // The header given twice reaches the server joined with ", ": not an id.
  const twice = await app.inject({ method: 'GET', url: '/health', headers: { 'x-request-id': ['one', 'two'] } })
  t.match(twice.headers['x-request-id'], UUID)
})

t.test('from a peer that is not a trusted proxy the header is ignored', async t => {
  const untrusted = await buildTestApp(t, { env: { LOG_LEVEL: 'info', TRUST_PROXY: '10.0.0.0/8' } })
  const res = await untrusted.app.inject({ method: 'GET', url: '/health', remoteAddress: '192.0.2.7', headers: { 'x-request-id': 'chosen-by-client' } })
  t.equal(res.statusCode, 200)
  t.match(res.headers['x-request-id'], UUID, 'a fresh id, still echoed')
  t.notOk(untrusted.logs.join('').includes('chosen-by-client'), 'the client\'s id is on no line')
  t.ok(parse(untrusted.logs).some(l => l.reqId === res.headers['x-request-id']))

  const noProxy = await buildTestApp(t, { env: { LOG_LEVEL: 'info', TRUST_PROXY: '' } })
  t.same(noProxy.config.trustProxy, [])
  const direct = await noProxy.app.inject({ method: 'GET', url: '/health', headers: { 'x-request-id': 'chosen-by-client' } })
  t.match(direct.headers['x-request-id'], UUID, 'without TRUST_PROXY no peer is trusted, loopback neither')
})

t.test('every answer echoes the id: 404, 405, a refused signed request, a bad body, a preflight', async t => {
  const { app } = await buildTestApp(t, { env: { TRUST_PROXY: '127.0.0.1', CORS_ORIGINS: 'https://app.example.com' } })
  const cases = [
    { method: 'GET' as const, url: '/no/such/route', status: 404 },
    { method: 'DELETE' as const, url: '/health', status: 405 },
    { method: 'GET' as const, url: '/auth/whoami', status: 401 },
    { method: 'POST' as const, url: '/auth/login', status: 400, payload: '{not json', headers: { 'content-type': 'application/json', 'x-forwarded-proto': 'https' } },
    { method: 'OPTIONS' as const, url: '/auth/whoami', status: 204, headers: { origin: 'https://app.example.com', 'access-control-request-method': 'GET' } }
  ]
  let n = 0
  for (const c of cases) {
    const id = `case-${++n}`
    const res = await app.inject({ method: c.method, url: c.url, headers: { ...c.headers, 'x-request-id': id }, ...(c.payload === undefined ? {} : { payload: c.payload }) })
    t.equal(res.statusCode, c.status, `${c.method} ${c.url}: ${res.body}`)
    t.equal(res.headers['x-request-id'], id, `${c.method} ${c.url} echoes the id`)
  }
})
