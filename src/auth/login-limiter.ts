/**
 * Failed-login limits (protocol-v1.md, "Auth endpoints"): per (client address,
 * username) and per client address, counted before the password is hashed so
 * a flood of guesses costs the server nothing. An attempt is counted when it
 * starts (atomically, so concurrent guesses cannot all slip past the check)
 * and taken back when it succeeds. Fixed windows; memory bounded.
 */
export interface LimitKey { key: string, max: number }

export interface FailureLimiter {
  /** Counts one attempt against every key; seconds to wait when any key is now over its limit, else 0. */
  attempt (keys: readonly LimitKey[], now: number): number | Promise<number>
  /** The attempt succeeded: it no longer counts. */
  succeeded (keys: readonly LimitKey[], now: number): void | Promise<void>
}

export class MemoryFailureLimiter implements FailureLimiter {
  readonly #counts = new Map<string, { count: number, resetAt: number }>()
  readonly #windowMs: number
  readonly #maxEntries: number

  constructor (windowMs: number, maxEntries = 100_000) {
    this.#windowMs = windowMs
    this.#maxEntries = maxEntries
  }

  attempt (keys: readonly LimitKey[], now: number): number {
    let wait = 0
    for (const { key, max } of keys) {
      let entry = this.#counts.get(key)
      if (entry === undefined || entry.resetAt <= now) {
        if (entry === undefined && this.#counts.size >= this.#maxEntries) this.#evict(now)
        this.#counts.delete(key)
        entry = { count: 0, resetAt: now + this.#windowMs }
        this.#counts.set(key, entry)
      }
      entry.count++
      if (entry.count > max) wait = Math.max(wait, Math.ceil((entry.resetAt - now) / 1000))
    }
    return wait
  }

  succeeded (keys: readonly LimitKey[], now: number): void {
    for (const { key } of keys) {
      const entry = this.#counts.get(key)
      if (entry !== undefined && entry.resetAt > now && entry.count > 0) entry.count--
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
