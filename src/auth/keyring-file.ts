/**
 * Loading the keyring: MASTER_KEY_FILE, or a development keyring made at
 * DATA_DIR/keyring (mode 0600). Creation is atomic (write a temp file, then
 * link it into place), so several processes sharing DATA_DIR agree on one.
 */
import { chmodSync, linkSync, mkdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { addKeyringVersion, parseKeyring, type Keyring, type KeyringFile } from './keys.js'

export class KeyringError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'KeyringError'
  }
}

function readChecked (path: string): Keyring {
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

/**
 * Adds a new newest version to a keyring file (master key rotation): new keys
 * derive from it, keys issued under older versions keep verifying until they
 * expire. Every instance must be restarted with the new file.
 */
export function rotateKeyringFile (path: string, now: number): number {
  let current: KeyringFile
  try {
    current = JSON.parse(readFileSync(path, 'utf8')) as KeyringFile
    parseKeyring(JSON.stringify(current))
  } catch (err) {
    throw new KeyringError(`keyring ${path}: ${(err as Error).message}`)
  }
  const next = addKeyringVersion(current, now)
  const temp = `${path}.${process.pid}.tmp`
  writeFileSync(temp, `${JSON.stringify(next, null, 2)}\n`, { mode: 0o600 })
  chmodSync(temp, 0o600)
  renameSync(temp, path)
  return next.keys.at(-1)?.version ?? 0
}
