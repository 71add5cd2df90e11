/**
 * Loading the keyring: MASTER_KEY_FILE, or a development keyring made at
 * DATA_DIR/keyring (mode 0600). Creation is atomic (write a temp file, then
 * link it into place), so several processes sharing DATA_DIR agree on one.
 *
 * And rotating it in three steps, each a command (src/keyring-cli.ts), each
 * followed by a rolling restart: add (held: verifies, never issues),
 * activate (issues; the others still verify), retire (its secret removed,
 * refused while a live key may need it).
 */
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { randomBytes } from 'node:crypto'
import {
  activateKeyringVersion, activeVersion, addKeyringVersion, parseKeyring, parseKeyringFile, retireBlockers, retireKeyringVersion,
  type ClientKeyRecord, type Keyring, type KeyringEntry, type KeyringFile, type RetireLimits
} from './keys.js'

export class KeyringError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'KeyringError'
  }
}

/** Refuses a keyring that is missing or that others may read. */
function checkMode (path: string): void {
  let mode: number
  try {
    mode = statSync(path).mode
  } catch {
    throw new KeyringError(`keyring ${path} does not exist`)
  }
  // Like ssh with private keys: a secret that others may read is refused.
  if ((mode & 0o077) !== 0) {
    throw new KeyringError(`keyring ${path} is readable by group or others (mode ${(mode & 0o777).toString(8)}); run chmod 600 on it`)
  }
}

function readChecked (path: string): Keyring {
  checkMode(path)
  try {
    return parseKeyring(readFileSync(path, 'utf8'))
  } catch (err) {
    throw new KeyringError(`keyring ${path}: ${(err as Error).message}`)
  }
}

/** Writes `file` to `path` only if nothing is there yet; returns false if another process won. */
function createExclusive (path: string, file: KeyringFile): boolean {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
  const temp = join(dirname(path), `.keyring-${process.pid}-${randomBytes(6).toString('hex')}`)
  writeFileSync(temp, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600, flag: 'wx' })
  try {
    linkSync(temp, path)
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw err
  } finally {
    unlinkSync(temp)
  }
}

export interface LoadedKeyring {
  keyring: Keyring
  path: string
  created: boolean
}

export function loadKeyring (masterKeyFile: string | undefined, dataDir: string, now: number): LoadedKeyring {
  if (masterKeyFile !== undefined) return { keyring: readChecked(masterKeyFile), path: masterKeyFile, created: false }
  const path = join(dataDir, 'keyring')
  const created = (() => {
    try {
      statSync(path)
      return false
    } catch {
      return createExclusive(path, addKeyringVersion(null, now))
    }
  })()
  return { keyring: readChecked(path), path, created }
}

/** Reads, checks (mode, format) and parses a keyring file, v1 files read as v2. */
function readFileChecked (path: string, now: number): KeyringFile {
  checkMode(path)
  try {
    return parseKeyringFile(readFileSync(path, 'utf8'), now)
  } catch (err) {
    throw new KeyringError(`keyring ${path}: ${(err as Error).message}`)
  }
}

/**
 * Replaces the file at `path` with `file`: written to a new 0600 file in the
 * same directory, flushed to disk, then renamed over it, so a reader (an
 * instance starting) sees the old file or the new one, never half of one.
 */
function writeKeyringFile (path: string, file: KeyringFile): void {
  const temp = join(dirname(path), `.keyring-${process.pid}-${randomBytes(6).toString('hex')}`)
  const fd = openSync(temp, 'wx', 0o600)
  try {
    writeFileSync(fd, `${JSON.stringify(file, null, 2)}\n`)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  try {
    renameSync(temp, path)
  } catch (err) {
    unlinkSync(temp)
    throw err
  }
}

/** The keyring file at `path` as it is: its versions, their state, and the activation log. */
export function readKeyringFile (path: string, now: number): KeyringFile {
  return readFileChecked(path, now)
}

/**
 * `keyring add`: a new version, held but not active. Every instance restarted
 * with the file verifies what it signs, and none issues with it yet. Refused
 * while an added version is still waiting to be activated (one step at a time).
 */
export function addToKeyringFile (path: string, now: number): { version: number, active: number } {
  const file = readFileChecked(path, now)
  const active = activeVersion(file)
  const everActive = new Set(file.activations.map(a => a.version))
  const waiting = file.keys.find(k => k.secret !== undefined && !everActive.has(k.version))
  if (waiting !== undefined) {
    throw new KeyringError(`keyring ${path}: version ${waiting.version} was added and is not active yet; activate it (after a rolling restart) or retire it before adding another`)
  }
  const next = addKeyringVersion(file, now)
  writeKeyringFile(path, next)
  return { version: (next.keys.at(-1) as KeyringEntry).version, active }
}

/** `keyring activate VERSION`: it issues from now on (at each instance's restart); the other held versions still verify. */
export function activateInKeyringFile (path: string, version: number, now: number): { previous: number, changed: boolean } {
  const file = readFileChecked(path, now)
  const previous = activeVersion(file)
  if (previous === version) return { previous, changed: false }
  let next: KeyringFile
  try {
    next = activateKeyringVersion(file, version, now)
  } catch (err) {
    throw new KeyringError(`keyring ${path}: ${(err as Error).message}`)
  }
  writeKeyringFile(path, next)
  return { previous, changed: true }
}

export class RetireRefused extends Error {
  constructor (readonly problems: string[]) {
    super(problems.join('; '))
    this.name = 'RetireRefused'
  }
}

/**
 * `keyring retire VERSION`: removes its secret (its number stays, never
 * reused), so nothing of it verifies after the next restart. Refused, with
 * every reason, while a key that is still alive may need it (retireBlockers).
 */
export function retireFromKeyringFile (path: string, version: number, clients: readonly ClientKeyRecord[], limits: RetireLimits, now: number): void {
  const file = readFileChecked(path, now)
  const problems = retireBlockers(file, version, clients, limits, now)
  if (problems.length > 0) throw new RetireRefused(problems)
  writeKeyringFile(path, retireKeyringVersion(file, version, now))
}
