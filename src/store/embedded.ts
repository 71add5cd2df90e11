/**
 * The zero-setup store: SQLite in DATA_DIR through better-sqlite3.
 *
 * WAL mode with synchronous=FULL: a write is acknowledged only after its WAL
 * frame is fsynced, so no acknowledged write is lost on kill -9 or power loss.
 * Several processes on one machine may share the file (WAL allows one writer
 * and many readers at a time; busy_timeout makes writers queue, not fail).
 */
import Database from 'better-sqlite3'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { Revocation, SequencedRevocation } from '../auth/revocation.js'
import { ConflictError, type NewUser, type Role, type Store, type User } from './port.js'

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
   CREATE INDEX revocations_expires ON revocations (expires_at) WHERE expires_at IS NOT NULL;`
]

interface UserRow { username: string, password_hash: string, roles: string, disabled: number, created_at: number, updated_at: number }
interface RevocationRow { seq: number, principal: string, sid: string | null, before: number | null, effective_at: number, expires_at: number | null }

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

function isUniqueViolation (err: unknown): boolean {
  return typeof err === 'object' && err !== null && 'code' in err &&
    (err.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || err.code === 'SQLITE_CONSTRAINT_UNIQUE')
}

export function openEmbeddedStore (dataDir: string): Store {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  const db = new Database(join(dataDir, 'store.sqlite'), { timeout: 10_000 })
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = FULL')
  db.pragma('foreign_keys = ON')
  migrate(db)

  const q = {
    insertUser: db.prepare('INSERT INTO users (username, password_hash, roles, disabled, created_at, updated_at) VALUES (?, ?, ?, 0, ?, ?)'),
    findUser: db.prepare<[string], UserRow>('SELECT * FROM users WHERE username = ?'),
    setPassword: db.prepare('UPDATE users SET password_hash = ?, updated_at = ? WHERE username = ?'),
    addRevocation: db.prepare('INSERT INTO revocations (principal, sid, before, effective_at, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?)'),
    revocationsSince: db.prepare<[number, number], RevocationRow>('SELECT seq, principal, sid, before, effective_at, expires_at FROM revocations WHERE seq > ? ORDER BY seq LIMIT ?'),
    pruneRevocations: db.prepare('DELETE FROM revocations WHERE expires_at IS NOT NULL AND expires_at <= ?'),
    ping: db.prepare('SELECT 1')
  }
  let closed = false

  return {
    kind: 'embedded',
    async createUser (user: NewUser, now: number) {
      try {
        q.insertUser.run(user.username, user.passwordHash, JSON.stringify(user.roles), now, now)
      } catch (err) {
        if (isUniqueViolation(err)) throw new ConflictError('user')
        throw err
      }
      return { ...user, roles: [...user.roles], disabled: false, createdAt: now, updatedAt: now }
    },
    async findUser (username) {
      const row = q.findUser.get(username)
      return row === undefined ? null : toUser(row)
    },
    async setPassword (username, passwordHash, now) {
      return q.setPassword.run(passwordHash, now, username).changes === 1
    },
    async addRevocation (r: Revocation, now: number) {
      const info = q.addRevocation.run(r.principal, r.sid, r.before, r.effectiveAt, r.expiresAt, now)
      return Number(info.lastInsertRowid)
    },
    async revocationsSince (after, limit) {
      return q.revocationsSince.all(after, limit).map(toRevocation)
    },
    async pruneRevocations (now) {
      return q.pruneRevocations.run(now).changes
    },
    async ping () {
      if (closed) throw new Error('store closed')
      q.ping.get()
    },
    async close () {
      if (closed) return
      closed = true
      db.close()
    }
  }
}

function migrate (db: Database.Database): void {
  db.transaction(() => {
    const version = db.pragma('user_version', { simple: true }) as number
    for (let v = version; v < MIGRATIONS.length; v++) {
      db.exec(MIGRATIONS[v] as string)
    }
    if (version < MIGRATIONS.length) db.pragma(`user_version = ${MIGRATIONS.length}`)
  }).immediate()
}
