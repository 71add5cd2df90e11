/** Password hashing (src/auth/passwords.ts): Argon2id, the former scrypt format, the dummy for unknown users. */
import t from 'tap'
import { hash as argon2Hash, parseOptions, verify as argon2Verify } from '@node-rs/argon2'
import { ARGON2_MINIMUM, DEFAULT_ARGON2, createPasswordHasher, legacyScryptHash, type Argon2Engine, type Argon2Params } from '../../src/auth/passwords.js'

const CHEAP: Argon2Params = { memoryCost: 64, timeCost: 1, parallelism: 1 }

/** The real engine, with every verification it is asked for written down (the stored hash and how it ended). */
function recordingEngine (): Argon2Engine & { verified: Array<{ hashed: string, outcome: boolean | 'threw' }> } {
  const engine = {
    verified: [] as Array<{ hashed: string, outcome: boolean | 'threw' }>,
    hash: async (password: string, options: Parameters<Argon2Engine['hash']>[1]) => await argon2Hash(password, options),
    async verify (hashed: string, password: string) {
      try {
        const outcome = await argon2Verify(hashed, password)
        engine.verified.push({ hashed, outcome })
        return outcome
      } catch (err) {
        engine.verified.push({ hashed, outcome: 'threw' })
        throw err
      }
    }
  }
  return engine
}

const paramsOf = (hashed: string): Argon2Params => {
  const o = parseOptions(hashed)
  return { memoryCost: o.memoryCost, timeCost: o.timeCost, parallelism: o.parallelism }
}

t.test('new hashes are Argon2id PHC strings with the given parameters; NFC; salted', async t => {
  const h = createPasswordHasher(CHEAP)
  const stored = await h.hash('cafe\u0301 password')
  t.match(stored, /^\$argon2id\$v=19\$m=64,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/)
  t.equal(await h.verify('caf\u00e9 password', stored), true, 'composed and decomposed forms are one password')
  t.equal(await h.verify('cafe password', stored), false)
  t.not(await h.hash('same'), await h.hash('same'), 'salted')
  t.equal(h.needsRehash(stored), false, 'a hash with the current parameters needs nothing')
  t.equal(createPasswordHasher({ ...CHEAP, timeCost: 2 }).needsRehash(stored), true, 'another cost: rehash')
})

t.test('the server\'s parameters: Argon2id at or above OWASP\'s minimum (19 MiB, t=2, p=1)', async t => {
  t.ok(DEFAULT_ARGON2.memoryCost >= ARGON2_MINIMUM.memoryCost, 'memory')
  t.ok(DEFAULT_ARGON2.timeCost >= ARGON2_MINIMUM.timeCost, 'passes')
  t.ok(DEFAULT_ARGON2.parallelism >= 1, 'lanes')
  t.strictSame(ARGON2_MINIMUM, { memoryCost: 19 * 1024, timeCost: 2, parallelism: 1 })
  // One hash at the real cost (the app's default hasher): its PHC string carries exactly these parameters.
  const stored = await createPasswordHasher().hash('correct horse battery')
  t.equal(parseOptions(stored).algorithm, 2, 'Argon2id')
  t.strictSame(paramsOf(stored), DEFAULT_ARGON2)
})

t.test('hashes of the former scrypt format still verify, and ask to be replaced', async t => {
  const h = createPasswordHasher(CHEAP)
  const old = await legacyScryptHash('cafe\u0301 password', { logN: 10, r: 8, p: 1 })
  t.match(old, /^scrypt\$ln=10,r=8,p=1\$/)
  t.equal(await h.verify('caf\u00e9 password', old), true)
  t.equal(await h.verify('cafe password', old), false)
  t.equal(h.needsRehash(old), true)
})

t.test('a malformed, foreign or outsized stored hash is simply false, and never reaches the hashing library when it is outsized', async t => {
  const engine = recordingEngine()
  const h = createPasswordHasher(CHEAP, engine)
  const good = await h.hash('a password')
  const [, , , params, salt, digest] = good.split('$') as [string, string, string, string, string, string]
  const malformed = [
    '',
    'not a hash',
    'bcrypt$2b$10$abc',
    '$2b$10$nOUIs5kJ7naTuTFkBy1veuK0kSxUFXfuaOKdOKf9xYT0KKIGSJwFa',
    '$argon2id$garbage',
    `$argon2id$v=19$${params}$${salt}`,
    `$argon2id$v=19$${params}$${salt}$${digest.slice(0, 10)}`,
    `$argon2id$v=19$${params}$!!!!$${digest}`,
    `$argon2i$v=19$${params}$${salt}$${digest}`,
    `$argon2d$v=19$${params}$${salt}$${digest}`,
    `${good}x`,
    'scrypt$ln=10,r=8,p=1$short$short',
    'scrypt$ln=10,r=8,p=1$%%%%%%%%%%%%%%%%%%%%$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'
  ]
  for (const stored of malformed) t.equal(await h.verify('a password', stored), false, JSON.stringify(stored))
  const before = engine.verified.length
  const outsized = [
    `$argon2id$v=19$m=4194304,t=1,p=1$${salt}$${digest}`,
    `$argon2id$v=19$m=64,t=100000,p=1$${salt}$${digest}`,
    `$argon2id$v=19$m=4096,t=1,p=255$${salt}$${digest}`
  ]
  for (const stored of outsized) t.equal(await h.verify('a password', stored), false, stored)
  t.equal(engine.verified.length, before, 'outsized Argon2id parameters are refused before any work')
  const scrypt = await legacyScryptHash('a password', { logN: 10, r: 8, p: 1 })
  for (const stored of [scrypt.replace('ln=10', 'ln=40'), scrypt.replace('ln=10', 'ln=21'), scrypt.replace('r=8', 'r=99'), scrypt.replace('p=1', 'p=99')]) {
    t.equal(await h.verify('a password', stored), false, stored)
  }
  t.equal(await h.verify('a password', good), true, 'the good one still verifies')
})

t.test('a 256-character password (astral characters: 1 KiB of UTF-8) hashes and verifies', async t => {
  const h = createPasswordHasher(CHEAP)
  const long = '\u{1D11E}'.repeat(256)
  const stored = await h.hash(long)
  t.equal(await h.verify(long, stored), true)
  t.equal(await h.verify(`${long.slice(0, -2)}x`, stored), false, 'the last character counts')
})

t.test('an unknown user\'s dummy verification is the same verification, of a hash with the current parameters', async t => {
  // For the cheap test cost, a second cost, and the server's own: after any change of cost the dummy follows.
  for (const params of [CHEAP, { memoryCost: 256, timeCost: 2, parallelism: 2 }, DEFAULT_ARGON2]) {
    const engine = recordingEngine()
    const h = createPasswordHasher(params, engine)
    const real = await h.hash('the real password')
    t.equal(await h.verify('a wrong guess', real), false)
    t.equal(await h.verifyDummy('a wrong guess'), false)
    t.equal(engine.verified.length, 2, 'both went to the library\'s verify, once each')
    const [known, unknown] = engine.verified as [{ hashed: string, outcome: boolean | 'threw' }, { hashed: string, outcome: boolean | 'threw' }]
    t.equal(known.hashed, real)
    t.equal(unknown.outcome, false, 'the dummy hash is a well-formed hash: the library computed it and said no')
    t.strictSame(parseOptions(unknown.hashed), parseOptions(known.hashed), `${JSON.stringify(params)}: algorithm, version, costs, salt and digest lengths all equal`)
    t.strictSame(paramsOf(unknown.hashed), params)
  }
})
