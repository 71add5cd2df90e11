/**
 * @fastify/rate-limit's two stores (CommonJS, shipped without types): the
 * contract its README documents for custom stores, `incr(key, cb, timeWindow, max)`.
 */
declare module '@fastify/rate-limit/store/LocalStore.js' {
  interface RateLimitStoreResult { current: number, ttl: number }
  class LocalStore {
    constructor (continueExceeding: boolean, exponentialBackoff: boolean, cache?: number)
    incr (key: string, cb: (err: Error | null, result: RateLimitStoreResult | null) => void, timeWindow: number, max: number): void
  }
  export default LocalStore
}
declare module '@fastify/rate-limit/store/RedisStore.js' {
  import type { Redis } from 'ioredis'
  interface RateLimitStoreResult { current: number, ttl: number }
  class RedisStore {
    constructor (continueExceeding: boolean, exponentialBackoff: boolean, redis: Redis, key?: string)
    incr (key: string, cb: (err: Error | null, result: RateLimitStoreResult | null) => void, timeWindow: number, max: number): void
  }
  export default RedisStore
}
