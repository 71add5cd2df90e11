/** The OpenAPI document: committed copy matches the running routes, valid 3.1, complete. */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { Validator } from '@seriousme/openapi-schema-validator'
import { openApiDocument } from '../src/openapi-cli.js'
import { ERRORS } from '../src/errors.js'
import { buildTestApp } from './helper.js'

const committed = JSON.parse(readFileSync(new URL('../openapi/openapi.json', import.meta.url), 'utf8'))

t.test('openapi/openapi.json is exactly what the running routes generate (make openapi rewrites it)', async t => {
  t.same(await openApiDocument(), committed)
})

t.test('it is a valid OpenAPI 3.1 document', async t => {
  const result = await new Validator().validate(committed)
  t.equal(committed.openapi, '3.1.0')
  t.same(result.errors ?? [], [])
  t.equal(result.valid, true)
})

t.test('every route of api-v1.md, every error code, and the signature scheme', async t => {
  const ops = new Set<string>()
  for (const [path, item] of Object.entries(committed.paths as Record<string, Record<string, unknown>>)) for (const m of Object.keys(item)) ops.add(`${m.toUpperCase()} ${path}`)
  for (const op of [
    'GET /health', 'GET /ready', 'POST /auth/signup', 'POST /auth/login', 'POST /auth/refresh', 'POST /auth/logout', 'POST /auth/password', 'GET /auth/whoami',
    'GET /v1/public/articles', 'GET /v1/public/articles/{id}', 'POST /v1/public/articles', 'PATCH /v1/public/articles/{id}', 'DELETE /v1/public/articles/{id}',
    'POST /v1/notes', 'GET /v1/notes', 'GET /v1/notes/{id}', 'PATCH /v1/notes/{id}', 'DELETE /v1/notes/{id}', 'PUT /v1/notes/{id}/grants/{username}', 'DELETE /v1/notes/{id}/grants/{username}',
    'POST /admin/clients', 'GET /admin/clients', 'POST /admin/clients/{id}/rotate', 'DELETE /admin/clients/{id}', 'PATCH /admin/users/{username}'
  ]) t.ok(ops.has(op), op)
  const text = JSON.stringify(committed)
  const global = new Set(['NOT_FOUND', 'METHOD_NOT_ALLOWED', 'BAD_REQUEST', 'HEADERS_TOO_LARGE', 'INTERNAL_ERROR'])
  for (const code of Object.keys(ERRORS)) {
    if (global.has(code)) t.ok(String(committed.info.description).includes(`\`${code}\``), `${code} is documented`)
    else t.ok(text.includes(`"${code}"`), `${code} appears as a response code`)
  }
  const schemes = committed.components.securitySchemes
  t.same(Object.values(schemes).map((s: any) => s.name).sort(), ['Auth-Key-Id', 'Auth-Signature', 'Auth-Username', 'X-Microtime']) // eslint-disable-line @typescript-eslint/no-explicit-any
  t.match(schemes.AuthUsername.description, 'HMAC-SHA256-V1')
  t.same(committed.paths['/auth/whoami'].get.security, [{ AuthUsername: [], AuthKeyId: [], XMicrotime: [], AuthSignature: [] }])
  t.equal(committed.paths['/auth/login'].post.security, undefined, 'login is not signed by default')
  t.ok(committed.paths['/auth/whoami'].get.responses['401'], 'signed routes document their 401')
})

t.test('GET /openapi.json serves the same document, unsigned', async t => {
  const { app } = await buildTestApp(t)
  const res = await app.inject({ method: 'GET', url: '/openapi.json' })
  t.equal(res.statusCode, 200)
  t.same(res.json(), committed)
})

t.test('every operation has a summary, a unique operationId and an example; servers; shared component schemas; the signature explained', async t => {
  const ids = new Set<string>()
  let operations = 0
  for (const [path, item] of Object.entries(committed.paths as Record<string, Record<string, any>>)) { // eslint-disable-line @typescript-eslint/no-explicit-any
    for (const [method, op] of Object.entries(item)) {
      operations++
      const name = `${method.toUpperCase()} ${path}`
      t.ok(typeof op.summary === 'string' && op.summary.length > 0, `${name}: a summary`)
      t.match(op.operationId, /^[a-z][A-Za-z]+$/, `${name}: an operationId`)
      t.notOk(ids.has(op.operationId), `${name}: ${op.operationId} is unique`)
      ids.add(op.operationId)
      const body = op.requestBody?.content?.['application/json']
      if (body !== undefined) t.ok(body.example !== undefined, `${name}: a request body example`)
      const success = Object.entries(op.responses as Record<string, any>).find(([s, r]) => /^2/.test(s) && r.content?.['application/json'] !== undefined) // eslint-disable-line @typescript-eslint/no-explicit-any
      if (success !== undefined && method !== 'head') t.ok(success[1].content['application/json'].example !== undefined, `${name}: an answer example`)
      for (const [status, answer] of Object.entries(op.responses as Record<string, any>)) { // eslint-disable-line @typescript-eslint/no-explicit-any
        const example = answer.content?.['application/json']?.example
        if (Number(status) >= 400) t.match(example, { statusCode: Number(status), code: answer.content['application/json'].schema.allOf[1].properties.code.enum[0] }, `${name}: an example of its ${status}`)
      }
    }
  }
  t.ok(operations >= 30, `${operations} operations`)
  t.ok(committed.servers.length > 0 && committed.servers.every((s: { url: string, description: string }) => s.url !== '' && s.description !== ''), 'servers, each described')
  const schemas = committed.components.schemas
  for (const name of ['Error', 'Credentials', 'SigningKey', 'Note', 'NotePage', 'Article', 'ClientCreated', 'User']) t.ok(schemas[name], `components.schemas.${name}`)
  const text = JSON.stringify(committed)
  for (const name of Object.keys(schemas)) t.ok(text.includes(`"#/components/schemas/${name}"`), `${name} is referred to`)
  t.same(committed.paths['/v1/notes'].get.responses['200'].content['application/json'].schema, { $ref: '#/components/schemas/NotePage' })
  t.same(schemas.NotePage.properties.items.items, { $ref: '#/components/schemas/Note' }, 'a component refers to another')
  t.match(committed.paths['/v1/notes/{id}'].get.responses['404'].content['application/json'].schema.allOf[0], { $ref: '#/components/schemas/Error' })
  for (const step of ['HMAC-SHA256-V1', 'Auth-Signature', 'X-Microtime', 'milliseconds', 'UTF-8 bytes of the key', 'X-Server-Time']) t.match(committed.info.description, step, `the description explains: ${step}`)
})

t.test('an operation without a summary, operationId and examples fails the build of the document', async t => {
  const { finishDocument } = await import('../src/openapi.js')
  const extra = structuredClone(committed)
  extra.paths['/v1/undocumented'] = { get: { responses: { 200: { description: 'OK' } } } }
  t.throws(() => finishDocument(extra), /GET \/v1\/undocumented has no summary/)
  const missing = structuredClone(committed)
  delete missing.paths['/health']
  t.throws(() => finishDocument(missing), /names operations that do not exist: GET \/health/)
})
