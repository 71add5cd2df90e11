/** Pure protocol core: key ids, keyring files, replay cache, revocation view (passwords: test/auth/passwords.test.ts). */
import t from 'tap'
import { activateKeyringVersion, addKeyringVersion, formatKeyId, keyDeadline, parseKeyId, parseKeyring, signatureMatches, type KeyIdFields } from '../../src/auth/keys.js'
import { MemoryReplayCache } from '../../src/auth/replay.js'
import { RevocationView, syncRevocations, type SequencedRevocation } from '../../src/auth/revocation.js'
import { isValidRequestTarget } from '../../src/auth/canonical.js'
import { bodyRuleFromHead } from '../../src/body.js'

const user: KeyIdFields = { kind: 'user', keyringVersion: 3, sessionStart: 1_767_225_000_000, issuedAt: 1_767_225_600_000, expiresAt: 1_767_247_200_000, sid: 'abc_-DEF' }

t.test('signatureMatches compares every one of the 64 hex characters, and lengths', async t => {
  const expected = 'ab'.repeat(32)
  t.ok(signatureMatches(expected, expected.slice()))
  let refused = 0
  for (let i = 0; i < 64; i++) {
    const flipped = `${expected.slice(0, i)}${expected[i] === 'a' ? 'c' : 'a'}${expected.slice(i + 1)}`
    if (!signatureMatches(expected, flipped)) refused++
  }
  t.equal(refused, 64, 'a change at any position is refused')
  t.notOk(signatureMatches(expected, expected.slice(1)), '63 chars')
  t.notOk(signatureMatches(expected, `${expected}a`), '65 chars')
  t.notOk(signatureMatches(expected.slice(1), expected.slice(1)), 'an expected digest of the wrong length never matches')
})

t.test('key ids round-trip and refuse every non-canonical form', async t => {
  const id = formatKeyId(user)
  t.match(id, /^1\.u\.3\.[0-9a-z]+\.[0-9a-z]+\.[0-9a-z]+\.abc_-DEF$/)
  t.same(parseKeyId(id), user)
  const client: KeyIdFields = { kind: 'service', keyringVersion: 1, sessionStart: 5, issuedAt: 5, expiresAt: null, sid: '7' }
  t.same(parseKeyId(formatKeyId(client)), client)
  for (const bad of [
    id.replace(/^1\./, '2.'), id.replace('.u.', '.x.'), id.replace('.3.', '.03.'), id.replace('.3.', '.0.'),
    id.replace(/\.abc_-DEF$/, '.'), `${id}.x`, id.toUpperCase(), id.replace(/\.([0-9a-z]+)\.abc/, '.0$1.abc'),
    formatKeyId({ ...user, expiresAt: null }), formatKeyId({ ...client, expiresAt: 9 }),
    formatKeyId({ ...user, sessionStart: user.issuedAt + 1 }), ''
  ]) t.equal(parseKeyId(bad), null, JSON.stringify(bad))
  t.throws(() => formatKeyId({ ...user, sid: 'a.b' }), RangeError)
})

t.test('a key dies at its expiry, or earlier when the TTL or session limit is lowered', async t => {
  t.equal(keyDeadline(user, 21_600_000, 604_800_000), user.expiresAt)
  t.equal(keyDeadline(user, 60_000, 604_800_000), user.issuedAt + 60_000)
  t.equal(keyDeadline(user, 21_600_000, 1_000_000), user.sessionStart + 1_000_000)
  t.equal(keyDeadline({ ...user, expiresAt: null }, 1, 1), Infinity)
})

t.test('keyring files: versions, the active one derives, clear errors that never show a secret', async t => {
  const one = addKeyringVersion(null, 0)
  const two = addKeyringVersion(one, 0)
  const held = parseKeyring(JSON.stringify(two))
  t.equal(held.current, 1, 'an added version is held, not active')
  t.same([...held.secrets.keys()], [1, 2], 'both verify')
  const ring = parseKeyring(JSON.stringify(activateKeyringVersion(two, 2, 0)))
  t.equal(ring.current, 2)
  t.same([...ring.secrets.keys()], [1, 2])
  const secret = one.keys[0]?.secret as string
  for (const [label, text, pattern] of [
    ['not JSON', '{', /not valid JSON/],
    ['wrong format', JSON.stringify({ format: 'x', keys: one.keys }), /must be/],
    ['no keys', JSON.stringify({ format: one.format, keys: [] }), /at least one key/],
    ['duplicate version', JSON.stringify({ format: one.format, keys: [...one.keys, ...one.keys] }), /appears twice/],
    ['short secret', JSON.stringify({ format: one.format, keys: [{ version: 1, secret: 'abc', createdAt: '' }] }), /at least 32 bytes/],
    ['bad version', JSON.stringify({ format: one.format, keys: [{ version: 0, secret, createdAt: '' }] }), /integer version/]
  ] as const) {
    t.throws(() => parseKeyring(text), pattern, label)
    try { parseKeyring(text) } catch (err) { t.notMatch((err as Error).message, secret, `${label}: secret not shown`) }
  }
})

t.test('replay cache: fresh once, replay until X-Microtime + skew, a hard cap, no early eviction', async t => {
  const cache = new MemoryReplayCache(2)
  t.equal(cache.remember('a', 10_500, 1_000), 'fresh')
  t.equal(cache.remember('a', 10_500, 10_499), 'replay')
  t.equal(cache.remember('b', 20_000, 1_000), 'fresh')
  t.equal(cache.remember('c', 20_000, 1_000), 'unavailable', 'full: refuse rather than evict')
  t.equal(cache.healthy(), false)
  t.equal(cache.remember('a', 10_500, 11_000), 'fresh', 'after expiry the key is new again (the request would be stale anyway)')
  t.equal(cache.size, 2)
  cache.sweep(21_000)
  t.equal(cache.size, 0, 'expired entries are swept')
  t.equal(cache.healthy(), true)
})

t.test('revocation view: sessions, principal cut-offs, delayed effect, pruning, sequence', async t => {
  const view = new RevocationView()
  const rec = (seq: number, r: Partial<SequencedRevocation>): SequencedRevocation => ({ seq, principal: 'alice', sid: null, before: null, effectiveAt: 0, expiresAt: null, ...r })
  view.apply([rec(2, { sid: 'abc_-DEF', expiresAt: 100 }), rec(1, { principal: 'bob', before: user.sessionStart + 1 })])
  t.equal(view.lastSeq, 2)
  t.equal(view.isRevoked('alice', user, 50), true, 'the session is revoked')
  t.equal(view.isRevoked('alice', { ...user, sid: 'other' }, 50), false, 'another session is not')
  t.equal(view.isRevoked('bob', user, 50), true, 'sessions that began before the cut-off')
  t.equal(view.isRevoked('bob', { ...user, sessionStart: user.sessionStart + 1 }, 50), false, 'a session begun after it is fine')
  view.add({ principal: 'app:x', sid: '1', before: null, effectiveAt: 1_000, expiresAt: null })
  const gen1 = { ...user, kind: 'app' as const, expiresAt: null, sid: '1' }
  t.equal(view.isRevoked('app:x', gen1, 999), false, 'a rotated key works during its overlap')
  t.equal(view.isRevoked('app:x', gen1, 1_000), true, 'and is refused after it')
  view.prune(100)
  t.equal(view.isRevoked('alice', user, 50), false, 'pruned once no key it covers can be alive')
  t.equal(view.isStale(0, 30_000), true, 'never synced is stale')
  const store = { calls: 0, async revocationsSince (after: number, limit: number) { store.calls++; return after < 3 ? [rec(3, { sid: 'x' })].slice(0, limit) : [] } }
  t.equal(await syncRevocations(view, store, () => 5_000, 1), 1)
  t.equal(view.lastSeq, 3)
  t.equal(view.isStale(35_000, 30_000), false)
  t.equal(view.isStale(35_001, 30_000), true)
  const failing = { async revocationsSince (): Promise<SequencedRevocation[]> { throw new Error('store down') } }
  await t.rejects(syncRevocations(view, failing, () => 90_000), /store down/)
  t.equal(view.isStale(40_000, 30_000), true, 'a failed sync does not refresh the view')
})

t.test('request targets and body rules', async t => {
  for (const ok of ['/', '/a?b=c', '/a%2Fb?q=a+b', '/~!$&\'()*+,;=:@']) t.equal(isValidRequestTarget(ok), true, ok)
  for (const bad of ['', '*', 'http://x/', '/a b', '/caf\u00e9', '/a\u007f', 'a/b']) t.equal(isValidRequestTarget(bad), false, JSON.stringify(bad))
  t.equal(bodyRuleFromHead('POST', {}, 10), null, 'no body')
  t.equal(bodyRuleFromHead('POST', { 'content-length': '0', 'content-type': 'text/plain' }, 10), null, 'an empty body of any type is no body')
  t.equal(bodyRuleFromHead('POST', { 'content-length': '11', 'content-type': 'application/json' }, 10), 'BODY_TOO_LARGE')
  t.equal(bodyRuleFromHead('POST', { 'transfer-encoding': 'chunked', 'content-type': 'application/json' }, 10), null, 'chunked: the limit applies while reading')
  t.equal(bodyRuleFromHead('DELETE', { 'content-length': '2', 'content-type': 'application/json' }, 10), 'BODY_NOT_ALLOWED')
  t.equal(bodyRuleFromHead('POST', { 'content-length': '2', 'content-type': 'application/json', 'content-encoding': 'identity' }, 10), null)
  t.equal(bodyRuleFromHead('POST', { 'content-length': '2', 'content-type': 'application/json', 'content-encoding': 'br' }, 10), 'UNSUPPORTED_MEDIA_TYPE')
  t.equal(bodyRuleFromHead('POST', { 'content-length': '2', 'content-type': 'application/json;charset="UTF-8"' }, 10), null)
  t.equal(bodyRuleFromHead('POST', { 'content-length': '2', 'content-type': 'application/jsonx' }, 10), 'UNSUPPORTED_MEDIA_TYPE')
  t.equal(bodyRuleFromHead('POST', { 'content-length': '2' }, 10), 'UNSUPPORTED_MEDIA_TYPE')
})
