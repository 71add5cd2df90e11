/**
 * The MongoDB adapter's indexes against the queries it runs (issue 20). No
 * MongoDB server runs here: the adapter is given a stand-in database that
 * records every query (collection, operation, filter, sort) instead of
 * running it, every port method is called, and each recorded query must be
 * served by an index the adapter declares (INDEXES) or by `_id`. The rule is
 * the planner's usual one for an index scan without an in-memory sort: the
 * equality fields are the index's leading fields, the sort (less the fields
 * fixed by equality) follows them in the index's order or its exact reverse,
 * and every range field is among the fields after them. An `$or` needs an
 * index for each clause (MongoDB merges the sorted scans). ensureSchema must
 * create exactly the declared indexes. What this cannot show, and
 * `make test-mongo` (MONGODB_URI) does not measure either: the plans a real
 * server picks.
 */
import t from 'tap'
import type { Db, MongoClient } from 'mongodb'
import { COLLECTIONS, INDEXES, ensureSchema, mongoStoreOn, type Collections } from '../../src/store/mongodb.js'
import type { Store } from '../../src/store/port.js'

type Doc = Record<string, unknown>
interface Query { collection: string, op: string, filter: Doc, sort: Array<[string, number]> }

/** A Db stand-in: records queries, answers "nothing found", never connects. */
function recordingDb (): { db: Db, queries: Query[], created: Record<string, unknown[]> } {
  const queries: Query[] = []
  const created: Record<string, unknown[]> = {}
  const collection = (name: string): unknown => {
    const record = (op: string, filter: Doc, sort: Doc = {}): void => {
      queries.push({ collection: name, op, filter, sort: Object.entries(sort) as Array<[string, number]> })
    }
    return {
      insertOne: async () => ({ acknowledged: true }),
      findOne: async (filter: Doc) => { record('findOne', filter); return null },
      updateOne: async (filter: Doc) => { record('updateOne', filter); return { matchedCount: 0 } },
      findOneAndUpdate: async (filter: Doc) => {
        record('findOneAndUpdate', filter)
        return name === COLLECTIONS.counters ? { _id: filter._id, seq: 1 } : null
      },
      deleteOne: async (filter: Doc) => { record('deleteOne', filter); return { deletedCount: 0 } },
      deleteMany: async (filter: Doc) => { record('deleteMany', filter); return { deletedCount: 0 } },
      find: (filter: Doc) => {
        let sort: Doc = {}
        const cursor = {
          sort: (s: Doc) => { sort = s; return cursor },
          limit: () => cursor,
          toArray: async () => { record('find', filter, sort); return [] }
        }
        return cursor
      },
      createIndexes: async (specs: unknown[]) => { (created[name] ??= []).push(...specs); return [] },
      createIndex: async (key: unknown, options: unknown) => { (created[name] ??= []).push({ key, ...(options as Doc) }); return '' }
    }
  }
  const db = { collection, command: async () => ({ ok: 1 }) } as unknown as Db
  return { db, queries, created }
}

const session = { withTransaction: async (fn: (s: unknown) => Promise<unknown>) => await fn(session), endSession: async () => {} }
const client = { startSession: () => session, close: async () => {} } as unknown as Pick<MongoClient, 'startSession' | 'close'>

const isOperatorObject = (v: unknown): v is Doc =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length > 0 && Object.keys(v).every(k => k.startsWith('$'))
const RANGE = new Set(['$lt', '$lte', '$gt', '$gte'])

/** The name of an index serving `clause` with `sort`, or null. */
function servedBy (collection: keyof Collections, clause: Doc, sort: Array<[string, number]>): string | null {
  const eq: string[] = []
  const range: string[] = []
  for (const [field, v] of Object.entries(clause)) {
    if (isOperatorObject(v)) {
      const ops = Object.keys(v)
      if (ops.every(op => op === '$eq')) eq.push(field)
      else if (ops.every(op => RANGE.has(op))) range.push(field)
      else return null // an operator no index rule here covers
    } else eq.push(field)
  }
  // A lookup by _id is a point read on the _id index, whatever else it checks.
  if (eq.includes('_id')) return '_id_'
  const candidates = [{ key: { _id: 1 } as Doc, name: '_id_' }, ...INDEXES[collection].map(i => ({ key: i.key as Doc, name: i.name ?? '?' }))]
  for (const index of candidates) {
    const fields = Object.entries(index.key) as Array<[string, number]>
    const lead = fields.slice(0, eq.length).map(([f]) => f)
    if (lead.length !== eq.length || !eq.every(f => lead.includes(f))) continue
    const rest = fields.slice(eq.length)
    if (!range.every(f => rest.some(([g]) => g === f))) continue
    const wanted = sort.filter(([f]) => !eq.includes(f))
    if (wanted.length > rest.length) continue
    const same = wanted.every(([f, d], i) => rest[i]?.[0] === f && rest[i]?.[1] === d)
    const reversed = wanted.every(([f, d], i) => rest[i]?.[0] === f && rest[i]?.[1] === -d)
    if (same || reversed) return index.name
  }
  return null
}

const collectionKey = (name: string): keyof Collections =>
  (Object.keys(COLLECTIONS) as Array<keyof Collections>).find(k => COLLECTIONS[k] === name) as keyof Collections

/** Calls every method of the port, lists with and without a cursor. */
async function callEveryMethod (store: Store): Promise<string[]> {
  const now = Date.UTC(2026, 0, 1)
  const cursor = { createdAt: now, id: 'n1' }
  const calls: Record<string, () => Promise<unknown>> = {
    createUser: async () => await store.createUser({ username: 'ann', passwordHash: 'h', roles: [] }, now),
    findUser: async () => await store.findUser('ann'),
    setPassword: async () => await store.setPassword('ann', 'h2', now),
    replacePasswordHash: async () => await store.replacePasswordHash('ann', 'h2', 'h3', now),
    updateUser: async () => await store.updateUser('ann', { roles: ['editor'] }, now),
    createNote: async () => await store.createNote({ id: 'n1', owner: 'ann', title: 't', body: 'b' }, now),
    getNote: async () => await store.getNote('n1'),
    listNotesFor: async () => { await store.listNotesFor('ann', null, 21); await store.listNotesFor('ann', cursor, 21) },
    updateNote: async () => await store.updateNote('n1', { title: 'u' }, now),
    deleteNote: async () => await store.deleteNote('n1'),
    setGrant: async () => { await store.setGrant('n1', 'bob', 'read', now); await store.setGrant('n1', 'bob', null, now) },
    createArticle: async () => await store.createArticle({ id: 'a1', author: 'ann', title: 't', body: 'b' }, now),
    getArticle: async () => await store.getArticle('a1'),
    listArticles: async () => { await store.listArticles(null, 21); await store.listArticles(cursor, 21) },
    updateArticle: async () => await store.updateArticle('a1', { body: 'u' }, now),
    deleteArticle: async () => await store.deleteArticle('a1'),
    createClient: async () => await store.createClient({ id: 'c1', name: 'app', kind: 'app', scopes: ['public:read'] }, now),
    getClient: async () => await store.getClient('c1'),
    listClients: async () => await store.listClients(),
    rotateClient: async () => await store.rotateClient('c1', now),
    deleteClient: async () => await store.deleteClient('c1'),
    addRevocation: async () => await store.addRevocation({ principal: 'user:ann', sid: null, before: now, effectiveAt: now, expiresAt: now + 1000 }, now),
    revocationsSince: async () => await store.revocationsSince(0, 100),
    pruneRevocations: async () => await store.pruneRevocations(now),
    ping: async () => await store.ping()
  }
  const methods = Object.keys(store).filter(k => typeof (store as unknown as Doc)[k] === 'function' && k !== 'close')
  for (const m of methods) {
    const call = calls[m]
    if (call === undefined) throw new Error(`the port has a method this test does not call: ${m}`)
    await call()
  }
  return methods
}

t.test('every query the MongoDB adapter runs is served by a declared index or _id', async t => {
  const { db, queries } = recordingDb()
  const store = mongoStoreOn(db, client)
  const methods = await callEveryMethod(store)
  t.ok(methods.length >= 20, `${methods.length} port methods called`)
  t.ok(queries.length >= 20, `${queries.length} queries recorded (inserts need no index but _id's, and are not recorded)`)

  const used = new Set<string>()
  for (const q of queries) {
    const collection = collectionKey(q.collection)
    const clauses = Array.isArray(q.filter.$or) ? q.filter.$or as Doc[] : [q.filter]
    const names = clauses.map(clause => servedBy(collection, clause, q.sort))
    const shown = `${q.collection}.${q.op}(${JSON.stringify(q.filter)})${q.sort.length > 0 ? `.sort(${JSON.stringify(Object.fromEntries(q.sort))})` : ''}`
    t.ok(names.every(n => n !== null), `${shown}: ${names.join(', ')}`)
    for (const n of names) if (n !== null) used.add(`${collection}.${n}`)
  }

  // Each side of the notes list and the articles list by its keyset index, with and without a cursor.
  t.ok(used.has('notes.owner_cursor') && used.has('notes.grantee_cursor'), 'the notes list: by owner and by grantee')
  t.ok(used.has('articles.cursor'), 'the articles list: by the keyset order')
  t.ok(used.has('revocations._id_'), 'revocations since a sequence number: by _id, the sequence')
  // And no declared index is dead weight: each serves a query, or enforces a uniqueness.
  for (const [collection, list] of Object.entries(INDEXES)) {
    for (const index of list) {
      t.ok(index.unique === true || used.has(`${collection}.${index.name ?? ''}`), `${collection}.${index.name ?? ''} serves a query or is unique`)
    }
  }
})

t.test('ensureSchema creates every declared index, at start', async t => {
  const { db, created } = recordingDb()
  await ensureSchema(db)
  for (const [collection, list] of Object.entries(INDEXES)) {
    t.strictSame(created[COLLECTIONS[collection as keyof Collections]] ?? [], list, `${collection}: ${list.map(i => i.name).join(', ') || 'none besides _id'}`)
  }
})

t.test('the index check itself tells a served query from one that is not', async t => {
  t.equal(servedBy('notes', { owner: 'ann', createdAt: { $lt: 5 } }, [['createdAt', -1], ['_id', -1]]), 'owner_cursor')
  t.equal(servedBy('notes', { owner: 'ann', createdAt: 5, _id: { $lt: 'x' } }, [['createdAt', -1], ['_id', -1]]), 'owner_cursor')
  t.equal(servedBy('articles', {}, [['createdAt', 1], ['_id', 1]]), 'cursor', 'the reverse order walks the index backwards')
  t.equal(servedBy('notes', { title: 'x' }, []), null, 'no index on title')
  t.equal(servedBy('notes', { owner: 'ann' }, [['updatedAt', -1]]), null, 'a sort no index gives')
  t.equal(servedBy('articles', {}, [['createdAt', -1], ['_id', 1]]), null, 'a mixed order the index does not have')
  t.equal(servedBy('users', { roles: 'admin' }, []), null)
})
