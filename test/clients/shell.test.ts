/**
 * The shell client (src/clients/shell/signed-api.sh, curl + openssl): the
 * published vectors through its `sign` command, then a live server: signup,
 * login, whoami, a tampered request refused with AUTH_BAD_SIGNATURE, the
 * AUTH_STALE and AUTH_REPLAY re-signs (a `date` on PATH that lies), a note.
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { exportedCredentials, ROOT, randomName, signatureCases, startLiveServer, vectors } from './live-server.js'

const SCRIPT = join(ROOT, 'src/clients/shell/signed-api.sh')

interface Result { code: number, stdout: string, stderr: string }

async function sh (args: string[], env: Record<string, string>, path = process.env.PATH ?? ''): Promise<Result> {
  return await new Promise(resolve => {
    execFile(SCRIPT, args, { env: { PATH: path, ...env }, timeout: 30_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr })
    })
  })
}

function scratch (t: { teardown (fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'signed-api-sh-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

const keyEnv = (v: { username: string, keyId: string, key: string }): Record<string, string> =>
  ({ SIGNED_API_USERNAME: v.username, SIGNED_API_KEY_ID: v.keyId, SIGNED_API_KEY: v.key })

t.test('sign: every positive vector, and the mismatch vectors differ', async t => {
  const dir = scratch(t)
  const signFor = async (name: string, v: { username: string, keyId: string, key: string, method: string, target: string, time: string, bodyHex: string }): Promise<Result> => {
    const body = join(dir, `${name}.body`)
    writeFileSync(body, Buffer.from(v.bodyHex, 'hex'))
    return await sh(['sign', v.method, v.target, v.time, `@${body}`], keyEnv(v))
  }
  for (const v of vectors.positive) {
    const res = await signFor(v.name, v)
    t.equal(res.code, 0, `${v.name}: exit 0 ${res.stderr}`)
    t.equal(res.stdout, `${v.signature}\n`, `${v.name}: signature`)
  }
  for (const c of signatureCases()) {
    const res = await signFor(c.name, c)
    t.match(res.stdout, /^[0-9a-f]{64}\n$/, `${c.name}: a signature`)
    if (c.expect === 'AUTH_BAD_SIGNATURE') t.not(res.stdout.trim(), c.signature, `${c.name}: mismatch`)
    else t.equal(res.stdout.trim(), c.signature, `${c.name}: right signature, stale time`)
  }
  const inline = vectors.positive.find(v => v.name === 'unicode-body')
  if (inline === undefined) throw new Error('unicode-body vector missing')
  const res = await sh(['sign', inline.method, inline.target, inline.time, Buffer.from(inline.bodyHex, 'hex').toString('utf8')], keyEnv(inline))
  t.equal(res.stdout, `${inline.signature}\n`, 'an inline body is signed as its UTF-8 bytes')
  const usage = await sh([], {})
  t.equal(usage.code, 2, 'no command: usage, exit 2')
  t.match(usage.stderr, /signed-api\.sh request METHOD TARGET/)
  t.match(usage.stderr, /Exit: 0 a 2xx answer, 1 a 4xx or 5xx answer/, 'the usage text names the exit codes')
})

t.test('the shell client against a live HTTPS server', async t => {
  const server = await startLiveServer(t)
  const dir = scratch(t)
  const user = randomName('sh')
  const base = { SIGNED_API_URL: server.url, SIGNED_API_CA: server.caFile, SIGNED_API_PASSWORD: 'correct horse battery staple' }

  const signup = await sh(['signup', user], base)
  t.equal(signup.code, 0)
  t.same(JSON.parse(signup.stdout), { username: user }, 'signup')
  const taken = await sh(['signup', user], base)
  t.equal(taken.code, 1, 'a refused signup (409) exits 1')
  t.equal(JSON.parse(taken.stdout).code, 'USERNAME_TAKEN')

  const login = await sh(['login', user], base)
  t.equal(login.code, 0, `login ${login.stderr}`)
  const exported = exportedCredentials(login.stdout)
  t.ok(exported, 'login prints export lines to eval')
  if (exported === null) return
  const env = { ...base, ...exported }
  t.equal(env.SIGNED_API_USERNAME, user)

  const who = await sh(['request', 'GET', '/auth/whoami'], env)
  t.equal(who.stderr, 'HTTP 200\n', 'whoami')
  t.equal(who.code, 0, 'a 2xx answer exits 0')
  t.match(JSON.parse(who.stdout), { username: user, kind: 'user', keyId: env.SIGNED_API_KEY_ID })

  // Tampered: the client's signature for /auth/whoami, sent to another target with plain curl.
  const time = String(Date.now())
  const sig = (await sh(['sign', 'GET', '/auth/whoami', time], env)).stdout.trim()
  const tampered = await new Promise<string>((resolve, reject) => {
    execFile('curl', ['-sS', '--cacert', server.caFile, '-H', `Auth-Username: ${user}`, '-H', `Auth-Key-Id: ${env.SIGNED_API_KEY_ID}`, '-H', `X-Microtime: ${time}`, '-H', `Auth-Signature: ${sig}`, `${server.url}/auth/whoami?tampered=1`],
      { timeout: 30_000, encoding: 'utf8' }, (err, stdout) => { if (err !== null) reject(err); else resolve(stdout) })
  })
  t.equal(JSON.parse(tampered).code, 'AUTH_BAD_SIGNATURE', 'a tampered request is refused')
  const wrongKey = await sh(['request', 'GET', '/auth/whoami'], { ...env, SIGNED_API_KEY: `${env.SIGNED_API_KEY}x` })
  t.equal(wrongKey.stderr, 'HTTP 401\n')
  t.equal(wrongKey.code, 1, 'a 401 exits 1')
  t.equal(JSON.parse(wrongKey.stdout).code, 'AUTH_BAD_SIGNATURE', 'a wrong key is refused')

  // A `date` that lies: first far in the past (AUTH_STALE), then frozen (AUTH_REPLAY).
  const fakeDate = (ms: string): void => {
    writeFileSync(join(dir, 'date'), `#!/bin/sh\necho ${ms}\n`)
    chmodSync(join(dir, 'date'), 0o755)
  }
  const lyingPath = `${dir}:${process.env.PATH ?? ''}`
  fakeDate('1000000000000')
  const stale = await sh(['request', 'GET', '/auth/whoami'], env, lyingPath)
  t.equal(stale.stderr, 'HTTP 401\nHTTP 200\n', 'AUTH_STALE, then signed again with X-Server-Time')
  t.equal(stale.code, 0, 'the answer that counts is the last one')
  t.equal(JSON.parse(stale.stdout).username, user)

  fakeDate(String(Date.now()))
  const first = await sh(['request', 'GET', '/auth/whoami'], env, lyingPath)
  t.equal(first.stderr, 'HTTP 200\n')
  const replay = await sh(['request', 'GET', '/auth/whoami'], env, lyingPath)
  t.equal(replay.stderr, 'HTTP 401\nHTTP 200\n', 'a replayed GET is signed again')
  fakeDate(String(Date.now() + 500))
  t.equal((await sh(['request', 'POST', '/auth/refresh'], env, lyingPath)).stderr, 'HTTP 200\n')
  const replayPost = await sh(['request', 'POST', '/auth/refresh'], env, lyingPath)
  t.equal(replayPost.stderr, 'HTTP 401\n', 'a replayed POST is not retried')
  t.equal(replayPost.code, 1)
  t.equal(JSON.parse(replayPost.stdout).code, 'AUTH_REPLAY')

  const created = await sh(['request', 'POST', '/v1/notes', '{"title":"From the shell","body":"café ☕"}'], env)
  t.equal(created.stderr, 'HTTP 201\n', `create a note: ${created.stdout}`)
  t.equal(created.code, 0)
  const invalid = await sh(['request', 'POST', '/v1/notes', '{"title":"x","colour":"red"}'], env)
  t.equal(invalid.stderr, 'HTTP 400\n')
  t.equal(invalid.code, 1, 'a 400 exits 1')
  t.equal(JSON.parse(invalid.stdout).code, 'VALIDATION_FAILED')
  const missing = await sh(['request', 'GET', '/v1/notes/nope'], env)
  t.equal(missing.code, 1, 'a 404 exits 1')
  const unreachable = await sh(['request', 'GET', '/auth/whoami'], { ...env, SIGNED_API_URL: 'https://127.0.0.1:9' })
  t.equal(unreachable.code, 7, 'no server: curl\'s own exit code')
  if (created.stderr === 'HTTP 201\n') {
    const note = JSON.parse(created.stdout) as { id: string }
    const read = await sh(['request', 'GET', `/v1/notes/${note.id}`], env)
    t.equal(read.stderr, 'HTTP 200\n')
    t.match(JSON.parse(read.stdout), { id: note.id, title: 'From the shell', body: 'café ☕' })
  }
})
