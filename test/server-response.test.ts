/**
 * The answer class (src/server-response.ts): the security headers written with
 * each head on the wire, once each, whatever the route set; the fallback when
 * Node's writeHead does not reach `_storeHeader`; and the same headers on
 * injected answers, which are set per reply instead.
 */
import t from 'tap'
import { createServer, IncomingMessage, ServerResponse, type OutgoingHttpHeaders } from 'node:http'
import { Socket, connect as tcpConnect, type AddressInfo } from 'node:net'
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

t.test('the class: a header the answer sets itself replaces the fixed one, however it is given to Node', async t => {
  const fixed = { 'x-frame-options': 'DENY', 'x-content-type-options': 'nosniff', 'content-security-policy': "default-src 'none'" }
  let closing = false
  const cls = responseClass({ isClosing: () => closing, fixedHeaders: fixed })
  t.equal(cls.writesFixedHeaders, true, `the writeHead of Node ${process.version} formats the head through _storeHeader`)
  const shapes: Array<[string, (res: ServerResponse) => void]> = [
    ['no headers', res => { res.writeHead(200).end('x') }],
    ['an object', res => { res.writeHead(200, { 'x-frame-options': 'SAMEORIGIN', 'content-type': 'text/plain' } satisfies OutgoingHttpHeaders).end('x') }],
    ['pairs', res => { res.writeHead(200, [['X-Frame-Options', 'SAMEORIGIN'], ['Content-Type', 'text/plain']]).end('x') }],
    ['a flat list', res => { res.writeHead(200, ['X-Frame-Options', 'SAMEORIGIN', 'Content-Type', 'text/plain']).end('x') }],
    // A flat list whose value is a list: the value's first item is no header name.
    ['a flat list with a list value', res => { res.writeHead(200, ['Set-Cookie', ['x-frame-options', 'b=2'], 'Content-Type', 'text/plain']).end('x') }],
    ['an object in another case', res => { res.writeHead(200, { 'X-Frame-Options': 'SAMEORIGIN', 'Content-Type': 'text/plain' }).end('x') }],
    ['setHeader', res => { res.setHeader('X-Frame-Options', 'SAMEORIGIN'); res.end('x') }],
    ['setHeader, then an object', res => { res.setHeader('x-a', '1'); res.writeHead(200, { 'X-FRAME-OPTIONS': 'SAMEORIGIN' }).end('x') }],
    ['implicit head', res => { res.end('x') }]
  ]
  let current = shapes[0]?.[1] as (res: ServerResponse) => void
  const port = await nodeServer(t, cls, res => { current(res) })
  for (const [what, answer] of shapes) {
    current = answer
    const got = await rawCall(port, 'GET / HTTP/1.1')
    t.equal(got.status, 200, what)
    const own = ['no headers', 'implicit head', 'a flat list with a list value'].includes(what) ? 'DENY' : 'SAMEORIGIN'
    t.same(valuesOf(got, 'x-frame-options'), [own], `${what}: x-frame-options once (in any case), ${own}`)
    t.same(valuesOf(got, 'x-content-type-options'), ['nosniff'], `${what}: the other fixed headers stay`)
    t.same(valuesOf(got, 'content-security-policy'), ["default-src 'none'"], what)
    t.match(got.body, /^(1\r\n)?x/, `${what}: the body follows`)
  }
  current = res => { res.writeHead(200, { 'content-length': '1' }).end('x') }
  const keepAlive = { line: 'GET / HTTP/1.1', headers: ['Connection: keep-alive'] }
  t.same(valuesOf(await rawCall(port, keepAlive), 'connection'), ['keep-alive'])
  closing = true
  t.same(valuesOf(await rawCall(port, keepAlive), 'connection'), ['close'], 'Connection: close once the server is closing')
})

t.test('the class refuses, at start, a fixed header Node would refuse on an answer', async t => {
  const isClosing = (): boolean => false
  t.throws(() => responseClass({ isClosing, fixedHeaders: { 'x-bad': 'a\r\nset-cookie: x=1' } }), { code: 'ERR_INVALID_CHAR' }, 'no header injection')
  t.throws(() => responseClass({ isClosing, fixedHeaders: { 'bad name': 'x' } }), { code: 'ERR_INVALID_HTTP_TOKEN' })
  t.throws(() => responseClass({ isClosing, fixedHeaders: { 'X-Frame-Options': 'DENY' } }), /lower case/)
})

t.test('where writeHead does not reach _storeHeader, the class adds nothing and says so', async t => {
  const original = Object.getOwnPropertyDescriptor(ServerResponse.prototype, 'writeHead') as PropertyDescriptor
  // A Node whose writeHead formats the head some other way: here, one that never calls _storeHeader.
  ServerResponse.prototype.writeHead = function (this: ServerResponse) { return this }
  let cls: ReturnType<typeof responseClass>
  try {
    cls = responseClass({ isClosing: () => false, fixedHeaders: { 'x-frame-options': 'DENY' } })
  } finally {
    Object.defineProperty(ServerResponse.prototype, 'writeHead', original)
  }
  t.equal(cls.writesFixedHeaders, false)
  const port = await nodeServer(t, cls, res => { res.writeHead(200, { 'content-type': 'text/plain' }).end('x') })
  const got = await rawCall(port, 'GET / HTTP/1.1')
  t.equal(got.status, 200)
  t.same(valuesOf(got, 'x-frame-options'), [], 'the caller sets the headers itself then (app.ts does)')
  t.equal(cls.isOwn(new cls.ServerResponse(new IncomingMessage(new Socket()))), true)
  t.equal(cls.isOwn(new ServerResponse(new IncomingMessage(new Socket()))), false, 'Node\'s own class is not this one')
})

/**
 * The app as buildApp makes it, listening, with an onSend hook that notes whether each
 * reply itself holds X-Frame-Options (it does when the app sets the headers per reply).
 * `stubWriteHead`: build it on a "Node" whose writeHead never reaches _storeHeader.
 */
async function observedApp (t: Tap, stubWriteHead: boolean): Promise<{ app: FastifyInstance, port: number, seen: unknown[] }> {
  const dataDir = tempDir(t)
  const original = Object.getOwnPropertyDescriptor(ServerResponse.prototype, 'writeHead') as PropertyDescriptor
  // Only while buildApp probes the class: answers afterwards use Node's real writeHead.
  if (stubWriteHead) ServerResponse.prototype.writeHead = function (this: ServerResponse) { return this }
  let app: FastifyInstance
  try {
    app = await buildApp(testConfig(dataDir, { TLS: 'off' }), { store: openEmbeddedStore(dataDir), keyring: newKeyring(), passwords: fastPasswords })
  } finally {
    Object.defineProperty(ServerResponse.prototype, 'writeHead', original)
  }
  t.teardown(() => app.close())
  const seen: unknown[] = []
  // Root hooks added now reach the root's own routes: the not-found handler among them.
  app.addHook('onSend', (_request, reply, payload, done) => { seen.push(reply.getHeader('x-frame-options')); done(null, payload) })
  return { app, port: await listen(app), seen }
}

t.test('on a socket the app leaves the fixed headers to the class: the reply itself does not hold them', async t => {
  const { app, port, seen } = await observedApp(t, false)
  const answer = await rawCall(port, 'GET /no/such/route HTTP/1.1')
  t.equal(answer.status, 404)
  t.same(valuesOf(answer, 'x-frame-options'), ['SAMEORIGIN'])
  t.same(seen, [undefined], 'not set on the reply: written with the head')
  const injected = await app.inject({ method: 'GET', url: '/no/such/route' })
  t.equal(injected.headers['x-frame-options'], 'SAMEORIGIN')
  t.same(seen, [undefined, 'SAMEORIGIN'], 'an injected answer gets them on the reply')
})

t.test('on a Node where the class cannot write them, the app sets the headers on each reply: still there, once', async t => {
  const { port, seen } = await observedApp(t, true)
  for (const line of ['GET /no/such/route HTTP/1.1', 'GET /health HTTP/1.1', 'GET /auth/whoami HTTP/1.1', 'GET /he%zzalth HTTP/1.1']) {
    const answer = await rawCall(port, line)
    for (const [name, value] of Object.entries(FIXED_HTTP)) t.same(valuesOf(answer, name), [value], `${line}: ${name} once`)
  }
  t.same(seen[0], 'SAMEORIGIN', 'set on the reply (the not-found answer, which the observing hook reaches)')
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
