/** The verify hook through app.inject: every check, in the protocol's order, with its status and code. */
import t from 'tap'
import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import { buildTestApp, login, nextTime, sign, signedInject, signupAndLogin, viaHttps, type Credential } from '../helper.js'
import { formatKeyId, issueKey } from '../../src/auth/keys.js'
import { MemoryReplayCache } from '../../src/auth/replay.js'

const SKEW = 10_000

t.test('a signed whoami passes and every response carries X-Server-Time', async t => {
  const { app, clock } = await buildTestApp(t)
  const cred = await signupAndLogin(app, 'alice')
  const res = await signedInject(app, clock, cred, { method: 'GET', url: '/auth/whoami' })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { username: 'alice', kind: 'user', keyId: cred.keyId, expiresAt: cred.expiresAt })
  t.equal(res.headers['x-server-time'], String(clock.now()))
  t.equal(res.headers['x-content-type-options'], 'nosniff')
  const notFound = await app.inject({ method: 'GET', url: '/nope' })
  t.equal(notFound.headers['x-server-time'], String(clock.now()))
})

t.test('checks 1-3: missing, malformed and stale headers', async t => {
  const { app, clock } = await buildTestApp(t)
  const cred = await signupAndLogin(app, 'alice')
  const expect401 = async (headers: Record<string, string>, code: string, label: string): Promise<void> => {
    const res = await app.inject({ method: 'GET', url: '/auth/whoami', headers })
    t.equal(res.statusCode, 401, label)
    t.equal(res.json().code, code, label)
    t.equal(res.headers['www-authenticate'], `HMAC-SHA256 error="${code}"`, `${label}: WWW-Authenticate`)
  }
  const good = sign(cred, 'GET', '/auth/whoami', '', nextTime(clock))
  await expect401({}, 'AUTH_MISSING', 'no headers')
  for (const h of Object.keys(good)) {
    const partial = { ...good }
    delete partial[h]
    await expect401(partial, 'AUTH_MISSING', `without ${h}`)
  }
  await expect401({ ...good, 'auth-signature': (good['auth-signature'] as string).toUpperCase() }, 'AUTH_MALFORMED', 'uppercase signature')
  await expect401({ ...good, 'auth-username': 'a b' }, 'AUTH_MALFORMED', 'space in username')
  await expect401({ ...good, 'x-microtime': '12.5' }, 'AUTH_MALFORMED', 'decimal time')
  await expect401({ ...good, 'auth-key-id': 'x'.repeat(201) }, 'AUTH_MALFORMED', 'long key id')
  // Check 2 comes before check 3: a malformed header on a stale request is AUTH_MALFORMED.
  await expect401({ ...sign(cred, 'GET', '/auth/whoami', '', clock.now() - SKEW - 1), 'auth-username': 'a b' }, 'AUTH_MALFORMED', 'malformed and stale')
  await expect401(sign(cred, 'GET', '/auth/whoami', '', clock.now() - SKEW - 1), 'AUTH_STALE', 'past skew')
  await expect401(sign(cred, 'GET', '/auth/whoami', '', clock.now() + SKEW + 1), 'AUTH_STALE', 'future skew')
  for (const edge of [clock.now() - SKEW, clock.now() + SKEW]) {
    const res = await app.inject({ method: 'GET', url: '/auth/whoami', headers: sign(cred, 'GET', '/auth/whoami', '', edge) })
    t.equal(res.statusCode, 200, 'exactly at the skew limit is accepted')
  }
  // Check 3 comes before the signature: a stale request with a bad signature is AUTH_STALE.
  await expect401({ ...sign(cred, 'GET', '/auth/whoami', '', clock.now() - SKEW - 1), 'auth-signature': '0'.repeat(64) }, 'AUTH_STALE', 'stale and forged')
})

t.test('check 4: expiry, and key ids that do not parse answer exactly like a bad signature', async t => {
  const { app, clock, keyring } = await buildTestApp(t)
  const cred = await signupAndLogin(app, 'alice')
  const forged = (keyId: string): Credential => ({ ...cred, keyId })
  for (const [label, keyId] of [
    ['garbage key id', 'not-a-key-id'],
    ['unknown keyring version', formatKeyId({ kind: 'user', keyringVersion: keyring.current + 1, sessionStart: clock.now(), issuedAt: clock.now(), expiresAt: clock.now() + 1000, sid: 'abc' })],
    ['user key id under a client principal', cred.keyId]
  ] as const) {
    const who = label.startsWith('user key id') ? { ...forged(keyId), username: 'app:x' } : forged(keyId)
    const res = await signedInject(app, clock, who, { method: 'POST', url: '/auth/refresh' })
    t.equal(res.statusCode, 401, label)
    t.equal(res.json().code, 'AUTH_BAD_SIGNATURE', label)
    t.ok(res.json().canonical, `${label}: canonical shown, as for any bad signature`)
  }
  clock.advance(6 * 3600 * 1000)
  const res = await signedInject(app, clock, cred, { method: 'GET', url: '/auth/whoami' })
  t.equal(res.json().code, 'AUTH_KEY_EXPIRED', 'a key past its 6 hours')
  t.equal(res.headers['www-authenticate'], 'HMAC-SHA256 error="AUTH_KEY_EXPIRED"')
})

t.test('check 5: a bad signature shows the canonical lines, never the key', async t => {
  const { app, clock } = await buildTestApp(t)
  const cred = await signupAndLogin(app, 'alice')
  const body = '{"title":"a note","body":"with a body"}'
  const res = await signedInject(app, clock, { ...cred, signingKey: 'wrong-key' }, { method: 'POST', url: '/v1/notes?x=%2F+y', body })
  t.equal(res.statusCode, 401)
  const json = res.json()
  t.equal(json.code, 'AUTH_BAD_SIGNATURE')
  t.same(json.canonical.lines, ['HMAC-SHA256-V1', 'alice', cred.keyId, json.canonical.lines[3], 'POST', '/v1/notes?x=%2F+y'])
  t.equal(json.canonical.bodyLength, Buffer.byteLength(body))
  t.equal(json.canonical.bodySha256, createHash('sha256').update(body).digest('hex'))
  t.notMatch(res.body, cred.signingKey)

  // A body that carries a password: no unsalted hash of it in the answer (a guessing aid), the rest as usual.
  const secret = '{"password":"correct horse battery","newPassword":"another long one"}'
  const pw = await signedInject(app, clock, { ...cred, signingKey: 'wrong-key' }, { method: 'POST', url: '/auth/password', body: secret })
  t.equal(pw.json().code, 'AUTH_BAD_SIGNATURE')
  t.same(Object.keys(pw.json().canonical).sort(), ['bodyLength', 'lines'], '/auth/password: lines and length only')
  t.notMatch(pw.body, createHash('sha256').update(secret).digest('hex'))

  const quiet = await buildTestApp(t, { env: { SIGNATURE_DEBUG: 'off' } })
  const cred2 = await signupAndLogin(quiet.app, 'bob')
  const res2 = await signedInject(quiet.app, quiet.clock, { ...cred2, signingKey: 'wrong' }, { method: 'GET', url: '/auth/whoami' })
  t.equal(res2.json().code, 'AUTH_BAD_SIGNATURE')
  t.equal(res2.json().canonical, undefined, 'SIGNATURE_DEBUG=off hides the canonical lines')
})

t.test('check 5 with SIGNUP=client: a login or signup signed badly does not echo a hash of its password', async t => {
  const { app, clock } = await buildTestApp(t, { env: { SIGNUP: 'client' } })
  const forged = { username: 'service:nope', keyId: '1.s.1.x', signingKey: 'not-a-key' }
  for (const url of ['/auth/login', '/auth/signup']) {
    const body = JSON.stringify({ username: 'alice', password: 'correct horse battery' })
    const res = await signedInject(app, clock, forged, { method: 'POST', url, body, headers: viaHttps() })
    t.equal(res.json().code, 'AUTH_BAD_SIGNATURE', url)
    t.same(Object.keys(res.json().canonical).sort(), ['bodyLength', 'lines'], `${url}: lines and length only`)
    t.notMatch(res.body, createHash('sha256').update(body).digest('hex'))
  }
})

t.test('the signature binds method, target and body', async t => {
  const { app, clock } = await buildTestApp(t)
  const cred = await signupAndLogin(app, 'alice')
  const headers = sign(cred, 'GET', '/auth/whoami', '', nextTime(clock))
  const asHead = await app.inject({ method: 'HEAD', url: '/auth/whoami', headers })
  t.equal(asHead.statusCode, 401, 'a GET signature does not work for HEAD')
  t.equal(asHead.headers['www-authenticate'], 'HMAC-SHA256 error="AUTH_BAD_SIGNATURE"', 'HEAD still says why')
  const head = await app.inject({ method: 'HEAD', url: '/auth/whoami', headers: sign(cred, 'HEAD', '/auth/whoami', '', nextTime(clock)) })
  t.equal(head.statusCode, 200, 'HEAD signed as HEAD')
  t.equal(head.body, '')
  const otherTarget = await app.inject({ method: 'GET', url: '/auth/whoami?x=1', headers: sign(cred, 'GET', '/auth/whoami', '', nextTime(clock)) })
  t.equal(otherTarget.json().code, 'AUTH_BAD_SIGNATURE')
  const signedBody = '{"password":"correct horse battery","newPassword":"another long one"}'
  const tampered = await app.inject({
    method: 'POST',
    url: '/auth/password',
    headers: { ...sign(cred, 'POST', '/auth/password', signedBody, nextTime(clock)), 'content-type': 'application/json' },
    payload: signedBody.replace('another', 'attacker')
  })
  t.equal(tampered.json().code, 'AUTH_BAD_SIGNATURE', 'a changed body fails')
})

t.test('check 6: logout revokes every key of the session at once', async t => {
  const { app, clock } = await buildTestApp(t)
  const cred = await signupAndLogin(app, 'alice')
  const refreshed = (await signedInject(app, clock, cred, { method: 'POST', url: '/auth/refresh' })).json()
  const other = await login(app, 'alice')
  t.equal((await signedInject(app, clock, cred, { method: 'POST', url: '/auth/logout' })).statusCode, 204)
  for (const c of [cred, { ...refreshed, username: 'alice' }]) {
    const res = await signedInject(app, clock, c, { method: 'GET', url: '/auth/whoami' })
    t.equal(res.statusCode, 401)
    t.equal(res.json().code, 'AUTH_KEY_REVOKED')
  }
  t.equal((await signedInject(app, clock, other, { method: 'GET', url: '/auth/whoami' })).statusCode, 200, 'another session is untouched')
})

t.test('check 7: a replayed request is refused; the entry lives until X-Microtime + skew', async t => {
  const { app, clock } = await buildTestApp(t)
  const cred = await signupAndLogin(app, 'alice')
  const headers = sign(cred, 'GET', '/auth/whoami', '', clock.now() + 5_000)
  t.equal((await app.inject({ method: 'GET', url: '/auth/whoami', headers })).statusCode, 200)
  const again = await app.inject({ method: 'GET', url: '/auth/whoami', headers })
  t.equal(again.statusCode, 401)
  t.equal(again.json().code, 'AUTH_REPLAY')
  clock.advance(14_000) // arrival + skew would have expired; X-Microtime + skew has not
  t.equal((await app.inject({ method: 'GET', url: '/auth/whoami', headers })).json().code, 'AUTH_REPLAY')
  clock.advance(1_001)
  t.equal((await app.inject({ method: 'GET', url: '/auth/whoami', headers })).json().code, 'AUTH_STALE', 'once the entry is gone, the request is stale anyway')
  const forged = { ...headers, 'auth-signature': 'f'.repeat(64) }
  t.equal((await app.inject({ method: 'GET', url: '/auth/whoami', headers: forged })).json().code, 'AUTH_STALE')
})

t.test('a full replay cache answers 503 and evicts nothing early', async t => {
  const { app, clock, advance } = await buildTestApp(t, { deps: { replay: new MemoryReplayCache(3) } })
  const cred = await signupAndLogin(app, 'alice')
  const sent = [] as Array<Record<string, string>>
  for (let i = 0; i < 3; i++) {
    const h = sign(cred, 'GET', '/auth/whoami', '', nextTime(clock))
    sent.push(h)
    t.equal((await app.inject({ method: 'GET', url: '/auth/whoami', headers: h })).statusCode, 200)
  }
  const res = await signedInject(app, clock, cred, { method: 'GET', url: '/auth/whoami' })
  t.equal(res.statusCode, 503)
  t.equal(res.json().code, 'REPLAY_CACHE_UNAVAILABLE')
  t.equal((await app.inject({ method: 'GET', url: '/auth/whoami', headers: sent[0] })).json().code, 'AUTH_REPLAY', 'old entries are still there')
  t.equal((await app.inject({ method: 'GET', url: '/ready' })).statusCode, 503, '/ready says so')
  // Entries live until X-Microtime + skew + BODY_TIMEOUT_MS (30 s by default).
  await advance(SKEW + 30_000 + 1_000)
  t.equal((await signedInject(app, clock, cred, { method: 'GET', url: '/auth/whoami' })).statusCode, 200, 'service resumes once entries expire')
})

t.test('stale revocations: 503 REVOCATIONS_STALE and /ready 503 after 30 s without a sync', async t => {
  const { app, clock } = await buildTestApp(t, { deps: { revocationPollMs: 3_600_000 } })
  const cred = await signupAndLogin(app, 'alice')
  t.equal((await app.inject({ method: 'GET', url: '/ready' })).statusCode, 200)
  clock.advance(30_001)
  const res = await signedInject(app, clock, cred, { method: 'GET', url: '/auth/whoami' })
  t.equal(res.statusCode, 503)
  t.equal(res.json().code, 'REVOCATIONS_STALE')
  const ready = await app.inject({ method: 'GET', url: '/ready' })
  t.equal(ready.statusCode, 503)
  t.equal(ready.json().checks.revocations, false)
  const bad = await signedInject(app, clock, { ...cred, signingKey: 'x' }, { method: 'GET', url: '/auth/whoami' })
  t.equal(bad.json().code, 'AUTH_BAD_SIGNATURE', 'the signature is checked first (check 5 before 503)')
})

t.test('per-principal rate limit answers 429 with Retry-After, after the replay check', async t => {
  const { app, clock } = await buildTestApp(t, { env: { RATE_LIMIT_PER_MINUTE: '3' } })
  const cred = await signupAndLogin(app, 'alice')
  for (let i = 0; i < 3; i++) t.equal((await signedInject(app, clock, cred, { method: 'GET', url: '/auth/whoami' })).statusCode, 200)
  const res = await signedInject(app, clock, cred, { method: 'GET', url: '/auth/whoami' })
  t.equal(res.statusCode, 429)
  t.equal(res.json().code, 'RATE_LIMITED')
  t.match(res.headers['retry-after'], /^\d+$/)
  const other = await signupAndLogin(app, 'bob')
  t.equal((await signedInject(app, clock, other, { method: 'GET', url: '/auth/whoami' })).statusCode, 200, 'another principal has its own budget')
})

t.test('a replay cache that throws answers 503 REPLAY_CACHE_UNAVAILABLE, as one that cannot answer', async t => {
  const replay = { remember: () => { throw new Error('cache broken') }, healthy: () => true, close: () => {} }
  const { app, clock } = await buildTestApp(t, { deps: { replay } })
  const cred = await signupAndLogin(app, 'alice')
  const res = await signedInject(app, clock, cred, { method: 'GET', url: '/auth/whoami' })
  t.equal(res.statusCode, 503)
  t.equal(res.json().code, 'REPLAY_CACHE_UNAVAILABLE')
  t.equal(res.headers['retry-after'], '1')
})

t.test('refused requests (forged, replayed) do not spend the per-principal budget', async t => {
  const { app, clock } = await buildTestApp(t, { env: { RATE_LIMIT_PER_MINUTE: '2' } })
  const cred = await signupAndLogin(app, 'alice')
  const headers = sign(cred, 'GET', '/auth/whoami', '', clock.now())
  t.equal((await app.inject({ method: 'GET', url: '/auth/whoami', headers })).statusCode, 200, 'request 1 of 2')
  for (let i = 0; i < 3; i++) {
    t.equal((await app.inject({ method: 'GET', url: '/auth/whoami', headers })).json().code, 'AUTH_REPLAY')
    t.equal((await signedInject(app, clock, { ...cred, signingKey: 'wrong key' }, { method: 'GET', url: '/auth/whoami' })).json().code, 'AUTH_BAD_SIGNATURE')
  }
  t.equal((await signedInject(app, clock, cred, { method: 'GET', url: '/auth/whoami' })).statusCode, 200, 'request 2 of 2: the refused ones counted nothing')
  t.equal((await signedInject(app, clock, cred, { method: 'GET', url: '/auth/whoami' })).statusCode, 429)
})

t.test('check 8: a client key may call whoami but not user routes', async t => {
  const { app, clock, keyring, config } = await buildTestApp(t)
  const key = issueKey(keyring, config.audience, 'app:test', { kind: 'app', sessionStart: clock.now(), issuedAt: clock.now(), expiresAt: null, sid: '1' })
  const cred = { username: 'app:test', keyId: key.keyId, signingKey: key.signingKey }
  const who = await signedInject(app, clock, cred, { method: 'GET', url: '/auth/whoami' })
  t.same(who.json(), { username: 'app:test', kind: 'app', keyId: key.keyId, expiresAt: null })
  const res = await signedInject(app, clock, cred, { method: 'POST', url: '/auth/refresh' })
  t.equal(res.statusCode, 403)
  t.equal(res.json().code, 'FORBIDDEN')
  t.equal(res.headers['www-authenticate'], undefined, 'a 403 is not a 401')
})

t.test('body rules come from the head, after checks 1-4 and before the signature', async t => {
  const { app, clock } = await buildTestApp(t, { env: { BODY_LIMIT_BYTES: '1024' } })
  const cred = await signupAndLogin(app, 'alice')
  const post = async (headers: Record<string, string>, payload: string | Buffer, method = 'POST'): Promise<{ status: number, code: string }> => {
    const res = await app.inject({ method: method as 'POST', url: '/auth/password', headers: { ...sign({ ...cred, signingKey: 'unchecked' }, method, '/auth/password', payload, nextTime(clock)), ...headers }, payload })
    return { status: res.statusCode, code: res.json().code }
  }
  t.same(await post({ 'content-type': 'text/plain' }, 'hi'), { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' })
  t.same(await post({ 'content-type': 'application/json; charset=latin1' }, '{}'), { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' })
  t.same(await post({ 'content-type': 'application/json', 'content-encoding': 'gzip' }, '{}'), { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' })
  t.same(await post({ 'content-type': 'application/json' }, Buffer.alloc(2000, 0x20)), { status: 413, code: 'BODY_TOO_LARGE' })
  t.same(await post({ 'content-type': 'application/json' }, '{}', 'DELETE'), { status: 405, code: 'METHOD_NOT_ALLOWED' }, 'no DELETE route here')
  const getWithBody = await app.inject({ method: 'GET', url: '/auth/whoami', headers: { ...sign(cred, 'GET', '/auth/whoami', '{}', nextTime(clock)), 'content-type': 'application/json' }, payload: '{}' })
  t.equal(getWithBody.json().code, 'BODY_NOT_ALLOWED')
  t.equal(getWithBody.statusCode, 400)
  const unsigned = await app.inject({ method: 'POST', url: '/auth/password', headers: { 'content-type': 'text/plain' }, payload: 'x' })
  t.equal(unsigned.json().code, 'AUTH_MISSING', 'checks 1-4 come before the body rules')
  t.same(await post({ 'content-type': 'application/json; charset=UTF-8' }, '{}'), { status: 401, code: 'AUTH_BAD_SIGNATURE' }, 'charset=utf-8 is fine; then the signature is checked')
})

t.test('JSON is parsed only after the signature holds; then the route validates', async t => {
  const { app, clock } = await buildTestApp(t)
  const cred = await signupAndLogin(app, 'alice')
  const broken = await signedInject(app, clock, cred, { method: 'POST', url: '/auth/password', body: '{"password":' })
  t.equal(broken.statusCode, 400)
  t.equal(broken.json().code, 'INVALID_JSON')
  const forgedBroken = await signedInject(app, clock, { ...cred, signingKey: 'x' }, { method: 'POST', url: '/auth/password', body: '{"password":' })
  t.equal(forgedBroken.json().code, 'AUTH_BAD_SIGNATURE')
  const extra = await signedInject(app, clock, cred, { method: 'POST', url: '/auth/password', body: '{"password":"correct horse battery","newPassword":"another long one","admin":true}' })
  t.equal(extra.statusCode, 400)
  t.equal(extra.json().code, 'VALIDATION_FAILED')
  t.match(extra.json().message, /unknown field "admin"/)
  const proto = await signedInject(app, clock, cred, { method: 'POST', url: '/auth/password', body: '{"__proto__":{"x":1}}' })
  t.equal(proto.json().code, 'INVALID_JSON', 'prototype poisoning is refused')
  const badUtf8 = await signedInject(app, clock, cred, { method: 'POST', url: '/auth/password', body: Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x7d]) })
  t.equal(badUtf8.json().code, 'INVALID_JSON', 'invalid UTF-8 is refused')
})

t.test('unknown routes and methods', async t => {
  const { app } = await buildTestApp(t)
  const res = await app.inject({ method: 'GET', url: '/v2/nothing' })
  t.equal(res.statusCode, 404)
  t.same(res.json(), { statusCode: 404, code: 'NOT_FOUND', error: 'Not Found', message: 'Not found' })
  const method = await app.inject({ method: 'PUT', url: '/auth/whoami' })
  t.equal(method.statusCode, 405)
  t.equal(method.json().code, 'METHOD_NOT_ALLOWED')
  t.match(method.headers.allow, /GET/)
  const viaHttpsHeader = await app.inject({ method: 'GET', url: '/health', headers: viaHttps() })
  t.equal(viaHttpsHeader.statusCode, 200)
})

t.test('the skew is judged when the head arrives: a slow upload within BODY_TIMEOUT_MS does not turn stale, a later one does', async t => {
  const { app, clock } = await buildTestApp(t)
  const cred = await signupAndLogin(app, 'alice')
  const upload = async (delayMs: number, password: string, newPassword: string): Promise<{ statusCode: number, code?: string }> => {
    const body = JSON.stringify({ password, newPassword })
    const headers = { ...sign(cred, 'POST', '/auth/password', body, clock.now()), 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) }
    // The body arrives `delayMs` after the head: the clock moves while the server reads it.
    const slow = new Readable({ read () { clock.advance(delayMs); this.push(body); this.push(null) } })
    const res = await app.inject({ method: 'POST', url: '/auth/password', headers, payload: slow })
    return { statusCode: res.statusCode, code: res.statusCode === 204 ? undefined : res.json().code }
  }
  // Past the skew (10 s) but within skew + BODY_TIMEOUT_MS (40 s) of X-Microtime.
  t.same(await upload(25_000, 'correct horse battery', 'another long one'), { statusCode: 204, code: undefined }, 'checked against the time the head arrived')
  const again = await login(app, 'alice', 'another long one')
  cred.keyId = again.keyId
  cred.signingKey = again.signingKey
  // 60 s: the body completes after X-Microtime + skew + BODY_TIMEOUT_MS.
  t.same(await upload(60_000, 'another long one', 'a third long one'), { statusCode: 401, code: 'AUTH_STALE' }, 'a body completing past the window is stale')
})

t.test('the signed-request limit counts an IPv6 client by its /64 network, an IPv4 client by its address', async t => {
  const { app, clock } = await buildTestApp(t, { env: { RATE_LIMIT_PER_MINUTE: '2' } })
  const cred = await signupAndLogin(app, 'alice')
  const from = async (remoteAddress: string): Promise<number> =>
    (await app.inject({ method: 'GET', url: '/auth/whoami', remoteAddress, headers: sign(cred, 'GET', '/auth/whoami', '', nextTime(clock)) })).statusCode
  t.same([await from('2001:db8:1:2::1'), await from('2001:db8:1:2::abcd'), await from('2001:db8:1:2:ffff::9')], [200, 200, 429], 'three addresses of one /64 share one budget')
  t.equal(await from('2001:db8:1:3::1'), 200, 'another /64 has its own')
  t.same([await from('192.0.2.1'), await from('192.0.2.2')], [200, 200], 'IPv4 addresses are counted one by one')
  t.equal(await from('::ffff:192.0.2.1'), 200, 'an IPv4-mapped address counts as its IPv4 address (second of 2)')
  t.equal(await from('192.0.2.1'), 429, 'third for 192.0.2.1')
})
