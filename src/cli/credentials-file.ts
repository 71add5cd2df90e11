/**
 * The stored key: one JSON file, mode 0600 in a 0700 directory, written
 * atomically (temp file, then rename) so a crash never leaves half a key.
 */
import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import type { Credentials } from '../sdk/index.js'
import { ArgError } from './args.js'

export interface StoredCredentials extends Credentials {
  /** The server the key belongs to. */
  baseUrl: string
  /** The CA file (an absolute path) the server's certificate was trusted with at login, or null for the system's. */
  ca?: string | null
}

export function defaultCredentialsPath (env: Record<string, string | undefined>): string {
  return join(env.HOME !== undefined && env.HOME !== '' ? env.HOME : homedir(), '.config', 'signed-api', 'credentials.json')
}

/** The stored key, or null when there is none. Warns (via `warn`) when others may read the file. */
export function readCredentials (path: string, warn: (line: string) => void): StoredCredentials | null {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw new ArgError(`cannot read credentials file ${path}: ${(err as Error).message}`)
  }
  if ((statSync(path).mode & 0o077) !== 0) warn(`warning: ${path} can be read by other users; run: chmod 600 ${path}`)
  let data: Partial<StoredCredentials>
  try {
    data = JSON.parse(text) as Partial<StoredCredentials>
  } catch {
    throw new ArgError(`credentials file ${path} is not valid JSON; log in again or delete it`)
  }
  if (typeof data.username !== 'string' || typeof data.keyId !== 'string' || typeof data.signingKey !== 'string' || typeof data.baseUrl !== 'string') {
    throw new ArgError(`credentials file ${path} lacks baseUrl, username, keyId or signingKey; log in again`)
  }
  return { baseUrl: data.baseUrl, username: data.username, keyId: data.keyId, signingKey: data.signingKey, expiresAt: typeof data.expiresAt === 'string' ? data.expiresAt : null, ca: typeof data.ca === 'string' ? data.ca : null }
}

export function writeCredentials (path: string, creds: StoredCredentials): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
  const temp = `${path}.${process.pid}.tmp`
  const { baseUrl, ca, username, keyId, signingKey, expiresAt } = creds
  try {
    writeFileSync(temp, `${JSON.stringify({ baseUrl, ca: ca ?? null, username, keyId, signingKey, expiresAt: expiresAt ?? null }, null, 2)}\n`, { mode: 0o600, flag: 'w' })
    chmodSync(temp, 0o600)
    renameSync(temp, path)
  } catch (err) {
    rmSync(temp, { force: true })
    throw new ArgError(`cannot write credentials file ${path}: ${(err as Error).message}`)
  }
}

export function deleteCredentials (path: string): void {
  rmSync(path, { force: true })
}
