#!/usr/bin/env node
/**
 * What REDIS_REPLAY_REPLICAS costs per signed request: the replay step alone
 * (src/redis.ts's RedisReplayCache as compiled to dist/), against a real
 * redis-server master with one replica on loopback, started here and stopped
 * by PID. For 0 (SET NX PX only) and 1 (the SET, then WAIT 1 shared by the
 * SETs sent while one is out), at 1 and 50 requests in flight:
 * remember() calls per second, latency p50/p99, and this process's CPU µs
 * per call. Not part of `make bench`'s table; run after a build:
 *
 *   node bench/replay-wait.mjs [--json] [calls per run, default 20000]
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const { connectRedis, RedisReplayCache } = await import(pathToFileURL(join(ROOT, 'dist', 'src', 'redis.js')).href)
const json = process.argv.includes('--json')
const calls = Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? 20000)

const freePort = () => new Promise((resolve) => { const s = createServer(); s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)) }) })
const dir = mkdtempSync(join(tmpdir(), 'replay-wait-'))
const procs = []
async function redisServer (extra, ready) {
  const port = await freePort()
  const p = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--dbfilename', `${port}.rdb`, '--repl-diskless-sync-delay', '0', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] })
  procs.push(p)
  await new Promise((resolve, reject) => {
    let out = ''
    p.stdout.on('data', (c) => { out += c; if (out.includes(ready)) resolve() })
    p.once('exit', () => reject(new Error(out)))
  })
  return port
}
const stop = async () => { for (const p of procs) { if (p.exitCode === null) { const done = new Promise((r) => p.once('exit', r)); p.kill('SIGKILL'); await done } } rmSync(dir, { recursive: true, force: true }) }

try {
  const master = await redisServer([], 'Ready to accept connections')
  await redisServer(['--replicaof', '127.0.0.1', String(master)], 'MASTER <-> REPLICA sync: Finished with success')
  const link = connectRedis(`redis://127.0.0.1:${master}`, () => {})
  await link.ready(5000)
  const rows = []
  for (const replicas of [0, 1]) {
    for (const inFlight of [1, 50]) {
      const cache = new RedisReplayCache(link.client, `bench-${replicas}-${inFlight}`, { replicas })
      const latencies = []
      let next = 0
      let refused = 0
      const run = async () => {
        while (next < calls) {
          const i = next++
          const now = Date.now()
          const t0 = process.hrtime.bigint()
          const answer = await cache.remember(`sig-${i}`, now + 40_000, now)
          latencies.push(Number(process.hrtime.bigint() - t0) / 1000)
          if (answer !== 'fresh') refused++
        }
      }
      const cpu0 = process.cpuUsage()
      const t0 = process.hrtime.bigint()
      await Promise.all(Array.from({ length: inFlight }, run))
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9
      const cpu = process.cpuUsage(cpu0)
      latencies.sort((a, b) => a - b)
      rows.push({
        replicas,
        inFlight,
        callsPerSecond: Math.round(calls / seconds),
        p50us: Math.round(latencies[Math.floor(latencies.length * 0.5)]),
        p99us: Math.round(latencies[Math.floor(latencies.length * 0.99)]),
        cpuUsPerCall: Number(((cpu.user + cpu.system) / calls).toFixed(1)),
        notFresh: refused
      })
    }
  }
  await link.close()
  if (json) process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`)
  else {
    process.stdout.write(`| REDIS_REPLAY_REPLICAS | in flight | calls/s | p50 µs | p99 µs | client CPU µs/call | not fresh |\n|---|---|---|---|---|---|---|\n`)
    for (const r of rows) process.stdout.write(`| ${r.replicas} | ${r.inFlight} | ${r.callsPerSecond} | ${r.p50us} | ${r.p99us} | ${r.cpuUsPerCall} | ${r.notFresh} |\n`)
  }
} finally {
  await stop()
}
