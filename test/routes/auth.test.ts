/** Auth endpoints through app.inject (protocol-v1.md, "Auth endpoints"). */
import t from 'tap'
import { buildTestApp, fastPasswords, login, signedInject, signup, signupAndLogin, viaHttps } from '../helper.js'
import { issueKey } from '../../src/auth/keys.js'
import { legacyScryptHash, type PasswordHasher } from '../../src/auth/passwords.js'

/** Counts every hash and verification, to prove an unknown user costs one hash and a limited login costs none. */
function countingHasher (): PasswordHasher & { count: number } {
  const h = {
    count: 0,
    async hash (p: string) { h.count++; return fastPasswords.hash(p) },
    async verify (p: string, s: string) { h.count++; return fastPasswords.verify(p, s) },
    async verifyDummy (p: string) { h.count++; return fastPasswords.verifyDummy(p) },
    needsRehash: (s: string) => fastPasswords.needsRehash(s)
  }
  return h
}

/** A promise resolved from outside: pauses a request at a chosen step, so a race is played in a fixed order. */
function deferred (): { promise: Promise<void>, resolve: () => void } {
  let resolve = (): void => {}
  const promise = new Promise<void>(r => { resolve = r })
  return { promise, resolve }
}

t.test('signup: 201, then 409 for a taken name; input is validated', async t => {
  const { app, store } = await buildTestApp(t)
  const res = await signup(app, 'alice')
  t.equal(res.statusCode, 201)
  t.same(res.json(), { username: 'alice' })
  t.same((await store.findUser('alice'))?.roles, [])
  const again = await signup(app, 'alice')
  t.equal(again.statusCode, 409)
  t.equal(again.json().code, 'USERNAME_TAKEN')
  for (const [label, body, field] of [
    ['upper case', { username: 'Alice', password: 'long enough pw' }, 'username'],
    ['too short', { username: 'al', password: 'long enough pw' }, 'username'],
    ['leading dot', { username: '.alice', password: 'long enough pw' }, 'username'],
    ['colon', { username: 'app:x', password: 'long enough pw' }, 'username'],
    ['short password', { username: 'bob', password: 'short' }, 'password'],
    ['long password', { username: 'bob', password: 'x'.repeat(257) }, 'password'],
    ['missing password', { username: 'bob' }, 'password'],
    ['number as password', { username: 'bob', password: 12345678 }, 'password'],
    ['unknown field', { username: 'bob', password: 'long enough pw', role: 'admin' }, 'role']
  ] as const) {
    const r = await app.inject({ method: 'POST', url: '/auth/signup', headers: viaHttps(), payload: body })
    t.equal(r.statusCode, 400, label)
    t.equal(r.json().code, 'VALIDATION_FAILED', label)
    t.match(r.json().message, field, `${label}: the message names ${field}`)
  }
  const notJson = await app.inject({ method: 'POST', url: '/auth/signup', headers: viaHttps({ 'content-type': 'application/json' }), payload: '{"username":' })
  t.equal(notJson.json().code, 'INVALID_JSON')
  const form = await app.inject({ method: 'POST', url: '/auth/signup', headers: viaHttps({ 'content-type': 'application/x-www-form-urlencoded' }), payload: 'username=bob' })
  t.equal(form.statusCode, 415)
  t.equal(form.json().code, 'UNSUPPORTED_MEDIA_TYPE')
})

t.test('signup and login over plain HTTP are refused HTTPS_REQUIRED', async t => {
  const { app } = await buildTestApp(t)
  for (const url of ['/auth/signup', '/auth/login']) {
    const res = await app.inject({ method: 'POST', url, payload: { username: 'alice', password: 'long enough pw' } })
    t.equal(res.statusCode, 403, url)
    t.equal(res.json().code, 'HTTPS_REQUIRED', url)
  }
  const untrusted = await buildTestApp(t, { env: { TRUST_PROXY: '10.0.0.1' } })
  const res = await untrusted.app.inject({ method: 'POST', url: '/auth/login', headers: viaHttps(), payload: { username: 'alice', password: 'long enough pw' } })
  t.equal(res.json().code, 'HTTPS_REQUIRED', 'X-Forwarded-Proto from an untrusted address is ignored')
})

t.test('SIGNUP=closed refuses signup; login still works for existing users', async t => {
  const { app } = await buildTestApp(t, { env: { SIGNUP: 'closed', ADMIN_USERNAME: 'root', ADMIN_PASSWORD: 'admin password 1' } })
  const res = await signup(app, 'alice')
  t.equal(res.statusCode, 403)
  t.equal(res.json().code, 'SIGNUP_CLOSED')
  t.ok((await login(app, 'root', 'admin password 1')).keyId)
})

t.test('SIGNUP=client: signup and login need an app or service signature', async t => {
  const { app, clock, keyring, config } = await buildTestApp(t, { env: { SIGNUP: 'client' } })
  const body = JSON.stringify({ username: 'alice', password: 'long enough pw' })
  const unsigned = await app.inject({ method: 'POST', url: '/auth/signup', headers: viaHttps({ 'content-type': 'application/json' }), payload: body })
  t.equal(unsigned.statusCode, 401)
  t.equal(unsigned.json().code, 'AUTH_MISSING')
  const key = issueKey(keyring, config.audience, 'app:ios', { kind: 'app', sessionStart: clock.now(), issuedAt: clock.now(), expiresAt: null, sid: '1' })
  const appCred = { username: 'app:ios', keyId: key.keyId, signingKey: key.signingKey }
  const ok = await signedInject(app, clock, appCred, { method: 'POST', url: '/auth/signup', body, headers: viaHttps() })
  t.equal(ok.statusCode, 201)
  const loggedIn = await signedInject(app, clock, appCred, { method: 'POST', url: '/auth/login', body, headers: viaHttps() })
  t.equal(loggedIn.statusCode, 200)
  const userCred = { ...loggedIn.json(), username: 'alice' }
  const byUser = await signedInject(app, clock, userCred, { method: 'POST', url: '/auth/signup', body: JSON.stringify({ username: 'bob', password: 'long enough pw' }), headers: viaHttps() })
  t.equal(byUser.statusCode, 403, 'a user key cannot sign signups')
  t.equal(byUser.json().code, 'FORBIDDEN')
})

t.test('login: a 6-hour key, no-store; one answer for unknown, wrong and disabled, one hash each', async t => {
  const hasher = countingHasher()
  const { app, clock, store } = await buildTestApp(t, { deps: { passwords: hasher } })
  await signup(app, 'alice')
  await signup(app, 'carol')
  await store.updateUser('carol', { disabled: true }, clock.now())
  const res = await app.inject({ method: 'POST', url: '/auth/login', headers: viaHttps(), payload: { username: 'alice', password: 'correct horse battery' } })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['cache-control'], 'no-store')
  const json = res.json()
  t.same(Object.keys(json).sort(), ['expiresAt', 'keyId', 'signingKey', 'username'])
  t.equal(json.expiresAt, new Date(clock.now() + 6 * 3600 * 1000).toISOString())
  t.ok(json.signingKey.length >= 43, 'at least 256 bits as base64url')

  const answers = []
  for (const [username, password] of [['nobody', 'correct horse battery'], ['alice', 'wrong password'], ['carol', 'correct horse battery']]) {
    const before = hasher.count
    const r = await app.inject({ method: 'POST', url: '/auth/login', headers: viaHttps(), payload: { username, password } })
    t.equal(hasher.count - before, 1, `${username}: exactly one hash`)
    t.equal(r.statusCode, 401)
    t.equal(r.headers['www-authenticate'], 'HMAC-SHA256 error="AUTH_INVALID_CREDENTIALS"')
    answers.push(r.body)
  }
  t.equal(new Set(answers).size, 1, 'the three answers are byte-identical')
})

t.test('passwords are NFC-normalised', async t => {
  const { app } = await buildTestApp(t)
  t.equal((await signup(app, 'alice', 'cafe\u0301 au lait')).statusCode, 201)
  t.ok((await login(app, 'alice', 'caf\u00e9 au lait')).keyId, 'composed and decomposed forms are one password')
})

t.test('failed logins are limited per (address, username), counted before hashing', async t => {
  const hasher = countingHasher()
  const { app, clock } = await buildTestApp(t, { env: { LOGIN_MAX_FAILURES: '3', LOGIN_WINDOW_SECONDS: '60' }, deps: { passwords: hasher } })
  await signup(app, 'alice')
  await signup(app, 'bob')
  const attempt = async (username: string, password: string): Promise<{ status: number, code: string | undefined, retry: string | undefined }> => {
    const r = await app.inject({ method: 'POST', url: '/auth/login', headers: viaHttps(), payload: { username, password } })
    return { status: r.statusCode, code: r.json().code, retry: r.headers['retry-after'] as string | undefined }
  }
  for (let i = 0; i < 3; i++) t.equal((await attempt('alice', 'wrong password')).code, 'AUTH_INVALID_CREDENTIALS')
  const before = hasher.count
  const limited = await attempt('alice', 'correct horse battery')
  t.equal(limited.status, 429)
  t.equal(limited.code, 'RATE_LIMITED')
  t.match(limited.retry, /^\d+$/)
  t.equal(hasher.count, before, 'no hash is spent on a limited attempt')
  t.equal((await attempt('bob', 'correct horse battery')).status, 200, 'another username from the same address is not blocked')
  clock.advance(61_000)
  t.equal((await attempt('alice', 'correct horse battery')).status, 200, 'the window passes')
})

t.test('concurrent wrong guesses cannot slip past the limit: each is counted before its hash', async t => {
  const hasher = countingHasher()
  const { app } = await buildTestApp(t, { env: { LOGIN_MAX_FAILURES: '3' }, deps: { passwords: hasher } })
  await signup(app, 'alice')
  const before = hasher.count
  const answers = await Promise.all(Array.from({ length: 12 }, async () =>
    (await app.inject({ method: 'POST', url: '/auth/login', headers: viaHttps(), payload: { username: 'alice', password: 'wrong password' } })).statusCode))
  t.equal(answers.filter(s => s === 401).length, 3, 'three guesses were tried')
  t.equal(answers.filter(s => s === 429).length, 9, 'the rest were refused')
  t.equal(hasher.count - before, 3, 'and only three passwords were hashed')
})

t.test('a successful login does not count as a failure', async t => {
  const { app } = await buildTestApp(t, { env: { LOGIN_MAX_FAILURES: '2' } })
  await signup(app, 'alice')
  for (let i = 0; i < 5; i++) t.ok((await login(app, 'alice')).keyId, `login ${i + 1}`)
})

t.test('signup is rate limited per address, and probes of one taken name per name', async t => {
  const { app } = await buildTestApp(t, { env: { LOGIN_MAX_FAILURES: '1' } })
  const codes = []
  for (let i = 0; i < 6; i++) codes.push((await signup(app, `user${i}x`)).statusCode)
  t.same(codes, [201, 201, 201, 201, 201, 429])

  const other = await buildTestApp(t, { env: { LOGIN_MAX_FAILURES: '2' } })
  const probes = []
  for (let i = 0; i < 4; i++) probes.push((await signup(other.app, 'alice')).statusCode)
  t.same(probes, [201, 409, 409, 429], 'after LOGIN_MAX_FAILURES answers of 409 for one name, 429')
  t.equal((await signup(other.app, 'bob')).statusCode, 201, 'other names are not affected')
})

t.test('refresh: same session, fresh key, capped by SESSION_MAX_SECONDS; old key stays valid', async t => {
  const { app, clock, advance } = await buildTestApp(t, { env: { KEY_TTL_SECONDS: '3600', SESSION_MAX_SECONDS: '7200' } })
  const start = clock.now()
  const cred = await signupAndLogin(app, 'alice')
  t.equal(cred.expiresAt, new Date(start + 3600_000).toISOString())
  await advance(1800_000)
  const res = await signedInject(app, clock, cred, { method: 'POST', url: '/auth/refresh' })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['cache-control'], 'no-store')
  const fresh = res.json()
  t.not(fresh.keyId, cred.keyId)
  t.equal(fresh.expiresAt, new Date(start + 5400_000).toISOString())
  t.equal((await signedInject(app, clock, cred, { method: 'GET', url: '/auth/whoami' })).statusCode, 200, 'the previous key keeps working')
  await advance(3000_000)
  const late = await signedInject(app, clock, fresh, { method: 'POST', url: '/auth/refresh' })
  t.equal(late.json().expiresAt, new Date(start + 7200_000).toISOString(), 'never past the session limit')
  await advance(2500_000)
  const over = await signedInject(app, clock, late.json(), { method: 'POST', url: '/auth/refresh' })
  t.equal(over.json().code, 'AUTH_KEY_EXPIRED', 'after the session limit, log in again')
  const withBody = await signedInject(app, clock, await login(app, 'alice'), { method: 'POST', url: '/auth/refresh', body: '{}' })
  t.equal(withBody.json().code, 'VALIDATION_FAILED', 'refresh takes an empty body')
})

t.test('password change: wrong current password is 401; success revokes every session', async t => {
  const { app, clock } = await buildTestApp(t)
  const a = await signupAndLogin(app, 'alice')
  const b = await login(app, 'alice')
  const wrong = await signedInject(app, clock, a, { method: 'POST', url: '/auth/password', body: JSON.stringify({ password: 'not the password', newPassword: 'brand new secret' }) })
  t.equal(wrong.statusCode, 401)
  t.equal(wrong.json().code, 'AUTH_INVALID_CREDENTIALS')
  const ok = await signedInject(app, clock, a, { method: 'POST', url: '/auth/password', body: JSON.stringify({ password: 'correct horse battery', newPassword: 'brand new secret' }) })
  t.equal(ok.statusCode, 204)
  for (const c of [a, b]) t.equal((await signedInject(app, clock, c, { method: 'GET', url: '/auth/whoami' })).json().code, 'AUTH_KEY_REVOKED')
  clock.advance(1)
  const fresh = await login(app, 'alice', 'brand new secret')
  t.equal((await signedInject(app, clock, fresh, { method: 'GET', url: '/auth/whoami' })).statusCode, 200, 'a new session works')
  const old = await app.inject({ method: 'POST', url: '/auth/login', headers: viaHttps(), payload: { username: 'alice', password: 'correct horse battery' } })
  t.equal(old.statusCode, 401)
})

t.test('ADMIN_USERNAME/ADMIN_PASSWORD create the admin at start, once', async t => {
  const { store, app } = await buildTestApp(t, { env: { ADMIN_USERNAME: 'root', ADMIN_PASSWORD: 'admin password 1' } })
  t.same((await store.findUser('root'))?.roles, ['admin'])
  t.ok((await login(app, 'root', 'admin password 1')).keyId)
})

t.test('failed logins are counted per IPv6 /64 network, not per address', async t => {
  const { app } = await buildTestApp(t, { env: { LOGIN_MAX_FAILURES: '3', TRUST_PROXY: '127.0.0.1,2001:db8::/32' } })
  await signup(app, 'alice')
  const attempt = async (remoteAddress: string, password = 'wrong password'): Promise<number> =>
    (await app.inject({ method: 'POST', url: '/auth/login', remoteAddress, headers: viaHttps(), payload: { username: 'alice', password } })).statusCode
  const answers = []
  for (const address of ['2001:db8::1', '2001:db8::2', '2001:db8::ab:cd:ef:3', '2001:db8::4']) answers.push(await attempt(address))
  t.same(answers, [401, 401, 401, 429], 'four addresses of one /64 share one budget of 3')
  t.equal(await attempt('2001:db8::5', 'correct horse battery'), 429, 'the right password from that /64 is refused too')
  t.equal(await attempt('2001:db8:0:1::1', 'correct horse battery'), 200, 'an address of another /64 is still allowed')
})

t.test('a login with the old password that races a password change never keeps its key', async t => {
  const change = { password: 'correct horse battery', newPassword: 'brand new secret' }
  // The change is paused while it hashes the new password, then while it writes it; a login with the
  // old password runs through meanwhile, 10 ms after the change began, and reads the old hash.
  for (const step of ['hashing the new password', 'writing the new hash'] as const) {
    await t.test(step, async t => {
      const reached = deferred()
      const release = deferred()
      let pauseHash = false
      const hasher: PasswordHasher = {
        ...fastPasswords,
        async hash (p) {
          if (pauseHash) { pauseHash = false; reached.resolve(); await release.promise }
          return await fastPasswords.hash(p)
        }
      }
      const { app, clock, store, advance } = await buildTestApp(t, { deps: { passwords: hasher } })
      const a = await signupAndLogin(app, 'alice')
      if (step === 'hashing the new password') {
        pauseHash = true
      } else {
        const setPassword = store.setPassword.bind(store)
        store.setPassword = async (...args) => { reached.resolve(); await release.promise; return await setPassword(...args) }
      }
      const changing = signedInject(app, clock, a, { method: 'POST', url: '/auth/password', body: JSON.stringify(change) })
      await reached.promise
      clock.advance(10)
      const raced = await login(app, 'alice', change.password)
      release.resolve()
      t.equal((await changing).statusCode, 204)
      await advance(1)
      const res = await signedInject(app, clock, raced, { method: 'GET', url: '/auth/whoami' })
      t.equal(res.statusCode, 401, 'the raced login\'s key is refused')
      t.equal(res.json().code, 'AUTH_KEY_REVOKED')
      const fresh = await login(app, 'alice', change.newPassword)
      t.equal((await signedInject(app, clock, fresh, { method: 'GET', url: '/auth/whoami' })).statusCode, 200, 'a login with the new password after the change works')
    })
  }

  await t.test('a login that read the old hash before the change and issues its key after it', async t => {
    const { app, clock, store, advance } = await buildTestApp(t)
    const a = await signupAndLogin(app, 'alice')
    const readDone = deferred()
    const release = deferred()
    let pauseRead = true
    const findUser = store.findUser.bind(store)
    store.findUser = async (name) => {
      const user = await findUser(name)
      if (pauseRead) { pauseRead = false; readDone.resolve(); await release.promise }
      return user
    }
    const logging = login(app, 'alice', change.password)
    await readDone.promise
    clock.advance(10)
    t.equal((await signedInject(app, clock, a, { method: 'POST', url: '/auth/password', body: JSON.stringify(change) })).statusCode, 204)
    release.resolve()
    const raced = await logging
    await advance(1)
    t.equal((await signedInject(app, clock, raced, { method: 'GET', url: '/auth/whoami' })).json().code, 'AUTH_KEY_REVOKED')
  })
})

t.test('256-character passwords (1 KiB of UTF-8) sign up and log in; 257 are refused', async t => {
  const { app } = await buildTestApp(t)
  const long = '\u{1D11E}'.repeat(256)
  t.equal((await signup(app, 'alice', long)).statusCode, 201)
  t.ok((await login(app, 'alice', long)).keyId)
  const over = await signup(app, 'bob', `${long}x`)
  t.equal(over.statusCode, 400)
  t.equal(over.json().code, 'VALIDATION_FAILED')
})

const OLD_PASSWORD = 'correct horse battery'
const cheapScrypt = { logN: 10, r: 8, p: 1 }

t.test('a former scrypt hash logs in and is replaced by an Argon2id hash at that login', async t => {
  const hasher = countingHasher()
  const { app, clock, store } = await buildTestApp(t, { deps: { passwords: hasher } })
  const legacy = await legacyScryptHash(OLD_PASSWORD, cheapScrypt)
  for (const username of ['old.timer', 'gone.quiet']) await store.createUser({ username, passwordHash: legacy, roles: [] }, clock.now())
  await store.updateUser('gone.quiet', { disabled: true }, clock.now())

  const wrong = await app.inject({ method: 'POST', url: '/auth/login', headers: viaHttps(), payload: { username: 'old.timer', password: 'wrong password' } })
  t.equal(wrong.statusCode, 401)
  t.equal((await store.findUser('old.timer'))?.passwordHash, legacy, 'a failed login changes nothing')
  const disabled = await app.inject({ method: 'POST', url: '/auth/login', headers: viaHttps(), payload: { username: 'gone.quiet', password: OLD_PASSWORD } })
  t.equal(disabled.statusCode, 401)
  t.equal((await store.findUser('gone.quiet'))?.passwordHash, legacy, 'a disabled user is not upgraded')

  clock.advance(5)
  const first = await login(app, 'old.timer', OLD_PASSWORD)
  const upgraded = await store.findUser('old.timer')
  t.match(upgraded?.passwordHash, /^\$argon2id\$/, 'the stored hash is Argon2id now')
  t.equal(upgraded?.updatedAt, clock.now())
  t.equal(fastPasswords.needsRehash(upgraded?.passwordHash ?? ''), false, 'with the current parameters')
  t.equal(await fastPasswords.verify(OLD_PASSWORD, upgraded?.passwordHash ?? ''), true, 'of the same password')
  t.equal((await signedInject(app, clock, first, { method: 'GET', url: '/auth/whoami' })).statusCode, 200, 'the upgrading login\'s key works')

  const before = hasher.count
  await login(app, 'old.timer', OLD_PASSWORD)
  t.equal(hasher.count - before, 1, 'the next login costs one verification and no new hash')
  t.equal((await store.findUser('old.timer'))?.passwordHash, upgraded?.passwordHash, 'and leaves the hash alone')
})

t.test('an upgrade never overwrites a password changed meanwhile', async t => {
  const reached = deferred()
  const release = deferred()
  let pauseHash = false
  const hasher: PasswordHasher = {
    ...fastPasswords,
    async hash (p) {
      if (pauseHash) { pauseHash = false; reached.resolve(); await release.promise }
      return await fastPasswords.hash(p)
    }
  }
  const { app, clock, store, advance } = await buildTestApp(t, { deps: { passwords: hasher } })
  const legacy = await legacyScryptHash(OLD_PASSWORD, cheapScrypt)
  await store.createUser({ username: 'old.timer', passwordHash: legacy, roles: [] }, clock.now())
  const a = await login(app, 'old.timer', OLD_PASSWORD)
  await store.setPassword('old.timer', legacy, clock.now())

  // The login verified the scrypt hash and is hashing its replacement when the password changes.
  pauseHash = true
  const logging = login(app, 'old.timer', OLD_PASSWORD)
  await reached.promise
  clock.advance(10)
  const changed = await signedInject(app, clock, a, { method: 'POST', url: '/auth/password', body: JSON.stringify({ password: OLD_PASSWORD, newPassword: 'brand new secret' }) })
  t.equal(changed.statusCode, 204)
  release.resolve()
  const raced = await logging
  const stored = (await store.findUser('old.timer'))?.passwordHash ?? ''
  t.equal(await fastPasswords.verify('brand new secret', stored), true, 'the changed password is the one stored')
  t.equal(await fastPasswords.verify(OLD_PASSWORD, stored), false, 'the upgrade did not put the old one back')
  await advance(1)
  t.equal((await signedInject(app, clock, raced, { method: 'GET', url: '/auth/whoami' })).json().code, 'AUTH_KEY_REVOKED', 'and the raced login\'s key is revoked')
  t.ok((await login(app, 'old.timer', 'brand new secret')).keyId)
})

t.test('a failed upgrade leaves the old hash and the login goes on; the log names no hash', async t => {
  const { app, clock, store, logs } = await buildTestApp(t, { env: { LOG_LEVEL: 'info' } })
  const legacy = await legacyScryptHash(OLD_PASSWORD, cheapScrypt)
  await store.createUser({ username: 'old.timer', passwordHash: legacy, roles: [] }, clock.now())
  store.replacePasswordHash = async (_username, oldHash) => { throw new Error(`write failed for { passwordHash: "${oldHash}" }`) }
  const cred = await login(app, 'old.timer', OLD_PASSWORD)
  t.equal((await signedInject(app, clock, cred, { method: 'GET', url: '/auth/whoami' })).statusCode, 200)
  t.equal((await store.findUser('old.timer'))?.passwordHash, legacy)
  const all = logs.join('')
  t.match(all, 'password hash upgrade failed')
  t.notOk(all.includes(legacy.split('$')[3] as string), 'no hash (nor its salt) in the logs')
  t.notOk(all.includes(OLD_PASSWORD), 'nor the password')
})
