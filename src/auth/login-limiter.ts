/**
 * Failed-login limits (protocol-v1.md, "Auth endpoints"): per (client address,
 * username) and per client address, checked before the password is hashed so
 * a flood of guesses costs the server nothing. Fixed windows; memory bounded.
 */
export interface FailureLimiter {
  /** Seconds to wait when any key is over its limit, else 0. */
  blockedFor (keys: ReadonlyArray<{ key: string, max: number }>, now: number): number | Promise<number>
  recordFailure (keys: ReadonlyArray<{ key: string }>, now: number): void | Promise<void>
}

export class MemoryFailureLimiter implements FailureLimiter {
  readonly #counts = new Map<string, { count: number, resetAt: number }>()
  readonly #windowMs: number
  readonly #maxEntries: number

  constructor (windowMs: number, maxEntries = 100_000) {
    this.#windowMs = windowMs
    this.#maxEntries = maxEntries
  }

  blockedFor (keys: ReadonlyArray<{ key: string, max: number }>, now: number): number {
    let wait = 0
    for (const { key, max } of keys) {
      const entry = this.#counts.get(key)
      if (entry !== undefined && entry.resetAt > now && entry.count >= max) {
        wait = Math.max(wait, Math.ceil((entry.resetAt - now) / 1000))
      }
    }
    return wait
  }

  recordFailure (keys: ReadonlyArray<{ key: string }>, now: number): void {
    for (const { key } of keys) {
      const entry = this.#counts.get(key)
      if (entry === undefined || entry.resetAt <= now) {
        if (entry === undefined && this.#counts.size >= this.#maxEntries) this.#evict(now)
        this.#counts.delete(key)
        this.#counts.set(key, { count: 1, resetAt: now + this.#windowMs })
      } else {
        entry.count++
      }
    }
  }

  /** Drops expired windows; if none, the oldest (Map keeps insertion order). */
  #evict (now: number): void {
    for (const [key, entry] of this.#counts) if (entry.resetAt <= now) this.#counts.delete(key)
    if (this.#counts.size >= this.#maxEntries) {
      const oldest = this.#counts.keys().next()
      if (oldest.done !== true) this.#counts.delete(oldest.value)
    }
  }
}
