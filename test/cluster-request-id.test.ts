/**
 * Request ids through a real proxy (README "Request ids"): the cluster's nginx
 * sends its `$request_id` as X-Request-Id; an instance trusting nginx
 * (TRUST_PROXY) uses it, echoes it and puts it on its log lines, so nginx's
 * access log line and the instance's lines share one id. The prefixed
 * instance does not trust nginx and makes its own.
 */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { request } from 'node:https'
import { join } from 'node:path'
import { startCluster, type Cluster } from './cluster/cluster.js'

// A Redis, two instances and nginx started and stopped: more than the default 120 s on a loaded machine.
t.setTimeout(300_000)

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const NGINX_ID = /^[0-9a-f]{32}$/

function get (c: Cluster, target: string, headers: Record<string, string> = {}): Promise<{ status: number, id: string }> {
  const url = new URL(c.url)
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, method: 'GET', path: target, headers, agent: false, ca: c.ca, servername: 'localhost', timeout: 15_000 }, res => {
      res.resume()
      res.on('end', () => resolve({ status: res.statusCode ?? 0, id: String(res.headers['x-request-id']) }))
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', reject)
    req.end()
  })
}

/** Lines of `file` containing `text`, waiting up to 10 s for at least `atLeast` (logs are written as they come). */
async function linesWith (file: string, text: string, atLeast: number): Promise<string[]> {
  for (let started = Date.now(); ; await new Promise(resolve => setTimeout(resolve, 50))) {
    let found: string[] = []
    try { found = readFileSync(file, 'utf8').split('\n').filter(l => l.includes(text)) } catch {}
    if (found.length >= atLeast || Date.now() - started > 10_000) return found
  }
}

t.test('nginx\'s $request_id is in its access log, in the answer and on the instance\'s log lines', async t => {
  const cluster = await startCluster({ instances: 1, prefixed: true, env: { LOG_LEVEL: 'info' } })
  t.teardown(() => cluster.stop())
  const accessLog = join(cluster.dir, 'nginx', 'access.log')
  const instanceLog = join(cluster.dir, 'logs', 'instance-1.log')

  // A client's own id does not get through: nginx replaces it with its own.
  const cases: Array<{ target: string, status: number, headers: Record<string, string> }> = [
    { target: '/health', status: 200, headers: { 'x-request-id': 'chosen-by-client' } },
    { target: '/auth/whoami', status: 401, headers: {} }, // refused by the signed-api plugin
    { target: '/no/such/route', status: 404, headers: {} }
  ]
  for (const c of cases) {
    const res = await get(cluster, c.target, c.headers)
    t.equal(res.status, c.status, c.target)
    t.match(res.id, NGINX_ID, `${c.target}: the answer carries nginx's id`)
    const access = await linesWith(accessLog, res.id, 1)
    t.equal(access.length, 1, 'nginx logged the request with that id')
    t.match(access[0], `"GET ${c.target} HTTP/1.1" ${c.status} ${res.id}`)
    const lines = (await linesWith(instanceLog, res.id, 2)).map(l => JSON.parse(l) as { reqId?: string, msg?: string })
    t.same(lines.map(l => l.msg), ['incoming request', 'request completed'], 'the instance\'s lines for it')
    t.ok(lines.every(l => l.reqId === res.id), 'each with reqId = nginx\'s id')
  }
  t.notOk(readFileSync(instanceLog, 'utf8').includes('chosen-by-client'), 'the client\'s id is nowhere')

  // The prefixed instance has no TRUST_PROXY: it ignores nginx's header and makes its own id.
  const prefixed = await get(cluster, '/api/health')
  t.equal(prefixed.status, 200)
  t.match(prefixed.id, UUID, 'a fresh id from the instance')
  const access = await linesWith(accessLog, '"GET /api/health HTTP/1.1" 200 ', 1)
  t.equal(access.length, 1)
  t.notOk(access[0]?.includes(prefixed.id), 'not nginx\'s')
  const nginxId = access[0]?.trim().split(' ').pop() ?? ''
  t.match(nginxId, NGINX_ID)
  // The log file is written as the request completes, not before the answer: wait for both lines.
  const prefixedLines = await linesWith(join(cluster.dir, 'logs', 'prefixed.log'), `"reqId":"${prefixed.id}"`, 2)
  t.equal(prefixedLines.length, 2, 'the instance logs its own id')
  const prefixedLog = readFileSync(join(cluster.dir, 'logs', 'prefixed.log'), 'utf8')
  t.notOk(prefixedLog.includes(nginxId), 'and never the untrusted header\'s')
})
