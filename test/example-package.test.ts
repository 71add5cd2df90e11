/**
 * The package as a user gets it: `npm pack` (its prepack builds the code and
 * the declarations), the tarball installed with Fastify and TypeScript into a
 * scratch project outside the repository, examples/fastify-app compiled there
 * against the shipped types and run: the SDK client gets its 200, and requests
 * made by hand are refused unsigned, tampered, replayed and after logout.
 *
 * The pack runs in a copy of the sources (so the repository's own dist/ is not
 * rebuilt under other tests); npm installs from its cache when it can.
 */
import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { cpSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { signRequest } from '../src/sdk/signer.js'
import { tempDir } from './helper.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const NPM_FLAGS = ['--no-audit', '--no-fund', '--loglevel=error']
// The whole file, not only its test: packing, installing and compiling take 45-130 s on a loaded machine, past tap's 120 s default.
t.setTimeout(900_000)

function run (command: string, args: string[], cwd: string, timeoutMs = 400_000): string {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', timeout: timeoutMs, env: { ...process.env, npm_config_update_notifier: 'false' } })
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${String(result.status ?? result.signal)}):\n${result.stdout}\n${result.stderr}`)
  return result.stdout
}

const versionOf = (name: string): string => (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version

t.test('the packed package: the example compiles against its types and protects its route', { timeout: 900_000 }, async t => {
  const work = tempDir(t, 'signed-api-pack-')
  // The sources npm pack needs, in a copy: prepack builds there.
  const source = join(work, 'source')
  mkdirSync(source)
  for (const name of ['package.json', 'tsconfig.json', 'tsconfig.build.json', 'README.md', 'LICENSE', 'src', 'openapi']) cpSync(join(ROOT, name), join(source, name), { recursive: true })
  symlinkSync(join(ROOT, 'node_modules'), join(source, 'node_modules'), 'dir')
  run('npm', ['pack', '--pack-destination', work, ...NPM_FLAGS], source)
  const tarball = readdirSync(work).find(f => f.endsWith('.tgz'))
  if (tarball === undefined) throw new Error('npm pack made no tarball')
  const listing = run('tar', ['-tzf', join(work, tarball)], work).split('\n')
  for (const file of ['package/LICENSE', 'package/dist/src/fastify/index.d.ts', 'package/dist/src/protocol/index.d.ts', 'package/dist/src/sdk/index.d.ts', 'package/dist/src/app.js']) {
    t.ok(listing.includes(file), `the tarball holds ${file}`)
  }
  t.notOk(listing.some(f => f.startsWith('package/test/') || f.startsWith('package/src/') && f.endsWith('.ts') && !f.endsWith('.d.ts')), 'no tests and no TypeScript sources in it')

  // A project outside the repository, as a user makes one.
  const app = join(work, 'app')
  mkdirSync(app)
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'scratch', private: true, type: 'module' }))
  for (const file of ['server.ts', 'client.ts', 'tsconfig.json']) cpSync(join(ROOT, 'examples', 'fastify-app', file), join(app, file))
  // Native parts of the package come as binaries inside their packages: no install scripts needed.
  run('npm', ['install', '--prefer-offline', '--ignore-scripts', ...NPM_FLAGS, join(work, tarball), `fastify@${versionOf('fastify')}`, `typescript@${versionOf('typescript')}`, `@types/node@${versionOf('@types/node')}`], app)
  run(process.execPath, [join(app, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], app)

  const server = spawn(process.execPath, ['server.js'], { cwd: app, env: { PATH: process.env.PATH ?? '', PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { server.kill('SIGKILL') })
  const base = await new Promise<string>((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => reject(new Error(`the example server did not start:\n${out}`)), 60_000)
    const seen = (c: Buffer): void => {
      out += c.toString()
      const m = /listening on (http:\/\/\S+)/.exec(out)
      if (m !== null) { clearTimeout(timer); resolve(m[1] as string) }
    }
    server.stdout.on('data', seen)
    server.stderr.on('data', seen)
    server.once('exit', code => { clearTimeout(timer); reject(new Error(`the example server exited ${String(code)}:\n${out}`)) })
  })

  t.equal(run(process.execPath, ['client.js', base], app).trim(), '200 {"hello":"alice"}', 'the SDK client logs in and gets its signed 200')

  const login = await fetch(`${base}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'bob', password: 'let me in' }) })
  t.equal(login.status, 200)
  const cred = await login.json() as { username: string, keyId: string, signingKey: string }
  const signed = (method: string, target: string): Record<string, string> => ({ ...signRequest(cred, Date.now(), method, target).headers })
  const codeOf = async (res: Response): Promise<[number, string]> => [res.status, (await res.json() as { code: string }).code]

  const headers = signed('GET', '/hello')
  const ok = await fetch(`${base}/hello`, { headers })
  t.same([ok.status, await ok.json()], [200, { hello: 'bob' }], 'signed: 200')
  t.same(await codeOf(await fetch(`${base}/hello`, { headers })), [401, 'AUTH_REPLAY'], 'the same request again: a replay')
  t.same(await codeOf(await fetch(`${base}/hello`)), [401, 'AUTH_MISSING'], 'unsigned: 401')
  const tampered = signed('GET', '/hello')
  const other = await fetch(`${base}/hello?x=1`, { headers: tampered })
  t.equal(other.headers.get('www-authenticate'), 'HMAC-SHA256 error="AUTH_BAD_SIGNATURE"')
  t.same(await codeOf(other), [401, 'AUTH_BAD_SIGNATURE'], 'signed for another target: 401')
  const flipped = signed('GET', '/hello')
  flipped['auth-signature'] = (flipped['auth-signature'] as string).replace(/^./, c => c === '0' ? '1' : '0')
  t.same(await codeOf(await fetch(`${base}/hello`, { headers: flipped })), [401, 'AUTH_BAD_SIGNATURE'], 'a changed signature: 401')
  t.equal((await fetch(`${base}/auth/logout`, { method: 'POST', headers: signed('POST', '/auth/logout') })).status, 204)
  t.same(await codeOf(await fetch(`${base}/hello`, { headers: signed('GET', '/hello') })), [401, 'AUTH_KEY_REVOKED'], 'after logout the key is revoked')
})
