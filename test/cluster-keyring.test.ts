/**
 * Master key rotation on a live cluster (test/cluster/cluster.ts: three
 * instances, Redis, nginx terminating TLS, on loopback), under continuous
 * signed load from users, a service client and a website session:
 *
 *   keyring add, rolling restart, keyring activate, rolling restart,
 *   keyring retire (refused at first), rolling restart
 *
 * No request of the load fails; and at every step (each instance down, each
 * back) every key, cursor and website cookie collected so far that is still
 * within its lifetime works on every running instance, straight to it. At
 * each step each running instance also issues a fresh key, cursor and cookie,
 * so what a restarted instance issues is checked on the ones not yet
 * restarted, and the reverse.
 *
 * The instances run with KEY_TTL_SECONDS=60 and CLIENT_KEY_OVERLAP_SECONDS=10
 * so that the old version's keys really die within the test, and retire is
 * accepted on the real clock; the same rule under the default limits (hours,
 * days) is checked with an injected clock in test/auth/keyring-rotation.test.ts.
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { Agent, request as httpsRequest } from 'node:https'
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { sign, type Credential } from './helper.js'
import { parseKeyringFile } from '../src/auth/keys.js'
import { startCluster, type Cluster, type Instance } from './cluster/cluster.js'

t.setTimeout(600_000)

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const PASSWORD = 'correct horse battery'
const KEY_TTL_SECONDS = 60
const OVERLAP_SECONDS = 10
const SKEW_MS = 2000
const ENV = {
  KEY_TTL_SECONDS: String(KEY_TTL_SECONDS),
  CLIENT_KEY_OVERLAP_SECONDS: String(OVERLAP_SECONDS),
  CLOCK_SKEW_MS: String(SKEW_MS),
  RATE_LIMIT_PER_MINUTE: '1000000',
  LOGIN_MAX_FAILURES: '1000',
  ADMIN_USERNAME: 'root',
  ADMIN_PASSWORD: PASSWORD
}

interface Answer { status: number, headers: IncomingHttpHeaders, body: string, json (): any } // eslint-disable-line @typescript-eslint/no-explicit-any
interface Req { method: string, target: string, headers?: Record<string, string>, body?: string }

function collect (res: import('node:http').IncomingMessage, resolve: (a: Answer) => void): void {
  const chunks: Buffer[] = []
  res.on('data', (d: Buffer) => chunks.push(d))
  res.on('end', () => {
    const text = Buffer.concat(chunks).toString('utf8')
    resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, json: () => JSON.parse(text) })
  })
}

const withBody = (r: Req): { headers: Record<string, string>, buf: Buffer | undefined } => {
  const buf = r.body === undefined ? undefined : Buffer.from(r.body, 'utf8')
  return { buf, headers: { ...r.headers, ...(buf === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(buf.length) }) } }
}

/** Through nginx (TLS), as clients do. */
function viaNginx (c: Cluster, agent: Agent | false, r: Req): Promise<Answer> {
  const url = new URL(c.url)
  const { buf, headers } = withBody(r)
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: url.hostname, port: url.port, method: r.method, path: r.target, headers, agent, ca: c.ca, servername: 'localhost', timeout: 15_000 }, res => collect(res, resolve))
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', reject)
    req.end(buf)
  })
}

/** Straight to one instance (plain HTTP; it trusts 127.0.0.1 as its proxy). */
function direct (port: number, r: Req): Promise<Answer> {
  const { buf, headers } = withBody(r)
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method: r.method, path: r.target, headers, agent: false, timeout: 15_000 }, res => collect(res, resolve))
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', reject)
    req.end(buf)
  })
}

const signed = (cred: Credential, method: string, target: string, body?: string): Req =>
  ({ method, target, headers: sign(cred, method, target, body ?? ''), ...(body === undefined ? {} : { body }) })

const HTTPS = { 'x-forwarded-proto': 'https' }
const SAME_ORIGIN = { 'sec-fetch-site': 'same-origin' }

/** The session cookie and its lifetime from a Set-Cookie, if any. */
function sessionFrom (res: Answer): { value: string, expiresAt: number } | undefined {
  const raw = res.headers['set-cookie']
  const line = (Array.isArray(raw) ? raw : raw === undefined ? [] : [raw]).find(l => l.startsWith('__Host-session='))
  const m = line === undefined ? null : /^__Host-session=([^;]+);.*Max-Age=(\d+)/.exec(line)
  return m === null ? undefined : { value: m[1] as string, expiresAt: Date.now() + Number(m[2]) * 1000 }
}

const keyVersion = (keyId: string): number => Number(keyId.split('.')[2])
const cookieVersion = (value: string): number => Number(value.split('.')[1])

interface Result { code: number | null, stdout: string, stderr: string }
/** `signed-api ARGS` as the operator runs it: its own process, with the servers' environment. */
function signedApi (args: string[], env: Record<string, string>): Promise<Result> {
  return new Promise(resolve => {
    execFile(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, timeout: 60_000, encoding: 'utf8' },
      (err, stdout, stderr) => resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr }))
  })
}

/** What was issued, to be checked on every instance while it lives. */
interface KeyArtifact { kind: 'key', label: string, cred: Credential, until: number }
interface CookieArtifact { kind: 'cookie', label: string, value: string, until: number }
interface CursorArtifact { kind: 'cursor', label: string, cursor: string, madeAt: number }

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

t.test('keyring add, activate and retire, each followed by a rolling restart, under signed load: no request fails', async t => {
  const cluster = await startCluster({ env: ENV })
  t.teardown(() => cluster.stop())
  const cliEnv = { DATA_DIR: cluster.dataDir, ...ENV }
  const agent = new Agent({ keepAlive: true, maxSockets: 8, ca: cluster.ca })
  t.teardown(() => agent.destroy())

  const keys: KeyArtifact[] = []
  const cookies: CookieArtifact[] = []
  const cursors: CursorArtifact[] = []
  const addKey = (label: string, answer: { username: string, keyId: string, signingKey: string, expiresAt: string | null }): Credential => {
    const cred = { username: answer.username, keyId: answer.keyId, signingKey: answer.signingKey }
    keys.push({ kind: 'key', label, cred, until: answer.expiresAt === null ? Infinity : Date.parse(answer.expiresAt) })
    return cred
  }

  // ---- the actors
  const loginVia = async (send: (r: Req) => Promise<Answer>, username: string, label: string): Promise<Credential> => {
    const res = await send({ method: 'POST', target: '/auth/login', headers: HTTPS, body: JSON.stringify({ username, password: PASSWORD }) })
    if (res.status !== 200) throw new Error(`login ${username}: ${res.status} ${res.body}`)
    return addKey(label, { ...res.json(), username })
  }
  const nginx = (r: Req): Promise<Answer> => viaNginx(cluster, agent, r)
  for (const name of ['user0', 'user1', 'probe']) {
    const up = await nginx({ method: 'POST', target: '/auth/signup', body: JSON.stringify({ username: name, password: PASSWORD }) })
    t.equal(up.status, 201, `signup ${name}`)
  }
  const admin = await loginVia(nginx, 'root', 'admin login')
  const created = await nginx(signed(admin, 'POST', '/admin/clients', JSON.stringify({ name: 'feeds', kind: 'service', scopes: ['public:read', 'articles:write'] })))
  t.equal(created.status, 201, 'a service client')
  const clientId = created.json().id as string
  let service = addKey('service key 1', { username: created.json().principal, keyId: created.json().keyId, signingKey: created.json().secret, expiresAt: null })
  for (let i = 0; i < 4; i++) t.equal((await nginx(signed(service, 'POST', '/v1/public/articles', JSON.stringify({ title: `seed ${i}`, body: 'b' })))).status, 201)
  const users = [await loginVia(nginx, 'user0', 'user0 login'), await loginVia(nginx, 'user1', 'user1 login')]
  const webLogin = await nginx({ method: 'POST', target: '/web/login', headers: SAME_ORIGIN, body: JSON.stringify({ username: 'user1', password: PASSWORD }) })
  t.equal(webLogin.status, 200, 'website login')
  let web = sessionFrom(webLogin) as { value: string, expiresAt: number }
  cookies.push({ kind: 'cookie', label: 'web login', value: web.value, until: web.expiresAt })

  let phase = 'start'
  const started = Date.now()
  const timeline: string[] = []
  const mark = (what: string): void => { timeline.push(`${what} at ${((Date.now() - started) / 1000).toFixed(1)} s`) }
  const done: Record<string, number> = {}
  const failed: Record<string, number> = {}
  let running = true
  /** One request of the load: anything but the expected status is a failure. */
  const load = async (what: string, r: Req, expect = 200): Promise<Answer | undefined> => {
    try {
      const res = await nginx(r)
      if (res.status === expect) {
        done[phase] = (done[phase] ?? 0) + 1
        return res
      }
      const k = `${phase}: ${what} ${res.status} ${res.body.slice(0, 100)}`
      failed[k] = (failed[k] ?? 0) + 1
    } catch (err) {
      const k = `${phase}: ${what} ${(err as Error).message}`
      failed[k] = (failed[k] ?? 0) + 1
    }
    return undefined
  }
  const userLoop = async (u: number): Promise<void> => {
    let cred = users[u] as Credential
    let issued = Date.now()
    for (let n = 0; running; n++) {
      // Users refresh as apps do, well before the key expires; the old key keeps working until then.
      if (Date.now() - issued > KEY_TTL_SECONDS * 1000 / 3) {
        const res = await load('refresh', signed(cred, 'POST', '/auth/refresh'))
        if (res !== undefined) {
          cred = addKey(`user${u} refresh (${phase})`, { ...res.json(), username: cred.username })
          issued = Date.now()
        }
      }
      const body = JSON.stringify({ title: `u${u}-${n}`, body: 'x'.repeat(100) })
      await load('create note', signed(cred, 'POST', '/v1/notes', body), 201)
      const page = await load('list notes', signed(cred, 'GET', '/v1/notes?limit=2'))
      const next = page?.json().next as string | null | undefined
      if (typeof next === 'string') await load('next page of notes', signed(cred, 'GET', `/v1/notes?limit=2&after=${next}`))
      await load('whoami', signed(cred, 'GET', '/auth/whoami'))
      await sleep(20)
    }
  }
  const clientLoop = async (): Promise<void> => {
    for (let n = 0; running; n++) {
      const page = await load('client: list articles', signed(service, 'GET', '/v1/public/articles?limit=2'))
      const next = page?.json().next as string | null | undefined
      if (typeof next === 'string') {
        if (!cursors.some(c => c.label === `load cursor (${phase})`)) cursors.push({ kind: 'cursor', label: `load cursor (${phase})`, cursor: next, madeAt: Date.now() })
        await load('client: next page', signed(service, 'GET', `/v1/public/articles?limit=2&after=${next}`))
      }
      if (n % 20 === 0) await load('client: create article', signed(service, 'POST', '/v1/public/articles', JSON.stringify({ title: `a${n}`, body: 'b' })), 201)
      await sleep(20)
    }
  }
  const webLoop = async (): Promise<void> => {
    for (let n = 0; running; n++) {
      for (const r of [
        { what: 'web: articles', req: { method: 'GET', target: '/web/api/v1/public/articles?limit=2' }, expect: 200 },
        { what: 'web: whoami', req: { method: 'GET', target: '/web/api/auth/whoami' }, expect: 200 },
        { what: 'web: create note', req: { method: 'POST', target: '/web/api/v1/notes', headers: SAME_ORIGIN, body: JSON.stringify({ title: `web-${n}`, body: 'w' }) }, expect: 201 }
      ]) {
        const res = await load(r.what, { ...r.req, headers: { ...r.req.headers, cookie: `__Host-session=${web.value}` } }, r.expect)
        const fresh = res === undefined ? undefined : sessionFrom(res)
        if (fresh !== undefined) {
          // The website refreshed the session's key near its end: a new cookie, sealed by whichever instance answered.
          web = fresh
          cookies.push({ kind: 'cookie', label: `web refresh (${phase})`, value: fresh.value, until: fresh.expiresAt })
        }
      }
      await sleep(20)
    }
  }
  const loops = Promise.all([userLoop(0), userLoop(1), clientLoop(), webLoop()])

  // ---- the check run at every step
  const problems: string[] = []
  let checks = 0
  let retiredAt = Infinity
  let rolledOutAt = Infinity
  const probeCredential = (): Credential => (keys.filter(k => k.cred.username === 'probe' && k.until - Date.now() > 5_000).at(-1) as KeyArtifact).cred
  /**
   * After an instance is back (and at the start, and while waiting), each instance issues a key, a
   * cursor and a cookie; then, at every step, everything alive is tried on every running instance.
   * Returns the versions of the keys just issued.
   */
  const step = async (label: string, down?: Instance): Promise<number[]> => {
    const running = cluster.instances.filter(i => i !== down)
    const versions: number[] = []
    for (const i of down === undefined ? running : []) {
      const send = (r: Req): Promise<Answer> => direct(i.port, r)
      const cred = await loginVia(send, 'probe', `probe key from ${i.name} (${label})`)
      versions.push(keyVersion(cred.keyId))
      const page = await send(signed(cred, 'GET', '/v1/public/articles?limit=1'))
      if (page.status === 200 && typeof page.json().next === 'string') cursors.push({ kind: 'cursor', label: `cursor from ${i.name} (${label})`, cursor: page.json().next, madeAt: Date.now() })
      else problems.push(`${label}: ${i.name} gave no cursor: ${page.status} ${page.body.slice(0, 100)}`)
      const w = await send({ method: 'POST', target: '/web/login', headers: { ...HTTPS, ...SAME_ORIGIN }, body: JSON.stringify({ username: 'probe', password: PASSWORD }) })
      const cookie = sessionFrom(w)
      if (w.status === 200 && cookie !== undefined) cookies.push({ kind: 'cookie', label: `cookie from ${i.name} (${label})`, value: cookie.value, until: cookie.expiresAt })
      else problems.push(`${label}: ${i.name} gave no cookie: ${w.status} ${w.body.slice(0, 100)}`)
    }
    // Alive when tried, with a margin for the request itself.
    const alive = (until: number): boolean => until - Date.now() > 2_000
    const probe = probeCredential()
    for (const i of running) {
      const send = (r: Req): Promise<Answer> => direct(i.port, r)
      for (const k of keys) {
        if (!alive(k.until)) continue
        const res = await send(signed(k.cred, 'GET', '/auth/whoami'))
        checks++
        if (res.status !== 200) problems.push(`${label}: ${k.label} (${k.cred.keyId}) on ${i.name}: ${res.status} ${res.body.slice(0, 100)}`)
      }
      for (const c of cookies) {
        if (!alive(c.until)) continue
        const res = await send({ method: 'GET', target: '/web/api/auth/whoami', headers: { cookie: `__Host-session=${c.value}` } })
        checks++
        if (res.status !== 200) problems.push(`${label}: ${c.label} (v${cookieVersion(c.value)}) on ${i.name}: ${res.status} ${res.body.slice(0, 100)}`)
      }
      // Cursors have no lifetime: each works until its version is retired; once version 1 is, those made since every instance issues version 2.
      for (const c of cursors.filter(c => retiredAt === Infinity || c.madeAt > rolledOutAt)) {
        const target = `/v1/public/articles?limit=1&after=${c.cursor}`
        const res = await send(signed(probe, 'GET', target))
        checks++
        if (res.status !== 200) problems.push(`${label}: ${c.label} on ${i.name}: ${res.status} ${res.body.slice(0, 100)}`)
      }
    }
    return versions
  }
  const roll = async (label: string): Promise<void> => {
    mark(`${label}: rolling restart begins`)
    const codes = await cluster.rollingRestart({
      down: async (i) => { mark(`${i.name} exited`); await step(`${label}, ${i.name} down`, i); mark('checked') },
      up: async (i) => { mark(`${i.name} back`); await step(`${label}, ${i.name} back`); mark('checked') }
    })
    t.same(codes, [0, 0, 0], `${label}: each instance exits 0 on SIGTERM`)
    mark(`${label}: rolling restart over`)
    t.same(problems, [], `${label}: so far, every live key, cookie and cursor worked on every running instance`)
    t.same(failed, {}, `${label}: so far, no request of the load failed`)
  }
  const freshKeyVersions = async (): Promise<number[]> => {
    const out: number[] = []
    for (const i of cluster.instances) out.push(keyVersion((await loginVia((r) => direct(i.port, r), 'probe', `version check on ${i.name}`)).keyId))
    return out
  }

  await sleep(1_000)
  await step('start')

  // ---- 1. add: version 2 is held by every instance after the restart; version 1 still issues
  phase = 'add'
  const added = await signedApi(['keyring', 'add', cluster.keyringFile], cliEnv)
  t.equal(added.code, 0, added.stderr)
  t.match(added.stdout, /version 2 added/)
  await roll('after add')
  t.same(await freshKeyVersions(), [1, 1, 1], 'after add and a rolling restart, every instance still issues version 1')

  // ---- 2. activate: restarted instances issue version 2, the others verify it (they hold it)
  phase = 'activate'
  const activated = await signedApi(['keyring', 'activate', cluster.keyringFile, '2'], cliEnv)
  t.equal(activated.code, 0, activated.stderr)
  // The time the command wrote into the file: retire counts from it.
  const activatedAt = Date.parse((parseKeyringFile(readFileSync(cluster.keyringFile, 'utf8'), 0).activations.at(-1) as { at: string }).at)
  let mixed = false
  mark('after activate: rolling restart begins')
  const activateCodes = await cluster.rollingRestart({
    down: async (i) => { await step(`after activate, ${i.name} down`, i) },
    up: async (i) => {
      const versions = await step(`after activate, ${i.name} back`)
      if (versions.includes(1) && versions.includes(2)) mixed = true
    }
  })
  const rolledOut = Date.now()
  t.same(activateCodes, [0, 0, 0], 'after activate: each instance exits 0 on SIGTERM')
  t.same(problems, [], 'after activate: so far, every live key, cookie and cursor worked on every running instance')
  t.same(failed, {}, 'after activate: so far, no request of the load failed')
  mark('after activate: rolling restart over')
  rolledOutAt = rolledOut
  t.ok(mixed, 'during the rollout, some instances issued version 2 while others issued version 1')
  t.same(await freshKeyVersions(), [2, 2, 2], 'after the rolling restart every instance issues version 2')

  // ---- 3. the client moves to a version-2 key; its version-1 key works through the overlap.
  // retire is told how long the rollout took; a client key issued before its end (+ clock skew) may be of version 1.
  const rolloutSeconds = Math.ceil((rolledOut - activatedAt) / 1000)
  phase = 'rotate client'
  await sleep(Math.max(0, activatedAt + rolloutSeconds * 1000 + SKEW_MS + 500 - Date.now()))
  const admin2 = await loginVia(nginx, 'root', 'admin login (rotate)')
  const rotated = await nginx(signed(admin2, 'POST', `/admin/clients/${clientId}/rotate`))
  t.equal(rotated.status, 200, 'client rotated')
  const oldService = keys.find(k => k.cred === service) as KeyArtifact
  oldService.until = Date.now() + OVERLAP_SECONDS * 1000
  service = addKey('service key 2', { username: rotated.json().principal, keyId: rotated.json().keyId, signingKey: rotated.json().secret, expiresAt: null })
  t.equal(keyVersion(service.keyId), 2, 'the new client key is of version 2')

  // ---- 4. retire: refused while a live key may need version 1
  phase = 'retire refused'
  const rollout = ['--rollout-seconds', String(rolloutSeconds)]
  const refused = await signedApi(['keyring', 'retire', cluster.keyringFile, '1', ...rollout], cliEnv)
  t.equal(refused.code, 1, 'retire is refused right after the rollout')
  t.match(refused.stderr, /user keys and website sessions of version 1 may live until/)
  t.match(refused.stderr, /client "feeds" .* its previous key, possibly of version 1, works until/)

  // The load goes on (users and the website refresh onto version 2) until version 1's last key is dead.
  phase = 'waiting'
  mark('retire refused; waiting')
  const bound = activatedAt + rolloutSeconds * 1000 + KEY_TTL_SECONDS * 1000 + SKEW_MS + 500
  while (Date.now() < bound) {
    await sleep(Math.min(10_000, Math.max(0, bound - Date.now())))
    await step('waiting for version 1 keys to expire')
  }
  const liveV1 = [...keys.filter(k => k.until > Date.now() && keyVersion(k.cred.keyId) === 1).map(k => k.label), ...cookies.filter(c => c.until > Date.now() && cookieVersion(c.value) === 1).map(c => c.label)]
  t.same(liveV1, [], 'no key or cookie of version 1 is alive any more')
  t.equal(cookieVersion(web.value), 2, 'the website session moved to version 2 by refreshing')

  phase = 'retire'
  const retired = await signedApi(['keyring', 'retire', cluster.keyringFile, '1', ...rollout], cliEnv)
  t.equal(retired.code, 0, retired.stderr)
  retiredAt = Date.now()
  const v1Cursor = cursors[0] as CursorArtifact
  await roll('after retire')
  const stale = await direct((cluster.instances[0] as Instance).port, signed(probeCredential(), 'GET', `/v1/public/articles?limit=1&after=${v1Cursor.cursor}`))
  t.equal(stale.status, 400, 'a cursor made under the retired version is refused once every instance dropped it (the listing starts again)')
  t.same(await freshKeyVersions(), [2, 2, 2])

  phase = 'after'
  await sleep(1_000)
  running = false
  await loops
  const failures = Object.values(failed).reduce((a, b) => a + b, 0)
  t.comment(timeline.join('; '))
  t.comment(`load: ${JSON.stringify(done)}; failed ${JSON.stringify(failed)}; ${checks} cross-instance checks of ${keys.length} keys, ${cookies.length} cookies, ${cursors.length} cursors`)
  for (const p of ['add', 'activate', 'rotate client', 'waiting', 'retire']) t.ok((done[p] ?? 0) > 0, `the load ran during "${p}"`)
  t.equal(failures, 0, 'no request of the load failed')
  t.same(problems, [], 'every live key, cookie and cursor worked on every running instance at every step')
})
