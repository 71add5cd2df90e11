/**
 * The published test vectors (test/fixtures/vectors.json) against the
 * server's pure protocol core, and against two implementations that are not
 * the project's: Python's hmac and `openssl dgst`.
 */
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { canonicalBytes, signCanonical } from '../../src/auth/canonical.js'
import { deriveKey, parseKeyId, type Keyring } from '../../src/auth/keys.js'
import { checkHead, checkSignature, KeyCache, type VerifyContext } from '../../src/auth/verify.js'

interface Positive { name: string, key: string, username: string, keyId: string, time: string, method: string, target: string, bodyHex: string, canonicalHex: string, signature: string }
interface Negative { name: string, expect: string, method: string, target: string, bodyHex: string, headers: Record<string, string | null> }
const vectorsPath = new URL('../fixtures/vectors.json', import.meta.url)
const vectors = JSON.parse(readFileSync(vectorsPath, 'utf8')) as {
  serverNow: number
  server: { keyringSecretBase64url: string, keyringVersion: number, audience: string, clockSkewMs: number }
  positive: Positive[]
  negative: Negative[]
}

const secret = Buffer.from(vectors.server.keyringSecretBase64url, 'base64url')
const keyring: Keyring = { current: vectors.server.keyringVersion, secrets: new Map([[vectors.server.keyringVersion, secret]]) }
const ctx: VerifyContext = { keyring, audience: vectors.server.audience, clockSkewMs: vectors.server.clockSkewMs, bodyTimeoutMs: 30_000, keyTtlMs: 21_600_000, sessionMaxMs: 604_800_000 }

t.test('the vector file covers what the protocol lists', async t => {
  const names = vectors.positive.map(v => v.name)
  for (const n of ['percent-escapes', 'plus-in-query', 'unicode-body', 'empty-body-post', 'binary-body', 'head', 'client-key']) t.ok(names.includes(n), n)
  for (const h of ['auth-username', 'auth-key-id', 'x-microtime', 'auth-signature']) {
    t.ok(vectors.negative.some(v => v.expect === 'AUTH_MISSING' && v.headers[h] === null), `missing ${h}`)
    t.ok(vectors.negative.filter(v => v.expect === 'AUTH_MALFORMED' && v.headers[h] !== undefined).length >= 2, `malformed ${h}`)
  }
})

t.test('positive vectors: canonical bytes, signature, key derivation and the full server check', async t => {
  for (const v of vectors.positive) {
    const body = Buffer.from(v.bodyHex, 'hex')
    const canonical = canonicalBytes({ username: v.username, keyId: v.keyId, time: v.time, method: v.method, target: v.target }, body)
    t.equal(canonical.toString('hex'), v.canonicalHex, `${v.name}: canonical bytes`)
    t.equal(signCanonical(v.key, canonical), v.signature, `${v.name}: signature`)
    const fields = parseKeyId(v.keyId)
    t.ok(fields, `${v.name}: key id parses`)
    if (fields === null) continue
    t.equal(deriveKey(secret, vectors.server.audience, fields.kind, v.username, v.keyId), v.key, `${v.name}: key derives from the keyring`)
    const head = checkHead({ 'auth-username': v.username, 'auth-key-id': v.keyId, 'x-microtime': v.time, 'auth-signature': v.signature }, vectors.serverNow, ctx)
    t.ok(head.ok, `${v.name}: head checks pass`)
    if (!head.ok) continue
    const sig = checkSignature(head.auth, head.fields, v.method, v.target, body, ctx)
    t.ok(sig.ok, `${v.name}: signature check passes`)
  }
})

t.test('negative vectors: each gives its code', async t => {
  for (const v of vectors.negative) {
    const headers: Record<string, string> = {}
    for (const [k, value] of Object.entries(v.headers)) if (value !== null) headers[k] = value
    const head = checkHead(headers, vectors.serverNow, ctx)
    let code: string
    if (!head.ok) code = head.code
    else {
      const sig = checkSignature(head.auth, head.fields, v.method, v.target, Buffer.from(v.bodyHex, 'hex'), ctx)
      code = sig.ok ? 'OK' : sig.code
    }
    t.equal(code, v.expect, v.name)
  }
})

t.test('the audience binds a key to one deployment', async t => {
  const v = vectors.positive[0] as Positive
  const fields = parseKeyId(v.keyId)
  if (fields === null) throw new Error('unparsable vector key id')
  t.not(deriveKey(secret, 'production', fields.kind, v.username, v.keyId), v.key)
  const other = { ...ctx, audience: 'production' }
  const head = checkHead({ 'auth-username': v.username, 'auth-key-id': v.keyId, 'x-microtime': v.time, 'auth-signature': v.signature }, vectors.serverNow, other)
  if (!head.ok) throw new Error('head should pass')
  const sig = checkSignature(head.auth, head.fields, v.method, v.target, Buffer.alloc(0), other)
  t.equal(sig.ok, false)
})

// python3 and openssl are required (the Makefile installs them): no silent skip.
t.test('Python hmac reproduces every positive vector from the fields alone', async t => {
  const script = `
import hashlib, hmac, json, sys
doc = json.load(open(sys.argv[1]))
for v in doc["positive"]:
    head = "\\n".join(["HMAC-SHA256-V1", v["username"], v["keyId"], v["time"], v["method"], v["target"]]) + "\\n"
    msg = head.encode("ascii") + bytes.fromhex(v["bodyHex"])
    print(v["name"], msg.hex() == v["canonicalHex"], hmac.new(v["key"].encode("utf-8"), msg, hashlib.sha256).hexdigest())
`
  const out = execFileSync('python3', ['-c', script, vectorsPath.pathname], { encoding: 'utf8' }).trim().split('\n')
  t.equal(out.length, vectors.positive.length)
  for (const [i, line] of out.entries()) {
    const v = vectors.positive[i] as Positive
    t.equal(line, `${v.name} True ${v.signature}`, v.name)
  }
})

t.test('openssl dgst -hmac reproduces every positive vector', async t => {
  for (const v of vectors.positive) {
    const out = execFileSync('openssl', ['dgst', '-sha256', '-hmac', v.key, '-r'], { input: Buffer.from(v.canonicalHex, 'hex'), encoding: 'utf8' })
    t.equal(out.split(' ')[0], v.signature, v.name)
  }
})

t.test('the derived-key cache fills only after a signature holds, and is bounded', async t => {
  const cache = new KeyCache(2)
  const cached = { ...ctx, keyCache: cache }
  const v = vectors.positive[0] as Positive
  const headers = { 'auth-username': v.username, 'auth-key-id': v.keyId, 'x-microtime': v.time, 'auth-signature': v.signature }
  const head = checkHead({ ...headers, 'auth-signature': 'f'.repeat(64) }, vectors.serverNow, cached)
  if (!head.ok) throw new Error('head should pass')
  t.equal(checkSignature(head.auth, head.fields, v.method, v.target, Buffer.alloc(0), cached).ok, false)
  t.equal(cache.size, 0, 'a forged signature caches nothing')
  const good = checkHead(headers, vectors.serverNow, cached)
  if (!good.ok) throw new Error('head should pass')
  t.equal(checkSignature(good.auth, good.fields, v.method, v.target, Buffer.alloc(0), cached).ok, true)
  t.equal(cache.size, 1)
  t.equal(cache.get(v.keyId, v.username)?.key.toString(), v.key)
  t.equal(cache.get(v.keyId, `${v.username}x`), undefined, 'an entry answers only for the principal it was verified with')
  // The holder of that key signs as someone else, naming its own (cached) key id: the cache must not lend the key.
  const impostor = `${v.username}x`
  const forged = signCanonical(v.key, canonicalBytes({ username: impostor, keyId: v.keyId, time: v.time, method: v.method, target: v.target }, Buffer.alloc(0)))
  const other = checkHead({ ...headers, 'auth-username': impostor, 'auth-signature': forged }, vectors.serverNow, cached)
  if (!other.ok) throw new Error('head should pass')
  t.equal(checkSignature(other.auth, other.fields, v.method, v.target, Buffer.alloc(0), cached).ok, false, 'a cached key id signed for another principal with its key is refused')
  t.equal(checkSignature(good.auth, good.fields, v.method, v.target, Buffer.alloc(0), cached).ok, true, 'verifies from the cache')
  t.equal(checkSignature(good.auth, good.fields, 'POST', v.target, Buffer.alloc(0), cached).ok, false, 'a cached key still checks the signature')
  const entry = cache.get(v.keyId, v.username)
  if (entry === undefined) throw new Error('cached')
  cache.set('a', entry); cache.set('b', entry)
  t.equal(cache.size, 2, 'bounded')
  t.equal(cache.get(v.keyId, v.username), undefined, 'the oldest entry went first')
})
