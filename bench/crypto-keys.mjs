/**
 * What the kind of key given to node:crypto costs per call: createHmac and
 * createCipheriv with a Buffer key, a KeyObject (createSecretKey) and, for
 * the HMAC, a string. On Node 24 a Buffer key is several times slower (Node
 * finds out that it is not a KeyObject by catching an error); this is why
 * the keyring's secrets go to node:crypto as KeyObjects (src/auth/keys.ts,
 * secretKeyOf). Run it on each Node to compare:
 *
 *   node bench/crypto-keys.mjs
 */
import { createCipheriv, createHmac, createSecretKey, randomBytes } from 'node:crypto'

const N = Number(process.env.CRYPTO_KEYS_N ?? 200_000)
const secret = randomBytes(32)
const keyObject = createSecretKey(secret)
const text = secret.toString('base64url')
const iv = randomBytes(12)
const line = 'HMAC-SHA256-V1\nalice\nk1\n1700000000000000\nGET\n/auth/whoami\n'

function time (fn) {
  for (let i = 0; i < N / 10; i++) fn() // warm-up
  const t0 = performance.now()
  for (let i = 0; i < N; i++) fn()
  return ((performance.now() - t0) * 1000) / N
}

const rows = [
  ['createHmac, Buffer key', () => createHmac('sha256', secret).update(line).digest('hex')],
  ['createHmac, KeyObject key', () => createHmac('sha256', keyObject).update(line).digest('hex')],
  ['createHmac, string key', () => createHmac('sha256', text).update(line).digest('hex')],
  ['createCipheriv aes-256-gcm, Buffer key', () => { const c = createCipheriv('aes-256-gcm', secret, iv); c.update(line); c.final(); c.getAuthTag() }],
  ['createCipheriv aes-256-gcm, KeyObject key', () => { const c = createCipheriv('aes-256-gcm', keyObject, iv); c.update(line); c.final(); c.getAuthTag() }]
]
console.log(`Node ${process.version}, ${N} calls each (µs per call, wall clock; compare within one run)`)
for (const [name, fn] of rows) console.log(`${name.padEnd(44)} ${time(fn).toFixed(2)}`)
