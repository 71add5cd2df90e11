/**
 * The Store port: shaped by what the routes and the auth layer need, not a
 * generic repository. Routes and auth see only this interface; the embedded
 * (SQLite) and MongoDB adapters implement it and pass one contract suite.
 */
import type { Revocation, SequencedRevocation } from '../auth/revocation.js'

export type Role = 'admin' | 'editor'

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

/** A unique key was taken (username, client name): the API's 409. */
export class ConflictError extends Error {
  constructor (what: string) {
    super(`${what} already exists`)
    this.name = 'ConflictError'
  }
}

export interface Store {
  readonly kind: 'embedded' | 'mongodb'

  /** Throws ConflictError when the username is taken. */
  createUser (user: NewUser, now: number): Promise<User>
  findUser (username: string): Promise<User | null>
  /** False when there is no such user. */
  setPassword (username: string, passwordHash: string, now: number): Promise<boolean>

  /** Appends a revocation; returns its sequence number (strictly increasing, in commit order). */
  addRevocation (revocation: Revocation, now: number): Promise<number>
  /** Records with seq > `after`, in sequence order, at most `limit`. */
  revocationsSince (after: number, limit: number): Promise<SequencedRevocation[]>
  /** Deletes records that expired before `now`; returns how many. */
  pruneRevocations (now: number): Promise<number>

  /** Resolves when the store answers; rejects otherwise (for /ready). */
  ping (): Promise<void>
  close (): Promise<void>
}
