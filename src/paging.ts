/**
 * Opaque, tamper-evident cursors for "newest first" keyset paging. A cursor
 * packs the (createdAt, id) of the last item returned and a MAC bound to the
 * list it came from (and, for private lists, the caller), under a key derived
 * from the keyring: a garbled or forged cursor is 400 VALIDATION_FAILED.
 */
import { createHmac, timingSafeEqual, type KeyObject } from 'node:crypto'
import { secretKeyOf, type Keyring } from './auth/keys.js'
import type { Cursor } from './store/port.js'

const MAC_BYTES = 8

function mac (secret: KeyObject, scope: string, payload: Buffer): Buffer {
  return createHmac('sha256', secret).update(`cursor|${scope}|`).update(payload).digest().subarray(0, MAC_BYTES)
}

export interface CursorCodec {
  encode (cursor: Cursor, scope: string): string
  /** Null when the cursor is garbled, forged, or from another list. */
  decode (text: string, scope: string): Cursor | null
}

export function cursorCodec (keyring: Keyring): CursorCodec {
  const secret = secretKeyOf(keyring.secrets.get(keyring.current) as Buffer)
  const others = [...keyring.secrets.values()].map(secretKeyOf)
  return {
    encode (cursor, scope) {
      const id = Buffer.from(cursor.id, 'utf8')
      const payload = Buffer.alloc(9 + id.length)
      payload.writeBigUInt64BE(BigInt(cursor.createdAt), 0)
      payload.writeUInt8(id.length, 8)
      id.copy(payload, 9)
      return Buffer.concat([payload, mac(secret, scope, payload)]).toString('base64url')
    },
    decode (text, scope) {
      if (!/^[A-Za-z0-9_-]{1,64}$/.test(text)) return null
      const raw = Buffer.from(text, 'base64url')
      if (raw.length < 9 + 1 + MAC_BYTES || raw.toString('base64url') !== text) return null
      const payload = raw.subarray(0, raw.length - MAC_BYTES)
      const given = raw.subarray(raw.length - MAC_BYTES)
      if (payload.readUInt8(8) !== payload.length - 9) return null
      // Any held keyring version, so cursors survive a master key rotation.
      if (!others.some(s => timingSafeEqual(mac(s, scope, payload), given))) return null
      const createdAt = Number(payload.readBigUInt64BE(0))
      if (!Number.isSafeInteger(createdAt)) return null
      return { createdAt, id: payload.subarray(9).toString('utf8') }
    }
  }
}
