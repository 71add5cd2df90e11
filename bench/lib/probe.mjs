/**
 * Preloaded into every server the bench starts (`node --expose-gc --import
 * bench/lib/probe.mjs ...`): a probe of the bench harness, not of the product.
 * On SIGUSR2 it writes one JSON line to $BENCH_PROBE_FILE with the process's
 * CPU time (user + system, every thread: getrusage) and memory; when the file
 * $BENCH_PROBE_FILE.gc exists it runs a full GC first (heap figures only).
 * It adds no route, no hook and no timer to the server.
 */
import { existsSync, writeFileSync } from 'node:fs'

const out = process.env.BENCH_PROBE_FILE
if (out !== undefined && out !== '') {
  let seq = 0
  process.on('SIGUSR2', () => {
    seq++
    const gc = existsSync(`${out}.gc`) && typeof globalThis.gc === 'function'
    if (gc) { globalThis.gc(); globalThis.gc() }
    const cpu = process.cpuUsage()
    const mem = process.memoryUsage()
    writeFileSync(out, JSON.stringify({ seq, gc, at: Date.now(), cpu, mem }) + '\n')
  })
}
