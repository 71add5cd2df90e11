/**
 * Password hashing with scrypt (never bcrypt: it truncates at 72 bytes).
 * Passwords are normalised to Unicode NFC first, so the same password typed
 * on two keyboards hashes the same.
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto'

export interface ScryptParams {
  /** log2 of the CPU/memory cost N. */
  logN: number
  r: number
  p: number
}

/** About 50-100 ms of CPU and 32 MiB per hash on a current core. */
export const DEFAULT_SCRYPT: ScryptParams = { logN: 15, r: 8, p: 1 }

const KEY_LENGTH = 32
const FORMAT = /^scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9_-]{16,})\$([A-Za-z0-9_-]{40,})$/

function derive (password: string, salt: Buffer, params: ScryptParams, length: number): Promise<Buffer> {
  const N = 2 ** params.logN
  const options: ScryptOptions = { N, r: params.r, p: params.p, maxmem: 256 * N * params.r + 1024 * 1024 }
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFC'), salt, length, options, (err, key) => { if (err) reject(err); else resolve(key) })
  })
}

export interface PasswordHasher {
  hash (password: string): Promise<string>
  /** Constant-time check; a malformed stored hash is simply false. */
  verify (password: string, stored: string): Promise<boolean>
  /** Costs one hash and returns false: used for unknown users so timing does not tell. */
  verifyDummy (password: string): Promise<boolean>
}

export function createPasswordHasher (params: ScryptParams = DEFAULT_SCRYPT): PasswordHasher {
  const dummySalt = randomBytes(16)
  const encode = (salt: Buffer, key: Buffer, p: ScryptParams): string =>
    `scrypt$ln=${p.logN},r=${p.r},p=${p.p}$${salt.toString('base64url')}$${key.toString('base64url')}`
  return {
    async hash (password) {
      const salt = randomBytes(16)
      return encode(salt, await derive(password, salt, params, KEY_LENGTH), params)
    },
    async verify (password, stored) {
      const m = FORMAT.exec(stored)
      if (m === null) return false
      const stored_ = { logN: Number(m[1]), r: Number(m[2]), p: Number(m[3]) }
      if (stored_.logN < 1 || stored_.logN > 22 || stored_.r < 1 || stored_.p < 1) return false
      const expected = Buffer.from(m[5] as string, 'base64url')
      const actual = await derive(password, Buffer.from(m[4] as string, 'base64url'), stored_, expected.length)
      return timingSafeEqual(actual, expected)
    },
    async verifyDummy (password) {
      await derive(password, dummySalt, params, KEY_LENGTH)
      return false
    }
  }
}
