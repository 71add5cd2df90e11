/**
 * A real redis-server for tests, on 127.0.0.1 with its files in a temp dir,
 * stopped by PID. `stop()` and `start()` simulate an outage on the same port.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import type { Tap } from './helper.js'
import { tempDir } from './helper.js'

export async function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      srv.close(() => resolve(port))
    })
  })
}

export interface RedisServer {
  url: string
  port: number
  start (): Promise<void>
  stop (): Promise<void>
  /** SIGSTOP / SIGCONT: a Redis that keeps its connections open but answers nothing. */
  freeze (): void
  thaw (): void
}

export async function startRedis (t: Tap): Promise<RedisServer> {
  const dir = tempDir(t, 'redis-')
  const port = await freePort()
  let proc: ChildProcess | undefined
  const start = async (): Promise<void> => {
    const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--protected-mode', 'yes'], { stdio: ['ignore', 'pipe', 'pipe'] })
    proc = child
    await new Promise<void>((resolve, reject) => {
      let out = ''
      const timer = setTimeout(() => reject(new Error(`redis-server did not start:\n${out}`)), 10_000)
      child.stdout?.on('data', (c: Buffer) => {
        out += c.toString()
        if (out.includes('Ready to accept connections')) { clearTimeout(timer); resolve() }
      })
      child.once('exit', code => { clearTimeout(timer); reject(new Error(`redis-server exited ${String(code)}:\n${out}`)) })
    })
  }
  const stop = async (): Promise<void> => {
    const p = proc
    if (p === undefined || p.exitCode !== null || p.signalCode !== null) return
    const exited = new Promise(resolve => p.once('exit', resolve))
    p.kill('SIGKILL')
    await exited
  }
  await start()
  const signal = (sig: NodeJS.Signals) => (): void => { if (proc !== undefined && proc.exitCode === null && proc.signalCode === null) proc.kill(sig) }
  const thaw = signal('SIGCONT')
  t.teardown(async () => { thaw(); await stop() })
  return { url: `redis://127.0.0.1:${port}`, port, start, stop, freeze: signal('SIGSTOP'), thaw }
}
