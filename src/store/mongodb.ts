/**
 * The MongoDB store, through the official driver. The database is the one
 * named in the URI (the driver's default, `test`, when the URI names none).
 *
 * Needs a replica set or a sharded cluster (Atlas is one): every write uses
 * majority write concern, so an acknowledged write survives a failover; the
 * driver retries a write once across a failover without applying it twice
 * (retryable writes: a signup retried after a lost reply is not a false 409);
 * every read uses majority read concern, so the revocation poller never moves
 * past a sequence number that a rollback could take back and hand out again;
 * and addRevocation runs in a transaction. None of this exists on a
 * standalone mongod, so opening refuses one with a clear message.
 *
 * Documents use the port's id as `_id` (username for users, seq for
 * revocations), so the `_id` index is also the uniqueness and lookup index.
 */
import { MongoClient, MongoServerError, type Collection, type Db, type Filter, type IndexDescription } from 'mongodb'
import type { Revocation, SequencedRevocation } from '../auth/revocation.js'
import { ConflictError, type Access, type Article, type Client, type ClientKind, type Cursor, type Note, type Role, type Store, type User } from './port.js'
import { grantsFrom } from './grants.js'

export interface UserDoc { _id: string, passwordHash: string, roles: Role[], disabled: boolean, createdAt: number, updatedAt: number }
/** One grant. An array of these, not a map keyed by username: usernames may contain '.', which is a path separator in MongoDB field names. */
export interface GrantDoc { username: string, access: Access }
export interface NoteDoc { _id: string, owner: string, title: string, body: string, grants: GrantDoc[], createdAt: number, updatedAt: number }
export interface ArticleDoc { _id: string, title: string, body: string, author: string, createdAt: number, updatedAt: number }
export interface ClientDoc { _id: string, name: string, kind: ClientKind, scopes: string[], generation: number, createdAt: number, rotatedAt: number }
export interface RevocationDoc { _id: number, principal: string, sid: string | null, before: number | null, effectiveAt: number, expiresAt: number | null }
/** The revocation sequence's last issued value: `{ _id: 'revocations', seq }`. */
export interface CounterDoc { _id: string, seq: number }

export const COLLECTIONS = {
  users: 'users', notes: 'notes', articles: 'articles', clients: 'clients', revocations: 'revocations', counters: 'counters'
} as const
export const REVOCATION_COUNTER = 'revocations'

export interface Collections {
  users: Collection<UserDoc>
  notes: Collection<NoteDoc>
  articles: Collection<ArticleDoc>
  clients: Collection<ClientDoc>
  revocations: Collection<RevocationDoc>
  counters: Collection<CounterDoc>
}

/** Typed handles on the store's collections in `db`. */
export function collections (db: Db): Collections {
  return {
    users: db.collection<UserDoc>(COLLECTIONS.users),
    notes: db.collection<NoteDoc>(COLLECTIONS.notes),
    articles: db.collection<ArticleDoc>(COLLECTIONS.articles),
    clients: db.collection<ClientDoc>(COLLECTIONS.clients),
    revocations: db.collection<RevocationDoc>(COLLECTIONS.revocations),
    counters: db.collection<CounterDoc>(COLLECTIONS.counters)
  }
}

// ---- port value <-> document (pure; the copy command uses the same functions)

export const userToDoc = (u: User): UserDoc => ({
  _id: u.username, passwordHash: u.passwordHash, roles: [...u.roles], disabled: u.disabled, createdAt: u.createdAt, updatedAt: u.updatedAt
})
export const docToUser = (d: UserDoc): User => ({
  username: d._id, passwordHash: d.passwordHash, roles: d.roles, disabled: d.disabled, createdAt: d.createdAt, updatedAt: d.updatedAt
})

export const noteToDoc = (n: Note): NoteDoc => ({
  _id: n.id,
  owner: n.owner,
  title: n.title,
  body: n.body,
  grants: Object.keys(n.grants).sort().map(username => ({ username, access: n.grants[username] as Access })),
  createdAt: n.createdAt,
  updatedAt: n.updatedAt
})
export const docToNote = (d: NoteDoc): Note =>
  ({ id: d._id, owner: d.owner, title: d.title, body: d.body, grants: grantsFrom(d.grants), createdAt: d.createdAt, updatedAt: d.updatedAt })

export const articleToDoc = (a: Article): ArticleDoc => ({
  _id: a.id, title: a.title, body: a.body, author: a.author, createdAt: a.createdAt, updatedAt: a.updatedAt
})
export const docToArticle = (d: ArticleDoc): Article => ({
  id: d._id, title: d.title, body: d.body, author: d.author, createdAt: d.createdAt, updatedAt: d.updatedAt
})

export const clientToDoc = (c: Client): ClientDoc => ({
  _id: c.id, name: c.name, kind: c.kind, scopes: [...c.scopes], generation: c.generation, createdAt: c.createdAt, rotatedAt: c.rotatedAt
})
export const docToClient = (d: ClientDoc): Client => ({
  id: d._id, name: d.name, kind: d.kind, scopes: d.scopes, generation: d.generation, createdAt: d.createdAt, rotatedAt: d.rotatedAt
})

export const revocationToDoc = (r: SequencedRevocation): RevocationDoc => ({
  _id: r.seq, principal: r.principal, sid: r.sid, before: r.before, effectiveAt: r.effectiveAt, expiresAt: r.expiresAt
})
export const docToRevocation = (d: RevocationDoc): SequencedRevocation => ({
  seq: d._id, principal: d.principal, sid: d.sid, before: d.before, effectiveAt: d.effectiveAt, expiresAt: d.expiresAt
})

// ---- setup

/**
 * Every index the store declares, by collection, besides the `_id` index
 * MongoDB keeps on every collection (which serves every lookup by id, the
 * counter, and the revocations by sequence: their `_id` is the sequence
 * number). Each query the adapter runs is served by one of these or by `_id`
 * (test/store/mongodb-indexes.test.ts checks it against the queries the
 * adapter actually makes); ensureSchema creates them all at start.
 */
export const INDEXES: { readonly [K in keyof Collections]: readonly IndexDescription[] } = {
  users: [],
  notes: [
    // listNotesFor: one index scan per side of the $or (owner, grantee), each in keyset order, merged.
    { key: { owner: 1, createdAt: -1, _id: -1 }, name: 'owner_cursor' },
    { key: { 'grants.username': 1, createdAt: -1, _id: -1 }, name: 'grantee_cursor' }
  ],
  // listArticles: the keyset order, newest first.
  articles: [{ key: { createdAt: -1, _id: -1 }, name: 'cursor' }],
  clients: [
    { key: { name: 1 }, name: 'name_unique', unique: true },
    // listClients: oldest first.
    { key: { createdAt: 1, _id: 1 }, name: 'created' }
  ],
  // Not a TTL index: expiry is Unix ms (TTL needs a Date) and pruning is the
  // port's explicit pruneRevocations; this only serves its range delete.
  revocations: [{ key: { expiresAt: 1 }, name: 'expiry' }],
  counters: []
}

/**
 * Creates the indexes the queries need (idempotent), and the revocation
 * counter, so that no collection is first created inside a transaction.
 */
export async function ensureSchema (db: Db): Promise<void> {
  const c = collections(db)
  await Promise.all((Object.keys(INDEXES) as Array<keyof Collections>)
    .filter(name => INDEXES[name].length > 0)
    .map(async name => await c[name].createIndexes([...INDEXES[name]])))
  try {
    await c.counters.updateOne({ _id: REVOCATION_COUNTER }, { $setOnInsert: { seq: 0 } }, { upsert: true })
  } catch (err) {
    // Two instances starting at once may race on the upsert; either way the counter exists.
    if (!isDuplicateKey(err)) throw err
  }
}

export function isDuplicateKey (err: unknown): boolean {
  return err instanceof MongoServerError && err.code === 11000
}

/** Client options every connection to the store uses (see the file comment). */
export const CLIENT_OPTIONS = {
  writeConcern: { w: 'majority' },
  readConcern: { level: 'majority' },
  retryWrites: true,
  retryReads: true
} as const

/**
 * Connects with the store's options, refuses a standalone server (see the file
 * comment) and ensures the schema. The caller owns the returned client.
 */
export async function connectStore (uri: string): Promise<MongoClient> {
  const client = new MongoClient(uri, CLIENT_OPTIONS)
  await client.connect()
  try {
    const hello = await client.db('admin').command({ hello: 1 })
    if (typeof hello.setName !== 'string' && hello.msg !== 'isdbgrid') {
      throw new Error('MongoDB is a standalone server: the store needs a replica set or sharded cluster ' +
        '(retryable writes, majority write concern and transactions). For development, start mongod with ' +
        '--replSet rs0 and run rs.initiate() once.')
    }
    await ensureSchema(client.db())
  } catch (err) {
    await client.close()
    throw err
  }
  return client
}

/**
 * Keyset condition "strictly after `after`" in (createdAt desc, _id desc)
 * order, as separate clauses, so each side of an $or is a plain index range.
 */
function afterClauses (after: Cursor | null): Array<{ createdAt?: number | { $lt: number }, _id?: { $lt: string } }> {
  if (after === null) return [{}]
  return [{ createdAt: { $lt: after.createdAt } }, { createdAt: after.createdAt, _id: { $lt: after.id } }]
}
const NEWEST_FIRST = { createdAt: -1, _id: -1 } as const

/** Opens the store: connects, checks the deployment, creates indexes. */
export async function openMongoStore (uri: string): Promise<Store> {
  const client = await connectStore(uri)
  return mongoStoreOn(client.db(), client)
}

/**
 * The store over `db`, its schema ensured (openMongoStore's second half):
 * `client` is used for the revocation transaction's session and for close().
 */
export function mongoStoreOn (db: Db, client: Pick<MongoClient, 'startSession' | 'close'>): Store {
  const c = collections(db)
  let closed = false

  const insertOr409 = async (what: string, insert: () => Promise<unknown>): Promise<void> => {
    try {
      await insert()
    } catch (err) {
      if (isDuplicateKey(err)) throw new ConflictError(what)
      throw err
    }
  }
  const patchOf = (patch: { title?: string, body?: string }, now: number): { title?: string, body?: string, updatedAt: number } => ({
    ...(patch.title === undefined ? {} : { title: patch.title }),
    ...(patch.body === undefined ? {} : { body: patch.body }),
    updatedAt: now
  })

  return {
    kind: 'mongodb',

    async createUser (user, now) {
      const doc: UserDoc = { _id: user.username, passwordHash: user.passwordHash, roles: [...user.roles], disabled: false, createdAt: now, updatedAt: now }
      await insertOr409('user', async () => await c.users.insertOne(doc))
      return docToUser(doc)
    },
    async findUser (username) {
      const d = await c.users.findOne({ _id: username })
      return d === null ? null : docToUser(d)
    },
    async setPassword (username, passwordHash, now) {
      const r = await c.users.updateOne({ _id: username }, { $set: { passwordHash, updatedAt: now } })
      return r.matchedCount === 1
    },
    async replacePasswordHash (username, expectedOldHash, newHash, now) {
      // One document, one filter on the old hash: MongoDB applies it atomically.
      const r = await c.users.updateOne({ _id: username, passwordHash: { $eq: expectedOldHash } }, { $set: { passwordHash: newHash, updatedAt: now } })
      return r.matchedCount === 1
    },
    async updateUser (username, patch, now) {
      const set: Partial<UserDoc> = { updatedAt: now }
      if (patch.roles !== undefined) set.roles = [...patch.roles]
      if (patch.disabled !== undefined) set.disabled = patch.disabled
      const d = await c.users.findOneAndUpdate({ _id: username }, { $set: set }, { returnDocument: 'after' })
      return d === null ? null : docToUser(d)
    },

    async createNote (note, now) {
      const doc: NoteDoc = { _id: note.id, owner: note.owner, title: note.title, body: note.body, grants: [], createdAt: now, updatedAt: now }
      await insertOr409('note', async () => await c.notes.insertOne(doc))
      return docToNote(doc)
    },
    async getNote (id) {
      const d = await c.notes.findOne({ _id: id })
      return d === null ? null : docToNote(d)
    },
    async listNotesFor (username, after, limit) {
      const clauses: Array<Filter<NoteDoc>> = []
      for (const who of [{ owner: username }, { 'grants.username': username }]) {
        for (const a of afterClauses(after)) clauses.push({ ...who, ...a })
      }
      const docs = await c.notes.find({ $or: clauses }).sort(NEWEST_FIRST).limit(limit).toArray()
      return docs.map(docToNote)
    },
    async updateNote (id, patch, now) {
      const d = await c.notes.findOneAndUpdate({ _id: id }, { $set: patchOf(patch, now) }, { returnDocument: 'after' })
      return d === null ? null : docToNote(d)
    },
    async deleteNote (id) {
      return (await c.notes.deleteOne({ _id: id })).deletedCount === 1
    },
    async setGrant (id, grantee, access, now) {
      // One update pipeline: drop the grantee's entry, then append the new one.
      // The server applies it to the document atomically, so concurrent grants
      // to other users are never lost (no read-modify-write in this process).
      // $literal keeps a value from being read as a field path or operator.
      const others = { $filter: { input: { $ifNull: ['$grants', []] }, as: 'g', cond: { $ne: ['$$g.username', { $literal: grantee }] } } }
      const grants = access === null
        ? others
        : { $concatArrays: [others, [{ username: { $literal: grantee }, access: { $literal: access } }]] }
      const d = await c.notes.findOneAndUpdate({ _id: id }, [{ $set: { grants, updatedAt: { $literal: now } } }], { returnDocument: 'after' })
      return d === null ? null : docToNote(d)
    },

    async createArticle (article, now) {
      const doc: ArticleDoc = { _id: article.id, title: article.title, body: article.body, author: article.author, createdAt: now, updatedAt: now }
      await insertOr409('article', async () => await c.articles.insertOne(doc))
      return docToArticle(doc)
    },
    async getArticle (id) {
      const d = await c.articles.findOne({ _id: id })
      return d === null ? null : docToArticle(d)
    },
    async listArticles (after, limit) {
      const clauses: Array<Filter<ArticleDoc>> = afterClauses(after)
      const docs = await c.articles.find({ $or: clauses }).sort(NEWEST_FIRST).limit(limit).toArray()
      return docs.map(docToArticle)
    },
    async updateArticle (id, patch, now) {
      const d = await c.articles.findOneAndUpdate({ _id: id }, { $set: patchOf(patch, now) }, { returnDocument: 'after' })
      return d === null ? null : docToArticle(d)
    },
    async deleteArticle (id) {
      return (await c.articles.deleteOne({ _id: id })).deletedCount === 1
    },

    async createClient (client, now) {
      const doc: ClientDoc = { _id: client.id, name: client.name, kind: client.kind, scopes: [...client.scopes], generation: 1, createdAt: now, rotatedAt: now }
      await insertOr409('client', async () => await c.clients.insertOne(doc))
      return docToClient(doc)
    },
    async getClient (id) {
      const d = await c.clients.findOne({ _id: id })
      return d === null ? null : docToClient(d)
    },
    async listClients () {
      return (await c.clients.find({}).sort({ createdAt: 1, _id: 1 }).toArray()).map(docToClient)
    },
    async rotateClient (id, now) {
      // $inc on the server: two concurrent rotations get two generations.
      const d = await c.clients.findOneAndUpdate({ _id: id }, { $inc: { generation: 1 }, $set: { rotatedAt: now } }, { returnDocument: 'after' })
      return d === null ? null : docToClient(d)
    },
    async deleteClient (id) {
      return (await c.clients.deleteOne({ _id: id })).deletedCount === 1
    },

    async addRevocation (r: Revocation, _now: number) {
      // The port promises sequence numbers in commit order: a poller that has
      // read seq N must never later find a new record below N. A bare $inc
      // counter followed by an insert breaks that (writer A takes 5, writer B
      // takes 6 and commits first; a poller reads up to 6 and skips 5 for
      // good), and a failed insert would leave a hole a reader cannot tell
      // from a slow one. So the increment and the insert share one
      // transaction: a second writer's $inc on the counter conflicts until
      // the first commits (withTransaction retries it), so seq order is
      // commit order, and an aborted insert rolls its number back. Majority
      // reads then only ever show a gap-free prefix (apart from pruned
      // records, which are gone on purpose). We chose this over "wait out
      // gaps for a grace period, then skip them" because that silently loses
      // a revocation whenever a commit takes longer than the grace period.
      // Revocations are rare (logout, password change, rotation), so the
      // transaction's cost does not matter.
      const session = client.startSession()
      try {
        return await session.withTransaction(async s => {
          const counter = await c.counters.findOneAndUpdate(
            { _id: REVOCATION_COUNTER }, { $inc: { seq: 1 } }, { session: s, upsert: true, returnDocument: 'after' })
          if (counter === null) throw new Error('revocation counter missing after upsert')
          await c.revocations.insertOne(revocationToDoc({ ...pick(r), seq: counter.seq }), { session: s })
          return counter.seq
        }, { readConcern: { level: 'snapshot' }, writeConcern: { w: 'majority' } })
      } finally {
        await session.endSession()
      }
    },
    async revocationsSince (after, limit) {
      const docs = await c.revocations.find({ _id: { $gt: after } }).sort({ _id: 1 }).limit(limit).toArray()
      return docs.map(docToRevocation)
    },
    async pruneRevocations (now) {
      // $lte on a number never matches null (type bracketing): records without expiry stay.
      return (await c.revocations.deleteMany({ expiresAt: { $lte: now } })).deletedCount
    },

    async ping () {
      // After close() the driver would silently reconnect; /ready must not.
      if (closed) throw new Error('store closed')
      await db.command({ ping: 1 })
    },
    async close () {
      if (closed) return
      closed = true
      await client.close()
    }
  }
}

/** Only the port's fields, so a caller's extra properties never reach the database. */
const pick = (r: Revocation): Revocation => ({ principal: r.principal, sid: r.sid, before: r.before, effectiveAt: r.effectiveAt, expiresAt: r.expiresAt })
