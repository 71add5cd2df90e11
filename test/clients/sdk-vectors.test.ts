/**
 * The SDK signer (src/sdk/signer.ts) against the published vectors: every
 * positive vector's canonical bytes and signature, and the negative vectors
 * that turn on the signature (recomputed from the vector's fields).
 */
import t from 'tap'
import { SignedApiClient, canonicalBytes, canonicalSummary, fieldProblem, signRequest, signatureMatches } from '../../src/sdk/index.js'
import { signatureCases, vectors } from './live-server.js'

t.test('positive vectors: canonical bytes and signature', async t => {
  t.equal(vectors.positive.length >= 11, true, 'the vector file holds the published positive vectors')
  for (const v of vectors.positive) {
    const body = Buffer.from(v.bodyHex, 'hex')
    const fields = { username: v.username, keyId: v.keyId, time: v.time, method: v.method, target: v.target }
    t.equal(fieldProblem(fields), null, `${v.name}: fields are well formed`)
    t.equal(canonicalBytes(fields, body).toString('hex'), v.canonicalHex, `${v.name}: canonical bytes`)
    const signed = signRequest({ username: v.username, keyId: v.keyId, signingKey: v.key }, v.time, v.method, v.target, body)
    t.equal(signed.signature, v.signature, `${v.name}: signature`)
    t.same(signed.headers, { 'auth-username': v.username, 'auth-key-id': v.keyId, 'x-microtime': v.time, 'auth-signature': v.signature }, `${v.name}: headers`)
    t.ok(signatureMatches(v.key, fields, body, v.signature), `${v.name}: verifies`)
    // The client's own sign() (used by the CLI) with the vector's time and no base path.
    const api = new SignedApiClient({ baseUrl: 'https://127.0.0.1:8443', credentials: { username: v.username, keyId: v.keyId, signingKey: v.key } })
    t.equal(api.sign(v.method, v.target, body, Number(v.time)).headers['auth-signature'], v.signature, `${v.name}: client.sign`)
  }
})

t.test('negative vectors: a signature recomputed from the fields mismatches exactly where the server says AUTH_BAD_SIGNATURE', async t => {
  const cases = signatureCases()
  t.ok(cases.filter(c => c.expect === 'AUTH_BAD_SIGNATURE').length >= 10, 'the mismatch vectors are there')
  t.ok(cases.some(c => c.expect === 'AUTH_STALE'), 'and stale ones with a correct signature')
  for (const c of cases) {
    const fields = { username: c.username, keyId: c.keyId, time: c.time, method: c.method, target: c.target }
    const body = Buffer.from(c.bodyHex, 'hex')
    const ours = signRequest({ username: c.username, keyId: c.keyId, signingKey: c.key }, c.time, c.method, c.target, body).signature
    if (c.expect === 'AUTH_BAD_SIGNATURE') {
      t.not(ours, c.signature, `${c.name}: mismatch`)
      t.notOk(signatureMatches(c.key, fields, body, c.signature), `${c.name}: does not verify`)
    } else {
      t.equal(ours, c.signature, `${c.name}: the signature is right, only the time is off`)
    }
  }
})

t.test('the signer refuses what the server would refuse before the signature', async t => {
  const creds = { username: 'alice', keyId: 'k1', signingKey: 'key' }
  t.throws(() => signRequest(creds, '12.5', 'GET', '/x'), TypeError, 'decimal time')
  t.throws(() => signRequest(creds, 1, 'get', '/x'), TypeError, 'lower-case method')
  t.throws(() => signRequest(creds, 1, 'GET', '/a b'), TypeError, 'space in target')
  t.throws(() => signRequest(creds, 1, 'GET', 'v1/notes'), TypeError, 'target without /')
  t.throws(() => signRequest({ ...creds, username: 'alice smith' }, 1, 'GET', '/x'), TypeError, 'space in username')
  t.throws(() => signRequest({ ...creds, keyId: 'a/b' }, 1, 'GET', '/x'), TypeError, 'slash in key id')
  t.same(canonicalSummary({ username: 'alice', keyId: 'k1', time: '1', method: 'GET', target: '/x' }, ''), {
    lines: ['HMAC-SHA256-V1', 'alice', 'k1', '1', 'GET', '/x'],
    bodyLength: 0,
    bodySha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
  })
})

t.test('X-Microtime is max(now + offset, last + 1) per key', async t => {
  let now = 1_767_225_600_000
  const api = new SignedApiClient({ baseUrl: 'https://127.0.0.1:8443', credentials: { username: 'alice', keyId: 'k1', signingKey: 'key' }, now: () => now })
  const times = [1, 2, 3].map(() => Number(api.sign('GET', '/x').headers['x-microtime']))
  t.same(times, [now, now + 1, now + 2], 'a frozen clock still gives increasing times')
  now += 1000
  t.equal(Number(api.sign('GET', '/x').headers['x-microtime']), now, 'the clock wins once it is ahead')
  now -= 5000
  t.equal(Number(api.sign('GET', '/x').headers['x-microtime']), now + 5001, 'a clock stepping back never repeats a time')
  const a = api.sign('GET', '/x')
  const b = api.sign('GET', '/x')
  t.not(a.headers['auth-signature'], b.headers['auth-signature'], 'two identical requests never share a signature')
})

t.test('a base URL with a path prefix signs the full request-line target', async t => {
  const api = new SignedApiClient({ baseUrl: 'https://example.test/api/', credentials: { username: 'alice', keyId: 'k1', signingKey: 'key' }, now: () => 1000 })
  const signed = api.sign('GET', '/v1/notes?limit=1')
  t.equal(signed.target, '/api/v1/notes?limit=1')
  t.match(signed.canonical.toString('utf8'), /\nGET\n\/api\/v1\/notes\?limit=1\n$/)
})
