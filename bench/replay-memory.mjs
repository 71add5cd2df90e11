#!/usr/bin/env node
/**
 * Bytes per replay-cache entry: fills src/auth/replay.ts's MemoryReplayCache
 * (as compiled to dist/) with N realistic entries and divides the heap growth
 * after a full GC by N. Run with --expose-gc:
 *
 *   node --expose-gc bench/replay-memory.mjs [--json] [--variants] [N ...]
 *
 * Realistic means what the server holds: the key is built by the server's own
 * replayEntry() from header strings freshly decoded from bytes (as llhttp
 * hands them to Fastify), the signature 64 lowercase hex chars (today the key
 * is the signature itself), usernames from a population of 1,000 users,
 * expiries X-Microtime + 10 s skew + 30 s body timeout, X-Microtime spread
 * over the skew window so that entries fall into ~11 one-second buckets.
 */
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const MODULE = join(ROOT, 'dist', 'src', 'auth', 'replay.js')

if (typeof globalThis.gc !== 'function') {
  process.stderr.write('run with: node --expose-gc bench/replay-memory.mjs\n')
  process.exit(2)
}
if (!existsSync(MODULE)) {
  process.stderr.write(`${MODULE} is missing: build first (npx tsc -p tsconfig.json)\n`)
  process.exit(2)
}
const { MemoryReplayCache } = await import(pathToFileURL(MODULE).href)
// The key is built exactly as the server builds it (src/auth/verify.ts replayEntry).
const { replayEntry } = await import(pathToFileURL(join(ROOT, 'dist', 'src', 'auth', 'verify.js')).href)

const args = process.argv.slice(2)
const json = args.includes('--json')
const counts = args.filter((a) => /^\d+$/.test(a)).map(Number)

// How many entries a steady signed load keeps (issue 20): an entry lives until
// X-Microtime + skew + body timeout + 1 ms (the defaults: 10 s + 30 s + 1 ms),
// rounded up to its whole second, and goes at the first sweep after that second
// has passed: at most 42 s after X-Microtime for a client whose clock agrees with
// the server's. So at RATE signed requests per second the cache holds RATE x 42 s.
const SKEW_MS = 10_000
const BODY_TIMEOUT_MS = 30_000
const RATE = 10_000
const LIFETIME_S = Math.ceil((SKEW_MS + BODY_TIMEOUT_MS + 1) / 1000) + 1
const AT_RATE = RATE * LIFETIME_S
const sizes = counts.length > 0 ? counts : [250_000, AT_RATE, 999_999]

function heap () {
  globalThis.gc()
  globalThis.gc()
  return process.memoryUsage().heapUsed
}

/** Header-like bytes, decoded to a fresh string each time (as the HTTP parser does). */
const USERS = Array.from({ length: 1000 }, (_, i) => Buffer.from(`user.${(i * 7919 % 100000).toString(36)}-${i}`, 'latin1'))
const HEX = Buffer.from('0123456789abcdef', 'latin1')

function measure (n) {
  const now = 1_767_225_600_000
  const skew = SKEW_MS
  // Random bytes for all signatures up front, outside the measured heap (freed before `before`).
  const raw = randomBytes(32 * n)
  const sigBytes = Buffer.allocUnsafe(64)
  const before = heap()
  const cache = new MemoryReplayCache(n + 1)
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < 32; j++) {
      const b = raw[i * 32 + j]
      sigBytes[2 * j] = HEX[b >> 4]
      sigBytes[2 * j + 1] = HEX[b & 15]
    }
    const username = USERS[i % USERS.length].toString('latin1')
    const signature = sigBytes.toString('latin1')
    const timeMs = now - (i % skew) // X-Microtime within the last skew window
    const entry = replayEntry({ username, keyId: '', time: String(timeMs), timeMs, signature }, { clockSkewMs: skew, bodyTimeoutMs: BODY_TIMEOUT_MS })
    const answer = cache.remember(entry.key, entry.expiresAt, now)
    if (answer !== 'fresh') throw new Error(`entry ${i}: ${answer}`)
  }
  const after = heap()
  const bytes = after - before
  const size = cache.size
  cache.close()
  return { entries: size, heapBytes: bytes, bytesPerEntry: bytes / size }
}

/**
 * --variants: the same entries in other layouts, to price a change to
 * replay.ts / verify.ts (the suggestions of bench/README.md), each a plain
 * stand-in with the same contract (expiry by one-second bucket):
 *   hex-key-smi   key = the signature header alone (64 hex chars), Map value = expiry second - base (a small integer)
 *   bin-key-smi   key = the 32 digest bytes as a 32-char latin1 string, Map value as above
 *   bin-key-sets  one Set per expiry second, key as above, no per-entry value
 */
function layout (name) {
  const base = Math.floor(1_767_225_600_000 / 1000)
  const map = new Map()
  const buckets = new Map()
  const bucket = (second, init) => { let b = buckets.get(second); if (b === undefined) { b = init(); buckets.set(second, b) } return b }
  const bin = (hex) => Buffer.from(hex, 'hex').toString('latin1')
  switch (name) {
    case 'hex-key-smi': return (username, signature, expiresAt) => { const s = Math.floor(expiresAt / 1000); map.set(signature, s - base); bucket(s, () => []).push(signature) }
    case 'bin-key-smi': return (username, signature, expiresAt) => { const k = bin(signature); const s = Math.floor(expiresAt / 1000); map.set(k, s - base); bucket(s, () => []).push(k) }
    case 'bin-key-sets': return (username, signature, expiresAt) => { bucket(Math.floor(expiresAt / 1000), () => new Set()).add(bin(signature)) }
    default: throw new Error(`unknown layout ${name}`)
  }
}

function measureLayout (name, n) {
  const now = 1_767_225_600_000
  const raw = randomBytes(32 * n)
  const sigBytes = Buffer.allocUnsafe(64)
  const before = heap()
  globalThis.__benchKeep = layout(name)
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < 32; j++) {
      const b = raw[i * 32 + j]
      sigBytes[2 * j] = HEX[b >> 4]
      sigBytes[2 * j + 1] = HEX[b & 15]
    }
    globalThis.__benchKeep(USERS[i % USERS.length].toString('latin1'), sigBytes.toString('latin1'), now - (i % 10_000) + 10_000)
  }
  const after = heap()
  globalThis.__benchKeep = null
  return { layout: name, entries: n, heapBytes: after - before, bytesPerEntry: (after - before) / n }
}

const runs = []
for (const n of sizes) {
  // Drop the previous run's cache before measuring the next.
  heap()
  runs.push(measure(n))
}
const variants = args.includes('--variants') ? ['hex-key-smi', 'bin-key-smi', 'bin-key-sets'].map((v) => measureLayout(v, sizes[0])) : undefined
const steady = runs.find((r) => r.entries === AT_RATE)
const atRate = steady === undefined
  ? undefined
  : { rate: RATE, lifetimeS: LIFETIME_S, skewMs: SKEW_MS, bodyTimeoutMs: BODY_TIMEOUT_MS, entries: AT_RATE, bytesPerEntry: steady.bytesPerEntry, mb: steady.heapBytes / 1e6 }
const result = { node: process.version, runs, ...(atRate === undefined ? {} : { atRate }), ...(variants === undefined ? {} : { variants }) }
if (json) {
  process.stdout.write(JSON.stringify(result) + '\n')
} else {
  for (const r of runs) process.stdout.write(`MemoryReplayCache, ${r.entries.toLocaleString('en-US')} entries: ${(r.heapBytes / 1e6).toFixed(1)} MB of heap, ${r.bytesPerEntry.toFixed(1)} bytes per entry\n`)
  if (atRate !== undefined) process.stdout.write(`at ${atRate.rate.toLocaleString('en-US')} signed requests per second (entries live ${atRate.lifetimeS} s at most: skew ${atRate.skewMs / 1000} s + body timeout ${atRate.bodyTimeoutMs / 1000} s + 1 ms, to the whole second, swept the next): ${atRate.entries.toLocaleString('en-US')} entries, ${atRate.bytesPerEntry.toFixed(1)} bytes per entry, ${atRate.mb.toFixed(1)} MB\n`)
  for (const r of variants ?? []) process.stdout.write(`layout ${r.layout}, ${r.entries.toLocaleString('en-US')} entries: ${r.bytesPerEntry.toFixed(1)} bytes per entry\n`)
}
