/**
 * Password hashing with Argon2id (never bcrypt: it truncates at 72 bytes),
 * through @node-rs/argon2, which hashes on libuv's thread pool. A hash is a
 * self-describing PHC string, `$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<digest>`,
 * so a change of cost applies to new hashes and old ones still verify.
 *
 * Hashes of the former format (`scrypt$ln=..,r=..,p=..$salt$key`) still
 * verify; `needsRehash` tells the login to replace them (and any hash made
 * with other parameters) with a current one. Passwords are normalised to
 * Unicode NFC first, so the same password typed on two keyboards hashes the same.
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto'
import { hash as argon2Hash, parseOptions, verify as argon2Verify, type Algorithm, type Options } from '@node-rs/argon2'

export interface Argon2Params {
  /** Memory per hash in KiB (`m=`). */
  memoryCost: number
  /** Passes over that memory (`t=`). */
  timeCost: number
  /** Lanes (`p=`). */
  parallelism: number
}

/** OWASP's current minimum for Argon2id: 19 MiB, 2 passes, 1 lane. */
export const ARGON2_MINIMUM: Argon2Params = { memoryCost: 19_456, timeCost: 2, parallelism: 1 }

/**
 * What the server uses: 64 MiB, 3 passes, 1 lane (above the minimum on both
 * axes). Measured on a 2-core VM at about 75-90 ms of CPU per hash (one at a time),
 * inside bench/'s 50-150 ms bar for a login; the minimum costs about 13 ms there.
 */
export const DEFAULT_ARGON2: Argon2Params = { memoryCost: 65_536, timeCost: 3, parallelism: 1 }

/** The two calls of @node-rs/argon2 this module uses; tests wrap them to see the work done. */
export interface Argon2Engine {
  hash (password: string, options: Options): Promise<string>
  verify (hashed: string, password: string): Promise<boolean>
}

const nodeRsArgon2: Argon2Engine = {
  hash: async (password, options) => await argon2Hash(password, options),
  verify: async (hashed, password) => await argon2Verify(hashed, password)
}

// Algorithm is a const enum in the package's types (absent at run time): its Argon2id is 2, Version V0x13 is 1.
const ARGON2ID = 2 as Algorithm
const SALT_BYTES = 16
const DIGEST_BYTES = 32
/**
 * Bounds on the cost of a stored hash, so a damaged or planted row cannot make
 * a login allocate gigabytes: such a hash is simply false.
 */
const MAX_MEMORY_KIB = 1_048_576
const MAX_TIME_COST = 64
const MAX_PARALLELISM = 16

export interface PasswordHasher {
  /** A new Argon2id hash with the current parameters. */
  hash (password: string): Promise<string>
  /** Constant-time check; a malformed stored hash is simply false. */
  verify (password: string, stored: string): Promise<boolean>
  /** Costs one verification with the current parameters and returns false: used for unknown users so timing does not tell. */
  verifyDummy (password: string): Promise<boolean>
  /** True when `stored` is not an Argon2id hash with the current parameters (a login then stores a new one). */
  needsRehash (stored: string): boolean
}

const phcB64 = (bytes: Buffer): string => bytes.toString('base64').replace(/=+$/, '')

export function createPasswordHasher (params: Argon2Params = DEFAULT_ARGON2, engine: Argon2Engine = nodeRsArgon2): PasswordHasher {
  const options: Options = { algorithm: ARGON2ID, memoryCost: params.memoryCost, timeCost: params.timeCost, parallelism: params.parallelism, outputLen: DIGEST_BYTES }
  // A hash of no password, in the very form hash() writes (version 19, 16-byte salt, 32-byte digest),
  // with the current parameters: verifying against it costs what verifying a real user's hash costs.
  const dummy = `$argon2id$v=19$m=${params.memoryCost},t=${params.timeCost},p=${params.parallelism}$${phcB64(randomBytes(SALT_BYTES))}$${phcB64(randomBytes(DIGEST_BYTES))}`

  const verifyArgon2 = async (password: string, stored: string): Promise<boolean> => {
    let o
    try {
      o = parseOptions(stored)
    } catch {
      return false
    }
    if (o.algorithm !== ARGON2ID || o.memoryCost > MAX_MEMORY_KIB || o.timeCost > MAX_TIME_COST || o.parallelism > MAX_PARALLELISM) return false
    try {
      return await engine.verify(stored, password.normalize('NFC'))
    } catch {
      return false
    }
  }

  const hasher: PasswordHasher = {
    async hash (password) {
      return await engine.hash(password.normalize('NFC'), options)
    },
    async verify (password, stored) {
      if (stored.startsWith('$argon2id$')) return await verifyArgon2(password, stored)
      if (stored.startsWith('scrypt$')) return await verifyScrypt(password, stored)
      return false
    },
    async verifyDummy (password) {
      await hasher.verify(password, dummy)
      return false
    },
    needsRehash (stored) {
      if (!stored.startsWith('$argon2id$')) return true
      try {
        const o = parseOptions(stored)
        return o.algorithm !== ARGON2ID || o.memoryCost !== params.memoryCost || o.timeCost !== params.timeCost ||
          o.parallelism !== params.parallelism || o.outputLen !== DIGEST_BYTES
      } catch {
        return true
      }
    }
  }
  return hasher
}

// ---- the former format: scrypt, verified only ----------------------------------------

export interface ScryptParams {
  /** log2 of the CPU/memory cost N. */
  logN: number
  r: number
  p: number
}

const SCRYPT_FORMAT = /^scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9_-]{16,})\$([A-Za-z0-9_-]{40,})$/

function deriveScrypt (password: string, salt: Buffer, params: ScryptParams, length: number): Promise<Buffer> {
  const N = 2 ** params.logN
  const options: ScryptOptions = { N, r: params.r, p: params.p, maxmem: 256 * N * params.r + 1024 * 1024 }
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFC'), salt, length, options, (err, key) => { if (err) reject(err); else resolve(key) })
  })
}

async function verifyScrypt (password: string, stored: string): Promise<boolean> {
  const m = SCRYPT_FORMAT.exec(stored)
  if (m === null) return false
  const params = { logN: Number(m[1]), r: Number(m[2]), p: Number(m[3]) }
  // The server wrote ln=15,r=8,p=1; anything far beyond that is damage, not a hash to spend a gigabyte on.
  if (params.logN < 1 || params.logN > 20 || params.r < 1 || params.r > 16 || params.p < 1 || params.p > 16) return false
  const expected = Buffer.from(m[5] as string, 'base64url')
  try {
    const actual = await deriveScrypt(password, Buffer.from(m[4] as string, 'base64url'), params, expected.length)
    return timingSafeEqual(actual, expected)
  } catch {
    return false
  }
}

/**
 * A hash in the former scrypt format, as the server wrote them before
 * Argon2id (N=2^15, r=8, p=1 by default). Nothing in the server makes these
 * any more; tests use it to check that such hashes still verify and are upgraded.
 */
export async function legacyScryptHash (password: string, params: ScryptParams = { logN: 15, r: 8, p: 1 }): Promise<string> {
  const salt = randomBytes(16)
  const key = await deriveScrypt(password, salt, params, 32)
  return `scrypt$ln=${params.logN},r=${params.r},p=${params.p}$${salt.toString('base64url')}$${key.toString('base64url')}`
}
