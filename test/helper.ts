/**
 * Test helpers: build the app with an injected clock and a temp DATA_DIR,
 * and a small signer written from protocol-v1.md alone (it imports nothing
 * from src/, so the server is never checked against its own signer).
 */
import { createHmac, randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Writable } from 'node:stream'
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import { buildApp, type AppDeps } from '../src/app.js'
import { loadConfig, type Config } from '../src/config.js'
import { activateKeyringVersion, addKeyringVersion, parseKeyring, type Keyring } from '../src/auth/keys.js'
import { createPasswordHasher } from '../src/auth/passwords.js'
import { openEmbeddedStore } from '../src/store/embedded.js'
import type { Store } from '../src/store/port.js'

export interface Tap {
  teardown (fn: () => unknown): void
}

/** A clock that moves only when told to. */
export class ManualClock {
  t: number
  constructor (start = Date.UTC(2026, 0, 1)) { this.t = start }
  now = (): number => this.t
  advance (ms: number): void { this.t += ms }
}

export function tempDir (t: Tap, prefix = 'signed-api-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** A keyring of `versions` versions, the newest active. */
export function newKeyring (versions = 1): Keyring {
  let file = addKeyringVersion(null, 0)
  for (let i = 1; i < versions; i++) file = activateKeyringVersion(addKeyringVersion(file, 0), i + 1, 0)
  return parseKeyring(JSON.stringify(file))
}

/** Config for inject tests: quiet, and 127.0.0.1 trusted as a TLS-terminating proxy. */
export function testConfig (dataDir: string, env: Record<string, string> = {}): Config {
  return loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'silent', TRUST_PROXY: '127.0.0.1', ...env })
}

/** Cheap Argon2id (64 KiB, 1 pass) so tests stay fast; production cost is measured in bench/. */
export const fastPasswords = createPasswordHasher({ memoryCost: 64, timeCost: 1, parallelism: 1 })

export interface TestApp {
  app: FastifyInstance
  clock: ManualClock
  config: Config
  store: Store
  keyring: Keyring
  dataDir: string
  logs: string[]
  /** Moves the clock and syncs revocations, as the real poller would have meanwhile. */
  advance (ms: number): Promise<void>
}

export async function buildTestApp (t: Tap, opts: { env?: Record<string, string>, clock?: ManualClock, keyring?: Keyring, dataDir?: string, deps?: Partial<AppDeps> } = {}): Promise<TestApp> {
  const dataDir = opts.dataDir ?? tempDir(t)
  const clock = opts.clock ?? new ManualClock()
  const config = testConfig(dataDir, opts.env)
  const keyring = opts.keyring ?? newKeyring()
  const store = openEmbeddedStore(dataDir)
  const logs: string[] = []
  const logStream = new Writable({ write (chunk: Buffer, _enc, cb) { logs.push(chunk.toString('utf8')); cb() } })
  const app = await buildApp(config, { store, keyring, now: clock.now, passwords: fastPasswords, logStream, ...opts.deps })
  t.teardown(() => app.close())
  await app.ready()
  const advance = async (ms: number): Promise<void> => { clock.advance(ms); await app.syncRevocations() }
  return { app, clock, config, store, keyring, dataDir, logs, advance }
}

// ---- a signer written from protocol-v1.md ----------------------------------------

export interface Credential {
  username: string
  keyId: string
  signingKey: string
}

let lastTime = 0
/**
 * The four auth headers for one request. `time` defaults to the given clock,
 * kept strictly increasing so two identical requests never share a signature.
 */
export function sign (cred: Credential, method: string, target: string, body: string | Buffer = '', time?: number): Record<string, string> {
  const t = time ?? (lastTime = Math.max(Date.now(), lastTime + 1))
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8')
  const head = `HMAC-SHA256-V1\n${cred.username}\n${cred.keyId}\n${t}\n${method}\n${target}\n`
  const signature = createHmac('sha256', cred.signingKey).update(Buffer.concat([Buffer.from(head, 'utf8'), bytes])).digest('hex')
  return { 'auth-username': cred.username, 'auth-key-id': cred.keyId, 'x-microtime': String(t), 'auth-signature': signature }
}

/** Inject as if through a trusted TLS-terminating proxy (HTTPS-only endpoints accept it). */
export function viaHttps (headers: Record<string, string> = {}): Record<string, string> {
  return { 'x-forwarded-proto': 'https', ...headers }
}

export async function signup (app: FastifyInstance, username: string, password = 'correct horse battery'): Promise<LightMyRequestResponse> {
  return app.inject({ method: 'POST', url: '/auth/signup', headers: viaHttps(), payload: { username, password } })
}

export async function login (app: FastifyInstance, username: string, password = 'correct horse battery'): Promise<Credential & { expiresAt: string }> {
  const res = await app.inject({ method: 'POST', url: '/auth/login', headers: viaHttps(), payload: { username, password } })
  if (res.statusCode !== 200) throw new Error(`login failed: ${res.statusCode} ${res.body}`)
  return res.json()
}

export async function signupAndLogin (app: FastifyInstance, username: string, password?: string): Promise<Credential & { expiresAt: string }> {
  const res = await signup(app, username, password)
  if (res.statusCode !== 201) throw new Error(`signup failed: ${res.statusCode} ${res.body}`)
  return login(app, username, password)
}

/** A signed inject. */
export async function signedInject (app: FastifyInstance, clock: ManualClock, cred: Credential, opts: { method: string, url: string, body?: string | Buffer, headers?: Record<string, string> }): Promise<LightMyRequestResponse> {
  const body = opts.body ?? ''
  const headers: Record<string, string> = { ...sign(cred, opts.method, opts.url, body, nextTime(clock)), ...opts.headers }
  if (body.length > 0 && headers['content-type'] === undefined) headers['content-type'] = 'application/json'
  const req: InjectOptions = { method: opts.method as InjectOptions['method'], url: opts.url, headers, ...(body.length > 0 ? { payload: body } : {}) }
  return app.inject(req)
}

/** X-Microtime values near the app's clock, strictly increasing. */
let offset = 0
export function nextTime (clock: ManualClock): number {
  offset = (offset + 1) % 4000
  return clock.now() - 4000 + offset
}

export const randomName = (prefix = 'u'): string => `${prefix}${randomBytes(5).toString('hex')}`

// ---- the project's own documents ----------------------------------------------------

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..')
/** The repository's docs/ folder: the protocol, the routes and the rest, in the project's own words. */
export const DOCS_DIR = join(repoRoot, 'docs')

/** A page of docs/ (protocol.md: the signing protocol; api.md: routes and run-time rules). */
export function readDoc (name: 'protocol.md' | 'api.md'): string {
  return readFileSync(join(DOCS_DIR, name), 'utf8')
}
