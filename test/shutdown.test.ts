/**
 * Bounded shutdown and crashes, on the real server process (README "Shutdown
 * and crashes"): past SHUTDOWN_GRACE_MS a closing instance logs the requests
 * it gives up on and exits 1; an uncaught exception or an unhandled rejection
 * is logged through pino, in-flight requests still finish, and the process
 * exits 1. (SIGTERM within the grace period: test/lifecycle.test.ts.)
 */
import t from 'tap'
import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { tempDir } from './helper.js'
import { call, startServer, type ServerProcess } from './server-process.js'

// Four server processes, each started and stopped: more than the default 120 s on a loaded machine.
t.setTimeout(300_000)

const CRASH_PRELOAD = join(fileURLToPath(new URL('.', import.meta.url)), 'fixtures', 'crash-on-stdin.ts')
const BODY = JSON.stringify({ username: 'alice', password: 'long enough password' })

interface LogLine { level: number, msg: string, reqId?: string, err?: { message?: string, type?: string, stack?: string }, graceMs?: number, inFlightTotal?: number, inFlight?: Array<{ reqId: string, method: string, url: string, elapsedMs: number }> }

/** A signup whose head and first 10 body bytes are sent: in flight until `finish()`. Resolves once the server logged it. */
async function requestInFlight (server: ServerProcess): Promise<{ reqId: string, finish: () => void, abort: () => void, answer: () => string, closed: Promise<void> }> {
  const sock: Socket = connect(server.port, '127.0.0.1')
  let answer = ''
  sock.on('data', c => { answer += c.toString('utf8') })
  sock.on('error', () => {})
  const closed = new Promise<void>(resolve => sock.on('close', () => resolve()))
  await new Promise<void>(resolve => sock.once('connect', () => resolve()))
  // Its own "incoming request" line, below (waitFor would also find an earlier request's).
  const isSignup = (l: LogLine): boolean => l.msg === 'incoming request' && (l as { req?: { url?: string } }).req?.url === '/auth/signup'
  const seen = new Set(parsed(server).filter(isSignup).map(l => l.reqId))
  sock.write(`POST /auth/signup HTTP/1.1\r\nHost: x\r\nX-Forwarded-Proto: https\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(BODY)}\r\n\r\n${BODY.slice(0, 10)}`)
  let line: LogLine | undefined
  for (const started = Date.now(); line === undefined; await new Promise(resolve => setTimeout(resolve, 20))) {
    line = parsed(server).find(l => isSignup(l) && !seen.has(l.reqId))
    if (line === undefined && Date.now() - started > 30_000) throw new Error(`the request was not logged:\n${server.lines.join('\n')}`)
  }
  return { reqId: line.reqId as string, finish: () => sock.write(BODY.slice(10)), abort: () => sock.destroy(), answer: () => answer, closed }
}

const parsed = (server: ServerProcess): LogLine[] => server.lines.filter(l => l.startsWith('{')).map(l => JSON.parse(l) as LogLine)

t.test('a request held past SHUTDOWN_GRACE_MS: a log line naming it, then exit 1 within the grace period', async t => {
  const graceMs = 2000
  const server = await startServer(t, { DATA_DIR: tempDir(t), TLS: 'off', TRUST_PROXY: '127.0.0.1', SHUTDOWN_GRACE_MS: String(graceMs) })
  // Neither a request answered nor one its client gave up on stays on the list.
  t.equal((await call(server, 'GET', '/health')).status, 200)
  const abandoned = await requestInFlight(server)
  abandoned.abort()
  await abandoned.closed
  const held = await requestInFlight(server)
  const signalledAt = Date.now()
  server.proc.kill('SIGTERM')
  const exit = await Promise.race([server.exited, new Promise(resolve => setTimeout(() => resolve('still running'), graceMs + 20_000))])
  const took = Date.now() - signalledAt
  t.same(exit, { code: 1, signal: null }, 'exit code 1')
  t.ok(took >= graceMs - 100, `it waited for the grace period (${took} ms)`)
  // The margin covers a loaded machine; the bound itself is the child's own timer.
  t.ok(took < graceMs + 10_000, `and not much longer (${took} ms)`)
  const lines = parsed(server)
  t.ok(lines.some(l => l.msg.startsWith('closing') && l.graceMs === graceMs), 'closing began with the grace period logged')
  const over = lines.find(l => l.msg.startsWith('shutdown grace period over'))
  t.ok(over, 'the time-out is logged')
  t.equal(over?.level, 50, 'as an error')
  t.equal(over?.graceMs, graceMs)
  t.equal(over?.inFlightTotal, 1)
  t.equal(over?.inFlight?.length, 1, 'naming the one request still open')
  t.match(over?.inFlight?.[0], { reqId: held.reqId, method: 'POST', url: '/auth/signup' })
  t.ok((over?.inFlight?.[0]?.elapsedMs ?? 0) >= graceMs - 100, 'and how long it had run')
  await held.closed
  t.equal(held.answer(), '', 'the held request got no answer: the connection just closed')
})

for (const how of ['throw', 'reject'] as const) {
  t.test(`${how === 'throw' ? 'an uncaught exception' : 'an unhandled rejection'}: logged through pino, in-flight requests finish, exit 1`, async t => {
    const server = await startServer(t, { DATA_DIR: tempDir(t), TLS: 'off', TRUST_PROXY: '127.0.0.1' }, { nodeArgs: ['--import', CRASH_PRELOAD], stdin: true })
    const inFlight = await requestInFlight(server)
    server.proc.stdin?.write(`${how}\n`)
    const crash = JSON.parse(await server.waitFor(/"msg":"uncaught error/)) as LogLine
    t.equal(crash.level, 60, 'level fatal')
    t.equal(crash.err?.message, `crash test: ${how === 'throw' ? 'thrown' : 'rejected'} on purpose`, 'the error, serialized by pino')
    t.equal(crash.err?.type, 'Error')
    t.match(crash.err?.stack, /crash-on-stdin\.ts/, 'with its stack, for the operator')
    inFlight.finish()
    await inFlight.closed
    t.match(inFlight.answer(), /^HTTP\/1\.1 201 /, 'the request in flight at the crash still completed')
    t.match(inFlight.answer(), /\r\nconnection: close\r\n/i)
    t.same(await server.exited, { code: 1, signal: null }, 'exit code 1')
    const raw = server.lines.join('\n')
    t.notMatch(raw, /long enough password/, 'no secret on any line')
    t.notMatch(raw, /^\s+at /m, 'no bare stack trace outside the JSON lines')
    t.ok(server.lines.every(l => l.startsWith('{')), 'every line is a pino JSON line')
  })
}

t.test('SHUTDOWN_GRACE_MS is validated', async t => {
  const server = startServer(t, { DATA_DIR: tempDir(t), TLS: 'off', SHUTDOWN_GRACE_MS: '10' })
  await t.rejects(server, /SHUTDOWN_GRACE_MS must be an integer number of milliseconds, 1000\.\.600000 \(got "10"\)/)
})
