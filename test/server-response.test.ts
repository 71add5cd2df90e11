/**
 * The security headers on every answer, once each, on the wire and injected
 * (set per reply by the root hook; raw early answers write them themselves),
 * and the answer class (src/server-response.ts): Connection: close once closing.
 */
import t from 'tap'
import { createServer, type ServerResponse } from 'node:http'
import { connect as tcpConnect, type AddressInfo } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import type { FastifyInstance } from 'fastify'
import { responseClass } from '../src/server-response.js'
import { securityHeaders } from '../src/security-headers.js'
import { loadTls } from '../src/tls.js'
import { PAGE_CSP } from '../src/web/static.js'
import { buildApp } from '../src/app.js'
import { openEmbeddedStore } from '../src/store/embedded.js'
import { buildTestApp, fastPasswords, newKeyring, tempDir, testConfig, type Tap } from './helper.js'

interface RawAnswer { status: number, lines: Array<[string, string]>, body: string }

interface RawRequest { line: string, headers?: string[], body?: string, tls?: boolean }

/** One request over a fresh connection (closed after the answer unless it asks for keep-alive); the answer's head as the lines on the wire (names lower-cased). */
function rawCall (port: number, request: RawRequest | string): Promise<RawAnswer> {
  const { line, headers = [], body = '', tls = false } = typeof request === 'string' ? { line: request } : request
  return new Promise((resolve, reject) => {
    const socket = tls ? tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false }) : tcpConnect({ host: '127.0.0.1', port })
    const chunks: Buffer[] = []
    const keptAlive = headers.some(h => /^connection: keep-alive$/i.test(h))
    const done = (): void => {
      const text = Buffer.concat(chunks).toString('latin1')
      const [head = '', rest = ''] = text.split('\r\n\r\n', 2)
      const [statusLine = '', ...lines] = head.split('\r\n')
      resolve({
        status: Number(statusLine.split(' ')[1]),
        lines: lines.map((l): [string, string] => { const i = l.indexOf(':'); return [l.slice(0, i).toLowerCase(), l.slice(i + 1).trim()] }),
        body: rest
      })
      socket.destroy()
    }
    // A kept-alive connection is not closed by the server: its answer is read up to the end of the head.
    socket.on('data', (c: Buffer) => { chunks.push(c); if (keptAlive && Buffer.concat(chunks).includes('\r\n\r\n')) done() })
    socket.on('error', reject)
    socket.on('end', done)
    socket.setTimeout(5000, () => { socket.destroy(); reject(new Error(`no answer to ${line} within 5 s`)) })
    const connection = headers.some(h => /^connection:/i.test(h)) ? [] : ['Connection: close']
    socket.write([line, 'Host: 127.0.0.1', ...headers, ...connection, ...(body === '' ? [] : [`Content-Length: ${Buffer.byteLength(body)}`]), '', body].join('\r\n'))
  })
}

const valuesOf = (a: RawAnswer, name: string): string[] => a.lines.filter(([n]) => n === name).map(([, v]) => v)

async function listen (app: FastifyInstance): Promise<number> {
  await app.listen({ host: '127.0.0.1', port: 0 })
  return (app.server.address() as AddressInfo).port
}

const FIXED_HTTP = securityHeaders({ hsts: false })
const FIXED_HTTPS = securityHeaders({ hsts: { maxAge: 31_536_000, includeSubDomains: true } })

t.test('every answer on the wire carries each security header once, with its value', async t => {
  const { app } = await buildTestApp(t, { env: { TLS: 'off', CORS_ORIGINS: 'https://app.example.com' } })
  const port = await listen(app)
  t.equal(Object.keys(FIXED_HTTP).length, 11, 'helmet\'s defaults without HSTS')
  const proxied = ['X-Forwarded-Proto: https']
  const cases: Array<[RawRequest, number]> = [
    [{ line: 'GET /health HTTP/1.1' }, 200],
    [{ line: 'HEAD /health HTTP/1.1' }, 200],
    [{ line: 'GET /no/such/route HTTP/1.1' }, 404],
    [{ line: 'DELETE /health HTTP/1.1' }, 405],
    [{ line: 'GET /auth/whoami HTTP/1.1' }, 401],
    [{ line: 'OPTIONS /v1/notes HTTP/1.1', headers: ['Origin: https://app.example.com', 'Access-Control-Request-Method: POST'] }, 204],
    [{ line: 'POST /auth/login HTTP/1.1', headers: [...proxied, 'Content-Type: text/plain'], body: 'x' }, 415],
    [{ line: 'POST /auth/login HTTP/1.1', headers: [...proxied, 'Content-Type: application/json'], body: '{' }, 400],
    [{ line: 'GET /health HTTP/1.0' }, 200],
    [{ line: 'GET /health HTTP/1.1', headers: proxied }, 200],
    [{ line: 'GET /auth/whoami HTTP/1.1', headers: proxied }, 401]
  ]
  for (const [request, status] of cases) {
    const answer = await rawCall(port, request)
    const what = `${request.line} ${request.body ?? ''}`.trim()
    t.equal(answer.status, status, what)
    for (const [name, value] of Object.entries(FIXED_HTTP)) t.same(valuesOf(answer, name), [value], `${what}: ${name} once`)
    // TLS=off: HSTS only on answers to requests the trusted proxy (127.0.0.1, TRUST_PROXY) says came over HTTPS.
    if ((request.headers ?? []).includes('X-Forwarded-Proto: https')) t.same(valuesOf(answer, 'strict-transport-security'), [FIXED_HTTPS['strict-transport-security']], `${what}: HSTS once, behind the trusted TLS proxy`)
    else t.same(valuesOf(answer, 'strict-transport-security'), [], `${what}: no HSTS over plain HTTP`)
    t.equal(valuesOf(answer, 'x-request-id').length, 1, `${what}: the per-request headers still come from the hook`)
  }
  // A path Fastify cannot decode (its frameworkErrors handler, no hooks run), and a request Node's
  // parser refuses (answered raw by app.ts's clientErrorHandler): the same headers, once.
  for (const line of ['GET /he%zzalth HTTP/1.1', 'GET /a b HTTP/1.1']) {
    const answer = await rawCall(port, line)
    t.equal(answer.status, 400, line)
    for (const [name, value] of Object.entries(FIXED_HTTP)) t.same(valuesOf(answer, name), [value], `${line}: ${name} once`)
  }
  // The page sets its own CSP: it replaces the fixed one instead of joining it (two CSPs would both apply).
  const page = await rawCall(port, 'GET / HTTP/1.1')
  t.equal(page.status, 200)
  t.same(valuesOf(page, 'content-security-policy'), [PAGE_CSP], 'the page\'s CSP, once')
  for (const [name, value] of Object.entries(FIXED_HTTP)) {
    if (name !== 'content-security-policy') t.same(valuesOf(page, name), [value], `page: ${name} once`)
  }
})

t.test('over HTTPS the answers carry HSTS too, once', async t => {
  const dataDir = tempDir(t)
  const tls = await loadTls({ certFile: undefined, keyFile: undefined, dataDir })
  const { app } = await buildTestApp(t, { dataDir, env: { TLS: 'on' }, deps: { https: { key: tls.key, cert: tls.cert } } })
  const port = await listen(app)
  for (const request of ['GET /health HTTP/1.1', 'GET /auth/whoami HTTP/1.1']) {
    const answer = await rawCall(port, { line: request, tls: true })
    for (const [name, value] of Object.entries(FIXED_HTTPS)) t.same(valuesOf(answer, name), [value], `${request}: ${name} once`)
  }
  t.same(valuesOf(await rawCall(port, { line: 'GET /health HTTP/1.1', tls: true }), 'strict-transport-security'), ['max-age=31536000; includeSubDomains'])
})

t.test('injected answers (tests, the website\'s internal calls) carry the same headers, set per reply', async t => {
  const { app } = await buildTestApp(t, { env: { TLS: 'off' } })
  for (const url of ['/health', '/auth/whoami', '/no/such/route']) {
    const res = await app.inject({ method: 'GET', url })
    for (const [name, value] of Object.entries(FIXED_HTTP)) t.equal(res.headers[name], value, `${url}: ${name}`)
  }
})

/** A bare Node server answering with the class, each request's answer made by `answer`. */
async function nodeServer (t: Tap, cls: ReturnType<typeof responseClass>, answer: (res: ServerResponse) => void): Promise<number> {
  const server = createServer({ ServerResponse: cls.ServerResponse }, (_req, res) => { answer(res) })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>(resolve => server.close(() => resolve())))
  return (server.address() as AddressInfo).port
}

t.test('the class: Connection: close once the server is closing, and nothing else added to the head', async t => {
  let closing = false
  const cls = responseClass({ isClosing: () => closing, fixedHeaders: { 'x-frame-options': 'DENY' } })
  t.equal(cls.fixedLines, 'x-frame-options: DENY\r\n', 'the fixed headers as head lines, for raw answers')
  const port = await nodeServer(t, cls, res => { res.writeHead(200, { 'content-length': '1' }).end('x') })
  const keepAlive = { line: 'GET / HTTP/1.1', headers: ['Connection: keep-alive'] }
  const open = await rawCall(port, keepAlive)
  t.same(valuesOf(open, 'connection'), ['keep-alive'])
  t.same(valuesOf(open, 'x-frame-options'), [], 'the class writes no fixed header: the app sets them per reply')
  closing = true
  t.same(valuesOf(await rawCall(port, keepAlive), 'connection'), ['close'], 'Connection: close once the server is closing')
})

t.test('the class refuses, at start, a fixed header Node would refuse on an answer', async t => {
  const isClosing = (): boolean => false
  t.throws(() => responseClass({ isClosing, fixedHeaders: { 'x-bad': 'a\r\nset-cookie: x=1' } }), { code: 'ERR_INVALID_CHAR' }, 'no header injection')
  t.throws(() => responseClass({ isClosing, fixedHeaders: { 'bad name': 'x' } }), { code: 'ERR_INVALID_HTTP_TOKEN' })
  t.throws(() => responseClass({ isClosing, fixedHeaders: { 'X-Frame-Options': 'DENY' } }), /lower case/)
})

t.test('TLS=off: HSTS only when a trusted proxy says HTTPS, never on an untrusted client\'s word', async t => {
  const { app } = await buildTestApp(t, { env: { TLS: 'off', TRUST_PROXY: '127.0.0.1' } })
  const hsts = FIXED_HTTPS['strict-transport-security']
  const via = async (remoteAddress: string, proto?: string) => (await app.inject({ method: 'GET', url: '/health', remoteAddress, headers: proto === undefined ? {} : { 'x-forwarded-proto': proto } })).headers['strict-transport-security']
  t.equal(await via('127.0.0.1', 'https'), hsts, 'trusted proxy, HTTPS')
  t.equal(await via('127.0.0.1', 'http'), undefined, 'trusted proxy, plain HTTP')
  t.equal(await via('127.0.0.1'), undefined, 'trusted proxy, no word')
  t.equal(await via('192.0.2.7', 'https'), undefined, 'an untrusted client saying HTTPS')
  const noProxy = await buildTestApp(t, { env: { TLS: 'off', TRUST_PROXY: '' } })
  t.equal((await noProxy.app.inject({ method: 'GET', url: '/health', headers: { 'x-forwarded-proto': 'https' } })).headers['strict-transport-security'], undefined, 'no TRUST_PROXY: no HSTS on plain HTTP')
})
