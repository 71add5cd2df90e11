/**
 * Check 6 without a per-request lookup: an in-memory view of the store's
 * revocation records, loaded before the instance is ready and kept in step by
 * polling the store's increasing sequence (the store is the source of truth).
 */
import type { KeyIdFields } from './keys.js'

/**
 * One revocation. `sid` set: every key of that session (logout) or client key
 * generation. `before` set: every key of the principal whose session began
 * before that instant (password change, disabled user, deleted client).
 * Either takes effect at `effectiveAt` (later than creation for a rotated
 * client key's overlap) and may be forgotten after `expiresAt`, when no key it
 * covers can still be alive.
 */
export interface Revocation {
  principal: string
  sid: string | null
  before: number | null
  effectiveAt: number
  expiresAt: number | null
}

export interface SequencedRevocation extends Revocation {
  seq: number
}

/** Revocations older than this make signed requests 503 (protocol-v1.md). */
export const REVOCATIONS_MAX_AGE_MS = 30_000

export class RevocationView {
  readonly #sessions = new Map<string, { effectiveAt: number, expiresAt: number | null }>()
  readonly #cutoffs = new Map<string, Array<{ before: number, effectiveAt: number, expiresAt: number | null }>>()
  #lastSeq = 0
  #lastSyncAt = -Infinity

  get lastSeq (): number {
    return this.#lastSeq
  }

  get lastSyncAt (): number {
    return this.#lastSyncAt
  }

  get size (): number {
    let n = this.#sessions.size
    for (const list of this.#cutoffs.values()) n += list.length
    return n
  }

  /** Applies records (in any order); the view's sequence only moves forward. */
  apply (records: Iterable<SequencedRevocation>): void {
    for (const r of records) {
      this.add(r)
      if (r.seq > this.#lastSeq) this.#lastSeq = r.seq
    }
  }

  /** Adds a record at once (the instance that made it need not wait for the poll). */
  add (r: Revocation): void {
    if (r.sid !== null) {
      const key = `${r.principal}\n${r.sid}`
      const prev = this.#sessions.get(key)
      if (prev === undefined || r.effectiveAt < prev.effectiveAt) this.#sessions.set(key, { effectiveAt: r.effectiveAt, expiresAt: r.expiresAt })
    }
    if (r.before !== null) {
      const list = this.#cutoffs.get(r.principal) ?? []
      list.push({ before: r.before, effectiveAt: r.effectiveAt, expiresAt: r.expiresAt })
      this.#cutoffs.set(r.principal, list)
    }
  }

  markSynced (now: number): void {
    this.#lastSyncAt = now
  }

  /** True when the last successful sync is older than `maxAgeMs`. */
  isStale (now: number, maxAgeMs: number): boolean {
    return now - this.#lastSyncAt > maxAgeMs
  }

  isRevoked (principal: string, fields: KeyIdFields, now: number): boolean {
    const session = this.#sessions.get(`${principal}\n${fields.sid}`)
    if (session !== undefined && now >= session.effectiveAt) return true
    const cutoffs = this.#cutoffs.get(principal)
    if (cutoffs !== undefined) {
      for (const c of cutoffs) if (fields.sessionStart < c.before && now >= c.effectiveAt) return true
    }
    return false
  }

  /** Forgets records no live key can need. */
  prune (now: number): void {
    for (const [key, s] of this.#sessions) if (s.expiresAt !== null && s.expiresAt <= now) this.#sessions.delete(key)
    for (const [principal, list] of this.#cutoffs) {
      const kept = list.filter(c => c.expiresAt === null || c.expiresAt > now)
      if (kept.length === 0) this.#cutoffs.delete(principal)
      else if (kept.length !== list.length) this.#cutoffs.set(principal, kept)
    }
  }
}

export interface RevocationSource {
  revocationsSince (seq: number, limit: number): Promise<SequencedRevocation[]>
}

/**
 * Polls the store for records after the view's sequence. `syncOnce` throws on
 * store failure so the caller can log it; the view then grows stale and the
 * server answers 503 REVOCATIONS_STALE after 30 s.
 */
export async function syncRevocations (view: RevocationView, source: RevocationSource, now: () => number, batch = 1000): Promise<number> {
  const started = now()
  let applied = 0
  for (;;) {
    const records = await source.revocationsSince(view.lastSeq, batch)
    view.apply(records)
    applied += records.length
    if (records.length < batch) break
  }
  view.prune(started)
  view.markSynced(started)
  return applied
}
