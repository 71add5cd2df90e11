/**
 * The SDK against a real server process (HTTPS, its own dev certificate as
 * the only CA): login, whoami, refresh, logout then AUTH_KEY_REVOKED, the
 * AUTH_STALE re-sign with a skewed injected clock, AUTH_REPLAY handling, a
 * client key, and the typed errors. No sleeping: clocks are injected.
 */
import t from 'tap'
import { inspect } from 'node:util'
import { AuthError, SignedApiClient, UsageError, isApiError, type ClientOptions, type Credentials, type SignInfo } from '../../src/sdk/index.js'
import { randomName, startLiveServer } from './live-server.js'

const PASSWORD = 'correct horse battery staple'
const ADMIN = 'sdkadmin'
const ADMIN_PASSWORD = 'admin password for the sdk test'

t.test('the SDK against a live HTTPS server', async t => {
  const server = await startLiveServer(t, { ADMIN_USERNAME: ADMIN, ADMIN_PASSWORD })
  const make = (extra: Partial<ClientOptions> = {}): SignedApiClient => new SignedApiClient({ baseUrl: server.url, ca: server.ca, ...extra })

  const alice = randomName('alice')
  const api = make()
  t.same(await api.signup(alice, PASSWORD), { username: alice })
  const signupAgain = await api.signup(alice, PASSWORD).catch((err: unknown) => err)
  t.ok(isApiError(signupAgain, 'USERNAME_TAKEN'), 'a taken name is an ApiError with the server code')
  t.equal((signupAgain as { status: number }).status, 409)

  const wrong = await api.login(alice, 'not the password').catch((err: unknown) => err)
  t.ok(wrong instanceof AuthError, 'a wrong password is an AuthError')
  t.equal((wrong as AuthError).code, 'AUTH_INVALID_CREDENTIALS')

  const saved: Array<Credentials | null> = []
  const session = make({ onCredentials: c => saved.push(c) })
  const first = await session.login(alice, PASSWORD)
  t.equal(first.username, alice)
  t.equal(session.principal?.keyId, first.keyId)
  t.equal(saved.length, 1, 'onCredentials sees the new key')
  t.notOk(inspect(session, { depth: 5, showHidden: true }).includes(saved[0]?.signingKey as string), 'util.inspect never shows the key')

  t.test('whoami with the user key', async t => {
    const res = await session.request<{ username: string, kind: string, keyId: string, expiresAt: string }>('GET', '/auth/whoami')
    t.equal(res.status, 200)
    t.same(res.data, { username: alice, kind: 'user', keyId: first.keyId, expiresAt: first.expiresAt })
    t.match(res.headers['x-server-time'], /^\d+$/)
    const head = await session.request('head', '/auth/whoami')
    t.equal(head.status, 200, 'HEAD is signed as HEAD')
  })

  t.test('a wrong key is AUTH_BAD_SIGNATURE, with the server canonical lines matching what was signed', async t => {
    const signed: SignInfo[] = []
    const forged = make({ credentials: { ...(session.exportCredentials() as Credentials), signingKey: 'not-the-key' }, onSign: s => signed.push(s) })
    const err = await forged.request('GET', '/auth/whoami?x=%2F+y').catch((e: unknown) => e)
    t.ok(err instanceof AuthError)
    t.equal((err as AuthError).code, 'AUTH_BAD_SIGNATURE')
    t.equal((err as AuthError).needsLogin, false)
    t.equal(signed.length, 1, 'no retry on a bad signature')
    const lines = (signed[0] as SignInfo).canonical.toString('utf8').split('\n').slice(0, 6)
    t.same((err as AuthError).canonical?.lines, lines, 'the server built the same six lines: nothing was re-encoded')
    t.notOk(String((err as Error).message).includes('not-the-key'), 'the error never holds the key')
  })

  t.test('refresh gives a new key of the same session; the previous key keeps working', async t => {
    const before = session.exportCredentials() as Credentials
    const fresh = await session.refresh()
    t.not(fresh.keyId, before.keyId)
    t.equal(session.principal?.keyId, fresh.keyId)
    const who = await session.request<{ keyId: string }>('GET', '/auth/whoami')
    t.equal(who.data.keyId, fresh.keyId)
    const old = make({ credentials: before })
    t.equal((await old.request('GET', '/auth/whoami')).status, 200)
  })

  t.test('a key due for refresh is refreshed before the request', async t => {
    const due = make({ credentials: session.exportCredentials() as Credentials, refreshBeforeMs: 7 * 3600_000 })
    const before = due.principal?.keyId
    const who = await due.request<{ keyId: string }>('GET', '/auth/whoami')
    t.not(due.principal?.keyId, before, 'the key changed')
    t.equal(who.data.keyId, due.principal?.keyId, 'and the request was signed with the new key')
    const notDue = make({ credentials: session.exportCredentials() as Credentials })
    const kept = notDue.principal?.keyId
    await notDue.request('GET', '/auth/whoami')
    t.equal(notDue.principal?.keyId, kept, 'a key far from expiry is not refreshed')
  })

  t.test('AUTH_STALE: the offset is learned from X-Server-Time and the request signed again once', async t => {
    for (const skew of [-60_000, 90_000]) {
      const retries: string[] = []
      const signed: SignInfo[] = []
      const skewed = make({ credentials: session.exportCredentials() as Credentials, now: () => Date.now() + skew, onRetry: r => retries.push(r.code), onSign: s => signed.push(s) })
      const res = await skewed.request('GET', '/auth/whoami')
      t.equal(res.status, 200, `clock off by ${skew} ms`)
      t.same(retries, ['AUTH_STALE'])
      t.equal(signed.length, 2)
      t.ok(Math.abs(skewed.offsetMs + skew) < 5000, `offset ${skewed.offsetMs} undoes the skew`)
      const times = signed.map(s => Number(s.headers['x-microtime']))
      t.ok(Math.abs((times[1] as number) - Date.now()) < 5000, 'the second signature carries the server time')
      // The offset sticks: the next request needs no retry.
      await skewed.request('GET', '/auth/whoami')
      t.same(retries, ['AUTH_STALE'])
      const later = signed.map(s => Number(s.headers['x-microtime']))
      t.ok((later[2] as number) > (later[1] as number), 'X-Microtime keeps increasing')
    }
    // A clock that keeps running away: signed again once, then the AuthError.
    let calls = 0
    const signed: SignInfo[] = []
    const runaway = make({ credentials: session.exportCredentials() as Credentials, now: () => Date.now() + 60_000 + (calls++) * 60_000, onSign: s => signed.push(s) })
    const err = await runaway.request('GET', '/auth/whoami').catch((e: unknown) => e)
    t.ok(isApiError(err, 'AUTH_STALE'), 'AUTH_STALE after the one re-sign')
    t.equal(signed.length, 2, 'exactly one re-sign')
  })

  t.test('AUTH_REPLAY: signed again once for an idempotent method, never for POST', async t => {
    // Two clients sharing a key and a frozen clock send the same signature.
    const creds = session.exportCredentials() as Credentials
    const frozen = Date.now()
    const retries: string[] = []
    const a = make({ credentials: creds, now: () => frozen })
    const b = make({ credentials: creds, now: () => frozen, onRetry: r => retries.push(r.code) })
    t.equal((await a.request('GET', '/auth/whoami')).status, 200)
    t.equal((await b.request('GET', '/auth/whoami')).status, 200, 'the replayed GET is signed again and passes')
    t.same(retries, ['AUTH_REPLAY'])

    const frozen2 = Date.now()
    const signed: SignInfo[] = []
    const c = make({ credentials: creds, now: () => frozen2 })
    const d = make({ credentials: creds, now: () => frozen2, onSign: s => signed.push(s) })
    t.equal((await c.request('POST', '/auth/refresh')).status, 200)
    const err = await d.request('POST', '/auth/refresh').catch((e: unknown) => e)
    t.ok(isApiError(err, 'AUTH_REPLAY'), 'a replayed POST is an AuthError, not retried')
    t.equal(signed.length, 1)
  })

  t.test('a client key (registered by an admin) signs the same way; refresh is refused locally', async t => {
    const admin = make()
    await admin.login(ADMIN, ADMIN_PASSWORD)
    const reg = await admin.request<{ principal: string, keyId: string, secret: string }>('POST', '/admin/clients', { name: 'sdk-test-app', kind: 'app' })
    t.equal(reg.status, 201)
    const app = make({ credentials: { username: reg.data.principal, keyId: reg.data.keyId, signingKey: reg.data.secret } })
    const who = await app.request('GET', '/auth/whoami')
    t.same(who.data, { username: reg.data.principal, kind: 'app', keyId: reg.data.keyId, expiresAt: null })
    const articles = await app.request<{ items: unknown[] }>('GET', '/v1/public/articles?limit=5')
    t.equal(articles.status, 200, 'the public area takes a client key')
    const notes = await app.request('GET', '/v1/notes').catch((e: unknown) => e)
    t.ok(isApiError(notes, 'FORBIDDEN') && !(notes instanceof AuthError), 'a client key on /v1/notes: 403 FORBIDDEN, an ApiError that is not an AuthError')
    await t.rejects(app.refresh(), UsageError)
    await t.rejects(app.logout(), UsageError)
  })

  t.test('logout revokes every key of the session: AUTH_KEY_REVOKED, needsLogin', async t => {
    const current = session.exportCredentials() as Credentials
    await session.logout()
    t.equal(session.principal, null)
    t.same(saved.at(-1), null, 'onCredentials sees the logout')
    await t.rejects(session.request('GET', '/auth/whoami'), UsageError, 'a logged-out client refuses locally')
    const stale = make({ credentials: current })
    const err = await stale.request('GET', '/auth/whoami').catch((e: unknown) => e)
    t.ok(err instanceof AuthError)
    t.equal((err as AuthError).code, 'AUTH_KEY_REVOKED')
    t.equal((err as AuthError).needsLogin, true)
    t.equal((err as AuthError).status, 401)
    const firstKey = make({ credentials: saved[0] as Credentials })
    await t.rejects(firstKey.request('GET', '/auth/whoami'), { code: 'AUTH_KEY_REVOKED' }, 'the pre-refresh key of the session too')
    await stale.logout()
    t.equal(stale.principal, null, 'logging out a revoked key counts as logged out')
  })

  t.test('a note: create and read back (api-v1.md /v1/notes)', async t => {
    const writer = make()
    await writer.login(alice, PASSWORD)
    const created = await writer.request<{ id: string, owner: string, title: string, body: string }>('POST', '/v1/notes', { title: 'Grocery list', body: 'café ☕ and\nbread' })
    t.equal(created.status, 201)
    t.equal(created.data.owner, alice)
    const read = await writer.request<{ id: string, title: string, body: string }>('GET', `/v1/notes/${encodeURIComponent(created.data.id)}`)
    t.equal(read.status, 200)
    t.same({ title: read.data.title, body: read.data.body }, { title: 'Grocery list', body: 'café ☕ and\nbread' })
  })
})

t.test('local refusals need no server', async t => {
  const api = new SignedApiClient({ baseUrl: 'https://127.0.0.1:1', credentials: { username: 'alice', keyId: 'k1', signingKey: 'secret' } })
  await t.rejects(api.request('GET', 'https://example.com/v1/notes'), UsageError, 'a URL is not a target')
  await t.rejects(api.request('GET', '/v1/notes/a b'), UsageError, 'a space must be percent-encoded')
  await t.rejects(api.request('GET', '/v1/notes/é'), UsageError, 'non-ASCII must be percent-encoded')
  t.throws(() => new SignedApiClient({ baseUrl: 'ftp://x' }), UsageError)
  t.throws(() => new SignedApiClient({ baseUrl: 'not a url' }), UsageError)
  await t.rejects(new SignedApiClient({ baseUrl: 'https://127.0.0.1:1' }).request('GET', '/auth/whoami'), UsageError, 'no key, no request')
  const err = await api.request('GET', '/auth/whoami').catch((e: unknown) => e)
  t.equal((err as Error).name, 'TransportError', 'a refused connection is a TransportError')
})
