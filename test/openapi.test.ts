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
