/**
 * Bounds on slow and idle clients, over real sockets (plain HTTP on
 * 127.0.0.1): HEADERS_TIMEOUT_MS for the head, BODY_TIMEOUT_MS for the whole
 * request from its first byte (408 REQUEST_TIMEOUT, then the connection is
 * closed), and MAX_CONNECTIONS open connections at most. These wait on Node's
 * own timers, so they use the smallest allowed values (1 s and 2 s).
 */
import t from 'tap'
import { connect, type Socket } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { buildTestApp, type Tap } from './helper.js'

const LIMITS = { TLS: 'off', HEADERS_TIMEOUT_MS: '1000', BODY_TIMEOUT_MS: '2000' }

async function listening (t: Tap, env: Record<string, string>): Promise<{ app: FastifyInstance, port: number }> {
  const { app } = await buildTestApp(t, { env })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  return { app, port: typeof address === 'object' && address !== null ? address.port : 0 }
}

interface Conversation {
  socket: Socket
  /** Everything the server sent until it closed the connection (or `ms` passed: then `closed` is false). */
  untilClosed (ms?: number): Promise<{ text: string, closed: boolean, afterMs: number }>
}

async function open (port: number): Promise<Conversation> {
  const socket = connect(port, '127.0.0.1')
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject) })
  const chunks: Buffer[] = []
  socket.on('data', (c: Buffer) => chunks.push(c))
  socket.on('error', () => {})
  const ended = new Promise<void>(resolve => socket.once('close', () => resolve()))
  return {
    socket,
    async untilClosed (ms = 10_000) {
      const started = Date.now()
      let timer: NodeJS.Timeout | undefined
      const closed = await Promise.race([ended.then(() => true), new Promise<boolean>(resolve => { timer = setTimeout(() => resolve(false), ms) })])
      clearTimeout(timer)
      if (!closed) socket.destroy()
      return { text: Buffer.concat(chunks).toString('latin1'), closed, afterMs: Date.now() - started }
    }
  }
}

function parse (text: string): { status: number, headers: string, body: unknown } {
  const [head = '', body = ''] = text.split('\r\n\r\n')
  return { status: Number(head.split(' ')[1]), headers: head.toLowerCase(), body: body === '' ? null : JSON.parse(body) }
}

t.test('a head that does not arrive within HEADERS_TIMEOUT_MS gets 408 REQUEST_TIMEOUT and the connection is closed', async t => {
  const { port } = await listening(t, LIMITS)
  const c = await open(port)
  c.socket.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ')
  const { text, closed } = await c.untilClosed()
  t.ok(closed, 'the server closed the connection')
  const answer = parse(text)
  t.equal(answer.status, 408)
  t.match(answer.body, { statusCode: 408, code: 'REQUEST_TIMEOUT', error: 'Request Timeout' })
  t.match(answer.headers, /x-content-type-options: nosniff/, 'with the security headers')
  t.match(answer.headers, /connection: close/)
})

t.test('a body that does not complete within BODY_TIMEOUT_MS of the first byte gets 408 REQUEST_TIMEOUT', async t => {
  const { port } = await listening(t, LIMITS)
  const c = await open(port)
  const body = JSON.stringify({ username: 'alice', password: 'correct horse battery' })
  c.socket.write(`POST /auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-Proto: https\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, -1)}`)
  // Keep trickling nothing: the head came at once, the last byte never does.
  const { text, closed } = await c.untilClosed()
  t.ok(closed, 'the server closed the connection')
  const answer = parse(text)
  t.equal(answer.status, 408)
  t.match(answer.body, { code: 'REQUEST_TIMEOUT' })
})

t.test('a client that trickles its body a byte at a time is still cut off at BODY_TIMEOUT_MS', async t => {
  const { port } = await listening(t, LIMITS)
  const c = await open(port)
  const body = JSON.stringify({ username: 'alice', password: 'x'.repeat(200) })
  c.socket.write(`POST /auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-Proto: https\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`)
  let i = 0
  const trickle = setInterval(() => { if (i < body.length && !c.socket.destroyed) c.socket.write(body[i++] as string) }, 100)
  const { text, closed } = await c.untilClosed()
  clearInterval(trickle)
  t.ok(closed)
  t.equal(parse(text).status, 408, `cut off after ${i} of ${body.length} bytes`)
  t.ok(i < body.length)
})

t.test('an answer already sent is never followed by a 408: the connection is just closed', async t => {
  const { port } = await listening(t, LIMITS)
  const c = await open(port)
  const body = JSON.stringify({ username: 'alice', password: 'correct horse battery' })
  // Plain HTTP without a trusted proxy's word: 403 HTTPS_REQUIRED is answered from the head, the body is held.
  c.socket.write(`POST /auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 5)}`)
  const { text, closed } = await c.untilClosed()
  t.ok(closed)
  t.equal(text.split('HTTP/1.1 ').length - 1, 1, 'one answer on the wire')
  t.equal(parse(text).status, 403)
})

t.test('a connection that sends nothing is closed', async t => {
  const { port } = await listening(t, LIMITS)
  const c = await open(port)
  const { closed } = await c.untilClosed()
  t.ok(closed, 'closed by the server')
})

t.test('MAX_CONNECTIONS: connections past the cap are closed at once; a slot freed is usable again', async t => {
  const { port } = await listening(t, { TLS: 'off', MAX_CONNECTIONS: '2' })
  const held = [await open(port), await open(port)]
  for (const c of held) c.socket.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
  await new Promise(resolve => setTimeout(resolve, 100))
  const third = await open(port)
  third.socket.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
  const refused = await third.untilClosed(5_000)
  t.ok(refused.closed, 'the third connection is closed')
  t.equal(refused.text, '', 'with nothing sent')
  held[0]?.socket.destroy()
  await new Promise(resolve => setTimeout(resolve, 100))
  const fourth = await open(port)
  fourth.socket.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n')
  const served = await fourth.untilClosed(5_000)
  t.equal(parse(served.text).status, 200, 'a freed slot serves again')
  held[1]?.socket.destroy()
})
