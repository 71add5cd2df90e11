/**
 * The zero-setup store: SQLite in DATA_DIR through better-sqlite3.
 *
 * WAL mode with synchronous=FULL: a write is acknowledged only after its WAL
 * frame is fsynced, so no acknowledged write is lost on kill -9 or power loss.
 * Writes asked for in one turn of the event loop commit together (group
 * commit, see groupCommit): one transaction and one fsync for all of them,
 * each write in its own savepoint, each acknowledged once that commit returns.
 * Several processes on one machine may share the file (WAL allows one writer
 * and many readers at a time; busy_timeout makes writers queue, not fail).
 *
 * The files hold password hashes and private notes, so they are the owner's
 * alone (0600, see secureFiles), in a DATA_DIR made 0700 when it is made here.
 */
import Database from 'better-sqlite3'
import { chmodSync, closeSync, constants, copyFileSync, existsSync, fchmodSync, fstatSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import type { Revocation, SequencedRevocation } from '../auth/revocation.js'
import { ConflictError, type Access, type Article, type Client, type ClientKind, type Cursor, type NewUser, type Note, type Role, type Store, type User } from './port.js'
import { grantsFrom } from './grants.js'

const MIGRATIONS: string[] = [
  `CREATE TABLE users (
     username TEXT PRIMARY KEY,
     password_hash TEXT NOT NULL,
     roles TEXT NOT NULL,
     disabled INTEGER NOT NULL DEFAULT 0,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL
   ) WITHOUT ROWID;
   CREATE TABLE revocations (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     principal TEXT NOT NULL,
     sid TEXT,
     before INTEGER,
     effective_at INTEGER NOT NULL,
     expires_at INTEGER,
     created_at INTEGER NOT NULL
   );
   CREATE INDEX revocations_expires ON revocations (expires_at) WHERE expires_at IS NOT NULL;`,
  `CREATE TABLE notes (
     id TEXT PRIMARY KEY,
     owner TEXT NOT NULL,
     title TEXT NOT NULL,
     body TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL
   ) WITHOUT ROWID;
   CREATE INDEX notes_owner_cursor ON notes (owner, created_at DESC, id DESC);
   CREATE INDEX notes_cursor ON notes (created_at DESC, id DESC);
   CREATE TABLE note_grants (
     note_id TEXT NOT NULL REFERENCES notes (id) ON DELETE CASCADE,
     username TEXT NOT NULL,
     access TEXT NOT NULL CHECK (access IN ('read', 'write')),
     PRIMARY KEY (note_id, username)
   ) WITHOUT ROWID;
   CREATE INDEX note_grants_grantee ON note_grants (username, note_id);
   CREATE TABLE articles (
     id TEXT PRIMARY KEY,
     title TEXT NOT NULL,
     body TEXT NOT NULL,
     author TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL
   ) WITHOUT ROWID;
   CREATE INDEX articles_cursor ON articles (created_at DESC, id DESC);
   CREATE TABLE clients (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL UNIQUE,
     kind TEXT NOT NULL CHECK (kind IN ('app', 'service')),
     scopes TEXT NOT NULL,
     generation INTEGER NOT NULL,
     created_at INTEGER NOT NULL,
     rotated_at INTEGER NOT NULL
   ) WITHOUT ROWID;`
]

interface UserRow { username: string, password_hash: string, roles: string, disabled: number, created_at: number, updated_at: number }
interface RevocationRow { seq: number, principal: string, sid: string | null, before: number | null, effective_at: number, expires_at: number | null }
interface NoteRow { id: string, owner: string, title: string, body: string, created_at: number, updated_at: number }
interface GrantRow { note_id: string, username: string, access: Access }
interface ArticleRow { id: string, title: string, body: string, author: string, created_at: number, updated_at: number }
interface ClientRow { id: string, name: string, kind: ClientKind, scopes: string, generation: number, created_at: number, rotated_at: number }

const toUser = (r: UserRow): User => ({
  username: r.username,
  passwordHash: r.password_hash,
  roles: JSON.parse(r.roles) as Role[],
  disabled: r.disabled === 1,
  createdAt: r.created_at,
  updatedAt: r.updated_at
})

const toRevocation = (r: RevocationRow): SequencedRevocation => ({
  seq: r.seq, principal: r.principal, sid: r.sid, before: r.before, effectiveAt: r.effective_at, expiresAt: r.expires_at
})

const toArticle = (r: ArticleRow): Article => ({ id: r.id, title: r.title, body: r.body, author: r.author, createdAt: r.created_at, updatedAt: r.updated_at })

const toClient = (r: ClientRow): Client => ({
  id: r.id, name: r.name, kind: r.kind, scopes: JSON.parse(r.scopes) as string[], generation: r.generation, createdAt: r.created_at, rotatedAt: r.rotated_at
})

function isUniqueViolation (err: unknown): boolean {
  return typeof err === 'object' && err !== null && 'code' in err &&
    (err.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || err.code === 'SQLITE_CONSTRAINT_UNIQUE')
}

// Keyset paging, newest first: rows strictly after the cursor in (created_at DESC, id DESC).
const AFTER = '(? IS NULL OR created_at < ? OR (created_at = ? AND id < ?))'
const cursorArgs = (after: Cursor | null): [number | null, number | null, number | null, string | null] =>
  after === null ? [null, null, null, null] : [after.createdAt, after.createdAt, after.createdAt, after.id]

export interface EmbeddedStoreOptions {
  /** Where a start-up warning goes (a file readable by others was tightened); by default one JSON log line on stderr. */
  warn?: (message: string) => void
  /** Called with the SQL of every statement run (better-sqlite3's `verbose`): tests and the bench count queries with it. */
  onStatement?: (sql: string) => void
}

interface QueuedWrite {
  run: () => unknown
  resolve: (value: unknown) => void
  reject: (err: unknown) => void
}

/**
 * Group commit. better-sqlite3 is synchronous, so one write per transaction
 * means one WAL fsync per write, with the event loop blocked in each; under
 * concurrent requests that fsync, not the CPU, bounds writes per second.
 * Here a write is queued, and the writes queued in one turn of the event
 * loop (the requests whose bytes arrived in the same poll phase) run at the
 * next check phase (setImmediate) in one IMMEDIATE transaction, each in its
 * own savepoint: a write that fails (a unique key taken, say) is rolled back
 * alone and rejected, and the others commit. Every promise settles only after
 * the COMMIT has returned, that is after its fsync, so an acknowledged write
 * survives kill -9 and power loss as before; if the transaction as a whole
 * fails (BEGIN or COMMIT), nothing of it is stored and every write in it is
 * rejected. A lone write runs as it did before, in its own transaction.
 *
 * Writes run in the order they were asked for. A read that runs before the
 * flush does not see a queued write, which is not acknowledged yet either.
 */
function groupCommit (db: Database.Database): { write: <T>(run: () => T) => Promise<T>, flush: () => void } {
  let queue: QueuedWrite[] = []
  let timer: NodeJS.Immediate | null = null
  const inSavepoint = db.transaction((run: () => unknown) => run())
  const runAll = db.transaction((batch: QueuedWrite[], outcomes: Array<{ ok: boolean, value: unknown }>) => {
    for (const w of batch) {
      try {
        outcomes.push({ ok: true, value: inSavepoint(w.run) })
      } catch (err) {
        // An error that ended the whole transaction (I/O, disk full): nothing is stored, every write fails.
        if (!db.inTransaction) throw err
        outcomes.push({ ok: false, value: err })
      }
    }
  })
  const flush = (): void => {
    if (timer !== null) clearImmediate(timer)
    timer = null
    const batch = queue
    queue = []
    if (batch.length === 1) {
      const w = batch[0] as QueuedWrite
      try {
        w.resolve(w.run())
      } catch (err) {
        w.reject(err)
      }
      return
    }
    if (batch.length === 0) return
    const outcomes: Array<{ ok: boolean, value: unknown }> = []
    try {
      runAll.immediate(batch, outcomes)
    } catch (err) {
      for (const w of batch) w.reject(err)
      return
    }
    batch.forEach((w, i) => {
      const o = outcomes[i] as { ok: boolean, value: unknown }
      if (o.ok) w.resolve(o.value)
      else w.reject(o.value)
    })
  }
  const write = <T>(run: () => T): Promise<T> => {
    // A closed store: run now, so the write fails as it always did (the connection is not open).
    if (!db.open) return new Promise<T>(resolve => resolve(run()))
    return new Promise<T>((resolve, reject) => {
      queue.push({ run, resolve: resolve as (value: unknown) => void, reject })
      timer ??= setImmediate(flush)
    })
  }
  return { write, flush }
}

const stderrWarning = (message: string): void => {
  process.stderr.write(`${JSON.stringify({ level: 40, time: Date.now(), msg: message })}\n`)
}

/** Removes group and other bits from the open file `fd`, warning when there were any. */
function tighten (fd: number, path: string, warn: (message: string) => void): void {
  if (process.platform === 'win32') return // no POSIX modes to tighten
  const mode = fstatSync(fd).mode & 0o777
  if ((mode & 0o077) === 0) return
  try {
    fchmodSync(fd, mode & 0o700)
  } catch (err) {
    throw new Error(`${path} is readable by group or others (mode ${mode.toString(8)}) and cannot be changed: ${(err as Error).message}; run chmod 600 on it`)
  }
  warn(`${path} was readable by group or others (mode ${mode.toString(8)}); its mode is now ${(mode & 0o700).toString(8)}`)
}

/**
 * Makes the database file with mode 0600 before SQLite opens it, so it never
 * exists with a wider mode (SQLite would make it 0644 under the usual umask).
 * SQLite gives the -wal and -shm files it makes the database file's mode, so
 * they follow. Files left readable by others (by an older version, or by
 * hand) are tightened to owner-only here, with a warning each.
 */
function secureFiles (path: string, warn: (message: string) => void): void {
  const fd = openSync(path, constants.O_RDONLY | constants.O_CREAT, 0o600)
  try {
    tighten(fd, path, warn)
  } finally {
    closeSync(fd)
  }
  for (const companion of [`${path}-wal`, `${path}-shm`]) {
    let other: number
    try {
      other = openSync(companion, constants.O_RDONLY)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue
      throw err
    }
    try {
      tighten(other, companion, warn)
    } finally {
      closeSync(other)
    }
  }
}

export function openEmbeddedStore (dataDir: string, options: EmbeddedStoreOptions = {}): Store {
  // Only a directory made here gets 0700: an existing DATA_DIR keeps the mode its operator chose.
  mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  const file = join(dataDir, 'store.sqlite')
  secureFiles(file, options.warn ?? stderrWarning)
  const db = new Database(file, { timeout: 10_000, ...(options.onStatement === undefined ? {} : { verbose: options.onStatement as (message?: unknown) => void }) })
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = FULL')
  db.pragma('foreign_keys = ON')
  migrate(db)

  const q = {
    insertUser: db.prepare('INSERT INTO users (username, password_hash, roles, disabled, created_at, updated_at) VALUES (?, ?, ?, 0, ?, ?)'),
    findUser: db.prepare<[string], UserRow>('SELECT * FROM users WHERE username = ?'),
    setPassword: db.prepare('UPDATE users SET password_hash = ?, updated_at = ? WHERE username = ?'),
    replacePasswordHash: db.prepare('UPDATE users SET password_hash = ?, updated_at = ? WHERE username = ? AND password_hash = ?'),
    updateUser: db.prepare<[string | null, number | null, number, string], UserRow>(
      'UPDATE users SET roles = coalesce(?, roles), disabled = coalesce(?, disabled), updated_at = ? WHERE username = ? RETURNING *'),

    insertNote: db.prepare('INSERT INTO notes (id, owner, title, body, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)'),
    getNote: db.prepare<[string], NoteRow>('SELECT * FROM notes WHERE id = ?'),
    grantsOf: db.prepare<[string], GrantRow>('SELECT * FROM note_grants WHERE note_id = ? ORDER BY username'),
    // The grants of a whole page of notes in one query (the ids as one JSON array), not one query per note.
    grantsOfMany: db.prepare<[string], GrantRow>('SELECT * FROM note_grants WHERE note_id IN (SELECT value FROM json_each(?)) ORDER BY note_id, username'),
    listNotesFor: db.prepare<[string, string, number | null, number | null, number | null, string | null, number], NoteRow>(
      `SELECT * FROM notes WHERE (owner = ? OR id IN (SELECT note_id FROM note_grants WHERE username = ?)) AND ${AFTER}
       ORDER BY created_at DESC, id DESC LIMIT ?`),
    updateNote: db.prepare<[string | null, string | null, number, string], NoteRow>(
      'UPDATE notes SET title = coalesce(?, title), body = coalesce(?, body), updated_at = ? WHERE id = ? RETURNING *'),
    touchNote: db.prepare<[number, string], NoteRow>('UPDATE notes SET updated_at = ? WHERE id = ? RETURNING *'),
    deleteNote: db.prepare('DELETE FROM notes WHERE id = ?'),
    upsertGrant: db.prepare('INSERT INTO note_grants (note_id, username, access) VALUES (?, ?, ?) ON CONFLICT (note_id, username) DO UPDATE SET access = excluded.access'),
    deleteGrant: db.prepare('DELETE FROM note_grants WHERE note_id = ? AND username = ?'),

    insertArticle: db.prepare('INSERT INTO articles (id, title, body, author, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)'),
    getArticle: db.prepare<[string], ArticleRow>('SELECT * FROM articles WHERE id = ?'),
    listArticles: db.prepare<[number | null, number | null, number | null, string | null, number], ArticleRow>(
      `SELECT * FROM articles WHERE ${AFTER} ORDER BY created_at DESC, id DESC LIMIT ?`),
    updateArticle: db.prepare<[string | null, string | null, number, string], ArticleRow>(
      'UPDATE articles SET title = coalesce(?, title), body = coalesce(?, body), updated_at = ? WHERE id = ? RETURNING *'),
    deleteArticle: db.prepare('DELETE FROM articles WHERE id = ?'),

    insertClient: db.prepare('INSERT INTO clients (id, name, kind, scopes, generation, created_at, rotated_at) VALUES (?, ?, ?, ?, 1, ?, ?)'),
    getClient: db.prepare<[string], ClientRow>('SELECT * FROM clients WHERE id = ?'),
    listClients: db.prepare<[], ClientRow>('SELECT * FROM clients ORDER BY created_at, id'),
    rotateClient: db.prepare<[number, string], ClientRow>('UPDATE clients SET generation = generation + 1, rotated_at = ? WHERE id = ? RETURNING *'),
    deleteClient: db.prepare('DELETE FROM clients WHERE id = ?'),

    addRevocation: db.prepare('INSERT INTO revocations (principal, sid, before, effective_at, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?)'),
    revocationsSince: db.prepare<[number, number], RevocationRow>('SELECT seq, principal, sid, before, effective_at, expires_at FROM revocations WHERE seq > ? ORDER BY seq LIMIT ?'),
    pruneRevocations: db.prepare('DELETE FROM revocations WHERE expires_at IS NOT NULL AND expires_at <= ?'),
    ping: db.prepare('SELECT 1')
  }
  let closed = false
  const { write, flush } = groupCommit(db)

  const noteOf = (r: NoteRow, grants: Iterable<GrantRow>): Note =>
    ({ id: r.id, owner: r.owner, title: r.title, body: r.body, grants: grantsFrom(grants), createdAt: r.created_at, updatedAt: r.updated_at })
  const toNote = (r: NoteRow): Note => noteOf(r, q.grantsOf.all(r.id))
  /** Notes with their grants in two queries whatever their number: the rows, then every grant of theirs. */
  const toNotes = (rows: NoteRow[]): Note[] => {
    if (rows.length === 0) return []
    const byNote = new Map<string, GrantRow[]>()
    for (const g of q.grantsOfMany.all(JSON.stringify(rows.map(r => r.id)))) {
      const list = byNote.get(g.note_id)
      if (list === undefined) byNote.set(g.note_id, [g])
      else list.push(g)
    }
    return rows.map(r => noteOf(r, byNote.get(r.id) ?? []))
  }
  const insertOr409 = (what: string, run: () => void): void => {
    try {
      run()
    } catch (err) {
      if (isUniqueViolation(err)) throw new ConflictError(what)
      throw err
    }
  }
  const setGrant = db.transaction((id: string, grantee: string, access: Access | null, now: number): Note | null => {
    const row = q.touchNote.get(now, id)
    if (row === undefined) return null
    if (access === null) q.deleteGrant.run(id, grantee)
    else q.upsertGrant.run(id, grantee, access)
    return toNote(row)
  })

  return {
    kind: 'embedded',
    async createUser (user: NewUser, now: number) {
      await write(() => insertOr409('user', () => q.insertUser.run(user.username, user.passwordHash, JSON.stringify(user.roles), now, now)))
      return { ...user, roles: [...user.roles], disabled: false, createdAt: now, updatedAt: now }
    },
    async findUser (username) {
      const row = q.findUser.get(username)
      return row === undefined ? null : toUser(row)
    },
    async setPassword (username, passwordHash, now) {
      return await write(() => q.setPassword.run(passwordHash, now, username).changes === 1)
    },
    async replacePasswordHash (username, expectedOldHash, newHash, now) {
      return await write(() => q.replacePasswordHash.run(newHash, now, username, expectedOldHash).changes === 1)
    },
    async updateUser (username, patch, now) {
      const row = await write(() => q.updateUser.get(
        patch.roles === undefined ? null : JSON.stringify(patch.roles),
        patch.disabled === undefined ? null : (patch.disabled ? 1 : 0),
        now, username))
      return row === undefined ? null : toUser(row)
    },

    async createNote (note, now) {
      await write(() => insertOr409('note', () => q.insertNote.run(note.id, note.owner, note.title, note.body, now, now)))
      return { ...note, grants: grantsFrom(), createdAt: now, updatedAt: now }
    },
    async getNote (id) {
      const row = q.getNote.get(id)
      return row === undefined ? null : toNote(row)
    },
    async listNotesFor (username, after, limit) {
      return toNotes(q.listNotesFor.all(username, username, ...cursorArgs(after), limit))
    },
    async updateNote (id, patch, now) {
      const row = await write(() => q.updateNote.get(patch.title ?? null, patch.body ?? null, now, id))
      return row === undefined ? null : toNote(row)
    },
    async deleteNote (id) {
      return await write(() => q.deleteNote.run(id).changes === 1)
    },
    async setGrant (id, grantee, access, now) {
      return await write(() => setGrant.immediate(id, grantee, access, now))
    },

    async createArticle (article, now) {
      await write(() => insertOr409('article', () => q.insertArticle.run(article.id, article.title, article.body, article.author, now, now)))
      return { ...article, createdAt: now, updatedAt: now }
    },
    async getArticle (id) {
      const row = q.getArticle.get(id)
      return row === undefined ? null : toArticle(row)
    },
    async listArticles (after, limit) {
      return q.listArticles.all(...cursorArgs(after), limit).map(toArticle)
    },
    async updateArticle (id, patch, now) {
      const row = await write(() => q.updateArticle.get(patch.title ?? null, patch.body ?? null, now, id))
      return row === undefined ? null : toArticle(row)
    },
    async deleteArticle (id) {
      return await write(() => q.deleteArticle.run(id).changes === 1)
    },

    async createClient (client, now) {
      await write(() => insertOr409('client', () => q.insertClient.run(client.id, client.name, client.kind, JSON.stringify(client.scopes), now, now)))
      return { ...client, scopes: [...client.scopes], generation: 1, createdAt: now, rotatedAt: now }
    },
    async getClient (id) {
      const row = q.getClient.get(id)
      return row === undefined ? null : toClient(row)
    },
    async listClients () {
      return q.listClients.all().map(toClient)
    },
    async rotateClient (id, now) {
      const row = await write(() => q.rotateClient.get(now, id))
      return row === undefined ? null : toClient(row)
    },
    async deleteClient (id) {
      return await write(() => q.deleteClient.run(id).changes === 1)
    },

    async addRevocation (r: Revocation, now: number) {
      return await write(() => Number(q.addRevocation.run(r.principal, r.sid, r.before, r.effectiveAt, r.expiresAt, now).lastInsertRowid))
    },
    async revocationsSince (after, limit) {
      return q.revocationsSince.all(after, limit).map(toRevocation)
    },
    async pruneRevocations (now) {
      return await write(() => q.pruneRevocations.run(now).changes)
    },
    async ping () {
      if (closed) throw new Error('store closed')
      q.ping.get()
    },
    async close () {
      if (closed) return
      closed = true
      flush() // writes still queued commit (and are acknowledged) before the connection goes
      db.close()
    }
  }
}

function migrate (db: Database.Database): void {
  try {
    db.transaction(() => {
      const version = db.pragma('user_version', { simple: true }) as number
      // A store written by a newer signed-api: running on it would misread what it does not know.
      if (version > MIGRATIONS.length) throw new StoreSchemaError(db.name, version)
      for (let v = version; v < MIGRATIONS.length; v++) {
        db.exec(MIGRATIONS[v] as string)
      }
      if (version < MIGRATIONS.length) db.pragma(`user_version = ${MIGRATIONS.length}`)
    }).immediate()
  } catch (err) {
    if (err instanceof StoreSchemaError) db.close()
    throw err
  }
}

// ---- schema version, online backup and restore ----------------------------------

/** The schema version this code writes and reads (SQLite's user_version). */
export const STORE_SCHEMA_VERSION = MIGRATIONS.length

/** The database file inside DATA_DIR. */
export const embeddedStoreFile = (dataDir: string): string => join(dataDir, 'store.sqlite')

/** The store's schema is newer than this code knows: refuse it rather than run a silent downgrade. */
export class StoreSchemaError extends Error {
  constructor (readonly file: string, readonly found: number) {
    super(`the store ${file} has schema version ${found}, newer than this signed-api knows (${STORE_SCHEMA_VERSION}): it was written by a newer release. Run that release (or newer), or restore a backup made by this one`)
    this.name = 'StoreSchemaError'
  }
}

/** A backup or restore that cannot be done; the message says why (never a stack). */
export class BackupError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'BackupError'
  }
}

/** Opens an existing SQLite file without making one, or throws BackupError. */
function openExisting (file: string, what: string): Database.Database {
  if (!existsSync(file)) throw new BackupError(`${what} ${file} does not exist`)
  try {
    return new Database(file, { fileMustExist: true, timeout: 10_000 })
  } catch (err) {
    throw new BackupError(`cannot open ${what} ${file}: ${(err as Error).message}`)
  }
}

/** integrity_check and the schema version of an open database; throws BackupError when it is damaged or newer than known. */
function checkCopy (db: Database.Database, file: string): number {
  let result: string
  try {
    result = db.pragma('integrity_check', { simple: true }) as string
  } catch (err) {
    throw new BackupError(`${file} is not a readable store: ${(err as Error).message}`)
  }
  if (result !== 'ok') throw new BackupError(`${file} fails SQLite's integrity check: ${result}`)
  const version = db.pragma('user_version', { simple: true }) as number
  if (version > STORE_SCHEMA_VERSION) throw new BackupError(new StoreSchemaError(file, version).message)
  if (version === 0) throw new BackupError(`${file} holds no signed-api store (schema version 0)`)
  return version
}

/** Writes `path` through a new 0600 file beside it, flushed, then renamed in place: never half a file at `path`. */
async function viaTemp (path: string, fill: (temp: string) => Promise<void> | void): Promise<void> {
  const temp = `${path}.partial-${process.pid}`
  closeSync(openSync(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600))
  try {
    await fill(temp)
    const fd = openSync(temp, constants.O_RDONLY)
    try { fsyncSync(fd) } finally { closeSync(fd) }
    renameSync(temp, path)
  } catch (err) {
    rmSync(temp, { force: true })
    throw err
  }
}

export interface BackupResult {
  file: string
  pages: number
  schemaVersion: number
}

/**
 * An online backup of the store in `dataDir` to the new file `dest` (mode
 * 0600), while the servers keep writing: SQLite's backup API through
 * better-sqlite3. The copy is one snapshot taken in a single step, inside one
 * read transaction (WAL lets writers go on meanwhile), so it holds every
 * write committed before the backup began, and a write from another process
 * can never restart it midway. The copy is then made self-contained (no WAL
 * beside it) and checked (integrity_check, schema version).
 */
export async function backupEmbeddedStore (dataDir: string, dest: string): Promise<BackupResult> {
  if (existsSync(dest)) throw new BackupError(`${dest} already exists; a backup never overwrites a file`)
  const source = openExisting(embeddedStoreFile(dataDir), 'the store')
  let pages = 0
  let schemaVersion = 0
  try {
    const found = source.pragma('user_version', { simple: true }) as number
    if (found > STORE_SCHEMA_VERSION) throw new BackupError(new StoreSchemaError(embeddedStoreFile(dataDir), found).message)
    await viaTemp(dest, async (temp) => {
      // The first step only opens the backup; then every remaining page in one step.
      const meta = await source.backup(temp, { progress: () => 0x7fffffff })
      pages = meta.totalPages
      const copy = new Database(temp, { fileMustExist: true })
      try {
        copy.pragma('journal_mode = DELETE')
        schemaVersion = checkCopy(copy, dest)
      } finally {
        copy.close()
      }
    })
  } finally {
    source.close()
  }
  return { file: dest, pages, schemaVersion }
}

/**
 * Restores a backup into `dataDir`, which must hold no store yet (a fresh
 * DATA_DIR, or one whose store was moved aside with every instance stopped).
 * The backup is checked first (integrity, schema version not newer than
 * this code); the store is written 0600 through a temp file and a rename.
 */
export async function restoreEmbeddedStore (backupFile: string, dataDir: string): Promise<{ file: string, schemaVersion: number }> {
  const target = embeddedStoreFile(dataDir)
  for (const f of [target, `${target}-wal`, `${target}-shm`]) {
    if (existsSync(f)) throw new BackupError(`${f} exists: restore into a DATA_DIR with no store (stop every instance and move the store files aside first)`)
  }
  const backup = openExisting(backupFile, 'the backup')
  let schemaVersion: number
  try {
    schemaVersion = checkCopy(backup, backupFile)
  } finally {
    backup.close()
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  await viaTemp(target, (temp) => {
    copyFileSync(backupFile, temp)
    chmodSync(temp, 0o600) // copyFileSync gives the copy the backup's mode
  })
  return { file: target, schemaVersion }
}
