/**
 * Master key rotation in three steps (api-v1.md): add (held: verifies, never
 * issues), activate (issues; the others still verify), retire (refused while
 * a live key may need it). The retire rule is checked with an injected clock
 * against the default limits (hours and days), with clients read from a real
 * embedded store; the files are real files.
 */
import t from 'tap'
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { run, type Io } from '../../src/cli/run.js'
import { keyringCommand } from '../../src/keyring-cli.js'
import { loadKeyring } from '../../src/auth/keyring-file.js'
import { parseKeyring, parseKeyringFile, KEYRING_FORMAT_V1, issueKey } from '../../src/auth/keys.js'
import { openEmbeddedStore } from '../../src/store/embedded.js'
import { cursorCodec } from '../../src/paging.js'
import { cookieSealer } from '../../src/web/session-cookie.js'
import { tempDir } from '../helper.js'

const HOUR = 3_600_000
const T0 = Date.UTC(2026, 2, 1)

interface Out { code: number, stdout: string, stderr: string }

function io (env: Record<string, string>): Io & { out: Out } {
  const out: Out = { code: -1, stdout: '', stderr: '' }
  return {
    out,
    stdout: c => { out.stdout += String(c) },
    stderr: c => { out.stderr += String(c) },
    readStdin: async () => Buffer.alloc(0),
    prompt: async () => null,
    env
  }
}

/** `signed-api keyring ...` in-process at the injected time `now`, with the servers' environment `env`. */
async function keyring (args: string[], now: number, env: Record<string, string> = {}): Promise<Out> {
  const i = io(env)
  i.out.code = await keyringCommand(args, i, () => now)
  return i.out
}

/** Through the CLI's entry (argument errors are reported there, exit 2). */
async function cli (args: string[], env: Record<string, string> = {}): Promise<Out> {
  const i = io(env)
  i.out.code = await run(args, i)
  return i.out
}

function newRing (t: Parameters<typeof tempDir>[0]): { dir: string, file: string } {
  const dir = tempDir(t)
  const { path } = loadKeyring(undefined, dir, T0)
  return { dir, file: path }
}

t.test('add holds a version (verifies, does not issue); activate makes it issue; the other still verifies', async t => {
  const { file } = newRing(t)
  const before = parseKeyring(readFileSync(file, 'utf8'))
  t.equal(before.current, 1)

  const added = await keyring(['add', file], T0 + HOUR)
  t.equal(added.code, 0)
  t.match(added.stdout, /version 2 added.*version 1 still issues/s)
  t.match(added.stdout, /signed-api keyring activate .* 2/)
  t.equal(statSync(file).mode & 0o777, 0o600, 'the file stays 0600')
  const held = parseKeyring(readFileSync(file, 'utf8'))
  t.equal(held.current, 1, 'version 1 still issues')
  t.same([...held.secrets.keys()], [1, 2], 'version 2 is held')
  t.equal(held.secrets.get(1)?.toString('hex'), before.secrets.get(1)?.toString('hex'), 'version 1 is unchanged')

  // What an instance restarted with the new file issues still verifies where the file is older, and the reverse.
  const user = { kind: 'user' as const, sessionStart: T0, issuedAt: T0, expiresAt: T0 + HOUR, sid: 's1' }
  t.match(issueKey(held, 'dev', 'alice', user).keyId, /^1\.u\.1\./, 'keys still derive from version 1')
  t.equal(cursorCodec(before).decode(cursorCodec(held).encode({ createdAt: 5, id: 'a' }, 'articles'), 'articles')?.id, 'a', 'a cursor from a restarted instance opens on the others')
  t.ok(cookieSealer(before, 'dev').open(cookieSealer(held, 'dev').seal({ username: 'alice', keyId: '1.u.1.1.1.2.s', signingKey: 'k'.repeat(43) })), 'and a cookie')

  const again = await keyring(['add', file], T0 + HOUR)
  t.equal(again.code, 1, 'a second add while version 2 waits is refused')
  t.match(again.stderr, /version 2 was added and is not active yet/)

  const activated = await keyring(['activate', file, '2'], T0 + 2 * HOUR)
  t.equal(activated.code, 0)
  t.match(activated.stdout, /version 2 is active.*version 1 and the other held versions still verify/s)
  const active = parseKeyring(readFileSync(file, 'utf8'))
  t.equal(active.current, 2)
  t.same([...active.secrets.keys()], [1, 2])
  t.match(issueKey(active, 'dev', 'alice', user).keyId, /^1\.u\.2\./, 'new keys derive from version 2')
  t.equal(cursorCodec(held).decode(cursorCodec(active).encode({ createdAt: 5, id: 'b' }, 'articles'), 'articles')?.id, 'b', 'a version-2 cursor opens where version 1 is active')

  t.equal((await keyring(['activate', file, '2'], T0 + 3 * HOUR)).stdout.includes('already the active version'), true)
  t.equal((await keyring(['activate', file, '7'], T0)).code, 1, 'an unknown version')

  const status = await keyring(['status', file], T0 + 3 * HOUR)
  t.match(status.stdout, /version 2 is active/)
  t.match(status.stdout, /version 1: held, active until 2026-03-01T02:00:00\.000Z/)
})

t.test('retire: refused while user keys, website sessions or client keys of the version may live; then its secret is gone', async t => {
  const { dir, file } = newRing(t)
  const env = { DATA_DIR: dir } // the defaults: KEY_TTL 6 h, SESSION_MAX 7 d, overlap 1 d, skew 10 s
  const store = openEmbeddedStore(dir)
  t.teardown(() => store.close())
  // A service registered while version 1 issues: its key never expires.
  const svc = await store.createClient({ id: 'c0ffee', name: 'billing', kind: 'service', scopes: ['public:read'] }, T0 + HOUR)

  t.equal((await keyring(['retire', file, '1'], T0 + HOUR, env)).code, 1, 'the active version')
  t.match((await keyring(['retire', file, '1'], T0 + HOUR, env)).stderr, /version 1 is the active version/)

  await keyring(['add', file], T0 + 2 * HOUR)
  const activatedAt = T0 + 3 * HOUR
  await keyring(['activate', file, '2'], activatedAt)

  const rollout = ['--rollout-seconds', '600']
  const early = await keyring(['retire', file, '1', ...rollout], activatedAt + HOUR, env)
  t.equal(early.code, 1)
  t.match(early.stderr, /user keys and website sessions of version 1 may live until 2026-03-01T09:10:10\.000Z/, '6 h key lifetime + 10 min rollout + 10 s skew after the activation')
  t.match(early.stderr, /client "billing" \(service:c0ffee\): its current key was issued at 2026-03-01T01:00:00\.000Z/)
  t.ok(parseKeyring(readFileSync(file, 'utf8')).secrets.has(1), 'nothing changed')

  // Past the user-key bound, the client still holds a version-1 key: rotate it.
  const afterKeys = activatedAt + 6 * HOUR + 10 * 60_000 + 10_000
  const stillClient = await keyring(['retire', file, '1', ...rollout], afterKeys, env)
  t.equal(stillClient.code, 1)
  t.notMatch(stillClient.stderr, /user keys/, 'the user keys are dead by now')
  t.match(stillClient.stderr, /rotate it \(POST \/admin\/clients\/c0ffee\/rotate\)/)

  const rotatedAt = activatedAt + 7 * HOUR
  await store.rotateClient(svc.id, rotatedAt)
  const overlap = await keyring(['retire', file, '1', ...rollout], rotatedAt + HOUR, env)
  t.equal(overlap.code, 1)
  t.match(overlap.stderr, /its previous key, possibly of version 1, works until 2026-03-02T10:00:10\.000Z/, 'the rotated key works for CLIENT_KEY_OVERLAP_SECONDS (1 day)')

  // A shorter overlap in the servers' environment ends sooner.
  const shortEnv = { ...env, CLIENT_KEY_OVERLAP_SECONDS: '3600' }
  t.equal((await keyring(['retire', file, '1', ...rollout], rotatedAt + HOUR + 9_999, shortEnv)).code, 1, 'the overlap (1 h) + skew (10 s) not yet over')
  const short = await keyring(['retire', file, '1', ...rollout], rotatedAt + HOUR + 10_000, shortEnv)
  t.equal(short.code, 0, short.stderr)
  t.match(short.stdout, /version 1 retired/)
  const retired = parseKeyringFile(readFileSync(file, 'utf8'), 0)
  t.same(retired.keys.map(k => [k.version, k.secret === undefined, k.retiredAt !== undefined]), [[1, true, true], [2, false, false]], 'version 1 keeps its number, not its secret')
  t.same([...parseKeyring(readFileSync(file, 'utf8')).secrets.keys()], [2])
  t.equal(statSync(file).mode & 0o777, 0o600)

  t.match((await keyring(['retire', file, '1'], rotatedAt + 2 * HOUR, env)).stderr, /already retired/)
  const next = await keyring(['add', file], rotatedAt + 2 * HOUR)
  t.match(next.stdout, /version 3 added/, 'a retired number is never reused')
  t.match((await keyring(['status', file], rotatedAt + 2 * HOUR)).stdout, /version 1: retired at .*\n.*version 2: active since .*\n.*version 3: held since .*never active/)
})

t.test('retire: the rollout allowance stretches both bounds; a version never activated retires at once', async t => {
  const { dir, file } = newRing(t)
  const env = { DATA_DIR: dir, KEY_TTL_SECONDS: '60', CLOCK_SKEW_MS: '1000' }
  openEmbeddedStore(dir).close()
  await keyring(['add', file], T0)
  t.equal((await keyring(['retire', file, '2'], T0 + 1, env)).code, 0, 'added then retired: it never issued')
  await keyring(['add', file], T0 + 10)
  await keyring(['activate', file, '3'], T0 + 1000)
  const bound = T0 + 1000 + 5000 + 60_000 + 1000
  t.equal((await keyring(['retire', file, '1', '--rollout-seconds', '5'], bound - 1, env)).code, 1, 'one ms before the bound')
  t.equal((await keyring(['retire', file, '1', '--rollout-seconds', '5'], bound, env)).code, 0, 'at the bound')

  // A client registered during the rollout after the activation may hold the old version.
  const other = newRing(t)
  const store = openEmbeddedStore(other.dir)
  t.teardown(() => store.close())
  await keyring(['add', other.file], T0)
  await keyring(['activate', other.file, '2'], T0 + 1000)
  await store.createClient({ id: 'a1', name: 'late', kind: 'app', scopes: ['public:read'] }, T0 + 4000)
  await store.createClient({ id: 'a2', name: 'later', kind: 'app', scopes: ['public:read'] }, T0 + 8000)
  const res = await keyring(['retire', other.file, '1', '--rollout-seconds', '5'], T0 + HOUR, { ...env, DATA_DIR: other.dir })
  t.equal(res.code, 1)
  t.match(res.stderr, /client "late"/, 'registered 3 s after the activation, inside a 5 s rollout')
  t.notMatch(res.stderr, /client "later"/, 'registered after rollout and skew: version 2')
})

t.test('a v1 keyring file: read with its newest version active; the first step writes it as v2', async t => {
  const dir = tempDir(t)
  const file = join(dir, 'keyring')
  const secret = (c: string): string => c.repeat(43)
  const v1 = {
    format: KEYRING_FORMAT_V1,
    keys: [
      { version: 1, secret: secret('A'), createdAt: '2025-01-01T00:00:00.000Z' },
      { version: 2, secret: secret('B'), createdAt: '2025-06-01T00:00:00.000Z' }
    ]
  }
  writeFileSync(file, JSON.stringify(v1), { mode: 0o600 })
  const ring = loadKeyring(file, dir, T0).keyring
  t.equal(ring.current, 2, 'the newest version is the active one')
  t.same([...ring.secrets.keys()], [1, 2])
  t.match((await keyring(['status', file], T0)).stdout, /version 1: held, active until 2025-06-01T00:00:00\.000Z/)

  const added = await keyring(['add', file], T0)
  t.equal(added.code, 0)
  const doc = JSON.parse(readFileSync(file, 'utf8'))
  t.equal(doc.format, 'signed-api.keyring.v2')
  t.same(doc.activations, [{ version: 1, at: '2025-01-01T00:00:00.000Z' }, { version: 2, at: '2025-06-01T00:00:00.000Z' }])
  t.same(doc.keys.slice(0, 2), v1.keys, 'the old versions are kept as they were')
  t.equal(parseKeyring(readFileSync(file, 'utf8')).current, 2, 'still version 2 issuing; version 3 held')

  // A v1 file without readable creation times: retire counts from the time it was read (the safe side).
  writeFileSync(file, JSON.stringify({ format: KEYRING_FORMAT_V1, keys: [{ version: 1, secret: secret('A'), createdAt: 'x' }, { version: 2, secret: secret('B'), createdAt: '' }] }), { mode: 0o600 })
  openEmbeddedStore(dir).close()
  const refused = await keyring(['retire', file, '1', '--rollout-seconds', '0'], T0, { DATA_DIR: dir })
  t.match(refused.stderr, /may live until 2026-03-01T06:00:10\.000Z/)
})

t.test('bad files and arguments: one line each, exit 1 or 2, never a secret', async t => {
  const { dir, file } = newRing(t)
  const secret = JSON.parse(readFileSync(file, 'utf8')).keys[0].secret as string
  chmodSync(file, 0o644)
  const loose = await keyring(['add', file], T0)
  t.equal(loose.code, 1)
  t.match(loose.stderr, /readable by group or others/)
  chmodSync(file, 0o600)
  for (const [args, pattern] of [
    [['keyring'], /missing step/],
    [['keyring', 'rotate', file], /unknown step "rotate"/],
    [['keyring', 'activate', file], /missing VERSION/],
    [['keyring', 'activate', file, 'two'], /VERSION must be a keyring version number/],
    [['keyring', 'retire', file, '1', '--rollout-seconds', '-1'], /--rollout-seconds must be a whole number/],
    [['keyring', 'add'], /missing FILE/]
  ] as const) {
    const res = await cli([...args], { DATA_DIR: dir })
    t.equal(res.code, 2, args.join(' '))
    t.match(res.stderr, pattern)
    t.equal(res.stderr.trim().split('\n').length, 1, 'one line')
  }
  // A retire that would read a store that is not there: a wrong DATA_DIR must not look like "no clients".
  await keyring(['add', file], T0)
  await keyring(['activate', file, '2'], T0)
  const noStore = await cli(['keyring', 'retire', file, '1'], { DATA_DIR: join(dir, 'elsewhere') })
  t.equal(noStore.code, 2)
  t.match(noStore.stderr, /no store at .*elsewhere.*store\.sqlite/)
  const badEnv = await cli(['keyring', 'retire', file, '1'], { DATA_DIR: dir, KEY_TTL_SECONDS: 'soon' })
  t.equal(badEnv.code, 2)
  t.match(badEnv.stderr, /KEY_TTL_SECONDS/)
  writeFileSync(file, JSON.stringify({ format: 'signed-api.keyring.v2', keys: [{ version: 1, secret, createdAt: '2026-01-01T00:00:00.000Z' }], activations: [] }), { mode: 0o600 })
  const broken = await cli(['keyring', 'status', file])
  t.equal(broken.code, 1)
  t.match(broken.stderr, /needs "activations"/)
  for (const r of [loose, broken, noStore]) t.notMatch(r.stderr + r.stdout, secret, 'the secret is never shown')
})
