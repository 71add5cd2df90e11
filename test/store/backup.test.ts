/**
 * The embedded store's online backup and restore, with real processes: a
 * server takes writes while `signed-api backup` runs; `signed-api restore`
 * puts the copy into a fresh DATA_DIR; a server started there holds every
 * write acknowledged before the backup began. And a store whose schema is
 * newer than the code is refused: exit 2, a clear message, nothing touched.
 */
import t from 'tap'
import { execFile, spawn } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { sign, tempDir, type Credential } from '../helper.js'
import { call, startServer, type ServerProcess } from '../server-process.js'
import { openEmbeddedStore, STORE_SCHEMA_VERSION } from '../../src/store/embedded.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const PASSWORD = 'correct horse battery'

interface Result { code: number | null, stdout: string, stderr: string }

/** `signed-api ARGS` as its own process (the real entry point), with only `env`. */
function signedApi (args: string[], env: Record<string, string>): Promise<Result> {
  return new Promise(resolve => {
    execFile(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, timeout: 60_000, encoding: 'utf8' },
      (err, stdout, stderr) => resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr }))
  })
}

async function login (s: ServerProcess, username: string, signup: boolean): Promise<Credential> {
  const body = JSON.stringify({ username, password: PASSWORD })
  if (signup) {
    const up = await call(s, 'POST', '/auth/signup', { body })
    if (up.status !== 201) throw new Error(`signup: ${up.status} ${up.body}`)
  }
  const res = await call(s, 'POST', '/auth/login', { body })
  if (res.status !== 200) throw new Error(`login: ${res.status} ${res.body}`)
  return res.json()
}

async function allTitles (s: ServerProcess, cred: Credential): Promise<Map<string, string>> {
  const titles = new Map<string, string>()
  let after: string | null = null
  do {
    const target: string = `/v1/notes?limit=100${after === null ? '' : `&after=${after}`}`
    const page = await call(s, 'GET', target, { headers: sign(cred, 'GET', target) })
    if (page.status !== 200) throw new Error(`list: ${page.status} ${page.body}`)
    const json = page.json() as { items: Array<{ title: string, body: string }>, next: string | null }
    for (const n of json.items) titles.set(n.title, n.body)
    after = json.next
  } while (after !== null)
  return titles
}

t.test('online backup under write load, restored into a fresh DATA_DIR, holds every write acknowledged before it began', async t => {
  const live = tempDir(t)
  const server = await startServer(t, { DATA_DIR: live, RATE_LIMIT_PER_MINUTE: '100000' })
  const writers = await Promise.all([0, 1, 2].map(async i => login(server, `writer${i}`, true)))

  // Each write is acknowledged when its 201 arrives; the time is taken then.
  const acknowledged: Array<{ title: string, body: string, at: number }> = []
  let failures = 0
  let running = true
  const load = Promise.all(writers.map(async (cred, w) => {
    for (let n = 0; running; n++) {
      const title = `w${w}-${n}`
      const text = `${title} `.repeat(150)
      const body = JSON.stringify({ title, body: text })
      const res = await call(server, 'POST', '/v1/notes', { headers: sign(cred, 'POST', '/v1/notes', body), body })
      if (res.status === 201) acknowledged.push({ title, body: text, at: Date.now() })
      else failures++
    }
  }))
  while (acknowledged.length < 150) await new Promise(resolve => setTimeout(resolve, 50))

  const backupFile = join(tempDir(t), 'store.backup')
  const began = Date.now()
  const before = acknowledged.filter(a => a.at < began)
  const backup = await signedApi(['backup', backupFile], { DATA_DIR: live })
  const ended = Date.now()
  const during = acknowledged.filter(a => a.at >= began && a.at <= ended).length
  // Keep writing a little after it, then stop.
  await new Promise(resolve => setTimeout(resolve, 300))
  running = false
  await load
  t.equal(backup.code, 0, backup.stderr)
  t.match(backup.stdout, new RegExp(`schema version ${STORE_SCHEMA_VERSION}, integrity ok`))
  t.equal(failures, 0, 'no write failed')
  t.ok(during > 0, `writes went on while the backup ran (${during} acknowledged during it)`)
  t.equal(statSync(backupFile).mode & 0o777, 0o600, 'the backup holds password hashes: mode 0600')
  t.notOk(existsSync(`${backupFile}-wal`), 'the backup is one self-contained file')

  const again = await signedApi(['backup', backupFile], { DATA_DIR: live })
  t.equal(again.code, 1, 'a backup never overwrites a file')
  t.match(again.stderr, /already exists/)

  // Restore into a fresh DATA_DIR; the keyring is not in the store: the operator keeps it apart.
  const fresh = join(tempDir(t), 'restored')
  const restore = await signedApi(['restore', backupFile], { DATA_DIR: fresh })
  t.equal(restore.code, 0, restore.stderr)
  t.equal(statSync(join(fresh, 'store.sqlite')).mode & 0o777, 0o600)
  const twice = await signedApi(['restore', backupFile], { DATA_DIR: fresh })
  t.equal(twice.code, 1, 'restore never writes over a store')
  t.match(twice.stderr, /store\.sqlite exists/)

  const keyring = join(tempDir(t), 'keyring')
  copyFileSync(join(live, 'keyring'), keyring)
  const restored = await startServer(t, { DATA_DIR: fresh, MASTER_KEY_FILE: keyring })
  let found = 0
  let whole = 0
  const stored = new Map<string, string>()
  for (const [w] of writers.entries()) {
    for (const [title, body] of await allTitles(restored, await login(restored, `writer${w}`, false))) stored.set(title, body)
  }
  for (const a of before) {
    if (stored.has(a.title)) found++
    if (stored.get(a.title) === a.body) whole++
  }
  t.comment(`${acknowledged.length} writes acknowledged, ${before.length} before the backup began, ${during} during it; the restored store holds ${stored.size}`)
  t.equal(found, before.length, `all ${before.length} writes acknowledged before the backup began are in the restored store`)
  t.equal(whole, before.length, 'each of them whole')
  t.ok(stored.size <= acknowledged.length, 'and nothing that was never acknowledged')
  t.ok([...stored.keys()].every(title => acknowledged.some(a => a.title === title)), 'every restored note was acknowledged')
})

t.test('a store whose schema is newer than the code: the server exits 2 with the reason; backup and restore refuse it', async t => {
  const dir = tempDir(t)
  openEmbeddedStore(dir).close()
  const db = new Database(join(dir, 'store.sqlite'))
  db.pragma(`user_version = ${STORE_SCHEMA_VERSION + 1}`)
  db.close()

  const proc = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/server.ts')], {
    cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: '0', DATA_DIR: dir }, stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  proc.stdout.on('data', (c: Buffer) => { output += c.toString('utf8') })
  proc.stderr.on('data', (c: Buffer) => { output += c.toString('utf8') })
  const code = await new Promise<number | null>(resolve => proc.once('exit', resolve))
  t.equal(code, 2, 'exit 2, as for any start-up refusal')
  t.match(output, new RegExp(`schema version ${STORE_SCHEMA_VERSION + 1}, newer than this signed-api knows \\(${STORE_SCHEMA_VERSION}\\)`))
  t.notMatch(output, /"msg":"listening"/, 'it never listens')
  t.notMatch(output, /\n\s+at /, 'no stack trace')
  const check = new Database(join(dir, 'store.sqlite'), { readonly: true })
  t.equal(check.pragma('user_version', { simple: true }), STORE_SCHEMA_VERSION + 1, 'the store is left as it was')
  check.close()

  const out = join(tempDir(t), 'newer.backup')
  const backup = await signedApi(['backup', out], { DATA_DIR: dir })
  t.equal(backup.code, 1)
  t.match(backup.stderr, /newer than this signed-api knows/)
  t.notOk(existsSync(out), 'no backup file is left behind')

  // A backup from a newer release is not restored either.
  const copy = join(tempDir(t), 'from-newer.backup')
  copyFileSync(join(dir, 'store.sqlite'), copy)
  const target = join(tempDir(t), 'data')
  const restore = await signedApi(['restore', copy], { DATA_DIR: target })
  t.equal(restore.code, 1)
  t.match(restore.stderr, /newer than this signed-api knows/)
  t.notOk(existsSync(join(target, 'store.sqlite')))
})

t.test('backup and restore: bad input is one clear line', async t => {
  const dir = tempDir(t)
  const none = await signedApi(['backup', join(dir, 'x.backup')], { DATA_DIR: join(dir, 'empty') })
  t.equal(none.code, 1)
  t.match(none.stderr, /the store .*store\.sqlite does not exist/)
  t.notOk(existsSync(join(dir, 'empty')), 'a backup never makes a store where there was none')
  const junk = join(dir, 'junk')
  writeFileSync(junk, 'not a database at all, just text'.repeat(200))
  const restore = await signedApi(['restore', junk], { DATA_DIR: join(dir, 'data') })
  t.equal(restore.code, 1)
  t.match(restore.stderr, /junk/)
  t.equal(restore.stderr.trim().split('\n').length, 1)
  mkdirSync(join(dir, 'data'), { recursive: true })
  const mongo = await signedApi(['backup', join(dir, 'y')], { MONGODB_URI: 'mongodb://127.0.0.1:1/x' })
  t.equal(mongo.code, 2)
  t.match(mongo.stderr, /mongodump/)
  const usage = await signedApi(['backup'], {})
  t.equal(usage.code, 2)
  t.match(usage.stderr, /backup: missing FILE/)
})
