/**
 * Scale-out end to end: three instances sharing a keyring, a store and Redis,
 * behind nginx terminating TLS, all on loopback (test/cluster/cluster.ts).
 */
import t from 'tap'
import { Agent, request } from 'node:https'
import { sign, type Credential } from './helper.js'
import { startCluster, type Cluster } from './cluster/cluster.js'

const PASSWORD = 'correct horse battery'

interface Answer { status: number, body: string, json (): any } // eslint-disable-line @typescript-eslint/no-explicit-any

/** One HTTPS request to `origin` (nginx or an instance), trusting only the cluster's certificate. */
function send (c: Cluster, agent: Agent | false, method: string, target: string, opts: { headers?: Record<string, string>, body?: string, origin?: string } = {}): Promise<Answer> {
  const url = new URL(opts.origin ?? c.url)
  const body = opts.body === undefined ? undefined : Buffer.from(opts.body, 'utf8')
  const headers: Record<string, string> = { ...opts.headers, ...(body === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(body.length) }) }
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, method, path: target, headers, agent, ca: c.ca, servername: 'localhost', timeout: 15_000 }, res => {
      const chunks: Buffer[] = []
      res.on('data', (d: Buffer) => chunks.push(d))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        resolve({ status: res.statusCode ?? 0, body: text, json: () => JSON.parse(text) })
      })
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', reject)
    req.end(body)
  })
}

/** Plain HTTP straight to one instance, bypassing nginx. */
async function direct (port: number, method: string, target: string, headers: Record<string, string>, body?: string): Promise<Answer> {
  const { request: httpRequest } = await import('node:http')
  return new Promise((resolve, reject) => {
    const buf = body === undefined ? undefined : Buffer.from(body)
    const req = httpRequest({ host: '127.0.0.1', port, method, path: target, agent: false, headers: { ...headers, ...(buf === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(buf.length) }) } }, res => {
      const chunks: Buffer[] = []
      res.on('data', (d: Buffer) => chunks.push(d))
      res.on('end', () => { const text = Buffer.concat(chunks).toString('utf8'); resolve({ status: res.statusCode ?? 0, body: text, json: () => JSON.parse(text) }) })
    })
    req.on('error', reject)
    req.end(buf)
  })
}

async function account (c: Cluster, username: string): Promise<Credential> {
  const body = JSON.stringify({ username, password: PASSWORD })
  const up = await send(c, false, 'POST', '/auth/signup', { body })
  if (up.status !== 201) throw new Error(`signup ${up.status} ${up.body}`)
  const res = await send(c, false, 'POST', '/auth/login', { body })
  if (res.status !== 200) throw new Error(`login ${res.status} ${res.body}`)
  return res.json()
}

t.test('three instances behind nginx with Redis', async t => {
  const cluster = await startCluster({ prefixed: true, env: { LOGIN_MAX_FAILURES: '3', RATE_LIMIT_PER_MINUTE: '100000' } })
  t.teardown(() => cluster.stop())
  const [one, two, three] = cluster.instances as [typeof cluster.instances[0], typeof cluster.instances[0], typeof cluster.instances[0]]

  await t.test('login works through nginx terminating TLS, with TRUST_PROXY set', async t => {
    const cred = await account(cluster, 'alice')
    t.match(cred.keyId, /^1\.u\.1\./)
    const plain = await direct(one.port, 'POST', '/auth/login', {}, JSON.stringify({ username: 'alice', password: PASSWORD }))
    t.equal(plain.json().code, 'HTTPS_REQUIRED', 'straight to an instance over plain HTTP, without the proxy, is refused')
  })

  await t.test('a key issued through one instance works on the others', async t => {
    const cred = await account(cluster, 'bob')
    for (const i of cluster.instances) {
      const res = await direct(i.port, 'GET', '/auth/whoami', sign(cred, 'GET', '/auth/whoami'))
      t.equal(res.status, 200, i.name)
    }
  })

  await t.test('a request accepted by one instance and replayed to another is refused AUTH_REPLAY', async t => {
    const cred = await account(cluster, 'carol')
    const headers = sign(cred, 'GET', '/auth/whoami')
    t.equal((await direct(one.port, 'GET', '/auth/whoami', headers)).status, 200)
    const replay = await direct(two.port, 'GET', '/auth/whoami', headers)
    t.equal(replay.status, 401)
    t.equal(replay.json().code, 'AUTH_REPLAY')
  })

  await t.test('logout through one instance is refused on the others within 2 s', async t => {
    const cred = await account(cluster, 'dave')
    t.equal((await direct(one.port, 'POST', '/auth/logout', sign(cred, 'POST', '/auth/logout'))).status, 204)
    const started = Date.now()
    const pending = new Set([two, three])
    while (pending.size > 0 && Date.now() - started < 3_000) {
      for (const i of [...pending]) if ((await direct(i.port, 'GET', '/auth/whoami', sign(cred, 'GET', '/auth/whoami'))).json().code === 'AUTH_KEY_REVOKED') pending.delete(i)
      if (pending.size > 0) await new Promise(resolve => setTimeout(resolve, 20))
    }
    const elapsed = Date.now() - started
    t.equal(pending.size, 0, 'refused on both other instances')
    t.ok(elapsed < 2_000, `after ${elapsed} ms`)
  })

  await t.test('the failed-login limit counts across instances', async t => {
    await account(cluster, 'erin')
    const wrong = JSON.stringify({ username: 'erin', password: 'not the password' })
    for (const i of [one, two, three]) {
      const res = await direct(i.port, 'POST', '/auth/login', { 'x-forwarded-proto': 'https' }, wrong)
      t.equal(res.json().code, 'AUTH_INVALID_CREDENTIALS', `failure on ${i.name}`)
    }
    const limited = await send(cluster, false, 'POST', '/auth/login', { body: JSON.stringify({ username: 'erin', password: PASSWORD }) })
    t.equal(limited.status, 429, 'three failures on three instances reach LOGIN_MAX_FAILURES=3')
    t.equal(limited.json().code, 'RATE_LIMITED')
  })

  await t.test('under a path prefix: PUBLIC_PATH_PREFIX puts back what nginx strips; an untrusted proxy gets HTTPS_REQUIRED', async t => {
    const cred = await account(cluster, 'frank')
    const viaPrefix = await send(cluster, false, 'GET', '/api/auth/whoami', { headers: sign(cred, 'GET', '/api/auth/whoami') })
    t.equal(viaPrefix.status, 200, 'signed as /api/auth/whoami, verified after the prefix is added back')
    t.equal(viaPrefix.json().username, 'frank')
    const login = await send(cluster, false, 'POST', '/api/auth/login', { body: JSON.stringify({ username: 'frank', password: PASSWORD }) })
    t.equal(login.status, 403)
    t.equal(login.json().code, 'HTTPS_REQUIRED', 'this instance does not trust the proxy, so X-Forwarded-Proto does not count')
  })

  await t.test('restart under load: SIGTERM one instance and bring it back; nothing accepted is lost', async t => {
    const users = await Promise.all([0, 1, 2, 3].map(async i => account(cluster, `load${i}`)))
    const agent = new Agent({ keepAlive: true, maxSockets: 4, ca: cluster.ca })
    const acknowledged: Array<{ id: string, title: string }> = []
    const failed: Record<string, number> = {}
    let sent = 0
    let running = true
    const worker = async (cred: Credential, w: number): Promise<void> => {
      for (let n = 0; running && n < 2000; n++) {
        const title = `w${w}-${n}`
        const body = JSON.stringify({ title, body: 'x'.repeat(200) })
        sent++
        try {
          const res = await send(cluster, agent, 'POST', '/v1/notes', { headers: sign(cred, 'POST', '/v1/notes', body), body })
          if (res.status === 201) acknowledged.push({ id: res.json().id, title })
          else { const key = `${res.status} ${res.body.slice(0, 60)}`; failed[key] = (failed[key] ?? 0) + 1 }
        } catch (err) {
          const key = `error ${(err as Error).message}`
          failed[key] = (failed[key] ?? 0) + 1
        }
      }
    }
    const load = Promise.all(users.map(async (u, w) => worker(u, w)))
    await new Promise(resolve => setTimeout(resolve, 1_500))
    const beforeStop = acknowledged.length
    const code = await cluster.stopInstance(two)
    t.equal(code, 0, 'the instance exits 0 after SIGTERM')
    const during = acknowledged.length
    await cluster.restartInstance(two)
    const afterRestart = acknowledged.length
    await new Promise(resolve => setTimeout(resolve, 1_500))
    running = false
    await load
    agent.destroy()
    const failures = Object.values(failed).reduce((a, b) => a + b, 0)
    t.comment(`restart under load: ${sent} sent, ${acknowledged.length} acknowledged, ${failures} failed ${JSON.stringify(failed)}; acknowledged before stop ${beforeStop}, by the time it exited ${during}, by the time it was back ${afterRestart}`)
    t.ok(afterRestart > during && acknowledged.length > afterRestart, 'load ran through the stop, the restart and after')
    t.equal(failures, 0, 'no request failed')

    // Every acknowledged note is there, whole; and nothing that was not acknowledged was written.
    const byOwner = new Map<string, Set<string>>()
    let partial = 0
    for (const [w, u] of users.entries()) {
      const titles = new Set<string>()
      let after: string | null = null
      do {
        const target: string = `/v1/notes?limit=100${after === null ? '' : `&after=${after}`}`
        const page = await send(cluster, false, 'GET', target, { headers: sign(u, 'GET', target) })
        const json = page.json()
        for (const n of json.items as Array<{ title: string, body: string }>) { titles.add(n.title); if (n.body.length !== 200) partial++ }
        after = json.next
      } while (after !== null)
      byOwner.set(`w${w}`, titles)
    }
    t.equal(partial, 0, 'no note is half-written')
    const stored = [...byOwner.values()].reduce((a, s) => a + s.size, 0)
    t.equal(stored, acknowledged.length, `the store holds exactly the ${acknowledged.length} acknowledged notes`)
    t.ok(acknowledged.every(a => byOwner.get(a.title.split('-')[0] as string)?.has(a.title)), 'each acknowledged note is found')
  })
})
