/**
 * The copy command on a real embedded store filled through the port: every
 * record comes out as the MongoDB adapter's document, the counter covers
 * pruned numbers, and bad command lines fail clearly. Writing to MongoDB
 * itself needs a server and is not exercised here.
 */
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { openEmbeddedStore } from '../../src/store/embedded.js'
import { copyToMongo, dryRunLine, embeddedDocuments, parseCopyArgs, UsageError, type CopyItem } from '../../src/store/copy-to-mongo.js'
import { docToArticle, docToClient, docToNote, docToRevocation, docToUser } from '../../src/store/mongodb.js'

const T0 = Date.UTC(2026, 0, 1)
const COMMAND = fileURLToPath(new URL('../../src/store/copy-to-mongo.ts', import.meta.url))

const tempDir = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'copy-to-mongo-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

async function filledStore (): Promise<string> {
  const dir = tempDir()
  const store = openEmbeddedStore(dir)
  try {
    await store.createUser({ username: 'ann.lee', passwordHash: 'scrypt$secret-hash', roles: ['admin'] }, T0)
    await store.createUser({ username: 'bob', passwordHash: 'scrypt$bob-hash', roles: [] }, T0 + 1)
    await store.updateUser('bob', { disabled: true, roles: ['editor'] }, T0 + 2)
    await store.createNote({ id: 'n1', owner: 'ann.lee', title: 'one', body: 'b1' }, T0 + 10)
    await store.createNote({ id: 'n2', owner: 'bob', title: 'two', body: 'b2' }, T0 + 11)
    await store.setGrant('n1', 'bob', 'write', T0 + 12)
    await store.setGrant('n1', 'carl.d', 'read', T0 + 13)
    await store.createArticle({ id: 'a1', title: 'hello', body: 'world', author: 'ann.lee' }, T0 + 20)
    await store.updateArticle('a1', { body: 'world!' }, T0 + 21)
    await store.createClient({ id: 'c1', name: 'web', kind: 'service', scopes: ['public:read', 'articles:write'] }, T0 + 30)
    await store.rotateClient('c1', T0 + 31)
    await store.addRevocation({ principal: 'ann.lee', sid: 's1', before: null, effectiveAt: T0, expiresAt: null }, T0 + 40)
    await store.addRevocation({ principal: 'bob', sid: null, before: T0 + 2, effectiveAt: T0 + 2, expiresAt: T0 + 100 }, T0 + 41)
    await store.addRevocation({ principal: 'service:c1', sid: '1', before: null, effectiveAt: T0 + 50, expiresAt: T0 + 60 }, T0 + 42)
    // The newest record is pruned: its number must still count.
    await store.pruneRevocations(T0 + 60)
  } finally {
    await store.close()
  }
  return dir
}

const collect = async (dir: string): Promise<CopyItem[]> => {
  const items: CopyItem[] = []
  for await (const item of embeddedDocuments(dir)) items.push(item)
  return items
}

t.test('every record comes out as the adapter\'s document', async t => {
  const dir = await filledStore()
  const items = await collect(dir)
  t.strictSame(items, [
    { collection: 'users', document: { _id: 'ann.lee', passwordHash: 'scrypt$secret-hash', roles: ['admin'], disabled: false, createdAt: T0, updatedAt: T0 } },
    { collection: 'users', document: { _id: 'bob', passwordHash: 'scrypt$bob-hash', roles: ['editor'], disabled: true, createdAt: T0 + 1, updatedAt: T0 + 2 } },
    { collection: 'clients', document: { _id: 'c1', name: 'web', kind: 'service', scopes: ['public:read', 'articles:write'], generation: 2, createdAt: T0 + 30, rotatedAt: T0 + 31 } },
    { collection: 'articles', document: { _id: 'a1', title: 'hello', body: 'world!', author: 'ann.lee', createdAt: T0 + 20, updatedAt: T0 + 21 } },
    {
      collection: 'notes',
      document: {
        _id: 'n1', owner: 'ann.lee', title: 'one', body: 'b1',
        // An array, never a map keyed by username: 'carl.d' would become a nested path.
        grants: [{ username: 'bob', access: 'write' }, { username: 'carl.d', access: 'read' }],
        createdAt: T0 + 10, updatedAt: T0 + 13
      }
    },
    { collection: 'notes', document: { _id: 'n2', owner: 'bob', title: 'two', body: 'b2', grants: [], createdAt: T0 + 11, updatedAt: T0 + 11 } },
    { collection: 'revocations', document: { _id: 1, principal: 'ann.lee', sid: 's1', before: null, effectiveAt: T0, expiresAt: null } },
    { collection: 'revocations', document: { _id: 2, principal: 'bob', sid: null, before: T0 + 2, effectiveAt: T0 + 2, expiresAt: T0 + 100 } },
    { collection: 'counters', document: { _id: 'revocations', seq: 3 } }
  ], 'users, clients, articles, notes with grants, revocations with their seq, and the counter past the pruned seq 3')
})

t.test('documents read back through the adapter\'s own mapping give the port\'s values', async t => {
  const dir = await filledStore()
  const items = await collect(dir)
  const store = openEmbeddedStore(dir)
  t.teardown(async () => { await store.close() })
  for (const item of items) {
    switch (item.collection) {
      case 'users': t.strictSame(docToUser(item.document), await store.findUser(item.document._id), `user ${item.document._id}`); break
      case 'notes': t.strictSame(docToNote(item.document), await store.getNote(item.document._id), `note ${item.document._id}`); break
      case 'articles': t.strictSame(docToArticle(item.document), await store.getArticle(item.document._id), `article ${item.document._id}`); break
      case 'clients': t.strictSame(docToClient(item.document), await store.getClient(item.document._id), `client ${item.document._id}`); break
      case 'revocations': t.strictSame([docToRevocation(item.document)], await store.revocationsSince(item.document._id - 1, 1), `revocation ${item.document._id}`); break
      case 'counters': t.equal(item.document.seq, 3, 'counter'); break
    }
  }
})

t.test('an empty store copies only the counter at 0', async t => {
  const dir = tempDir()
  await openEmbeddedStore(dir).close()
  t.strictSame(await collect(dir), [{ collection: 'counters', document: { _id: 'revocations', seq: 0 } }])
})

t.test('a directory without a store is a clear error, and creates nothing', async t => {
  const dir = tempDir()
  await t.rejects(collect(join(dir, 'nope')), new UsageError(`no embedded store at ${join(dir, 'nope', 'store.sqlite')}`))
  await t.rejects(collect(dir), UsageError)
  t.notOk(existsSync(join(dir, 'store.sqlite')), 'no empty store was made')
})

t.test('dry run: JSON lines, password hashes redacted', async t => {
  const dir = await filledStore()
  const lines: string[] = []
  const counts = await copyToMongo({ dataDir: dir, mongodbUri: null, dryRun: true }, line => lines.push(line))
  t.strictSame(counts, { users: 2, clients: 1, articles: 1, notes: 2, revocations: 2, counters: 1 })
  t.equal(lines.length, 9)
  const parsed = lines.map(l => JSON.parse(l) as { collection: string, document: Record<string, unknown> })
  t.strictSame(parsed.filter(p => p.collection === 'users').map(p => p.document.passwordHash), ['[redacted]', '[redacted]'])
  t.notOk(lines.some(l => l.includes('secret-hash') || l.includes('bob-hash')), 'no hash in the output')
  t.strictSame(JSON.parse(dryRunLine({ collection: 'articles', document: { _id: 'a', title: 't', body: 'b', author: 'x', createdAt: 1, updatedAt: 2 } })),
    { collection: 'articles', document: { _id: 'a', title: 't', body: 'b', author: 'x', createdAt: 1, updatedAt: 2 } }, 'other documents unchanged')
})

t.test('command-line parsing', async t => {
  t.strictSame(parseCopyArgs(['--data-dir', 'var', '--mongodb-uri', 'mongodb://h/app']), { dataDir: resolve('var'), mongodbUri: 'mongodb://h/app', dryRun: false })
  t.strictSame(parseCopyArgs(['--data-dir=var', '--dry-run']), { dataDir: resolve('var'), mongodbUri: null, dryRun: true }, 'a dry run needs no URI')
  t.strictSame(parseCopyArgs(['--data-dir', 'var', '--mongodb-uri', 'mongodb+srv://u:p@c.example.net', '--dry-run']),
    { dataDir: resolve('var'), mongodbUri: 'mongodb+srv://u:p@c.example.net', dryRun: true })
  t.equal(parseCopyArgs(['--help']), null, '--help')
  const bad: Array<[string[], RegExp]> = [
    [[], /--data-dir is required/],
    [['--data-dir', 'var'], /--mongodb-uri is required/],
    [['--data-dir', '', '--dry-run'], /--data-dir is required/],
    [['--data-dir', 'var', '--mongodb-uri', 'http://h/app'], /must start with mongodb:\/\//],
    [['--data-dir', 'var', '--mongodb-uri', 'mongodb://'], /followed by a host/],
    [['--data-dir', 'var', '--dry-run', '--force'], /--force/],
    [['--data-dir', 'var', '--dry-run', 'extra'], /extra/],
    [['--data-dir'], /--data-dir/]
  ]
  for (const [argv, message] of bad) t.throws(() => parseCopyArgs(argv), { name: 'UsageError', message }, argv.join(' ') || '(nothing)')
  const echoed = t.throws(() => parseCopyArgs(['--data-dir', 'v', '--mongodb-uri', 'http://u:hunter2@h']))
  t.notMatch(String(echoed), /hunter2/, 'the URI (it may hold a password) is never echoed')
})

t.test('the command runs as a program: exit codes and output', async t => {
  const run = (...args: string[]): ReturnType<typeof spawnSync> =>
    spawnSync(process.execPath, ['--import', 'tsx', COMMAND, ...args], { encoding: 'utf8', timeout: 60_000 })
  const usage = run('--data-dir', 'var')
  t.equal(usage.status, 2, 'bad arguments exit 2')
  t.match(usage.stderr, /copy-to-mongo: --mongodb-uri is required[\s\S]*usage: copy-to-mongo/, 'says what is wrong, then the usage')

  const dir = await filledStore()
  const dry = run('--data-dir', dir, '--dry-run')
  t.equal(dry.status, 0, 'a dry run exits 0')
  t.equal(String(dry.stdout).trim().split('\n').length, 9, 'one line per document')
  t.match(dry.stderr, /would copy 2 users, 1 clients, 1 articles, 2 notes, 2 revocations, 1 counters/)

  const missing = run('--data-dir', join(dir, 'nope'), '--dry-run')
  t.equal(missing.status, 2, 'no store: exit 2')
  t.match(missing.stderr, /no embedded store at/)
})
