/**
 * Runs the real server (src/server.ts) as a child process on port 0, and
 * speaks to it over real HTTP(S) with node:https, trusting only the dev
 * certificate the server made in its DATA_DIR.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { request as httpsRequest } from 'node:https'
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Tap } from './helper.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))

export interface ServerProcess {
  proc: ChildProcess
  url: string
  port: number
  dataDir: string
  /** stdout and stderr lines so far. */
  lines: string[]
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  /** Waits for a log line matching `pattern`. */
  waitFor (pattern: RegExp, timeoutMs?: number): Promise<string>
  ca (): string | undefined
}

/** `nodeArgs` go before the entry (e.g. a test-only `--import` module); `stdin: true` gives the child a pipe (`proc.stdin`). */
export async function startServer (t: Tap, env: Record<string, string>, opts: { timeoutMs?: number, nodeArgs?: string[], stdin?: boolean } = {}): Promise<ServerProcess> {
  const proc = spawn(process.execPath, ['--import', 'tsx', ...opts.nodeArgs ?? [], join(ROOT, 'src/server.ts')], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: [opts.stdin === true ? 'pipe' : 'ignore', 'pipe', 'pipe']
  })
  const lines: string[] = []
  const waiters: Array<{ pattern: RegExp, resolve: (line: string) => void }> = []
  const onData = (chunk: Buffer): void => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line === '') continue
      lines.push(line)
      for (const w of [...waiters]) if (w.pattern.test(line)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(line) }
    }
  }
  proc.stdout?.on('data', onData)
  proc.stderr?.on('data', onData)
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>(resolve => proc.once('exit', (code, signal) => resolve({ code, signal })))
  t.teardown(async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL')
      await exited
    }
  })
  const waitFor = (pattern: RegExp, timeoutMs = opts.timeoutMs ?? 30_000): Promise<string> => {
    const seen = lines.find(l => pattern.test(l))
    if (seen !== undefined) return Promise.resolve(seen)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no log line matching ${pattern} within ${timeoutMs} ms; got:\n${lines.join('\n')}`)), timeoutMs)
      waiters.push({ pattern, resolve: line => { clearTimeout(timer); resolve(line) } })
      void exited.then(() => { clearTimeout(timer); reject(new Error(`server exited before ${pattern}:\n${lines.join('\n')}`)) })
    })
  }
  const listening = JSON.parse(await waitFor(/"msg":"listening"/)) as { url: string }
  const dataDir = env.DATA_DIR ?? join(ROOT, 'var')
  return {
    proc,
    url: listening.url,
    port: Number(new URL(listening.url).port),
    dataDir,
    lines,
    exited,
    waitFor,
    ca: () => {
      try { return readFileSync(join(dataDir, 'dev-cert.pem'), 'utf8') } catch { return undefined }
    }
  }
}

export interface HttpResponse {
  status: number
  headers: IncomingHttpHeaders
  body: string
  json (): any // eslint-disable-line @typescript-eslint/no-explicit-any
  peerCertificateFingerprint?: string
}

/** One request over a fresh connection; `body` is sent as raw bytes, exactly as given. */
export function call (server: { url: string, ca (): string | undefined }, method: string, target: string, opts: { headers?: Record<string, string>, body?: string | Buffer, chunked?: boolean } = {}): Promise<HttpResponse> {
  const url = new URL(server.url)
  const isHttps = url.protocol === 'https:'
  const body = opts.body === undefined ? undefined : Buffer.isBuffer(opts.body) ? opts.body : Buffer.from(opts.body, 'utf8')
  const headers: Record<string, string> = { ...opts.headers }
  if (body !== undefined && headers['content-type'] === undefined) headers['content-type'] = 'application/json'
  if (body !== undefined && opts.chunked !== true) headers['content-length'] = String(body.length)
  return new Promise((resolve, reject) => {
    const options = { host: url.hostname, port: url.port, method, path: target, headers, agent: false as const, ...(isHttps ? { ca: server.ca(), servername: 'localhost' } : {}) }
    const req = (isHttps ? httpsRequest : httpRequest)(options, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        const socket = res.socket as { getPeerCertificate?: () => { fingerprint256?: string } }
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: text,
          json: () => JSON.parse(text),
          ...(isHttps && socket.getPeerCertificate !== undefined ? { peerCertificateFingerprint: socket.getPeerCertificate().fingerprint256 } : {})
        })
      })
    })
    req.on('error', reject)
    if (body !== undefined && opts.chunked === true) {
      // Two chunks, so the server really removes chunked framing.
      req.write(body.subarray(0, Math.floor(body.length / 2)))
      req.end(body.subarray(Math.floor(body.length / 2)))
    } else req.end(body)
  })
}
