/** The Store contract against the embedded (SQLite) adapter: always runs. Also the modes of its files. */
import t from 'tap'
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openEmbeddedStore } from '../../src/store/embedded.js'
import { runStoreContract } from './contract.js'

await runStoreContract(t, 'embedded', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'store-contract-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return openEmbeddedStore(dir)
})

const modeOf = (path: string): string => (statSync(path).mode & 0o777).toString(8)
const FILES = ['store.sqlite', 'store.sqlite-wal', 'store.sqlite-shm']

// The usual umask, which left the database world-readable before: set here so
// the result does not depend on the umask the tests happen to run under.
const umask = process.umask(0o022)
t.teardown(() => { process.umask(umask) })

t.test('DATA_DIR made by the store is 0700; the database, -wal and -shm are 0600', async t => {
  const root = mkdtempSync(join(tmpdir(), 'store-modes-'))
  t.teardown(() => rmSync(root, { recursive: true, force: true }))
  const dataDir = join(root, 'a', 'var')
  const warnings: string[] = []
  const store = openEmbeddedStore(dataDir, { warn: line => warnings.push(line) })
  t.teardown(async () => { await store.close() })
  await store.createUser({ username: 'ann', passwordHash: 'h', roles: [] }, 1)
  t.equal(modeOf(dataDir), '700', 'DATA_DIR')
  t.equal(modeOf(join(root, 'a')), '700', 'a parent it had to make')
  for (const file of FILES) {
    t.ok(existsSync(join(dataDir, file)), `${file} exists while the store is open`)
    t.equal(modeOf(join(dataDir, file)), '600', file)
  }
  t.strictSame(warnings, [], 'nothing to warn about')
})

t.test('a database left readable by others is tightened to 0600 at start, with a warning', async t => {
  const dataDir = mkdtempSync(join(tmpdir(), 'store-modes-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const first = openEmbeddedStore(dataDir)
  await first.createUser({ username: 'ann', passwordHash: 'h', roles: [] }, 1)
  await first.close()
  chmodSync(join(dataDir, 'store.sqlite'), 0o644)
  // Left over from a process that did not close cleanly.
  writeFileSync(join(dataDir, 'store.sqlite-wal'), '', { mode: 0o644 })
  chmodSync(join(dataDir, 'store.sqlite-wal'), 0o664)

  const warnings: string[] = []
  const store = openEmbeddedStore(dataDir, { warn: line => warnings.push(line) })
  t.teardown(async () => { await store.close() })
  t.equal((await store.findUser('ann'))?.passwordHash, 'h', 'the data is still there')
  await store.createUser({ username: 'bob', passwordHash: 'h', roles: [] }, 2)
  for (const file of FILES) t.equal(modeOf(join(dataDir, file)), '600', file)
  t.equal(warnings.length, 2, 'one warning per file tightened')
  t.match(warnings[0], /store\.sqlite .*644.*600/, 'naming the file and both modes')
  t.match(warnings[1], /store\.sqlite-wal .*664.*600/)
})

t.test('an existing DATA_DIR keeps its mode (the operator chose it); the files in it are still 0600', async t => {
  const dataDir = mkdtempSync(join(tmpdir(), 'store-modes-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  chmodSync(dataDir, 0o755)
  const store = openEmbeddedStore(dataDir)
  t.teardown(async () => { await store.close() })
  await store.createUser({ username: 'ann', passwordHash: 'h', roles: [] }, 1)
  t.equal(modeOf(dataDir), '755')
  for (const file of FILES) t.equal(modeOf(join(dataDir, file)), '600', file)
})
