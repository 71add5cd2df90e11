/**
 * The Store contract: what src/store/port.ts promises, checked the same way
 * against every adapter. Each subtest calls `open()` for a fresh, empty
 * store and closes it at teardown. Times are explicit `now` values; nothing
 * sleeps.
 */
import type { Test } from 'tap'
import type { Revocation, SequencedRevocation } from '../../src/auth/revocation.js'
import { ConflictError, type Access, type Cursor, type Store } from '../../src/store/port.js'

const T0 = Date.UTC(2026, 0, 1)

interface Keyed { id: string, createdAt: number }

/** JS string order on ASCII ids is byte order, which both SQLite (BINARY) and MongoDB (simple collation) use. */
const newestFirst = (a: Keyed, b: Keyed): number =>
  b.createdAt - a.createdAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0)
const cursorOf = (item: Keyed): Cursor => ({ createdAt: item.createdAt, id: item.id })
const isAfter = (item: Keyed, c: Cursor): boolean => item.createdAt < c.createdAt || (item.createdAt === c.createdAt && item.id < c.id)

/**
 * Grants as the port returns them: a null-prototype object (strictSame checks
 * the prototype too). Built from entries, so that even `__proto__` is an own key.
 */
const G = (entries: Record<string, Access> | Array<[string, Access]> = []): Record<string, Access> => {
  const grants = Object.create(null) as Record<string, Access>
  for (const [k, v] of Array.isArray(entries) ? entries : Object.entries(entries)) grants[k] = v
  return grants
}
/** Names a plain object answers without an own entry: grants keyed by them must hold only what was granted. */
const PROTOTYPE_NAMES = Object.getOwnPropertyNames(Object.prototype)

/** Runs the whole contract against stores made by `open` (each call must return a fresh, empty store). */
export async function runStoreContract (t: Test, name: string, open: () => Promise<Store>): Promise<void> {
  const fresh = async (t: Test): Promise<Store> => {
    const store = await open()
    t.teardown(async () => { await store.close() })
    return store
  }

  await t.test(`${name}: users`, async t => {
    const store = await fresh(t)
    const created = await store.createUser({ username: 'ann.lee', passwordHash: 'h1', roles: ['editor'] }, T0)
    const ann = { username: 'ann.lee', passwordHash: 'h1', roles: ['editor'], disabled: false, createdAt: T0, updatedAt: T0 }
    t.strictSame(created, ann, 'createUser returns the stored user')
    t.strictSame(await store.findUser('ann.lee'), ann, 'findUser reads it back')
    t.equal(await store.findUser('ann'), null, 'unknown username: null')
    t.equal(await store.findUser('ann_lee'), null, 'the dot is not a wildcard')

    await t.rejects(store.createUser({ username: 'ann.lee', passwordHash: 'other', roles: [] }, T0 + 1), ConflictError, 'a taken username is ConflictError')
    t.equal((await store.findUser('ann.lee'))?.passwordHash, 'h1', 'the conflict left the first user alone')

    t.equal(await store.setPassword('ann.lee', 'h2', T0 + 10), true, 'setPassword on a user: true')
    t.strictSame(await store.findUser('ann.lee'), { ...ann, passwordHash: 'h2', updatedAt: T0 + 10 }, 'hash and updatedAt changed, nothing else')
    t.equal(await store.setPassword('nobody', 'h', T0), false, 'setPassword on no user: false')
    t.equal(await store.findUser('nobody'), null, 'setPassword did not create a user')

    t.strictSame(await store.updateUser('ann.lee', { roles: ['admin', 'editor'] }, T0 + 20),
      { ...ann, passwordHash: 'h2', roles: ['admin', 'editor'], updatedAt: T0 + 20 }, 'roles only')
    t.strictSame(await store.updateUser('ann.lee', { disabled: true }, T0 + 30),
      { ...ann, passwordHash: 'h2', roles: ['admin', 'editor'], disabled: true, updatedAt: T0 + 30 }, 'disabled only keeps roles')
    t.strictSame(await store.updateUser('ann.lee', { roles: [], disabled: false }, T0 + 40),
      { ...ann, passwordHash: 'h2', roles: [], disabled: false, updatedAt: T0 + 40 }, 'both at once')
    t.strictSame(await store.findUser('ann.lee'), { ...ann, passwordHash: 'h2', roles: [], updatedAt: T0 + 40 }, 'updateUser persisted')
    t.equal(await store.updateUser('nobody', { disabled: true }, T0), null, 'updateUser on no user: null')
  })

  await t.test(`${name}: replacePasswordHash is a compare-and-set on the hash`, async t => {
    const store = await fresh(t)
    await store.createUser({ username: 'ann.lee', passwordHash: 'old', roles: ['editor'] }, T0)
    const ann = { username: 'ann.lee', passwordHash: 'old', roles: ['editor'], disabled: false, createdAt: T0, updatedAt: T0 }
    t.equal(await store.replacePasswordHash('ann.lee', 'other', 'new', T0 + 5), false, 'a hash that is not the stored one: false')
    t.strictSame(await store.findUser('ann.lee'), ann, 'and nothing changed')
    t.equal(await store.replacePasswordHash('ann.lee', 'old', 'new', T0 + 10), true, 'the stored hash: true')
    t.strictSame(await store.findUser('ann.lee'), { ...ann, passwordHash: 'new', updatedAt: T0 + 10 }, 'hash and updatedAt changed, nothing else')
    t.equal(await store.replacePasswordHash('ann.lee', 'old', 'newer', T0 + 20), false, 'the old hash a second time: false')
    t.equal((await store.findUser('ann.lee'))?.passwordHash, 'new', 'a password changed meanwhile is not overwritten')
    t.equal(await store.replacePasswordHash('nobody', 'old', 'new', T0), false, 'no such user: false')
    t.equal(await store.findUser('nobody'), null, 'and no user was created')

    // A changed password (setPassword) and an upgrade that read the hash before it: the change stays.
    await store.setPassword('ann.lee', 'changed', T0 + 30)
    t.equal(await store.replacePasswordHash('ann.lee', 'new', 'upgraded', T0 + 31), false)
    t.equal((await store.findUser('ann.lee'))?.passwordHash, 'changed')

    const results = await Promise.all(Array.from({ length: 8 }, async (_, i) =>
      await store.replacePasswordHash('ann.lee', 'changed', `h${i}`, T0 + 40 + i)))
    t.equal(results.filter(r => r).length, 1, 'concurrent replacements of one hash: exactly one wins')
    const winner = results.indexOf(true)
    t.equal((await store.findUser('ann.lee'))?.passwordHash, `h${winner}`, 'and its hash is the one stored')
  })

  await t.test(`${name}: concurrent signups of one name: exactly one wins`, async t => {
    const store = await fresh(t)
    const results = await Promise.allSettled(Array.from({ length: 8 }, async (_, i) =>
      await store.createUser({ username: 'dup', passwordHash: `h${i}`, roles: [] }, T0 + i)))
    const won = results.filter(r => r.status === 'fulfilled')
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected')
    t.equal(won.length, 1, 'one signup succeeds')
    t.equal(lost.length, 7, 'the others fail')
    t.ok(lost.every(r => r.reason instanceof ConflictError), 'each failure is ConflictError')
    const stored = await store.findUser('dup')
    t.ok(stored !== null && won[0]?.status === 'fulfilled' && stored.passwordHash === won[0].value.passwordHash, 'the stored user is the winner')
  })

  await t.test(`${name}: notes`, async t => {
    const store = await fresh(t)
    const base = { id: 'n1', owner: 'alice', title: 'T', body: 'B', grants: G(), createdAt: T0, updatedAt: T0 }
    t.strictSame(await store.createNote({ id: 'n1', owner: 'alice', title: 'T', body: 'B' }, T0), base, 'createNote returns the note, no grants')
    t.strictSame(await store.getNote('n1'), base, 'getNote reads it back')
    t.equal(await store.getNote('n2'), null, 'unknown id: null')

    await t.rejects(store.createNote({ id: 'n1', owner: 'mallory', title: 'X', body: 'X' }, T0 + 1), ConflictError, 'an existing id is ConflictError')
    t.strictSame(await store.getNote('n1'), base, 'the conflict did not overwrite the note')

    t.strictSame(await store.updateNote('n1', { title: 'T2' }, T0 + 10), { ...base, title: 'T2', updatedAt: T0 + 10 }, 'title only')
    t.strictSame(await store.updateNote('n1', { body: 'B2' }, T0 + 20), { ...base, title: 'T2', body: 'B2', updatedAt: T0 + 20 }, 'body only')
    t.strictSame(await store.updateNote('n1', { title: 'T3', body: 'B3' }, T0 + 30), { ...base, title: 'T3', body: 'B3', updatedAt: T0 + 30 }, 'both')
    t.strictSame(await store.getNote('n1'), { ...base, title: 'T3', body: 'B3', updatedAt: T0 + 30 }, 'updateNote persisted')
    t.equal(await store.updateNote('nope', { title: 'x' }, T0), null, 'updateNote on no note: null')

    t.equal(await store.deleteNote('n1'), true, 'deleteNote: true')
    t.equal(await store.getNote('n1'), null, 'gone')
    t.equal(await store.deleteNote('n1'), false, 'second delete: false')
    t.strictSame(await store.listNotesFor('alice', null, 10), [], 'no longer listed')
  })

  await t.test(`${name}: grants`, async t => {
    const store = await fresh(t)
    const base = { id: 'n1', owner: 'alice', title: 'T', body: 'B', createdAt: T0, updatedAt: T0 }
    await store.createNote({ id: 'n1', owner: 'alice', title: 'T', body: 'B' }, T0)

    t.strictSame(await store.setGrant('n1', 'bob', 'read', T0 + 1), { ...base, grants: G({ bob: 'read' }), updatedAt: T0 + 1 }, 'grant read')
    t.strictSame(await store.setGrant('n1', 'bob', 'write', T0 + 2), { ...base, grants: G({ bob: 'write' }), updatedAt: T0 + 2 }, 'upgrade to write replaces, not duplicates')
    // Dotted names must survive as names, not as nested paths.
    t.strictSame(await store.setGrant('n1', 'carl.d', 'read', T0 + 3), { ...base, grants: G({ bob: 'write', 'carl.d': 'read' }), updatedAt: T0 + 3 }, 'a dotted username')
    t.strictSame(await store.setGrant('n1', 'carl', 'write', T0 + 4),
      { ...base, grants: G({ bob: 'write', 'carl.d': 'read', carl: 'write' }), updatedAt: T0 + 4 }, 'a name that is a prefix of a dotted one')
    t.strictSame(await store.setGrant('n1', 'bob', null, T0 + 5), { ...base, grants: G({ 'carl.d': 'read', carl: 'write' }), updatedAt: T0 + 5 }, 'remove one grant')
    t.strictSame(await store.setGrant('n1', 'carl', null, T0 + 6), { ...base, grants: G({ 'carl.d': 'read' }), updatedAt: T0 + 6 }, 'removing carl keeps carl.d')
    t.strictSame(await store.setGrant('n1', 'zed', null, T0 + 7), { ...base, grants: G({ 'carl.d': 'read' }), updatedAt: T0 + 7 }, 'removing an absent grant changes no grant')
    t.strictSame(await store.getNote('n1'), { ...base, grants: G({ 'carl.d': 'read' }), updatedAt: T0 + 7 }, 'getNote shows the grants')
    t.strictSame(await store.updateNote('n1', { title: 'T2' }, T0 + 8), { ...base, title: 'T2', grants: G({ 'carl.d': 'read' }), updatedAt: T0 + 8 }, 'updateNote keeps grants')

    t.equal(await store.setGrant('nope', 'bob', 'read', T0), null, 'grant on no note: null')
    t.equal(await store.setGrant('nope', 'bob', null, T0), null, 'removal on no note: null')
    t.equal(await store.getNote('nope'), null, 'setGrant did not create a note')
  })

  await t.test(`${name}: concurrent grants on one note are never lost`, async t => {
    const store = await fresh(t)
    await store.createNote({ id: 'n1', owner: 'alice', title: 'T', body: 'B' }, T0)
    const users = Array.from({ length: 20 }, (_, i) => `user.${i}`)
    const results = await Promise.all(users.map(async (u, i) => await store.setGrant('n1', u, i % 2 === 0 ? 'read' : 'write', T0 + 1)))
    t.ok(results.every(n => n !== null), 'every call found the note')
    const expected: Record<string, Access> = Object.fromEntries(users.map((u, i) => [u, i % 2 === 0 ? 'read' : 'write']))
    t.strictSame((await store.getNote('n1'))?.grants, G(expected), 'all 20 grants are present')

    // Removals racing with additions: each touches only its own entry.
    const removed = users.slice(0, 10)
    const added = Array.from({ length: 10 }, (_, i) => `late-${i}`)
    await Promise.all([
      ...removed.map(async u => await store.setGrant('n1', u, null, T0 + 2)),
      ...added.map(async u => await store.setGrant('n1', u, 'read', T0 + 2))
    ])
    const after = { ...expected }
    for (const u of removed) delete after[u]
    for (const u of added) after[u] = 'read'
    t.strictSame((await store.getNote('n1'))?.grants, G(after), 'removals and additions all applied')
  })

  await t.test(`${name}: listNotesFor covers owned and granted notes`, async t => {
    const store = await fresh(t)
    const mk = async (id: string, owner: string, at: number): Promise<void> => { await store.createNote({ id, owner, title: id, body: '' }, at) }
    await mk('a1', 'alice', T0 + 1)
    await mk('b1', 'bob', T0 + 2)
    await mk('a2', 'alice', T0 + 3)
    await mk('b2', 'bob', T0 + 4)
    await mk('c1', 'carl', T0 + 5)
    await mk('b3', 'bob', T0 + 6)
    await store.setGrant('b1', 'alice', 'read', T0 + 7)
    await store.setGrant('b3', 'alice', 'write', T0 + 8)
    await store.setGrant('c1', 'alice.x', 'read', T0 + 9)
    await store.setGrant('b2', 'carl', 'read', T0 + 10)
    const ids = async (u: string, after: Cursor | null = null, limit = 100): Promise<string[]> => (await store.listNotesFor(u, after, limit)).map(n => n.id)

    t.strictSame(await ids('alice'), ['b3', 'a2', 'b1', 'a1'], 'owned and granted, newest first (by createdAt, not by grant time)')
    t.strictSame(await ids('alice.x'), ['c1'], 'a dotted grantee')
    t.strictSame(await ids('bob'), ['b3', 'b2', 'b1'], 'an owner with no grants sees their own')
    t.strictSame(await ids('carl'), ['c1', 'b2'], 'carl: owned and granted')
    t.strictSame(await ids('dave'), [], 'a stranger sees nothing')

    const notes = await store.listNotesFor('alice', null, 100)
    t.strictSame(notes[0], { id: 'b3', owner: 'bob', title: 'b3', body: '', grants: G({ alice: 'write' }), createdAt: T0 + 6, updatedAt: T0 + 8 }, 'items are whole notes')

    t.strictSame(await ids('alice', null, 2), ['b3', 'a2'], 'limit')
    t.strictSame(await ids('alice', { createdAt: T0 + 3, id: 'a2' }, 2), ['b1', 'a1'], 'the page after a cursor')
    t.strictSame(await ids('alice', { createdAt: T0 + 1, id: 'a1' }, 2), [], 'after the last: empty')

    await store.setGrant('b1', 'alice', null, T0 + 11)
    t.strictSame(await ids('alice'), ['b3', 'a2', 'a1'], 'a removed grant removes the note from the list')
    await store.deleteNote('b3')
    t.strictSame(await ids('alice'), ['a2', 'a1'], 'a deleted note leaves the grantee list')
  })

  await t.test(`${name}: grants keyed by names that are Object.prototype properties`, async t => {
    const store = await fresh(t)
    const created = await store.createNote({ id: 'n1', owner: 'alice', title: 'T', body: 'B' }, T0)
    t.equal(Object.getPrototypeOf(created.grants), null, 'createNote: grants is a null-prototype object')
    t.equal(Object.getPrototypeOf((await store.getNote('n1'))?.grants), null, 'getNote: the same')
    await store.createNote({ id: 'n2', owner: 'bob', title: 'T', body: 'B' }, T0 + 1)
    for (const who of PROTOTYPE_NAMES) {
      const note = await store.getNote('n1')
      t.notOk(note !== null && Object.hasOwn(note.grants, who), `no grant for ${who} before one is made`)
      t.equal(note?.grants[who], undefined, `grants[${JSON.stringify(who)}] finds nothing`)
      t.strictSame(await store.listNotesFor(who, null, 10), [], `${who} lists nothing`)
    }

    const entries: Array<[string, Access]> = []
    let at = T0 + 10
    for (const [i, who] of PROTOTYPE_NAMES.entries()) {
      const access: Access = i % 2 === 0 ? 'read' : 'write'
      entries.push([who, access])
      const note = await store.setGrant('n1', who, access, at)
      t.strictSame(note?.grants, G(entries), `setGrant to ${who} returns it as an own entry`)
      t.equal(Object.getPrototypeOf(note?.grants), null, 'still null-prototype')
      at++
    }
    t.ok(PROTOTYPE_NAMES.includes('__proto__'), '__proto__ among them')
    const read = await store.getNote('n1')
    t.strictSame(read?.grants, G(entries), 'getNote: every grant, __proto__ included')
    t.strictSame(Object.keys(read?.grants ?? {}).sort(), [...PROTOTYPE_NAMES].sort(), 'each an own key')
    t.equal(JSON.parse(JSON.stringify(read?.grants)).constructor, 'read', 'serialises as an ordinary key')
    t.strictSame((await store.listNotesFor('constructor', null, 10)).map(n => n.id), ['n1'], 'a grantee named constructor lists the note granted to it')
    t.strictSame((await store.listNotesFor('__proto__', null, 10))[0]?.grants, G(entries), 'list items carry the same grants')
    t.strictSame((await store.updateNote('n1', { body: 'B2' }, at))?.grants, G(entries), 'updateNote keeps them')
    t.strictSame((await store.getNote('n2'))?.grants, G(), 'another note has none')

    const rest = entries.filter(([who]) => who !== 'constructor' && who !== '__proto__')
    await store.setGrant('n1', 'constructor', null, at + 1)
    t.strictSame((await store.setGrant('n1', '__proto__', null, at + 2))?.grants, G(rest), 'removing constructor and __proto__ removes only them')
    t.strictSame(await store.listNotesFor('constructor', null, 10), [], 'constructor no longer lists it')
  })

  await t.test(`${name}: notes paging is stable under inserts and deletes`, async t => {
    const store = await fresh(t)
    // Half the notes are alice's, half granted to her: paging must merge both.
    let n = 0
    await checkPaging(t, {
      insert: async (id, createdAt) => {
        const owner = n++ % 2 === 0 ? 'alice' : 'bob'
        await store.createNote({ id, owner, title: id, body: '' }, createdAt)
        if (owner === 'bob') await store.setGrant(id, 'alice', 'read', createdAt)
      },
      remove: async id => { t.equal(await store.deleteNote(id), true, `deleted ${id}`) },
      list: async (after, limit) => await store.listNotesFor('alice', after, limit)
    })
  })

  await t.test(`${name}: articles`, async t => {
    const store = await fresh(t)
    const base = { id: 'x1', title: 'T', body: 'B', author: 'ann', createdAt: T0, updatedAt: T0 }
    t.strictSame(await store.createArticle({ id: 'x1', title: 'T', body: 'B', author: 'ann' }, T0), base, 'createArticle')
    t.strictSame(await store.getArticle('x1'), base, 'getArticle')
    t.equal(await store.getArticle('x2'), null, 'unknown id: null')
    await t.rejects(store.createArticle({ id: 'x1', title: 'X', body: 'X', author: 'eve' }, T0 + 1), ConflictError, 'an existing id is ConflictError')
    t.strictSame(await store.getArticle('x1'), base, 'not overwritten')

    t.strictSame(await store.updateArticle('x1', { title: 'T2' }, T0 + 10), { ...base, title: 'T2', updatedAt: T0 + 10 }, 'title only')
    t.strictSame(await store.updateArticle('x1', { body: 'B2' }, T0 + 20), { ...base, title: 'T2', body: 'B2', updatedAt: T0 + 20 }, 'body only')
    t.strictSame(await store.getArticle('x1'), { ...base, title: 'T2', body: 'B2', updatedAt: T0 + 20 }, 'persisted')
    t.equal(await store.updateArticle('nope', { title: 'x' }, T0), null, 'update of no article: null')

    await store.createArticle({ id: 'x0', title: 'old', body: '', author: 'ann' }, T0 - 5)
    t.strictSame((await store.listArticles(null, 10)).map(a => a.id), ['x1', 'x0'], 'newest first')
    t.strictSame(await store.listArticles({ createdAt: T0, id: 'x1' }, 10), [{ id: 'x0', title: 'old', body: '', author: 'ann', createdAt: T0 - 5, updatedAt: T0 - 5 }], 'after a cursor, whole articles')

    t.equal(await store.deleteArticle('x1'), true, 'delete: true')
    t.equal(await store.getArticle('x1'), null, 'gone')
    t.equal(await store.deleteArticle('x1'), false, 'second delete: false')
    t.strictSame((await store.listArticles(null, 10)).map(a => a.id), ['x0'], 'no longer listed')
  })

  await t.test(`${name}: articles paging is stable under inserts and deletes`, async t => {
    const store = await fresh(t)
    await checkPaging(t, {
      insert: async (id, createdAt) => { await store.createArticle({ id, title: id, body: '', author: 'ann' }, createdAt) },
      remove: async id => { t.equal(await store.deleteArticle(id), true, `deleted ${id}`) },
      list: async (after, limit) => await store.listArticles(after, limit)
    })
  })

  await t.test(`${name}: clients`, async t => {
    const store = await fresh(t)
    const web = { id: 'c1', name: 'web', kind: 'service' as const, scopes: ['public:read', 'articles:write'], generation: 1, createdAt: T0, rotatedAt: T0 }
    t.strictSame(await store.createClient({ id: 'c1', name: 'web', kind: 'service', scopes: ['public:read', 'articles:write'] }, T0), web, 'createClient: generation 1')
    t.strictSame(await store.getClient('c1'), web, 'getClient')
    t.equal(await store.getClient('c9'), null, 'unknown id: null')

    await t.rejects(store.createClient({ id: 'c2', name: 'web', kind: 'app', scopes: [] }, T0 + 1), ConflictError, 'a taken name is ConflictError')
    t.equal(await store.getClient('c2'), null, 'the conflicting client was not stored')
    await t.rejects(store.createClient({ id: 'c1', name: 'other', kind: 'app', scopes: [] }, T0 + 1), ConflictError, 'a taken id is ConflictError')
    t.strictSame(await store.getClient('c1'), web, 'not overwritten')

    const ios = { id: 'c2', name: 'ios-1.2', kind: 'app' as const, scopes: ['public:read'], generation: 1, createdAt: T0 + 2, rotatedAt: T0 + 2 }
    await store.createClient({ id: 'c2', name: 'ios-1.2', kind: 'app', scopes: ['public:read'] }, T0 + 2)
    t.strictSame([...await store.listClients()].sort((a, b) => a.id < b.id ? -1 : 1), [web, ios], 'listClients holds both')

    t.strictSame(await store.rotateClient('c1', T0 + 100), { ...web, generation: 2, rotatedAt: T0 + 100 }, 'rotate: generation 2, rotatedAt now')
    t.strictSame(await store.getClient('c1'), { ...web, generation: 2, rotatedAt: T0 + 100 }, 'rotation persisted')
    t.equal(await store.rotateClient('c9', T0), null, 'rotate of no client: null')

    t.equal(await store.deleteClient('c1'), true, 'delete: true')
    t.equal(await store.getClient('c1'), null, 'gone')
    t.equal(await store.deleteClient('c1'), false, 'second delete: false')
    t.strictSame(await store.listClients(), [ios], 'no longer listed')
    t.equal((await store.createClient({ id: 'c3', name: 'web', kind: 'service', scopes: [] }, T0 + 200)).generation, 1, 'a deleted client\'s name may be taken again')
  })

  await t.test(`${name}: concurrent rotations give distinct generations`, async t => {
    const store = await fresh(t)
    await store.createClient({ id: 'c1', name: 'svc', kind: 'service', scopes: [] }, T0)
    const rotated = await Promise.all(Array.from({ length: 12 }, async (_, i) => await store.rotateClient('c1', T0 + 1 + i)))
    const generations = rotated.map(c => c?.generation ?? -1).sort((a, b) => a - b)
    t.strictSame(generations, Array.from({ length: 12 }, (_, i) => i + 2), 'generations 2..13, each once')
    t.equal((await store.getClient('c1'))?.generation, 13, 'the stored generation counts every rotation')
  })

  await t.test(`${name}: revocations`, async t => {
    const store = await fresh(t)
    t.strictSame(await store.revocationsSince(0, 100), [], 'a fresh store has none')
    const records: Revocation[] = [
      { principal: 'alice', sid: 's1', before: null, effectiveAt: T0, expiresAt: T0 + 1000 },
      { principal: 'bob', sid: null, before: T0, effectiveAt: T0, expiresAt: null },
      { principal: 'service:c1', sid: '3', before: null, effectiveAt: T0 + 500, expiresAt: T0 + 2000 },
      { principal: 'carl.d', sid: 's9', before: null, effectiveAt: T0, expiresAt: T0 + 3000 }
    ]
    const seqs: number[] = []
    for (const r of records) seqs.push(await store.addRevocation(r, T0))
    t.ok(seqs.every(s => Number.isInteger(s) && s > 0), 'sequence numbers are positive integers')
    t.ok(seqs.every((s, i) => i === 0 || s > (seqs[i - 1] as number)), 'strictly increasing')
    const all: SequencedRevocation[] = records.map((r, i) => ({ ...r, seq: seqs[i] as number }))
    t.strictSame(await store.revocationsSince(0, 100), all, 'every record, fields intact, in sequence order')
    t.strictSame(await store.revocationsSince(seqs[0] as number, 100), all.slice(1), 'strictly after `after`')
    t.strictSame(await store.revocationsSince(0, 2), all.slice(0, 2), 'at most `limit`')
    t.strictSame(await store.revocationsSince(seqs[3] as number, 100), [], 'nothing after the last')

    const paged: SequencedRevocation[] = []
    for (let after = 0; ;) {
      const page = await store.revocationsSince(after, 3)
      paged.push(...page)
      if (page.length < 3) break
      after = (page[page.length - 1] as SequencedRevocation).seq
    }
    t.strictSame(paged, all, 'paging by the last seq reads every record once')

    t.equal(await store.pruneRevocations(T0 + 999), 0, 'nothing expired yet')
    t.equal(await store.pruneRevocations(T0 + 2000), 2, 'expiry at or before now is pruned')
    t.strictSame(await store.revocationsSince(0, 100), [all[1], all[3]], 'records without expiry, and later ones, stay')
    t.equal(await store.pruneRevocations(T0 + 2000), 0, 'pruning again removes nothing')
    t.equal(await store.pruneRevocations(T0 + 3000), 1, 'the newest record expires too')
    t.strictSame(await store.revocationsSince(0, 100), [all[1]], 'only the record without expiry is left')

    // A poller that has read up to the pruned newest seq must still see what comes next.
    const next = await store.addRevocation({ principal: 'dave', sid: 'x', before: null, effectiveAt: T0, expiresAt: null }, T0 + 4000)
    t.ok(next > (seqs[3] as number), 'a sequence number is never reused, even after its record was pruned')
    t.strictSame(await store.revocationsSince(seqs[3] as number, 100), [{ principal: 'dave', sid: 'x', before: null, effectiveAt: T0, expiresAt: null, seq: next }], 'visible after the old high-water mark')
  })

  await t.test(`${name}: concurrent revocations get distinct increasing numbers`, async t => {
    const store = await fresh(t)
    const seqs = await Promise.all(Array.from({ length: 20 }, async (_, i) =>
      await store.addRevocation({ principal: `u${i}`, sid: `s${i}`, before: null, effectiveAt: T0, expiresAt: null }, T0)))
    t.equal(new Set(seqs).size, 20, 'twenty distinct numbers')
    const listed = await store.revocationsSince(0, 100)
    t.strictSame(listed.map(r => r.seq), [...seqs].sort((a, b) => a - b), 'all listed, in sequence order')
    t.ok(listed.every(r => r.principal === `u${seqs.indexOf(r.seq)}`), 'each number belongs to its own record')
  })

  await t.test(`${name}: ping and close`, async t => {
    const store = await open()
    await t.resolves(store.ping(), 'ping resolves on an open store')
    await store.close()
    await t.rejects(store.ping(), 'ping rejects once closed')
    await t.resolves(store.close(), 'close is idempotent')
  })
}

interface PagingTarget {
  insert: (id: string, createdAt: number) => Promise<void>
  remove: (id: string) => Promise<void>
  list: (after: Cursor | null, limit: number) => Promise<Keyed[]>
}

/**
 * Keyset paging against a model: ties in createdAt order by id desc, and
 * items inserted or deleted between page reads never make an item that
 * exists on both reads repeat or go missing. Each page must equal exactly
 * what the model holds after the cursor at the moment of the read.
 */
async function checkPaging (t: Test, target: PagingTarget): Promise<void> {
  const model = new Map<string, number>()
  const insert = async (id: string, createdAt: number): Promise<void> => {
    await target.insert(id, createdAt)
    model.set(id, createdAt)
  }
  const remove = async (id: string): Promise<void> => {
    await target.remove(id)
    model.delete(id)
  }
  const expected = (after: Cursor | null, limit: number): string[] =>
    [...model].map(([id, createdAt]) => ({ id, createdAt }))
      .filter(i => after === null || isAfter(i, after)).sort(newestFirst).slice(0, limit).map(i => i.id)
  const ids = (items: Keyed[]): string[] => items.map(i => i.id)

  // Four items per timestamp, inserted out of id order; ids mix '-', digits,
  // upper and lower case and '_' so that byte order is what is checked.
  const groups = [['b', 'A_1', 'a-1', 'a01'], ['m', 'Z9', 'm-', 'm_'], ['q2', 'Q2', 'q-2', 'q_2']]
  for (const [g, group] of groups.entries()) {
    for (const id of group) await insert(`${id}-g${g}`, T0 + g * 1000)
  }
  const all = await target.list(null, 100)
  t.strictSame(ids(all), expected(null, 100), 'newest first; equal createdAt ordered by id desc')
  t.ok(all.every((item, i) => i === 0 || newestFirst(all[i - 1] as Keyed, item) < 0), 'strictly descending (createdAt, id)')

  const limit = 4
  const seen: string[] = []
  const existedThroughout = new Set(model.keys())
  let cursor: Cursor | null = null
  let page = 0
  for (;;) {
    const items = await target.list(cursor, limit)
    t.strictSame(ids(items), expected(cursor, limit), `page ${page} is exactly the items after the cursor`)
    seen.push(...ids(items))
    if (items.length < limit) break
    cursor = cursorOf(items[items.length - 1] as Keyed)
    const c: Cursor = cursor
    const upcoming = expected(c, 100)
    if (page === 0) {
      // Between the first and second reads: a new newest item, two items tied
      // with the cursor on either side of it, a deletion already read and one
      // not yet read.
      await insert('zz-new', T0 + 10_000)
      await insert(`${c.id}z`, c.createdAt) // sorts before the cursor: never shown
      await insert(`${c.id.slice(0, -1)}`, c.createdAt) // a prefix sorts after: shown later
      await remove(seen[0] as string)
      await remove(upcoming[1] as string)
      existedThroughout.delete(seen[0] as string)
      existedThroughout.delete(upcoming[1] as string)
    } else if (page === 1) {
      await insert('older', T0 - 10_000)
      await remove(upcoming[0] as string)
      existedThroughout.delete(upcoming[0] as string)
    }
    page++
  }
  t.equal(new Set(seen).size, seen.length, 'no item appears twice')
  for (const id of existedThroughout) t.ok(seen.includes(id), `${id}, present on every read, was listed`)
  t.ok(seen.includes('older'), 'an item inserted ahead of the cursor is reached')
  t.notOk(seen.includes('zz-new'), 'an item inserted behind the cursor is not listed late')
}
