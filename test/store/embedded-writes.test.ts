/**
 * The embedded store's write path and its queries (issue 20): writes of one
 * event-loop turn commit together, each acknowledged only once committed, a
 * failing one alone; the notes list runs the same number of statements
 * whatever the number of notes. Statements are counted with the store's
 * onStatement option (better-sqlite3's `verbose`).
 */
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openEmbeddedStore } from '../../src/store/embedded.js'
import { ConflictError, type Store } from '../../src/store/port.js'
import type { Tap } from '../helper.js'

function open (t: Tap, dir?: string): { store: Store, dir: string, statements: string[] } {
  const dataDir = dir ?? mkdtempSync(join(tmpdir(), 'store-writes-'))
  if (dir === undefined) t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const statements: string[] = []
  const store = openEmbeddedStore(dataDir, { onStatement: sql => { statements.push(sql) } })
  t.teardown(async () => { await store.close() })
  return { store, dir: dataDir, statements }
}

const T0 = Date.UTC(2026, 0, 1)
const note = (i: number, owner = `owner${i}`): { id: string, owner: string, title: string, body: string } =>
  ({ id: `n${String(i).padStart(3, '0')}`, owner, title: `note ${i}`, body: `body of note ${i}` })

t.test('the notes list runs the same number of statements for 1 shared note as for 20', async t => {
  const { store, statements } = open(t)
  const share = async (i: number): Promise<void> => {
    await store.createNote(note(i), T0 + i)
    await store.setGrant(note(i).id, 'reader', 'read', T0 + i)
    await store.setGrant(note(i).id, `zed${i}`, 'write', T0 + i)
  }
  const listed = async (username: string): Promise<{ count: number, notes: Awaited<ReturnType<Store['listNotesFor']>> }> => {
    statements.length = 0
    const notes = await store.listNotesFor(username, null, 21)
    return { count: statements.length, notes }
  }

  await share(0)
  const one = await listed('reader')
  t.equal(one.notes.length, 1)
  for (let i = 1; i < 20; i++) await share(i)
  await store.createNote(note(99, 'reader'), T0 + 99) // one of the reader's own, no grants
  const twenty = await listed('reader')
  t.equal(twenty.notes.length, 21, '20 shared notes and one owned')
  t.equal(twenty.count, one.count, `${twenty.count} statements for 21 notes, ${one.count} for 1`)
  t.ok(twenty.count <= 2, `at most two statements (the notes, then their grants): ${twenty.count}`)

  // Every note carries exactly its own grants, as getNote gives them.
  for (const n of twenty.notes) {
    const alone = await store.getNote(n.id)
    t.strictSame({ ...n.grants }, { ...alone?.grants }, `${n.id}: the same grants as getNote`)
  }
  const first = twenty.notes.find(n => n.id === note(7).id)
  t.strictSame({ ...first?.grants }, { reader: 'read', zed7: 'write' })
  t.equal(Object.getPrototypeOf(first?.grants), null, 'grants are still a null-prototype object')
  t.strictSame({ ...twenty.notes.find(n => n.id === note(99).id)?.grants }, {}, 'a note without grants has {}')
  const page = await store.listNotesFor('reader', { createdAt: T0 + 10, id: note(10).id }, 5)
  t.strictSame(page.map(n => n.id), [9, 8, 7, 6, 5].map(i => note(i).id), 'the keyset cursor still pages')
})

t.test('writes asked for in one turn commit in one transaction, each acknowledged once committed', async t => {
  const { store, dir, statements } = open(t)
  // A second connection to the same file: it sees committed data only.
  const other = open(t, dir).store
  await store.createUser({ username: 'warm', passwordHash: 'h', roles: [] }, T0) // schema and statements warm
  statements.length = 0
  const seenAtAck: boolean[] = []
  const writes = Array.from({ length: 20 }, async (_, i) => {
    await store.createNote(note(i), T0 + i)
    seenAtAck[i] = (await other.getNote(note(i).id)) !== null
  })
  await Promise.all(writes)
  t.strictSame(seenAtAck, Array(20).fill(true), 'each note is committed (visible to another connection) when its write resolves')
  const begins = statements.filter(s => /^BEGIN/i.test(s))
  const commits = statements.filter(s => /^COMMIT/i.test(s))
  t.strictSame(begins, ['BEGIN IMMEDIATE'], 'one transaction for the 20 writes')
  t.equal(commits.length, 1, 'one commit (one WAL fsync) for the 20 writes')

  statements.length = 0
  await store.createNote(note(50), T0 + 50)
  t.strictSame(statements.filter(s => /^(BEGIN|COMMIT|SAVEPOINT)/i.test(s)), [], 'a lone write commits on its own, as before')
})

t.test('a failing write in a group is rolled back and rejected alone; the others commit', async t => {
  const { store, dir } = open(t)
  await store.createNote(note(1), T0)
  const results = await Promise.allSettled([
    store.createNote(note(2), T0 + 2),
    store.createNote({ ...note(1), title: 'a second note 1' }, T0 + 3), // the id is taken
    store.setGrant('missing', 'reader', 'read', T0 + 4),
    store.setGrant(note(1).id, 'reader', 'write', T0 + 5),
    store.createUser({ username: 'ann', passwordHash: 'h', roles: [] }, T0 + 6),
    store.createUser({ username: 'ann', passwordHash: 'h2', roles: [] }, T0 + 7)
  ])
  t.equal(results[0]?.status, 'fulfilled')
  t.ok(results[1]?.status === 'rejected' && results[1].reason instanceof ConflictError, 'the taken id: ConflictError')
  t.strictSame(results[2], { status: 'fulfilled', value: null }, 'a grant on a missing note: null')
  t.equal(results[3]?.status, 'fulfilled')
  t.equal(results[4]?.status, 'fulfilled')
  t.ok(results[5]?.status === 'rejected' && results[5].reason instanceof ConflictError, 'the taken username: ConflictError')

  const fresh = open(t, dir).store
  t.equal((await fresh.getNote(note(1).id))?.title, 'note 1', 'the first note 1 is untouched')
  t.strictSame({ ...(await fresh.getNote(note(1).id))?.grants }, { reader: 'write' })
  t.ok(await fresh.getNote(note(2).id), 'note 2 is stored')
  t.equal((await fresh.findUser('ann'))?.passwordHash, 'h', 'the first ann is stored, the second refused')
})

t.test('close() commits the writes still queued before it closes', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'store-writes-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const store = openEmbeddedStore(dir)
  const pending = [store.createNote(note(1), T0), store.createNote(note(2), T0 + 1)]
  await store.close()
  t.equal((await Promise.all(pending)).length, 2, 'both acknowledged')
  const again = openEmbeddedStore(dir)
  t.teardown(async () => { await again.close() })
  t.ok(await again.getNote(note(1).id))
  t.ok(await again.getNote(note(2).id))
  await t.rejects(store.createNote(note(3), T0 + 2), 'a write after close fails')
})
