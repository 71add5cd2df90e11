/**
 * The real server over real HTTPS listeners on port 0: TLS, HTTPS_REQUIRED,
 * raw bodies and targets, chunked bodies, and several instances sharing a
 * keyring or a store.
 */
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { connect } from 'node:net'
import { join } from 'node:path'
import { copyFileSync, mkdirSync, readFileSync, statSync } from 'node:fs'
import { sign, tempDir, type Credential } from './helper.js'
import { call, startServer, type ServerProcess } from './server-process.js'

// Many real server processes, one after another: 80-110 s alone on a loaded 2-core machine, past tap's 120 s default.
t.setTimeout(300_000)

const PASSWORD = 'correct horse battery'
const signedCall = (s: ServerProcess, cred: Credential, method: string, target: string, body = '', extra: { chunked?: boolean } = {}) =>
  call(s, method, target, { headers: sign(cred, method, target, body), ...(body === '' ? {} : { body }), ...extra })

async function newUser (s: ServerProcess, username: string): Promise<Credential> {
  const up = await call(s, 'POST', '/auth/signup', { body: JSON.stringify({ username, password: PASSWORD }) })
  if (up.status !== 201) throw new Error(`signup: ${up.status} ${up.body}`)
  const res = await call(s, 'POST', '/auth/login', { body: JSON.stringify({ username, password: PASSWORD }) })
  if (res.status !== 200) throw new Error(`login: ${res.status} ${res.body}`)
  return res.json()
}

t.test('TLS=on with no cert files: a dev certificate in DATA_DIR, reused on restart; HSTS on', async t => {
  const dataDir = tempDir(t)
  const first = await startServer(t, { DATA_DIR: dataDir })
  t.match(first.url, /^https:\/\/127\.0\.0\.1:\d+$/)
  const res = await call(first, 'GET', '/health')
  t.equal(res.status, 200, 'served over TLS, verified against the dev certificate')
  t.match(res.headers['strict-transport-security'], /max-age=\d+/)
  t.equal(statSync(join(dataDir, 'keyring')).mode & 0o777, 0o600, 'the dev keyring is mode 0600')
  const pem = readFileSync(join(dataDir, 'dev-cert.pem'), 'utf8')
  first.proc.kill('SIGTERM')
  t.same(await first.exited, { code: 0, signal: null })
  const second = await startServer(t, { DATA_DIR: dataDir })
  t.equal(readFileSync(join(dataDir, 'dev-cert.pem'), 'utf8'), pem, 'the same certificate is reused')
  t.equal((await call(second, 'GET', '/health')).status, 200)
  t.ok(second.lines.some(l => l.includes('"tls":"dev-reused"')))
})

t.test('TLS=off serves plain HTTP; signup and login are refused unless a trusted proxy says HTTPS', async t => {
  const plain = await startServer(t, { DATA_DIR: tempDir(t), TLS: 'off', CORS_ORIGINS: 'https://app.example.com' })
  t.match(plain.url, /^http:\/\//)
  const health = await call(plain, 'GET', '/health')
  t.equal(health.status, 200)
  t.equal(health.headers['strict-transport-security'], undefined, 'no HSTS on plain HTTP')
  const body = JSON.stringify({ username: 'alice', password: PASSWORD })
  for (const path of ['/auth/signup', '/auth/login']) {
    const res = await call(plain, 'POST', path, { body, headers: { 'x-forwarded-proto': 'https' } })
    t.equal(res.status, 403, path)
    t.equal(res.json().code, 'HTTPS_REQUIRED', `${path}: X-Forwarded-Proto is not trusted by default`)
  }
  const proxied = await startServer(t, { DATA_DIR: tempDir(t), TLS: 'off', TRUST_PROXY: '127.0.0.1' })
  t.equal((await call(proxied, 'POST', '/auth/signup', { body, headers: { 'x-forwarded-proto': 'https' } })).status, 201, 'behind a trusted TLS-terminating proxy')
  t.equal((await call(proxied, 'POST', '/auth/signup', { body: JSON.stringify({ username: 'bob', password: PASSWORD }) })).json().code, 'HTTPS_REQUIRED', 'the proxy must still say https')
})

t.test('raw targets and bodies over the wire', async t => {
  const s = await startServer(t, { DATA_DIR: tempDir(t) })
  const cred = await newUser(s, 'alice')
  for (const target of ['/auth/whoami?q=a+b&x=%2F%7e', '/auth/whoami?b=2&a=1', '/auth/whoami?caf%C3%A9=%E2%98%95']) {
    const res = await signedCall(s, cred, 'GET', target)
    t.equal(res.status, 200, `${target} is signed exactly as sent`)
  }
  const re = await call(s, 'GET', '/auth/whoami?q=a%20b', { headers: sign(cred, 'GET', '/auth/whoami?q=a+b') })
  t.equal(re.json().code, 'AUTH_BAD_SIGNATURE', 'a re-encoded target fails')
  t.same(re.json().canonical.lines.slice(4), ['GET', '/auth/whoami?q=a%20b'], 'and the canonical lines show the target the server saw')

  const body = JSON.stringify({ password: PASSWORD, newPassword: 'caf\u00e9 \u2615 new one' })
  const chunked = await signedCall(s, cred, 'POST', '/auth/password', body, { chunked: true })
  t.equal(chunked.status, 204, 'a chunked UTF-8 body is signed after removing the framing')

  // These need plain TCP framing, so ask a plain-HTTP instance.
  const plain = await startServer(t, { DATA_DIR: tempDir(t), TLS: 'off', CORS_ORIGINS: 'https://app.example.com' })
  const preflight = '\r\nOrigin: https://app.example.com\r\nAccess-Control-Request-Method: POST'
  for (const line of ['GET http://example.com/health HTTP/1.1', 'OPTIONS * HTTP/1.1', `OPTIONS * HTTP/1.1${preflight}`, `OPTIONS http://h/v1/notes HTTP/1.1${preflight}`, 'GET /health?x=\x7f HTTP/1.1', 'GET /health?x=\xc3\xa9 HTTP/1.1', 'GET /he%zzalth HTTP/1.1']) {
    const answer = await new Promise<string>((resolve, reject) => {
      const sock = connect(plain.port, '127.0.0.1')
      let data = ''
      sock.on('data', c => { data += c.toString('latin1') })
      sock.on('end', () => resolve(data))
      sock.on('error', reject)
      sock.end(Buffer.from(`${line}\r\nHost: x\r\nConnection: close\r\n\r\n`, 'latin1'))
    })
    t.match(answer, /^HTTP\/1\.1 400 /, JSON.stringify(line))
    t.match(answer, /"code":"BAD_REQUEST_TARGET"/, `${JSON.stringify(line)}: BAD_REQUEST_TARGET`)
    t.match(answer, /x-server-time: \d+/i)
    t.match(answer, /x-content-type-options: nosniff/i, 'with the security headers')
  }
})

t.test('checks 1-4 and the body rules answer from the head, without waiting for the body', async t => {
  const s = await startServer(t, { DATA_DIR: tempDir(t), TLS: 'off' })
  const answerTo = (head: string): Promise<string> => new Promise((resolve, reject) => {
    const sock = connect(s.port, '127.0.0.1')
    let data = ''
    sock.on('data', c => { data += c.toString('latin1'); if (data.includes('\r\n\r\n') && /\}$/.test(data)) { sock.destroy(); resolve(data) } })
    sock.on('error', reject)
    sock.write(head) // a Content-Length is promised, and the body never comes
  })
  const stale = await answerTo(`POST /auth/password HTTP/1.1\r\nHost: x\r\nAuth-Username: alice\r\nAuth-Key-Id: k\r\nX-Microtime: 1000\r\nAuth-Signature: ${'0'.repeat(64)}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n`)
  t.match(stale, /^HTTP\/1\.1 401 /)
  t.match(stale, /"code":"AUTH_STALE"/)
  const big = await answerTo(`POST /auth/password HTTP/1.1\r\nHost: x\r\nAuth-Username: alice\r\nAuth-Key-Id: k\r\nX-Microtime: ${Date.now()}\r\nAuth-Signature: ${'0'.repeat(64)}\r\nContent-Type: application/json\r\nContent-Length: 5000000\r\n\r\n`)
  t.match(big, /^HTTP\/1\.1 413 /)
  t.match(big, /"code":"BODY_TOO_LARGE"/)
})

t.test('a second instance with its own empty DATA_DIR verifies keys the first issued, from the keyring alone', async t => {
  const dirA = tempDir(t)
  const a = await startServer(t, { DATA_DIR: dirA })
  const cred = await newUser(a, 'alice')
  const b = await startServer(t, { DATA_DIR: tempDir(t), MASTER_KEY_FILE: join(dirA, 'keyring') })
  const res = await signedCall(b, cred, 'GET', '/auth/whoami')
  t.equal(res.status, 200, 'B never saw alice, yet verifies her key')
  t.equal(res.json().username, 'alice')
  const staging = await startServer(t, { DATA_DIR: tempDir(t), MASTER_KEY_FILE: join(dirA, 'keyring'), AUDIENCE: 'staging' })
  t.equal((await signedCall(staging, cred, 'GET', '/auth/whoami')).json().code, 'AUTH_BAD_SIGNATURE', 'another AUDIENCE never verifies it')
})

t.test('instances sharing a store: a logout on one is refused on the other within 5 s', async t => {
  const dir = tempDir(t)
  const a = await startServer(t, { DATA_DIR: dir })
  const b = await startServer(t, { DATA_DIR: dir })
  const cred = await newUser(a, 'alice')
  t.equal((await signedCall(b, cred, 'GET', '/auth/whoami')).status, 200)
  t.equal((await signedCall(a, cred, 'POST', '/auth/logout')).status, 204)
  const started = Date.now()
  let code = ''
  while (Date.now() - started < 6_000) {
    code = (await signedCall(b, cred, 'GET', '/auth/whoami')).json().code
    if (code === 'AUTH_KEY_REVOKED') break
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  const elapsed = Date.now() - started
  t.equal(code, 'AUTH_KEY_REVOKED')
  t.ok(elapsed < 5_000, `refused on the other instance after ${elapsed} ms`)
})

t.test('disabling a user and deleting a client on one instance are refused on the other within 5 s', async t => {
  const dir = tempDir(t)
  const admin = { ADMIN_USERNAME: 'root', ADMIN_PASSWORD: 'admin password 1' }
  const a = await startServer(t, { DATA_DIR: dir, ...admin })
  const b = await startServer(t, { DATA_DIR: dir, ...admin })
  const root = (await call(a, 'POST', '/auth/login', { body: JSON.stringify({ username: 'root', password: 'admin password 1' }) })).json()
  const bob = await newUser(a, 'bob')
  const reg = (await signedCall(a, root, 'POST', '/admin/clients', JSON.stringify({ name: 'svc', kind: 'service' }))).json()
  const svc = { username: reg.principal, keyId: reg.keyId, signingKey: reg.secret }
  t.equal((await signedCall(b, bob, 'GET', '/auth/whoami')).status, 200)
  t.equal((await signedCall(b, svc, 'GET', '/auth/whoami')).status, 200)
  t.equal((await signedCall(a, root, 'PATCH', '/admin/users/bob', JSON.stringify({ disabled: true }))).status, 200)
  t.equal((await signedCall(a, root, 'DELETE', `/admin/clients/${reg.id as string}`)).status, 204)
  const started = Date.now()
  const pending = new Set(['bob', 'svc'])
  while (pending.size > 0 && Date.now() - started < 6_000) {
    if (pending.has('bob') && (await signedCall(b, bob, 'GET', '/auth/whoami')).json().code === 'AUTH_KEY_REVOKED') pending.delete('bob')
    if (pending.has('svc') && (await signedCall(b, svc, 'GET', '/auth/whoami')).json().code === 'AUTH_KEY_REVOKED') pending.delete('svc')
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  const elapsed = Date.now() - started
  t.same([...pending], [], 'both refused on the other instance')
  t.ok(elapsed < 5_000, `within ${elapsed} ms`)
})

t.test('master key rotation: an added version verifies, the activated one issues, older keys still verify', async t => {
  const dir = tempDir(t)
  const keyDir = tempDir(t)
  mkdirSync(keyDir, { recursive: true })
  const first = await startServer(t, { DATA_DIR: dir })
  const old = await newUser(first, 'alice')
  first.proc.kill('SIGTERM')
  await first.exited
  const keyring = join(keyDir, 'keyring')
  copyFileSync(join(dir, 'keyring'), keyring)
  const keyringCli = (...args: string[]): string => execFileSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'keyring', ...args], { encoding: 'utf8' })
  t.match(keyringCli('add', keyring), /version 2 added/)
  const held = await startServer(t, { DATA_DIR: dir, MASTER_KEY_FILE: keyring })
  const heldLogin = await call(held, 'POST', '/auth/login', { body: JSON.stringify({ username: 'alice', password: PASSWORD }) })
  t.match(heldLogin.json().keyId, /^1\.u\.1\./, 'an added version does not issue')
  held.proc.kill('SIGTERM')
  await held.exited
  t.match(keyringCli('activate', keyring, '2'), /version 2 is active/)
  const second = await startServer(t, { DATA_DIR: dir, MASTER_KEY_FILE: keyring })
  const login = await call(second, 'POST', '/auth/login', { body: JSON.stringify({ username: 'alice', password: PASSWORD }) })
  t.match(login.json().keyId, /^1\.u\.2\./, 'new keys derive from version 2')
  t.equal((await signedCall(second, old, 'GET', '/auth/whoami')).status, 200, 'a version-1 key still verifies')
  t.equal((await signedCall(second, { ...login.json(), username: 'alice' }, 'GET', '/auth/whoami')).status, 200)
})
