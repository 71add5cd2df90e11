/**
 * Check 7: the replay cache. One small contract, memory by default; a Redis
 * adapter (shared by every instance) implements the same interface.
 *
 * Entries are added only after the signature holds (a forger cannot fill the
 * cache) and live until X-Microtime + skew, not arrival + skew, so a
 * future-dated request cannot outlive its entry.
 */
export type ReplayAnswer = 'fresh' | 'replay' | 'unavailable'

export interface ReplayCache {
  /** Records `key` until `expiresAt` (Unix ms) unless already present. */
  remember (key: string, expiresAt: number, now: number): ReplayAnswer | Promise<ReplayAnswer>
  /** Whether the cache can answer at all (for /ready). */
  healthy (): boolean | Promise<boolean>
  close (): void | Promise<void>
}

/**
 * In-memory cache with a hard cap. Past the cap it answers 'unavailable'
 * (503): it never evicts a live entry early, since that would let a captured
 * request be replayed.
 */
export class MemoryReplayCache implements ReplayCache {
  /** key -> the second its entry expires in, counted from #base: a small integer, stored inline. */
  readonly #entries = new Map<string, number>()
  readonly #base = Math.floor(Date.now() / 1000) - 86_400
  /** Keys bucketed by the second they expire in, so expiry costs O(expired). */
  readonly #buckets = new Map<number, string[]>()
  #oldestBucket = Infinity
  readonly #cap: number

  constructor (cap = 1_000_000) {
    this.#cap = cap
  }

  get size (): number {
    return this.#entries.size
  }

  remember (key: string, expiresAt: number, now: number): ReplayAnswer {
    this.sweep(now)
    // Rounded up to the whole second: an entry may outlive X-Microtime + skew by under a second, never fall short of it.
    const second = Math.ceil(expiresAt / 1000)
    const existing = this.#entries.get(key)
    if (existing !== undefined && (existing + this.#base) * 1000 > now) return 'replay'
    // An expired entry of the same key is reused in place: it needs no room.
    if (existing === undefined && this.#entries.size >= this.#cap) return 'unavailable'
    this.#entries.set(key, second - this.#base)
    const bucket = this.#buckets.get(second)
    if (bucket === undefined) this.#buckets.set(second, [key])
    else bucket.push(key)
    if (second < this.#oldestBucket) this.#oldestBucket = second
    return 'fresh'
  }

  /** Drops entries whose whole second has passed; an entry lives at least until its expiry. */
  sweep (now: number): void {
    const current = Math.floor(now / 1000)
    while (this.#oldestBucket < current) {
      const second = this.#oldestBucket
      const keys = this.#buckets.get(second)
      if (keys !== undefined) {
        for (const key of keys) {
          const exp = this.#entries.get(key)
          if (exp !== undefined && (exp + this.#base) * 1000 <= now) this.#entries.delete(key)
        }
        this.#buckets.delete(second)
      }
      this.#oldestBucket = this.#nextBucket(second)
    }
  }

  #nextBucket (after: number): number {
    let next = Infinity
    for (const second of this.#buckets.keys()) if (second > after && second < next) next = second
    return next
  }

  healthy (): boolean {
    return this.#entries.size < this.#cap
  }

  close (): void {
    this.#entries.clear()
    this.#buckets.clear()
    this.#oldestBucket = Infinity
  }
}
