/** The private area: notes, grants, 404-not-403, paging (api-v1.md). */
import t from 'tap'
import { buildTestApp, signedInject, signupAndLogin, type Credential, type TestApp } from '../helper.js'
import { issueKey } from '../../src/auth/keys.js'
import { clientSid } from '../../src/auth/scopes.js'
import { USERNAME_PATTERN } from '../../src/schemas/common.js'

async function setup (t: Parameters<typeof buildTestApp>[0], env: Record<string, string> = {}): Promise<TestApp & { call: (c: Credential, method: string, url: string, body?: unknown) => Promise<{ status: number, json: any, body: string, headers: Record<string, unknown> }> }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const ctx = await buildTestApp(t, { env })
  const call = async (c: Credential, method: string, url: string, body?: unknown): Promise<{ status: number, json: any, body: string, headers: Record<string, unknown> }> => { // eslint-disable-line @typescript-eslint/no-explicit-any
    const res = await signedInject(ctx.app, ctx.clock, c, { method, url, ...(body === undefined ? {} : { body: JSON.stringify(body) }) })
    return { status: res.statusCode, json: res.body === '' ? null : res.json(), body: res.body, headers: res.headers }
  }
  return { ...ctx, call }
}

t.test('create, read, update, delete a note as its owner', async t => {
  const { app, call, clock } = await setup(t)
  const alice = await signupAndLogin(app, 'alice')
  const created = await call(alice, 'POST', '/v1/notes', { title: 'Groceries', body: 'milk' })
  t.equal(created.status, 201)
  t.match(created.json, { owner: 'alice', title: 'Groceries', body: 'milk', grants: {}, createdAt: new Date(clock.now()).toISOString() })
  t.match(created.json.id, /^[A-Za-z0-9_-]{1,64}$/)
  const id = created.json.id as string
  t.same((await call(alice, 'GET', `/v1/notes/${id}`)).json, created.json)
  clock.advance(1000)
  const patched = await call(alice, 'PATCH', `/v1/notes/${id}`, { body: 'milk, eggs' })
  t.equal(patched.status, 200)
  t.equal(patched.json.body, 'milk, eggs')
  t.equal(patched.json.title, 'Groceries')
  t.equal(patched.json.updatedAt, new Date(clock.now()).toISOString())
  t.equal((await call(alice, 'DELETE', `/v1/notes/${id}`)).status, 204)
  t.equal((await call(alice, 'GET', `/v1/notes/${id}`)).json.code, 'NOT_FOUND')
  t.equal((await call(alice, 'DELETE', `/v1/notes/${id}`)).status, 404)
})

t.test('grants: read and write exactly as api-v1.md says; existence never leaks', async t => {
  const { app, call } = await setup(t)
  const alice = await signupAndLogin(app, 'alice')
  const bob = await signupAndLogin(app, 'bob')
  const carol = await signupAndLogin(app, 'carol')
  const id = (await call(alice, 'POST', '/v1/notes', { title: 'Plan', body: 'secret' })).json.id as string

  const stranger = await call(carol, 'GET', `/v1/notes/${id}`)
  const missing = await call(carol, 'GET', '/v1/notes/doesnotexist')
  t.equal(stranger.status, 404, 'a note you may not see is 404')
  t.same(stranger.json, missing.json, 'exactly like a note that does not exist')
  for (const [method, url, body] of [['PATCH', `/v1/notes/${id}`, { title: 'x' }], ['DELETE', `/v1/notes/${id}`], ['PUT', `/v1/notes/${id}/grants/carol`, { access: 'read' }], ['DELETE', `/v1/notes/${id}/grants/bob`]] as const) {
    t.equal((await call(carol, method, url, body)).status, 404, `${method} ${url} by a stranger is 404`)
  }

  const granted = await call(alice, 'PUT', `/v1/notes/${id}/grants/bob`, { access: 'read' })
  t.equal(granted.status, 200)
  t.same(granted.json.grants, { bob: 'read' }, 'the owner sees the grants')
  const asBob = await call(bob, 'GET', `/v1/notes/${id}`)
  t.equal(asBob.status, 200)
  t.same(asBob.json.grants, {}, 'a grantee sees {}')
  const bobPatch = await call(bob, 'PATCH', `/v1/notes/${id}`, { title: 'mine now' })
  t.equal(bobPatch.status, 403, 'read-only grantee may see it, so 403')
  t.equal(bobPatch.json.code, 'FORBIDDEN')
  t.equal((await call(bob, 'DELETE', `/v1/notes/${id}`)).status, 403, 'only the owner deletes')
  t.equal((await call(bob, 'PUT', `/v1/notes/${id}/grants/carol`, { access: 'read' })).status, 403, 'only the owner manages grants')

  t.equal((await call(alice, 'PUT', `/v1/notes/${id}/grants/bob`, { access: 'write' })).status, 200)
  const bobWrite = await call(bob, 'PATCH', `/v1/notes/${id}`, { title: 'edited by bob' })
  t.equal(bobWrite.status, 200, 'a write grantee edits')
  t.same(bobWrite.json.grants, {})
  t.equal((await call(bob, 'DELETE', `/v1/notes/${id}`)).status, 403, 'but does not delete')

  const self = await call(alice, 'PUT', `/v1/notes/${id}/grants/alice`, { access: 'read' })
  t.equal(self.status, 400)
  t.equal(self.json.code, 'VALIDATION_FAILED')
  const ghost = await call(alice, 'PUT', `/v1/notes/${id}/grants/nobody`, { access: 'read' })
  t.equal(ghost.status, 404)
  t.equal(ghost.json.code, 'USER_NOT_FOUND')
  t.equal((await call(alice, 'PUT', `/v1/notes/${id}/grants/bob`, { access: 'admin' })).json.code, 'VALIDATION_FAILED')

  const revoked = await call(alice, 'DELETE', `/v1/notes/${id}/grants/bob`)
  t.same(revoked.json.grants, {})
  t.equal((await call(bob, 'GET', `/v1/notes/${id}`)).status, 404, 'after the grant is removed, bob cannot see it')
})

t.test('a client key on the private area is 403 FORBIDDEN', async t => {
  const { call, keyring, config, clock } = await setup(t)
  const key = issueKey(keyring, config.audience, 'service:abc', { kind: 'service', sessionStart: clock.now(), issuedAt: clock.now(), expiresAt: null, sid: clientSid(1, ['public:read', 'articles:write']) })
  const res = await call({ username: 'service:abc', keyId: key.keyId, signingKey: key.signingKey }, 'GET', '/v1/notes')
  t.equal(res.status, 403)
  t.equal(res.json.code, 'FORBIDDEN')
})

t.test('listing: owned and granted, newest first, paged, stable when notes come and go', async t => {
  const { app, call, clock } = await setup(t)
  const alice = await signupAndLogin(app, 'alice')
  const bob = await signupAndLogin(app, 'bob')
  const ids: string[] = []
  for (let i = 0; i < 7; i++) {
    clock.advance(i % 2) // some notes share a createdAt: ties are ordered by id
    const owner = i === 3 ? bob : alice
    const id = (await call(owner, 'POST', '/v1/notes', { title: `n${i}`, body: '' })).json.id as string
    if (i === 3) await call(bob, 'PUT', `/v1/notes/${id}/grants/alice`, { access: 'read' })
    ids.push(id)
  }
  const other = (await call(bob, 'POST', '/v1/notes', { title: 'private to bob', body: '' })).json.id as string
  const all = (await call(alice, 'GET', '/v1/notes?limit=100')).json
  t.equal(all.items.length, 7, 'owned and granted, not bob\'s private note')
  t.notOk(all.items.some((n: { id: string }) => n.id === other))
  t.equal(all.next, null)
  const order = all.items.map((n: { id: string }) => n.id)

  const first = (await call(alice, 'GET', '/v1/notes?limit=3')).json
  t.same(first.items.map((n: { id: string }) => n.id), order.slice(0, 3))
  t.type(first.next, 'string')
  // Between pages: a newer note appears and an already-seen one and a not-yet-seen one vanish.
  clock.advance(10)
  await call(alice, 'POST', '/v1/notes', { title: 'newer', body: '' })
  await call(alice, 'DELETE', `/v1/notes/${order[1] as string}`)
  await call(alice, 'DELETE', `/v1/notes/${order[4] as string}`)
  const seen = [...first.items.map((n: { id: string }) => n.id)]
  let next = first.next as string | null
  while (next !== null) {
    const page = (await call(alice, 'GET', `/v1/notes?limit=3&after=${next}`)).json
    seen.push(...page.items.map((n: { id: string }) => n.id))
    next = page.next
  }
  t.same(seen, order.filter((id: string) => id !== order[4]), 'no repeats, no skips of notes that existed on both reads')

  for (const bad of ['limit=0', 'limit=101', 'limit=abc', 'after=garbled!', 'after=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 'unknown=1']) {
    const res = await call(alice, 'GET', `/v1/notes?${bad}`)
    t.equal(res.status, 400, bad)
    t.equal(res.json.code, 'VALIDATION_FAILED', bad)
  }
  const bobsCursor = (await call(bob, 'GET', '/v1/notes?limit=1')).json.next as string
  t.equal((await call(alice, 'GET', `/v1/notes?after=${bobsCursor}`)).json.code, 'VALIDATION_FAILED', 'a cursor from another user\'s list is refused')
  const flipped = first.next.slice(0, -2) + (first.next.endsWith('A') ? 'BA' : 'AA')
  t.equal((await call(alice, 'GET', `/v1/notes?after=${flipped}`)).json.code, 'VALIDATION_FAILED', 'a tampered cursor is refused')
})

t.test('validation: lengths, unknown fields, empty patches', async t => {
  const { app, call } = await setup(t)
  const alice = await signupAndLogin(app, 'alice')
  for (const [label, body, field] of [
    ['empty title', { title: '', body: 'x' }, 'title'],
    ['long title', { title: 'x'.repeat(201), body: 'x' }, 'title'],
    ['long body', { title: 'x', body: 'x'.repeat(100_001) }, 'body'],
    ['unknown field', { title: 'x', body: 'x', owner: 'bob' }, 'owner'],
    ['missing body', { title: 'x' }, 'body']
  ] as const) {
    const res = await call(alice, 'POST', '/v1/notes', body)
    t.equal(res.status, 400, label)
    t.equal(res.json.code, 'VALIDATION_FAILED', label)
    t.match(res.json.message, field, label)
  }
  const id = (await call(alice, 'POST', '/v1/notes', { title: 'x', body: '' })).json.id as string
  t.equal((await call(alice, 'PATCH', `/v1/notes/${id}`, {})).json.code, 'VALIDATION_FAILED', 'an empty patch')
  t.equal((await call(alice, 'GET', '/v1/notes/bad%20id')).json.code, 'VALIDATION_FAILED', 'an id outside the grammar')
  t.equal((await call(alice, 'GET', `/v1/notes/${'x'.repeat(65)}`)).json.code, 'VALIDATION_FAILED')
})

// Valid usernames that are also properties of Object.prototype: a plain object
// of grants answers them with an inherited value ('constructor' today).
const PROTOTYPE_NAMES = Object.getOwnPropertyNames(Object.prototype).filter(n => new RegExp(USERNAME_PATTERN).test(n))

t.test('a username that is an Object.prototype property is an ordinary name (api-v1.md, rules that close races)', async t => {
  t.ok(PROTOTYPE_NAMES.includes('constructor'), 'constructor is a valid username')
  for (const name of PROTOTYPE_NAMES) {
    await t.test(name, async t => {
      const { app, call } = await setup(t)
      const alice = await signupAndLogin(app, 'alice')
      const bob = await signupAndLogin(app, 'bob')
      const probe = await signupAndLogin(app, name)
      const id = (await call(alice, 'POST', '/v1/notes', { title: 'Plan', body: 'secret' })).json.id as string
      const missing = await call(probe, 'GET', '/v1/notes/doesnotexist')

      const read = await call(probe, 'GET', `/v1/notes/${id}`)
      t.equal(read.status, 404, `${name} cannot read another user's note`)
      t.same(read.json, missing.json, 'exactly like a note that does not exist')
      for (const [method, url, body] of [['PATCH', `/v1/notes/${id}`, { title: 'x' }], ['DELETE', `/v1/notes/${id}`], ['PUT', `/v1/notes/${id}/grants/bob`, { access: 'read' }], ['DELETE', `/v1/notes/${id}/grants/bob`]] as const) {
        const res = await call(probe, method, url, body)
        t.equal(res.status, 404, `${method} ${url} by ${name} is 404, not 403`)
        t.equal(res.json.code, 'NOT_FOUND')
      }
      t.same((await call(probe, 'GET', '/v1/notes')).json, { items: [], next: null }, `${name} lists nothing`)
      t.equal((await call(alice, 'GET', `/v1/notes/${id}`)).json.title, 'Plan', 'the note is untouched')

      const granted = await call(alice, 'PUT', `/v1/notes/${id}/grants/${name}`, { access: 'read' })
      t.equal(granted.status, 200, `a grant to ${name} works`)
      t.match(granted.body, `"grants":{${JSON.stringify(name)}:"read"}`, 'the grant is serialised as an ordinary key')
      t.strictSame(granted.json.grants, { [name]: 'read' })
      const both = await call(alice, 'PUT', `/v1/notes/${id}/grants/bob`, { access: 'write' })
      t.strictSame(both.json.grants, { [name]: 'read', bob: 'write' }, 'next to other grants')
      t.strictSame((await call(alice, 'GET', `/v1/notes/${id}`)).json.grants, { [name]: 'read', bob: 'write' }, 'and read back')
      const asProbe = await call(probe, 'GET', `/v1/notes/${id}`)
      t.equal(asProbe.status, 200, `${name} reads what it was granted`)
      t.strictSame(asProbe.json.grants, {}, 'a grantee sees {}')
      t.same((await call(probe, 'GET', '/v1/notes')).json.items.map((n: { id: string }) => n.id), [id], 'and lists it')
      t.equal((await call(probe, 'PATCH', `/v1/notes/${id}`, { title: 'x' })).status, 403, 'read-only: 403')
      t.equal((await call(alice, 'PUT', `/v1/notes/${id}/grants/${name}`, { access: 'write' })).status, 200)
      t.equal((await call(probe, 'PATCH', `/v1/notes/${id}`, { title: 'edited' })).status, 200, 'a write grant lets it edit')
      t.equal((await call(probe, 'DELETE', `/v1/notes/${id}`)).status, 403, 'but not delete')
      t.strictSame((await call(alice, 'DELETE', `/v1/notes/${id}/grants/${name}`)).json.grants, { bob: 'write' }, 'the grant is removed')
      t.equal((await call(probe, 'GET', `/v1/notes/${id}`)).status, 404, 'and it is a stranger again')
      t.equal((await call(bob, 'GET', `/v1/notes/${id}`)).status, 200, 'other grants untouched')

      const own = await call(probe, 'POST', '/v1/notes', { title: 'mine', body: '' })
      t.equal(own.status, 201, `${name} owns notes like anyone`)
      t.strictSame(own.json.grants, {})
      t.equal((await call(alice, 'GET', `/v1/notes/${own.json.id as string}`)).status, 404, 'which others cannot see')
    })
  }
})

t.test('granting to unknown names is rate limited per user; known names do not count', async t => {
  const { app, call, advance } = await setup(t, { LOGIN_MAX_FAILURES: '3', LOGIN_WINDOW_SECONDS: '60' })
  const alice = await signupAndLogin(app, 'alice')
  const bob = await signupAndLogin(app, 'bob')
  await signupAndLogin(app, 'carol')
  const id = (await call(alice, 'POST', '/v1/notes', { title: 'Plan', body: '' })).json.id as string
  for (let i = 0; i < 5; i++) {
    t.equal((await call(alice, 'PUT', `/v1/notes/${id}/grants/bob`, { access: i % 2 === 0 ? 'read' : 'write' })).status, 200, `grant to an existing name ${i + 1}: not counted`)
  }
  for (let i = 0; i < 3; i++) {
    const res = await call(alice, 'PUT', `/v1/notes/${id}/grants/ghost${i}`, { access: 'read' })
    t.equal(res.json.code, 'USER_NOT_FOUND', `unknown name ${i + 1} of 3`)
  }
  const over = await call(alice, 'PUT', `/v1/notes/${id}/grants/ghost3`, { access: 'read' })
  t.equal(over.status, 429, 'the next unknown name is refused')
  t.equal(over.json.code, 'RATE_LIMITED')
  const wait = Number(over.headers['retry-after'])
  t.ok(wait > 0 && wait <= 60, `Retry-After within the window (${String(over.headers['retry-after'])})`)
  const known = await call(alice, 'PUT', `/v1/notes/${id}/grants/carol`, { access: 'read' })
  t.equal(known.status, 429, 'over the limit an existing name is refused too, so the answer tells nothing')
  t.strictSame((await call(alice, 'GET', `/v1/notes/${id}`)).json.grants, { bob: 'read' }, 'and no grant was made')
  t.equal((await call(alice, 'DELETE', `/v1/notes/${id}/grants/bob`)).status, 200, 'removing a grant needs no lookup and is not limited')

  const bobs = (await call(bob, 'POST', '/v1/notes', { title: 'B', body: '' })).json.id as string
  t.equal((await call(bob, 'PUT', `/v1/notes/${bobs}/grants/ghost0`, { access: 'read' })).json.code, 'USER_NOT_FOUND', 'another user has a count of its own')

  await advance(60_000)
  t.equal((await call(alice, 'PUT', `/v1/notes/${id}/grants/ghost4`, { access: 'read' })).json.code, 'USER_NOT_FOUND', 'a new window starts afresh')
  t.equal((await call(alice, 'PUT', `/v1/notes/${id}/grants/carol`, { access: 'read' })).status, 200)
})
