/** Health, readiness, and SIGTERM with a request in flight (api-v1.md). */
import t from 'tap'
import { connect } from 'node:net'
import { buildTestApp, tempDir } from './helper.js'
import { startServer } from './server-process.js'

t.test('GET /health and GET /ready', async t => {
  const { app, store } = await buildTestApp(t)
  const health = await app.inject({ method: 'GET', url: '/health' })
  t.same(health.json(), { status: 'ok' })
  const ready = await app.inject({ method: 'GET', url: '/ready' })
  t.equal(ready.statusCode, 200)
  t.same(ready.json(), { status: 'ready', checks: { store: true, revocations: true, replayCache: true } })
  await store.close()
  const down = await app.inject({ method: 'GET', url: '/ready' })
  t.equal(down.statusCode, 503)
  t.equal(down.json().code, 'NOT_READY')
  t.equal(down.json().checks.store, false)
  t.equal((await app.inject({ method: 'GET', url: '/health' })).statusCode, 200, 'health only says the process is up')
})

t.test('SIGTERM: stops accepting, finishes the request in flight, exits 0', async t => {
  const server = await startServer(t, { DATA_DIR: tempDir(t), TLS: 'off', TRUST_PROXY: '127.0.0.1' })
  const body = JSON.stringify({ username: 'alice', password: 'long enough password' })
  const sock = connect(server.port, '127.0.0.1')
  let answer = ''
  sock.on('data', c => { answer += c.toString('utf8') })
  const ended = new Promise<void>(resolve => sock.on('close', () => resolve()))
  await new Promise<void>(resolve => sock.once('connect', () => resolve()))
  // Head and half the body: the request is in flight when the signal arrives.
  sock.write(`POST /auth/signup HTTP/1.1\r\nHost: x\r\nX-Forwarded-Proto: https\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body.slice(0, 10)}`)
  await server.waitFor(/"url":"\/auth\/signup".*"msg":"incoming request"/)
  server.proc.kill('SIGTERM')
  await server.waitFor(/"signal":"SIGTERM"/)
  const tryConnect = (): Promise<string> => new Promise<string>(resolve => {
    const s2 = connect(server.port, '127.0.0.1')
    s2.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'))
    s2.on('connect', () => { s2.destroy(); resolve('connected') })
  })
  let refused = await tryConnect()
  // close() is asynchronous (preClose hooks first): allow it up to 5 s, on a loaded machine too.
  for (const started = Date.now(); refused !== 'ECONNREFUSED' && Date.now() - started < 5_000;) {
    await new Promise(resolve => setTimeout(resolve, 20))
    refused = await tryConnect()
  }
  t.equal(refused, 'ECONNREFUSED', 'no new connections once closing, while a request is still in flight')
  t.equal(answer, '', 'the in-flight request has not been answered yet')
  sock.write(body.slice(10)) // not end(): a half-close would abort the request
  await ended
  t.match(answer, /^HTTP\/1\.1 201 /, 'the in-flight signup completed')
  t.match(answer, /\r\nconnection: close\r\n/i, 'its answer closes the keep-alive connection (it began before close())')
  t.match(answer, /"username":"alice"/)
  t.same(await server.exited, { code: 0, signal: null }, 'exit code 0')
  t.ok(server.lines.some(l => l.includes('"msg":"closing')))
})
