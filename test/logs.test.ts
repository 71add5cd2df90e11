/** No secret (password, key, signature, signature base) ever reaches a log line. */
import t from 'tap'
import { buildTestApp, sign, signedInject, signup, tempDir, viaHttps } from './helper.js'
import { call, startServer } from './server-process.js'

const PASSWORD = 'hunter2 but longer'
const NEW_PASSWORD = 'another secret phrase'

function secretsIn (logs: string, secrets: string[]): string[] {
  return secrets.filter(s => logs.includes(s))
}

t.test('inject: signup, login, signed requests and failures log no secret', async t => {
  const { app, clock, logs } = await buildTestApp(t, { env: { LOG_LEVEL: 'trace' } })
  await signup(app, 'alice', PASSWORD)
  const login = await app.inject({ method: 'POST', url: '/auth/login', headers: viaHttps(), payload: { username: 'alice', password: PASSWORD } })
  const cred = login.json()
  const signatures: string[] = []
  const track = (h: Record<string, string>): Record<string, string> => { signatures.push(h['auth-signature'] as string); return h }
  await app.inject({ method: 'GET', url: '/auth/whoami', headers: track(sign(cred, 'GET', '/auth/whoami', '', clock.now())) })
  const body = JSON.stringify({ password: PASSWORD, newPassword: NEW_PASSWORD })
  const bad = await app.inject({ method: 'POST', url: '/auth/password', headers: { ...track(sign({ ...cred, signingKey: 'wrong' }, 'POST', '/auth/password', body, clock.now() + 1)), 'content-type': 'application/json' }, payload: body })
  t.equal(bad.json().code, 'AUTH_BAD_SIGNATURE')
  const ok = await signedInject(app, clock, cred, { method: 'POST', url: '/auth/password', body })
  t.equal(ok.statusCode, 204)
  await app.inject({ method: 'POST', url: '/auth/login', headers: viaHttps(), payload: { username: 'alice', password: 'a wrong password' } })

  const text = logs.join('')
  t.ok(text.includes('"msg":"incoming request"'), 'request logging is on, so the test can fail')
  t.ok(text.includes('"reqId"'), 'lines carry request ids')
  t.same(secretsIn(text, [PASSWORD, NEW_PASSWORD, 'a wrong password', cred.signingKey, ...signatures]), [])
  t.notMatch(text, 'HMAC-SHA256-V1', 'no canonical string')
  t.notMatch(text, 'canonical', 'no canonical lines')
})

t.test('the real server at debug level logs no secret either', async t => {
  const s = await startServer(t, { DATA_DIR: tempDir(t), LOG_LEVEL: 'debug' })
  await call(s, 'POST', '/auth/signup', { body: JSON.stringify({ username: 'alice', password: PASSWORD }) })
  const cred = (await call(s, 'POST', '/auth/login', { body: JSON.stringify({ username: 'alice', password: PASSWORD }) })).json()
  const headers = sign(cred, 'GET', '/auth/whoami')
  t.equal((await call(s, 'GET', '/auth/whoami', { headers })).status, 200)
  // The answer can arrive before the server's log lines about it have come through its stdout pipe:
  // wait (10 s at most) for the whoami request's "request completed" line.
  const whoamiDone = (): boolean => {
    const at = s.lines.findIndex(l => l.includes('/auth/whoami'))
    return at >= 0 && s.lines.slice(at + 1).some(l => l.includes('"msg":"request completed"'))
  }
  for (const until = Date.now() + 10_000; !whoamiDone() && Date.now() < until;) await new Promise(resolve => setTimeout(resolve, 20))
  t.ok(whoamiDone(), 'the whoami request was logged, and its completion')
  const text = s.lines.join('\n')
  t.same(secretsIn(text, [PASSWORD, cred.signingKey, headers['auth-signature'] as string]), [])
})

t.test('at LOG_LEVEL=warn a request writes nothing, yet an error line still carries its request id', async t => {
  const { app, logs, store } = await buildTestApp(t, { env: { LOG_LEVEL: 'warn' } })
  t.equal((await app.inject({ method: 'GET', url: '/health' })).statusCode, 200)
  t.equal(logs.length, 0, 'no line for a request that went well')
  await store.close()
  const res = await signup(app, 'alice', PASSWORD)
  t.equal(res.statusCode, 500)
  t.same(Object.keys(res.json()).sort(), ['code', 'error', 'message', 'statusCode'])
  t.equal(res.json().code, 'INTERNAL_ERROR')
  t.notMatch(res.body, /store|sqlite|closed/i, 'no internal detail in the answer')
  const line = logs.map(l => JSON.parse(l) as { level: number, reqId?: string }).find(l => l.level === 50)
  t.ok(line, 'the failure is logged as an error')
  t.equal(line?.reqId, res.headers['x-request-id'], 'with the request id the client saw')
  t.notMatch(logs.join(''), PASSWORD)
})
