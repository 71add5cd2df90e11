/**
 * The Postman collection (postman/signed-api.postman_collection.json), run
 * with newman: it is what postman/generate.ts makes of the committed OpenAPI
 * document; its pre-request script reproduces the published vectors, sending
 * each target and body exactly as signed (a plain HTTP listener on loopback
 * records the raw request); and against a live HTTPS server its own requests
 * sign up, log in, read and write notes, learn the clock after AUTH_STALE,
 * and a request changed after signing is refused with AUTH_BAD_SIGNATURE.
 */
import t from 'tap'
import { createServer } from 'node:http'
import { createRequire } from 'node:module'
import { readFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { COLLECTION_PATH, OPENAPI_PATH, buildCollection, collectionText, type OpenApi } from '../../postman/generate.js'
import { canonicalBytes, signCanonical } from '../../src/sdk/signer.js'
import { randomName, startLiveServer, vectors } from './live-server.js'

const require = createRequire(import.meta.url)

interface Execution {
  item: { name: string }
  request: { method: string, url: { toString: () => string } }
  response?: { code: number, stream?: Buffer, headers: { get: (name: string) => string | undefined } }
  requestError?: Error
}
interface Summary { run: { executions: Execution[], failures: Array<{ error: { name: string, message: string }, source?: { name?: string } }> } }
interface Newman { run: (options: Record<string, unknown>, done: (err: Error | null, summary: Summary) => void) => unknown }
const newman = require('newman') as Newman

interface Item { name: string, id?: string, request: Record<string, any>, event?: Array<{ listen: string, script: { exec: string[] } }> } // eslint-disable-line @typescript-eslint/no-explicit-any
interface Collection { info: object, item: Array<{ name: string, item: Item[] }>, event: Array<{ listen: string, script: { exec: string[] } }>, variable: Array<{ key: string, value: string }>, protocolProfileBehavior: object }

const committed = JSON.parse(readFileSync(COLLECTION_PATH, 'utf8')) as Collection
const openapi = JSON.parse(readFileSync(OPENAPI_PATH, 'utf8')) as OpenApi

/** The committed collection with these items (deep copies, found by name) and variables. */
function collectionOf (items: Item[], variables: Record<string, string>): Collection {
  const copy = structuredClone(committed)
  copy.item = [{ name: 'run', item: items }]
  for (const v of copy.variable) if (Object.hasOwn(variables, v.key)) v.value = variables[v.key] as string
  for (const [key, value] of Object.entries(variables)) if (!copy.variable.some(v => v.key === key)) copy.variable.push({ key, value })
  return copy
}

let copies = 0
function item (name: string, change: (i: Item) => void = () => {}): Item {
  for (const folder of committed.item) {
    const found = folder.item.find(i => i.name === name)
    if (found !== undefined) {
      const copy = structuredClone(found)
      // An id names one item in a collection (the re-send after AUTH_STALE goes to it): each copy gets its own.
      copy.id = `${found.id ?? 'item'}-${++copies}`
      change(copy)
      return copy
    }
  }
  throw new Error(`no request named ${name} in the collection`)
}

/** A request-level pre-request script: it runs after the collection's, so after signing. */
const afterSigning = (lines: string[]) => (i: Item): void => {
  i.event = [...(i.event ?? []), { listen: 'prerequest', script: { exec: lines } }]
}

async function runNewman (collection: Collection, options: Record<string, unknown> = {}): Promise<Summary> {
  return await new Promise((resolve, reject) => {
    newman.run({ collection, timeoutRequest: 30_000, ...options }, (err, summary) => { if (err !== null) reject(err); else resolve(summary) })
  })
}

const body = (e: Execution | undefined): any => JSON.parse(e?.response?.stream?.toString('utf8') ?? 'null') // eslint-disable-line @typescript-eslint/no-explicit-any

t.test('the committed collection is what make postman generates from openapi/openapi.json', async t => {
  t.equal(readFileSync(COLLECTION_PATH, 'utf8'), collectionText(), 'current (run make postman after the routes change)')
  const ops = Object.entries(openapi.paths).filter(([path]) => !path.startsWith('/web/')).flatMap(([path, o]) => Object.keys(o).map(m => `${m.toUpperCase()} ${path}`))
  const items = committed.item.flatMap(f => f.item)
  t.equal(items.length, ops.length, 'one request per operation outside /web')
  const built = buildCollection(openapi) as Collection
  const sign = built.event.find(e => e.listen === 'prerequest')?.script.exec.join('\n') ?? ''
  t.match(sign, /hmac\.HmacSHA256\(hmac\.enc\.Utf8\.parse\(canonical\), hmac\.enc\.Utf8\.parse\(key\)\)/, 'a collection-level pre-request script signs')
  const unsigned = JSON.parse(/const UNSIGNED = (\[.*\]) \/\//.exec(sign)?.[1] ?? 'null') as Array<[string, string]>
  t.same(unsigned.map(([m, p]) => `${m} ${p}`).sort(), ['GET ^/health$', 'GET ^/ready$', 'POST ^/auth/login$', 'POST ^/auth/signup$'], 'the routes without a security requirement go unsigned')
  t.same(built.protocolProfileBehavior, { disableUrlEncoding: true }, 'targets are sent as written')
})

t.test('the pre-request script signs every vector, and the target and body go out exactly as signed', async t => {
  const seen: Array<{ method: string, target: string, headers: Record<string, string | string[] | undefined>, body: Buffer }> = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      seen.push({ method: req.method ?? '', target: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) })
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => server.close())
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  // A Postman raw body is text: the one vector whose body is not UTF-8 cannot be written in a collection.
  const textual = vectors.positive.filter(v => Buffer.from(Buffer.from(v.bodyHex, 'hex').toString('utf8'), 'utf8').toString('hex') === v.bodyHex)
  t.same(vectors.positive.filter(v => !textual.includes(v)).map(v => v.name), ['binary-body'])
  for (const v of textual) {
    const raw = Buffer.from(v.bodyHex, 'hex').toString('utf8')
    const request: Item = {
      name: v.name,
      request: {
        method: v.method,
        header: raw === '' ? [] : [{ key: 'Content-Type', value: 'application/json' }],
        url: `{{baseUrl}}${v.target}`,
        ...(raw === '' ? {} : { body: { mode: 'raw', raw } })
      }
    }
    // X-Microtime is max(now + offset, last + 1): an offset far in the past makes it the vector's time.
    const summary = await runNewman(collectionOf([request], { baseUrl: base, username: v.username, keyId: v.keyId, signingKey: v.key, lastMicrotime: String(Number(v.time) - 1), clockOffsetMs: String(-Date.now() - 1e12) }))
    t.same(summary.run.failures.map(f => f.error.message), [], `${v.name}: no script error`)
    const got = seen.pop()
    t.ok(got, `${v.name}: the request arrived`)
    if (got === undefined) continue
    t.equal(got.method, v.method, `${v.name}: method`)
    t.equal(got.target, v.target, `${v.name}: the target as signed`)
    t.equal(got.body.toString('hex'), v.bodyHex, `${v.name}: the body bytes as signed`)
    t.same([got.headers['auth-username'], got.headers['auth-key-id'], got.headers['x-microtime']], [v.username, v.keyId, v.time], `${v.name}: the auth headers`)
    t.equal(got.headers['auth-signature'], v.signature, `${v.name}: the vector's signature`)
  }

  // Bytes Postman would percent-encode on its own ({ } in a path, ' in a query): sent as written, so the signature holds.
  const v = vectors.positive[0] as (typeof vectors.positive)[number]
  const target = "/v1/notes/{a}?q=it's|ok"
  const summary = await runNewman(collectionOf([{ name: 'raw target', request: { method: 'GET', url: `{{baseUrl}}${target}` } }], { baseUrl: base, username: v.username, keyId: v.keyId, signingKey: v.key, lastMicrotime: String(Number(v.time) - 1), clockOffsetMs: String(-Date.now() - 1e12) }))
  t.same(summary.run.failures.map(f => f.error.message), [])
  const got = seen.pop()
  t.equal(got?.target, target, 'the target goes out byte for byte as written')
  t.equal(got?.headers['auth-signature'], signCanonical(v.key, canonicalBytes({ username: v.username, keyId: v.keyId, time: v.time, method: 'GET', target })), 'and is signed as sent')
})

t.test('newman runs the collection against a live HTTPS server', async t => {
  const server = await startLiveServer(t)
  const user = randomName('pm')
  const run = [
    item('Health'),
    item('Sign up'),
    item('Log in'),
    // Signed with a clock 60 s behind: AUTH_STALE, the offset learned, the same request sent again.
    item('Who am I'),
    item('Who am I', i => { i.name = 'Who am I (escaped target)'; i.request.url.raw += '?x=%2F+y'; i.request.url.query = [{ key: 'x', value: '%2F+y' }] }),
    item('Create a note', i => { i.request.body.raw = JSON.stringify({ title: 'From Postman', body: 'café ☕\nsigned as sent' }, null, 2) }),
    item('Read a note'),
    item('Change a note', i => { i.request.body.raw = '{"title":"Renamed in Postman"}' }),
    item('List notes', i => { for (const q of i.request.url.query) q.disabled = q.key !== 'limit' }),
    item('Who am I', afterSigning(["pm.request.url.addQueryParams('tampered=1')"])),
    item('Create a note', afterSigning(["pm.request.body.update({ mode: 'raw', raw: pm.request.body.raw.replace('title', 'titl\\u0065') + ' ' })"])),
    item('Delete a note'),
    item('Read a note', i => { i.name = 'Read the deleted note' }),
    item('Refresh the key'),
    item('Who am I', i => { i.name = 'Who am I (refreshed key)' }),
    // Logging out empties the key variables; this copy puts the old key back afterwards, to show it is refused.
    item('Log out', i => {
      afterSigning(["pm.collectionVariables.set('oldKeyId', pm.variables.get('keyId'))", "pm.collectionVariables.set('oldKey', pm.variables.get('signingKey'))"])(i)
      i.event?.push({ listen: 'test', script: { exec: ["pm.collectionVariables.set('keyId', pm.collectionVariables.get('oldKeyId'))", "pm.collectionVariables.set('signingKey', pm.collectionVariables.get('oldKey'))"] } })
    }),
    item('Who am I', i => { i.name = 'Who am I (logged out)' })
  ]
  const vars = { baseUrl: server.url, username: user, clockOffsetMs: '-60000' }
  const summary = await runNewman(collectionOf(run, vars), { sslExtraCaCerts: server.caFile })
  const ex = summary.run.executions
  const steps = ex.map(e => `${e.item.name} ${e.response?.code ?? String(e.requestError)}`)
  const failures = summary.run.failures.map(f => `${f.source?.name ?? ''}: ${f.error.message}`)
  t.same(failures, [], 'no script error')
  t.same(steps, [
    'Health 200',
    'Sign up 201',
    'Log in 200',
    'Who am I 401',
    'Who am I 200',
    'Who am I (escaped target) 200',
    'Create a note 201',
    'Read a note 200',
    'Change a note 200',
    'List notes 200',
    'Who am I 401',
    'Create a note 401',
    'Delete a note 204',
    'Read the deleted note 404',
    'Refresh the key 200',
    'Who am I (refreshed key) 200',
    'Log out 204',
    'Who am I (logged out) 401'
  ], 'every step, with one re-send after AUTH_STALE')
  t.equal(body(ex[3]).code, 'AUTH_STALE', 'a clock 60 s behind is refused once')
  t.match(body(ex[4]), { username: user, kind: 'user' }, 'then signed again with the server clock')
  t.equal(body(ex[5]).username, user, 'a percent-escaped target is signed and sent as written')
  const note = body(ex[6])
  t.match(note, { owner: user, title: 'From Postman', body: 'café ☕\nsigned as sent' }, 'a signed write, UTF-8 body')
  t.match(body(ex[7]), { id: note.id, title: 'From Postman' }, 'the saved noteId is read back')
  t.match(body(ex[8]), { id: note.id, title: 'Renamed in Postman' })
  t.equal(body(ex[9]).items.length, 1)
  t.equal(body(ex[10]).code, 'AUTH_BAD_SIGNATURE', 'a target changed after signing is refused')
  t.equal(body(ex[10]).canonical.lines[5], '/auth/whoami?tampered=1')
  t.equal(body(ex[11]).code, 'AUTH_BAD_SIGNATURE', 'a body changed after signing is refused')
  t.equal(body(ex[13]).code, 'NOT_FOUND')
  const refreshed = body(ex[14])
  t.equal(body(ex[15]).keyId, refreshed.keyId, 'the refreshed key signs the next request')
  t.equal(body(ex[17]).code, 'AUTH_KEY_REVOKED', 'the key of a logged-out session is refused')
})
