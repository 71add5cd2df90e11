/**
 * The Store port: shaped by what the routes and the auth layer need, not a
 * generic repository. Routes and auth see only this interface; the embedded
 * (SQLite) and MongoDB adapters implement it and pass one contract suite
 * (test/store/contract.ts).
 *
 * Times are Unix ms. Ids are opaque strings of 1..64 chars of [A-Za-z0-9_-],
 * made by the caller (routes), so both adapters store the same ids.
 */
import type { Revocation, SequencedRevocation } from '../auth/revocation.js'

export type Role = 'admin' | 'editor'
export type Access = 'read' | 'write'
export type ClientKind = 'app' | 'service'

export interface User {
  username: string
  passwordHash: string
  roles: Role[]
  disabled: boolean
  createdAt: number
  updatedAt: number
}

export interface NewUser {
  username: string
  passwordHash: string
  roles: Role[]
}

export interface Note {
  id: string
  owner: string
  title: string
  body: string
  /**
   * grantee username -> access; the owner is never a grantee. A null-prototype
   * object (src/store/grants.ts): a username may be `constructor`, so look a
   * name up with Object.hasOwn (grantOf), never with grants[name] alone.
   */
  grants: Record<string, Access>
  createdAt: number
  updatedAt: number
}

export interface Article {
  id: string
  title: string
  body: string
  author: string
  createdAt: number
  updatedAt: number
}

export interface Client {
  id: string
  name: string
  kind: ClientKind
  scopes: string[]
  /** Current key generation, 1 at registration, +1 per rotation. */
  generation: number
  createdAt: number
  /** When the current generation was issued (registration or last rotation). */
  rotatedAt: number
}

/**
 * Keyset cursor for "newest first" lists: the (createdAt, id) of the last item
 * returned. The next page holds items strictly older in (createdAt desc, id
 * desc) order, so inserting or deleting items between pages neither repeats
 * nor skips any item that existed on both reads.
 */
export interface Cursor {
  createdAt: number
  id: string
}

/** A unique key was taken (username, client name): the API's 409. */
export class ConflictError extends Error {
  constructor (what: string) {
    super(`${what} already exists`)
    this.name = 'ConflictError'
  }
}

export interface Store {
  readonly kind: 'embedded' | 'mongodb'

  // ---- users
  /** Throws ConflictError when the username is taken. */
  createUser (user: NewUser, now: number): Promise<User>
  findUser (username: string): Promise<User | null>
  /** False when there is no such user. */
  setPassword (username: string, passwordHash: string, now: number): Promise<boolean>
  /**
   * Compare-and-set of the hash, atomic in the store: writes `newHash` only
   * while the stored hash is still `expectedOldHash`, so a password changed
   * in the meantime is never overwritten. False when there is no such user
   * or its hash is no longer `expectedOldHash`.
   */
  replacePasswordHash (username: string, expectedOldHash: string, newHash: string, now: number): Promise<boolean>
  /** Sets roles and/or disabled; null when there is no such user. */
  updateUser (username: string, patch: { roles?: Role[], disabled?: boolean }, now: number): Promise<User | null>

  // ---- notes (private area)
  createNote (note: { id: string, owner: string, title: string, body: string }, now: number): Promise<Note>
  getNote (id: string): Promise<Note | null>
  /** Notes `username` owns or was granted, newest first, strictly after `after`. */
  listNotesFor (username: string, after: Cursor | null, limit: number): Promise<Note[]>
  /** Null when there is no such note. */
  updateNote (id: string, patch: { title?: string, body?: string }, now: number): Promise<Note | null>
  /** False when there is no such note. */
  deleteNote (id: string): Promise<boolean>
  /**
   * Sets (access) or removes (null) one grant atomically: concurrent grants
   * to different users on one note never overwrite each other. Null when
   * there is no such note.
   */
  setGrant (id: string, grantee: string, access: Access | null, now: number): Promise<Note | null>

  // ---- articles (public area)
  createArticle (article: { id: string, title: string, body: string, author: string }, now: number): Promise<Article>
  getArticle (id: string): Promise<Article | null>
  listArticles (after: Cursor | null, limit: number): Promise<Article[]>
  updateArticle (id: string, patch: { title?: string, body?: string }, now: number): Promise<Article | null>
  deleteArticle (id: string): Promise<boolean>

  // ---- clients (apps and services)
  /** Throws ConflictError when the name is taken. Generation starts at 1. */
  createClient (client: { id: string, name: string, kind: ClientKind, scopes: string[] }, now: number): Promise<Client>
  getClient (id: string): Promise<Client | null>
  listClients (): Promise<Client[]>
  /** Increments the generation atomically (two concurrent rotations give two generations); null when none. */
  rotateClient (id: string, now: number): Promise<Client | null>
  deleteClient (id: string): Promise<boolean>

  // ---- revocations (the auth layer's source of truth)
  /** Appends a revocation; returns its sequence number (strictly increasing, in commit order). */
  addRevocation (revocation: Revocation, now: number): Promise<number>
  /** Records with seq > `after`, in sequence order, at most `limit`. */
  revocationsSince (after: number, limit: number): Promise<SequencedRevocation[]>
  /** Deletes records that expired at or before `now`; returns how many. */
  pruneRevocations (now: number): Promise<number>

  /** Resolves when the store answers; rejects otherwise (for /ready). */
  ping (): Promise<void>
  close (): Promise<void>
}
