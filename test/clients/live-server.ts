/**
 * A real server process for the client tests: src/server.ts on 127.0.0.1,
 * port 0, TLS on, a temp DATA_DIR; the clients trust $DATA_DIR/dev-cert.pem
 * and nothing else. Stopped by its PID at teardown (SIGTERM, then SIGKILL
 * if it has not exited within 10 s).
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = fileURLToPath(new URL('../..', import.meta.url))
export const VECTORS_PATH = join(ROOT, 'test/fixtures/vectors.json')

interface Teardown { teardown (fn: () => unknown): void }

export interface LiveServer {
  url: string
  pid: number
  dataDir: string
  caFile: string
  ca: string
  /** Every stdout/stderr line so far (JSON log lines). */
  lines: string[]
}

export async function startLiveServer (t: Teardown, env: Record<string, string> = {}, timeoutMs = 30_000): Promise<LiveServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'signed-api-clients-'))
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/server.ts')], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: dataDir, HOST: '127.0.0.1', PORT: '0', TLS: 'on', DATA_DIR: dataDir, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const pid = child.pid
  if (pid === undefined) throw new Error('the server process did not start')
  const exited = new Promise<void>(resolve => child.once('exit', () => resolve()))
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      process.kill(pid, 'SIGTERM')
      const timer = setTimeout(() => { if (child.exitCode === null && child.signalCode === null) process.kill(pid, 'SIGKILL') }, 10_000)
      await exited
      clearTimeout(timer)
    }
    rmSync(dataDir, { recursive: true, force: true })
  })
  const lines: string[] = []
  const url = await new Promise<string>((resolve, reject) => {
    let buffered = ''
    const timer = setTimeout(() => reject(new Error(`server did not log "listening" within ${timeoutMs} ms:\n${lines.join('\n')}`)), timeoutMs)
    const onData = (chunk: Buffer): void => {
      buffered += chunk.toString('utf8')
      const parts = buffered.split('\n')
      buffered = parts.pop() ?? ''
      for (const line of parts) {
        lines.push(line)
        try {
          const entry = JSON.parse(line) as { msg?: string, url?: string }
          if (entry.msg === 'listening' && typeof entry.url === 'string') { clearTimeout(timer); resolve(entry.url) }
        } catch { /* not a log line */ }
      }
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    void exited.then(() => { clearTimeout(timer); reject(new Error(`server exited before listening:\n${lines.join('\n')}`)) })
  })
  const caFile = join(dataDir, 'dev-cert.pem')
  return { url, pid, dataDir, caFile, ca: readFileSync(caFile, 'utf8'), lines }
}

export interface PositiveVector { name: string, key: string, username: string, keyId: string, time: string, method: string, target: string, bodyHex: string, canonicalHex: string, signature: string }
export interface NegativeVector { name: string, expect: string, method: string, target: string, bodyHex: string, headers: Record<string, string | null> }
export interface Vectors { serverNow: number, positive: PositiveVector[], negative: NegativeVector[] }

export const vectors = JSON.parse(readFileSync(VECTORS_PATH, 'utf8')) as Vectors

/**
 * Negative vectors whose four headers are well formed: the client recomputes
 * the signature from the vector's fields with the key of that key id (from
 * the positive vectors) and compares. AUTH_BAD_SIGNATURE vectors must
 * mismatch; AUTH_STALE vectors carry a correct signature and must match, so
 * a signer that matched nothing would fail too.
 */
export interface SignatureCase { name: string, expect: 'AUTH_BAD_SIGNATURE' | 'AUTH_STALE', key: string, username: string, keyId: string, time: string, method: string, target: string, bodyHex: string, signature: string }

export function signatureCases (): SignatureCase[] {
  const keys = new Map(vectors.positive.map(v => [v.keyId, v.key]))
  const cases: SignatureCase[] = []
  for (const v of vectors.negative) {
    if (v.expect !== 'AUTH_BAD_SIGNATURE' && v.expect !== 'AUTH_STALE') continue
    const h = v.headers
    const key = keys.get(h['auth-key-id'] ?? '')
    if (key === undefined) throw new Error(`${v.name}: no positive vector holds the key of key id ${String(h['auth-key-id'])}`)
    cases.push({ name: v.name, expect: v.expect, key, username: String(h['auth-username']), keyId: String(h['auth-key-id']), time: String(h['x-microtime']), method: v.method, target: v.target, bodyHex: v.bodyHex, signature: String(h['auth-signature']) })
  }
  return cases
}

export const randomName = (prefix: string): string => `${prefix}${Math.random().toString(36).slice(2, 10)}`

/** The credentials a client's `login` prints as shell `export` lines (to eval), or null when it printed anything else. */
export function exportedCredentials (stdout: string): { SIGNED_API_USERNAME: string, SIGNED_API_KEY_ID: string, SIGNED_API_KEY: string } | null {
  const m = /^export SIGNED_API_USERNAME='([^']+)' SIGNED_API_KEY_ID='([^']+)' SIGNED_API_KEY='([^']+)'\n$/.exec(stdout)
  return m === null ? null : { SIGNED_API_USERNAME: m[1] as string, SIGNED_API_KEY_ID: m[2] as string, SIGNED_API_KEY: m[3] as string }
}
