/**
 * Child processes of the bench: servers pinned to one core, redis-server,
 * and the probe that reads a server's CPU time and heap. Every process
 * started here is remembered by PID and stopped by PID, never by name.
 */
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { fileURLToPath } from 'node:url'

export const PROBE = fileURLToPath(new URL('./probe.mjs', import.meta.url))

const children = new Set()

/** Whether `taskset` works and there are at least two cores to keep server and load apart. */
export function pinning () {
  // --all: the runner itself is already pinned to one core by run.sh.
  const cores = Number(spawnSync('nproc', ['--all'], { encoding: 'utf8' }).stdout?.trim() || '1')
  const ok = cores >= 2 && spawnSync('taskset', ['-c', '0', 'true']).status === 0
  return { ok, cores, server: ok ? '0' : null, load: ok ? '1' : null }
}

/** A free TCP port on 127.0.0.1 (the listener is closed before the port is used). */
export function freePort () {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })
}

function waitForPort (port, child, timeoutMs, stderrOf) {
  const deadline = Date.now() + timeoutMs
  return new Promise((resolve, reject) => {
    const attempt = () => {
      if (child.exitCode !== null || child.signalCode !== null) {
        const out = stderrOf()
        const reason = /^.*(does not apply|Error:).*$/m.exec(out)?.[0] ?? out.trim().slice(-800)
        reject(new Error(`process exited (${child.exitCode ?? child.signalCode}) before listening: ${reason.trim()}`))
        return
      }
      const sock = net.connect(port, '127.0.0.1')
      sock.once('connect', () => { sock.destroy(); resolve() })
      sock.once('error', () => {
        sock.destroy()
        if (Date.now() > deadline) reject(new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms: ${stderrOf().trim().slice(-800)}`))
        else setTimeout(attempt, 40)
      })
    }
    attempt()
  })
}

/**
 * Starts `command args` (pinned to `core` when given), waits until it
 * listens on `port`, and returns a handle with its PID, its output and stop().
 */
export async function startProcess ({ name, command, args, env, cwd, core, port, probeFile, timeoutMs = 20_000 }) {
  const argv = core === null || core === undefined ? [command, ...args] : ['taskset', '-c', core, command, ...args]
  const child = spawn(argv[0], argv.slice(1), { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(child)
  let stdout = ''
  let stderr = ''
  // Keep only the tail: a server logging at warn writes little, but never let a pipe fill up.
  child.stdout.on('data', (d) => { stdout = (stdout + d).slice(-20_000) })
  child.stderr.on('data', (d) => { stderr = (stderr + d).slice(-20_000) })
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => { children.delete(child); resolve({ code, signal }) }))
  const handle = {
    name,
    pid: child.pid,
    port,
    probeFile,
    child,
    exited,
    output: () => ({ stdout, stderr }),
    async stop (timeout = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return exited
      child.kill('SIGTERM')
      const timer = setTimeout(() => { if (child.exitCode === null) child.kill('SIGKILL') }, timeout)
      const result = await exited
      clearTimeout(timer)
      return result
    }
  }
  if (port !== undefined) {
    try {
      await waitForPort(port, child, timeoutMs, () => stderr + stdout)
    } catch (err) {
      await handle.stop(2000)
      throw err
    }
  }
  return handle
}

/** Stops every process still running (on error or interrupt), by PID. */
export async function stopAll () {
  await Promise.all([...children].map((child) => new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    child.once('exit', resolve)
    child.kill('SIGTERM')
    setTimeout(() => { if (child.exitCode === null) child.kill('SIGKILL') }, 5000).unref()
  })))
}

let probeSeq = new Map()

/**
 * Reads a server's CPU time (µs, user + system, all threads) and memory via
 * the preloaded probe; with gc: true, after a full GC (for heap figures only).
 */
export async function probe (server, { gc = false, timeoutMs = 5000 } = {}) {
  const file = server.probeFile
  const gcFlag = `${file}.gc`
  if (gc) writeFileSync(gcFlag, '1')
  else if (existsSync(gcFlag)) rmSync(gcFlag)
  const last = probeSeq.get(file) ?? 0
  try {
    process.kill(server.pid, 'SIGUSR2')
  } catch (err) {
    const { stdout, stderr } = server.output()
    throw new Error(`${server.name} is gone (${err.code}): ${(stderr + stdout).trim().slice(-1200)}`)
  }
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      const snap = JSON.parse(readFileSync(file, 'utf8'))
      if (snap.seq > last) {
        probeSeq.set(file, snap.seq)
        return { cpuUs: snap.cpu.user + snap.cpu.system, mem: snap.mem, at: snap.at, gc: snap.gc }
      }
    } catch { /* not written yet, or half written */ }
    if (Date.now() > deadline) throw new Error(`${server.name}: the probe did not answer (is it preloaded?)`)
    await new Promise((resolve) => setTimeout(resolve, 2))
  }
}

/** Busy and total jiffies per core, from /proc/stat (to tell whether something else ran on the server's core). */
export function coreTimes () {
  const out = {}
  try {
    for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
      const m = /^cpu(\d+)\s+(.*)$/.exec(line)
      if (m === null) continue
      const f = m[2].split(/\s+/).map(Number)
      const idle = (f[3] ?? 0) + (f[4] ?? 0)
      const total = f.slice(0, 8).reduce((a, b) => a + b, 0)
      out[m[1]] = { busy: total - idle, total }
    }
  } catch { /* not Linux */ }
  return out
}

export function resetProbeState () {
  probeSeq = new Map()
}

/**
 * Waits (at most `maxWaitMs`) until the whole machine is nearly idle between
 * two runs, so that others' work (a test suite, a build) does not share the
 * cores being measured. Returns the busy share seen last (0..100).
 */
export async function awaitQuiet (maxWaitMs, threshold = 12) {
  const deadline = Date.now() + maxWaitMs
  for (;;) {
    const a = coreTimes()
    await new Promise((resolve) => setTimeout(resolve, 400))
    const b = coreTimes()
    let busy = 0
    let total = 0
    for (const k of Object.keys(b)) {
      if (a[k] === undefined) continue
      busy += b[k].busy - a[k].busy
      total += b[k].total - a[k].total
    }
    const pct = total > 0 ? (busy / total) * 100 : 0
    if (pct <= threshold || Date.now() >= deadline) return pct
  }
}
