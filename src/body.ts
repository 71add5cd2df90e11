/**
 * Body rules decided from the head alone (protocol-v1.md, "Canonical string"):
 * JSON or nothing, no Content-Encoding, no body on GET/HEAD/DELETE, size from
 * Content-Length. The raw bytes are kept for the HMAC; JSON is parsed only
 * after the signature holds, so an unsigned caller learns nothing from it.
 */
import type { ErrorCode } from './errors.js'

const JSON_TYPE = /^application\/json[ \t]*(;[ \t]*charset[ \t]*=[ \t]*"?utf-8"?[ \t]*)?$/i
const NO_BODY_METHODS = new Set(['GET', 'HEAD', 'DELETE'])

type RawHeaders = Record<string, string | string[] | undefined>

export function hasBody (headers: RawHeaders): boolean {
  const length = headers['content-length']
  return headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0')
}

/** The failing code, or null when the body may be read. */
export function bodyRuleFromHead (method: string, headers: RawHeaders, limit: number): ErrorCode | null {
  if (!hasBody(headers)) return null
  const encoding = headers['content-encoding']
  if (encoding !== undefined && encoding !== 'identity') return 'UNSUPPORTED_MEDIA_TYPE'
  const type = headers['content-type']
  if (typeof type !== 'string' || !JSON_TYPE.test(type)) return 'UNSUPPORTED_MEDIA_TYPE'
  if (NO_BODY_METHODS.has(method)) return 'BODY_NOT_ALLOWED'
  const length = headers['content-length']
  if (typeof length === 'string' && /^\d+$/.test(length) && Number(length) > limit) return 'BODY_TOO_LARGE'
  return null
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false })

/**
 * Decodes the raw body as strict UTF-8 and parses it with `parse` (Fastify's
 * prototype-poisoning-safe JSON parser). An empty body is `undefined`.
 */
export function parseJsonBody (raw: Buffer | undefined, parse: (text: string) => unknown): { ok: true, value: unknown } | { ok: false } {
  if (raw === undefined || raw.length === 0) return { ok: true, value: undefined }
  try {
    return { ok: true, value: parse(utf8.decode(raw)) }
  } catch {
    return { ok: false }
  }
}

/** The raw body bytes a route kept (routes whose JSON parser keeps bytes); empty when there was none. */
export function rawBody (request: { body: unknown }): Buffer {
  return Buffer.isBuffer(request.body) ? request.body : EMPTY
}
const EMPTY = Buffer.alloc(0)
