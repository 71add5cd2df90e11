/**
 * The CLI: `verify` and `request --dry-run --print-canonical` on the
 * published vectors (in-process), every bad argument as a real process
 * (exit 2, one line, no stack), and a session against a live server.
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { run, type Io } from '../../src/cli/run.js'
import { ROOT, randomName, signatureCases, startLiveServer, vectors } from './live-server.js'

interface Result { code: number, stdout: string, stderr: string }

async function cli (argv: string[], env: Record<string, string> = {}, stdin = ''): Promise<Result> {
  let stdout = ''
  let stderr = ''
  const io: Io = {
    stdout: c => { stdout += typeof c === 'string' ? c : Buffer.from(c).toString('utf8') },
    stderr: c => { stderr += typeof c === 'string' ? c : Buffer.from(c).toString('utf8') },
    readStdin: async () => Buffer.from(stdin, 'utf8'),
    prompt: async () => null,
    env
  }
  const code = await run(argv, io)
  return { code, stdout, stderr }
}

/** The real entry point as a child process, stdin closed, bounded in time. */
async function spawnCli (argv: string[], env: Record<string, string> = {}, stdin?: string): Promise<Result> {
  return await new Promise(resolve => {
    const child = execFile(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...argv], {
      cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOME: '/nonexistent-home', ...env }, timeout: 30_000, encoding: 'utf8'
    }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr })
    })
    child.stdin?.end(stdin ?? '')
  })
}

function scratch (t: { teardown (fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'signed-api-cli-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

t.test('request --dry-run --print-canonical shows exactly the vector bytes and signature', async t => {
  const dir = scratch(t)
  for (const v of vectors.positive) {
    const creds = join(dir, `${v.name}.json`)
    writeFileSync(creds, JSON.stringify({ baseUrl: 'https://127.0.0.1:8443', username: v.username, keyId: v.keyId, signingKey: v.key, expiresAt: null }), { mode: 0o600 })
    const bodyFile = join(dir, `${v.name}.body`)
    writeFileSync(bodyFile, Buffer.from(v.bodyHex, 'hex'))
    const res = await cli(['--credentials', creds, 'request', v.method, v.target, '--time', v.time, '--dry-run', '--print-canonical', ...(v.bodyHex === '' ? [] : ['--data', `@${bodyFile}`])])
    t.equal(res.code, 0, `${v.name}: exit 0`)
    t.equal(/^hex: ([0-9a-f]+)$/m.exec(res.stderr)?.[1], v.canonicalHex, `${v.name}: printed canonical bytes`)
    t.equal(/^Auth-Signature: ([0-9a-f]{64})$/m.exec(res.stdout)?.[1], v.signature, `${v.name}: signature`)
    t.match(res.stderr, `  6 ${v.target}\n`, `${v.name}: the target line as signed`)
    t.notOk(res.stdout.includes(v.key) || res.stderr.includes(v.key), `${v.name}: the key is never printed`)
  }
})

t.test('verify: positive vectors match, signature-mismatch vectors do not', async t => {
  const dir = scratch(t)
  const check = async (name: string, f: { key: string, username: string, keyId: string, time: string, method: string, target: string, bodyHex: string, signature: string }): Promise<Result> => {
    const keyFile = join(dir, `${name}.key`)
    writeFileSync(keyFile, `${f.key}\n`, { mode: 0o600 })
    const bodyFile = join(dir, `${name}.body`)
    writeFileSync(bodyFile, Buffer.from(f.bodyHex, 'hex'))
    return await cli(['verify', f.method, f.target, '--time', f.time, '--signature', f.signature, '--username', f.username, '--key-id', f.keyId, '--key-file', keyFile, '--data', `@${bodyFile}`, '--credentials', join(dir, 'none.json')])
  }
  for (const v of vectors.positive) {
    const res = await check(v.name, v)
    t.equal(res.code, 0, `${v.name}: exit 0`)
    t.equal(res.stdout, 'OK: the signature matches\n', v.name)
  }
  for (const c of signatureCases()) {
    const res = await check(c.name, c)
    if (c.expect === 'AUTH_BAD_SIGNATURE') {
      t.equal(res.code, 1, `${c.name}: exit 1`)
      t.match(res.stdout, /^MISMATCH: got [0-9a-f]{64}, but this key signs this request as [0-9a-f]{64}\n$/, c.name)
      t.match(res.stderr, /^hex: [0-9a-f]+$/m, `${c.name}: shows what it signed`)
    } else {
      t.equal(res.code, 0, `${c.name}: the signature is right (the server refuses only the time)`)
    }
    t.notOk(res.stdout.includes(c.key) || res.stderr.includes(c.key), `${c.name}: the key is never printed`)
  }
  const v = vectors.positive[0] as (typeof vectors.positive)[number]
  const upper = await check('upper', { ...v, signature: v.signature.toUpperCase() })
  t.equal(upper.code, 1)
  t.match(upper.stdout, /^MALFORMED: Auth-Signature must be exactly 64 lowercase hex chars/)
  const viaEnv = await cli(['verify', v.method, v.target, '--time', v.time, '--signature', v.signature, '--username', v.username, '--key-id', v.keyId, '--credentials', join(dir, 'none.json')], { SIGNED_API_KEY: v.key })
  t.equal(viaEnv.code, 0, 'the key may come from SIGNED_API_KEY')
})

t.test('every bad argument: exit 2, one line on stderr, no stack', async t => {
  const dir = scratch(t)
  const creds = join(dir, 'creds.json')
  writeFileSync(creds, JSON.stringify({ baseUrl: 'https://127.0.0.1:9', username: 'alice', keyId: 'k1', signingKey: 'secret-key-value', expiresAt: null }), { mode: 0o600 })
  const garbled = join(dir, 'garbled.json')
  writeFileSync(garbled, '{not json', { mode: 0o600 })
  const C = ['--credentials', creds]
  const cases: Array<[string, string[], RegExp, Record<string, string>?, string?]> = [
    ['no command', [], /missing command/],
    ['unknown command', ['frob'], /unknown command "frob"/],
    ['a command named like an Object property', ['constructor'], /unknown command "constructor"/],
    ['toString as a command', ['toString'], /unknown command "toString"/],
    ['__proto__ as a command', ['__proto__'], /unknown command "__proto__"/],
    ['request without arguments', ['request'], /missing METHOD TARGET/],
    ['request without target', ['request', 'GET'], /missing TARGET/],
    ['extra argument', ['request', 'GET', '/x', 'extra'], /unexpected argument "extra"/],
    ['bad method', ['request', 'G/T', '/x'], /METHOD must be/],
    ['URL as target', ['request', 'GET', 'https://h/x'], /not a URL/],
    ['space in target', ['request', 'GET', '/a b'], /0x21\.\.0x7E/],
    ['unknown option', ['request', 'GET', '/x', '--bogus'], /unknown option --bogus/],
    ['option without value', ['request', 'POST', '/x', '--data'], /--data needs a value/],
    ['inline data not JSON', [...C, 'request', 'POST', '/x', '--data', '{bad'], /--data is not valid JSON/],
    ['data file missing', [...C, 'request', 'POST', '/x', '--data', '@/nonexistent/body.json'], /cannot read --data file/],
    ['--time without --dry-run', [...C, 'request', 'GET', '/x', '--time', '12'], /--time needs --dry-run/],
    ['--time not digits', [...C, 'request', 'GET', '/x', '--dry-run', '--time', '12.5'], /--time must be Unix milliseconds/],
    ['option given twice', ['request', 'GET', '/x', '--time', '1', '--time', '2'], /--time is given twice/],
    ['flag with a value', ['request', 'GET', '/x', '--dry-run=yes'], /--dry-run takes no value/],
    ['not logged in', ['--credentials', join(dir, 'absent.json'), 'whoami'], /not logged in/],
    ['garbled credentials', ['--credentials', garbled, 'whoami'], /is not valid JSON/],
    ['CA file missing', [...C, '--ca', '/nonexistent/ca.pem', 'whoami'], /cannot read CA file/],
    ['CA file not PEM', [...C, '--ca', creds, 'whoami'], /holds no PEM certificate/],
    ['base URL not http', [...C, '--base-url', 'ftp://x', 'whoami'], /base URL must be https/],
    ['base URL garbage', [...C, 'whoami'], /not a URL/, { SIGNED_API_URL: 'not a url' }],
    ['login without username', ['login'], /missing USERNAME/],
    ['login with a bad username', ['login', 'Bad Name'], /USERNAME must be/],
    ['login without a password', [...C, 'login', 'alice'], /no password/],
    ['empty --password-stdin', [...C, 'login', 'alice', '--password-stdin'], /stdin was empty/, {}, ''],
    ['whoami takes no --data', ['whoami', '--data', '{}'], /unknown option --data/],
    ['verify without --time', ['verify', 'GET', '/x'], /--time MS is required/],
    ['verify without --signature', ['verify', 'GET', '/x', '--time', '1'], /--signature HEX is required/],
    ['verify without a key', ['--credentials', join(dir, 'absent.json'), 'verify', 'GET', '/x', '--time', '1', '--signature', 'a'.repeat(64)], /verify needs --username/],
    ['refresh with a client key', ['--credentials', join(dir, 'client.json'), 'refresh'], /refresh is for user keys/],
    ['the CA stored at login is gone', ['--credentials', join(dir, 'gone-ca.json'), 'whoami'], /cannot read CA file \/nonexistent\/dev-cert\.pem \(stored with the key at login; pass --ca FILE\)/]
  ]
  writeFileSync(join(dir, 'client.json'), JSON.stringify({ baseUrl: 'https://127.0.0.1:9', username: 'app:ios', keyId: 'k1', signingKey: 'secret-key-value', expiresAt: null }), { mode: 0o600 })
  writeFileSync(join(dir, 'gone-ca.json'), JSON.stringify({ baseUrl: 'https://127.0.0.1:9', ca: '/nonexistent/dev-cert.pem', username: 'alice', keyId: 'k1', signingKey: 'secret-key-value', expiresAt: null }), { mode: 0o600 })
  // Six processes at a time: each is a Node with tsx.
  const results: Result[] = []
  for (let i = 0; i < cases.length; i += 6) {
    results.push(...await Promise.all(cases.slice(i, i + 6).map(async ([, argv, , env, stdin]) => await spawnCli(argv, env, stdin))))
  }
  for (const [i, [label, , pattern]] of cases.entries()) {
    const res = results[i] as Result
    t.equal(res.code, 2, `${label}: exit 2`)
    t.equal(res.stdout, '', `${label}: nothing on stdout`)
    t.match(res.stderr, /^signed-api: [^\n]+\n$/, `${label}: one line`)
    t.match(res.stderr, pattern, `${label}: says why`)
    t.notMatch(res.stderr, /\n\s+at |secret-key-value/, `${label}: no stack, no key`)
  }
  const help = await spawnCli(['--help'])
  t.equal(help.code, 0)
  t.match(help.stdout, /usage: signed-api/)
})

t.test('a session against a live server', async t => {
  const server = await startLiveServer(t)
  const dir = scratch(t)
  const creds = join(dir, 'conf', 'signed-api', 'credentials.json')
  // The CA is named at signup and login only (relative to the working directory at login); later commands find it stored with the key.
  const env = { SIGNED_API_URL: server.url, SIGNED_API_CREDENTIALS: creds, SIGNED_API_PASSWORD: 'correct horse battery staple' }
  const user = randomName('carol')

  t.equal((await cli(['signup', user], { ...env, SIGNED_API_CA: server.caFile })).code, 0, 'signup')
  const login = await cli(['--ca', relative(process.cwd(), server.caFile), 'login', user], env)
  t.equal(login.code, 0, 'login')
  t.equal(statSync(creds).mode & 0o777, 0o600, 'the key file is 0600')
  t.equal(statSync(join(dir, 'conf', 'signed-api')).mode & 0o777, 0o700, 'in a 0700 directory')
  const stored = JSON.parse(readFileSync(creds, 'utf8')) as { signingKey: string, keyId: string, baseUrl: string, ca: string }
  t.equal(stored.baseUrl, server.url)
  t.equal(stored.ca, server.caFile, 'the CA file is stored with the key, as an absolute path')
  t.notOk(login.stdout.includes(stored.signingKey) || login.stderr.includes(stored.signingKey), 'login never prints the key')

  const who = await cli(['whoami'], env)
  t.equal(who.code, 0)
  t.equal(who.stderr, 'HTTP 200\n')
  t.match(JSON.parse(who.stdout), { username: user, kind: 'user', keyId: stored.keyId })

  const printed = await cli(['request', 'get', '/auth/whoami?a=%2F', '--print-canonical', '-i'], env)
  t.equal(printed.code, 0)
  t.match(printed.stderr, /^  5 GET\n  6 \/auth\/whoami\?a=%2F\n/m, 'the canonical lines as signed')
  t.match(printed.stderr, /^x-server-time: \d+$/m, '-i shows the headers')
  t.notOk(printed.stderr.includes(stored.signingKey), '--print-canonical never shows the key')

  // The base URL is taken from the stored key when no option or env names one.
  const noUrl = await cli(['whoami'], { ...env, SIGNED_API_URL: '' })
  t.equal(noUrl.code, 0, 'the stored base URL is used')

  writeFileSync(creds, JSON.stringify({ ...stored, signingKey: `${stored.signingKey}x` }), { mode: 0o600 })
  const tampered = await cli(['whoami'], env)
  t.equal(tampered.code, 1, 'a wrong key: exit 1')
  t.equal(JSON.parse(tampered.stdout).code, 'AUTH_BAD_SIGNATURE')
  t.match(tampered.stderr, /^HTTP 401 AUTH_BAD_SIGNATURE\n/)
  writeFileSync(creds, JSON.stringify(stored), { mode: 0o600 })

  const refreshed = await cli(['refresh'], env)
  t.equal(refreshed.code, 0, 'refresh')
  const after = JSON.parse(readFileSync(creds, 'utf8')) as { keyId: string, ca: string }
  t.not(after.keyId, stored.keyId, 'the refreshed key is stored')
  t.equal(after.ca, server.caFile, 'with the CA still beside it')
  t.equal(statSync(creds).mode & 0o777, 0o600, 'still 0600')

  const created = await cli(['request', 'POST', '/v1/notes', '--data', '{"title":"From the CLI","body":"é\\n☕"}'], env)
  t.equal(created.code, 0, `create a note: ${created.stderr.trim()}`)
  if (created.code === 0) {
    const note = JSON.parse(created.stdout) as { id: string }
    const read = await cli(['request', 'GET', `/v1/notes/${note.id}`], env)
    t.equal(read.code, 0)
    t.match(JSON.parse(read.stdout), { id: note.id, title: 'From the CLI', body: 'é\n☕' })
  }

  const out = await cli(['logout'], env)
  t.equal(out.code, 0, 'logout')
  t.notOk(existsSync(creds), 'the key file is gone')
  writeFileSync(creds, JSON.stringify(after), { mode: 0o600 })
  const revoked = await cli(['whoami'], env)
  t.equal(revoked.code, 1)
  t.equal(JSON.parse(revoked.stdout).code, 'AUTH_KEY_REVOKED')
  t.match(revoked.stderr, /run signed-api login/)

  const piped = await spawnCli(['request', 'POST', '/auth/refresh', '--data', '@-', '--dry-run', '--print-canonical'], env, '{"x":1}')
  t.equal(piped.code, 0, '--data @- reads stdin')
  t.match(piped.stderr, /body: 7 bytes/)
})

/** `make ARGS` in `dir`, dry run only (-n prints the commands without running them). */
async function makeDry (dir: string, args: string[]): Promise<Result> {
  return await new Promise(resolve => {
    execFile('make', ['--no-print-directory', '-n', ...args], { cwd: dir, env: { PATH: process.env.PATH ?? '', HOME: dir }, timeout: 30_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr })
    })
  })
}

t.test('make cli compiles only when a source changed, and make help lists it', async t => {
  const help = await makeDry(ROOT, ['help'])
  t.match(help.stdout, /echo "make cli ARGS=/, 'make help names make cli')
  // A copy of what the build reads, with a compiled CLI newer than every source and an installed stamp.
  const dir = scratch(t)
  for (const name of ['Makefile', '.node-version', 'package.json', 'package-lock.json', 'tsconfig.json', 'src']) cpSync(join(ROOT, name), join(dir, name), { recursive: true })
  const past = new Date(Date.now() - 3600_000)
  const walk = (p: string): void => {
    utimesSync(p, past, past)
    if (statSync(p).isDirectory()) for (const e of readdirSync(p)) walk(join(p, e))
  }
  for (const name of ['package.json', 'package-lock.json', 'tsconfig.json', 'src']) walk(join(dir, name))
  mkdirSync(join(dir, 'node_modules'))
  writeFileSync(join(dir, 'node_modules/.installed-stamp'), '')
  mkdirSync(join(dir, 'dist/src/cli'), { recursive: true })
  writeFileSync(join(dir, 'dist/src/cli/main.js'), '')

  const fresh = await makeDry(dir, ['cli', 'ARGS=--help'])
  t.equal(fresh.code, 0, fresh.stderr)
  t.notMatch(fresh.stdout, /tsc/, 'nothing changed: no compile')
  t.match(fresh.stdout, /^node dist\/src\/cli\/main\.js --help$/m, 'the CLI runs from dist')

  for (const changed of ['src/cli/run.ts', 'src/sdk/client.ts', 'tsconfig.json']) {
    const res = await makeDry(dir, ['-W', changed, 'cli', 'ARGS=--help'])
    t.match(res.stdout, /^npx tsc -p tsconfig\.json$/m, `${changed} changed: compiled again`)
  }
  const web = await makeDry(dir, ['-W', 'src/web/client/app.ts', 'cli'])
  t.notMatch(web.stdout, /tsc/, 'the browser script is not part of the CLI')
})
