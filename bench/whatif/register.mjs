/**
 * What-if variants of the product, for pricing a suggested change to src/
 * without editing src/: preloaded into the server (`--import`) when
 * BENCH_WHATIF is set, it swaps one module for a bench-owned stand-in.
 *
 *   static-helmet    @fastify/helmet -> static-helmet.mjs (helmet's headers computed once at start)
 *   key-cache        dist/src/auth/keys.js as seen by verify.js -> key-cache.mjs (derived keys memoised)
 *   no-child-logger  dist/src/app.js patched: no per-request child logger below LOG_LEVEL=info
 *   whoami-schema    dist/src/routes/auth.js patched: expiresAt as {type: [string, null]}
 *   sync-replay      dist/src/auth/plugin.js patched: await the replay cache only when it returns a promise
 *   skip-rate-limit  dist/src/auth/plugin.js patched: no per-principal rate limit (attribution only)
 *
 * static-helmet and key-cache were landed in src/ by commit 303dc32,
 * whoami-schema and sync-replay by 1caa9e3; on a build that has them, their
 * patches refuse to apply (the server does not start) rather than measure
 * the product unchanged.
 * Comma-separate several. Only the bench uses this; the product never loads it.
 */
import { register } from 'node:module'

const what = process.env.BENCH_WHATIF ?? ''
if (what !== '') register('./hooks.mjs', import.meta.url, { data: { what } })
