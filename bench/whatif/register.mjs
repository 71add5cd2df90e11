/**
 * What-if variants of the product, for pricing one step of the verify path
 * without editing src/: preloaded into the server (`--import`) when
 * BENCH_WHATIF is set, it patches compiled modules as they load (hooks.mjs).
 * The first four remove something the protocol or the contract requires,
 * the last two a project choice: they attribute cost, they are not changes
 * to make.
 *
 *   skip-hmac              dist/src/auth/verify.js: no HMAC per request (every signature "holds")
 *   skip-security-headers  dist/src/plugins/headers.js: no helmet headers
 *   skip-replay            dist/src/fastify/index.js: nothing remembered by check 7
 *   skip-rate-limit        dist/src/fastify/index.js: no per-principal rate limit
 *   skip-in-flight         dist/src/app.js: no list of requests in flight (what the shutdown log costs)
 *   no-group-commit        dist/src/store/embedded.js: each write commits alone, as before group commit
 *
 * Comma-separate several. Only the bench uses this; the product never loads it.
 */
import { register } from 'node:module'

const what = process.env.BENCH_WHATIF ?? ''
if (what !== '') register('./hooks.mjs', import.meta.url, { data: { what } })
