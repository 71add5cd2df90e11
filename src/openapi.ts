/**
 * The OpenAPI 3.1 document, generated from the route schemas by
 * @fastify/swagger. Each route's error answers come from what it is (signed or
 * not, with a body or not) plus the codes the route declares in
 * `config.errors`; `openapi/openapi.json` is the committed copy, and a test
 * fails when it and the running routes differ (`make openapi` rewrites it).
 */
import type { FastifyInstance, FastifySchema, RouteOptions } from 'fastify'
import swagger from '@fastify/swagger'
import { ApiError, ERRORS, type ErrorCode } from './errors.js'
import { OPERATIONS, PARAMETER_EXAMPLES } from './openapi-operations.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Route-specific error codes, for the OpenAPI document. */
    errors?: readonly ErrorCode[]
  }
}

const SIGNED_ERRORS: ErrorCode[] = [
  'AUTH_MISSING', 'AUTH_MALFORMED', 'AUTH_STALE', 'AUTH_KEY_EXPIRED', 'AUTH_BAD_SIGNATURE', 'AUTH_KEY_REVOKED', 'AUTH_REPLAY',
  'FORBIDDEN', 'RATE_LIMITED', 'REVOCATIONS_STALE', 'REPLAY_CACHE_UNAVAILABLE'
]
const BODY_ERRORS: ErrorCode[] = ['UNSUPPORTED_MEDIA_TYPE', 'BODY_TOO_LARGE', 'INVALID_JSON', 'VALIDATION_FAILED']
// Any request: a bad target, and a head or body slower than HEADERS_TIMEOUT_MS / BODY_TIMEOUT_MS.
const ALWAYS: ErrorCode[] = ['BAD_REQUEST_TARGET', 'REQUEST_TIMEOUT']

const CANONICAL = [
  'Every signed request carries four headers; together they are one security requirement.',
  '',
  '`Auth-Signature` is the lowercase hex HMAC-SHA256, keyed with the UTF-8 bytes of the signing key exactly as received, over the canonical string: seven fields joined by LF (0x0A), the raw body last:',
  '',
  '    HMAC-SHA256-V1\\n<Auth-Username>\\n<Auth-Key-Id>\\n<X-Microtime>\\n<METHOD>\\n<request-target>\\n<body>',
  '',
  '`request-target` is the path and query exactly as on the request line (percent-encoding untouched); `body` is the raw request bytes (empty when there is none).',
  'A 401 answer says why in its `code` and in `WWW-Authenticate: HMAC-SHA256 error="<code>"`; every answer carries `X-Server-Time` (Unix ms) to correct the client clock.',
  'See docs/protocol.md in the repository (a worked example with fixed values) and the test vectors in test/fixtures/vectors.json.'
].join('\n')

const DESCRIPTION = [
  'A stateless REST API in which every request but signup, login, health and readiness is signed, and the server checks each signature from its own keyring, with no database lookup per request.',
  '',
  '## Signing a request',
  '',
  '1. Get a key: `POST /auth/login` answers `username`, `keyId`, `signingKey` and `expiresAt` (a user key lives 6 hours; `POST /auth/refresh` before then). An app or a service gets a client key from an admin (`POST /admin/clients`): its `principal`, `keyId` and `secret`.',
  '2. Take the time of signing in Unix **milliseconds**, later than the last one used with this key.',
  '3. Build the canonical string, seven fields joined by LF (0x0A), the raw body last (empty when there is none, so the string then ends with the LF after the target):',
  '',
  '       HMAC-SHA256-V1\\n<Auth-Username>\\n<Auth-Key-Id>\\n<X-Microtime>\\n<METHOD>\\n<request-target>\\n<body>',
  '',
  '   The request target is the path and query exactly as sent (`/v1/notes?limit=2`): nothing decoded or re-encoded. The body is the exact bytes sent, never JSON serialised again.',
  '4. Sign: lowercase hex HMAC-SHA256 of those bytes, keyed with the UTF-8 bytes of the key string as received (never base64-decoded).',
  '5. Send the four headers `Auth-Username` (the username or client principal), `Auth-Key-Id`, `X-Microtime` and `Auth-Signature`.',
  '',
  'Each signature is accepted once. On 401 `AUTH_STALE` set your clock offset from the answer\'s `X-Server-Time` (every answer has it) and sign again; on `AUTH_BAD_SIGNATURE` the answer\'s `canonical` field shows what the server signed. The full protocol, with a worked example of fixed values, is docs/protocol.md in the repository; the security schemes below name the four headers, which go together.'
].join('\n')

/** Schemas shared by several operations: named after the operation whose answer or body first shows them. */
const COMPONENT_SOURCES: ReadonlyArray<[name: string, path: string, method: string, where: 'body' | string]> = [
  ['Credentials', '/auth/login', 'post', 'body'],
  ['SigningKey', '/auth/login', 'post', '200'],
  ['WhoAmI', '/auth/whoami', 'get', '200'],
  ['PasswordChange', '/auth/password', 'post', 'body'],
  ['Note', '/v1/notes/{id}', 'get', '200'],
  ['NotePage', '/v1/notes', 'get', '200'],
  ['Article', '/v1/public/articles/{id}', 'get', '200'],
  ['ArticlePage', '/v1/public/articles', 'get', '200'],
  ['TextCreate', '/v1/notes', 'post', 'body'],
  ['TextPatch', '/v1/notes/{id}', 'patch', 'body'],
  ['Grant', '/v1/notes/{id}/grants/{username}', 'put', 'body'],
  ['ClientRegistration', '/admin/clients', 'post', 'body'],
  ['ClientCreated', '/admin/clients', 'post', '201'],
  ['ClientList', '/admin/clients', 'get', '200'],
  ['ClientKey', '/admin/clients/{id}/rotate', 'post', '200'],
  ['UserChange', '/admin/users/{username}', 'patch', 'body'],
  ['User', '/admin/users/{username}', 'patch', '200']
]

const ERROR_BODY = {
  type: 'object',
  description: 'Every error answer: the HTTP status, a stable `code` from the catalogue, the reason phrase and a message for people. Some codes add fields (`canonical` on `AUTH_BAD_SIGNATURE`, `checks` on `NOT_READY`).',
  required: ['statusCode', 'code', 'error', 'message'],
  properties: { statusCode: { type: 'integer' }, code: { type: 'string' }, error: { type: 'string' }, message: { type: 'string' } },
  additionalProperties: true
}

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any
const METHODS = ['get', 'head', 'post', 'put', 'patch', 'delete']

/** A copy of `node` in which every subschema equal to a named one (other than `self`) is a $ref to it. */
function refify (node: unknown, named: ReadonlyMap<string, string>, self?: string): unknown {
  if (node === null || typeof node !== 'object') return node
  const name = named.get(JSON.stringify(node))
  if (name !== undefined && name !== self) return { $ref: `#/components/schemas/${name}` }
  if (Array.isArray(node)) return node.map(n => refify(n, named))
  return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, refify(v, named)]))
}

/**
 * The document as generated, finished: every operation gets its summary,
 * operationId and examples (src/openapi-operations.ts), shared schemas become
 * components, and error answers refer to one `Error` schema.
 */
export function finishDocument (generated: Json): Json {
  const doc = structuredClone(generated)
  const seen = new Set<string>()
  const json = (op: Json, where: string): Json | undefined =>
    (where === 'body' ? op.requestBody : op.responses?.[where])?.content?.['application/json']
  for (const [path, item] of Object.entries(doc.paths as Record<string, Json>)) {
    for (const method of METHODS) {
      if (item[method] === undefined) continue
      const key = `${method.toUpperCase()} ${path}`
      const entry = OPERATIONS[key]
      if (entry === undefined) throw new Error(`OpenAPI: ${key} has no summary, operationId and examples in src/openapi-operations.ts`)
      seen.add(key)
      const op: Json = structuredClone(item[method])
      op.summary = entry.summary
      op.operationId = entry.operationId
      if (Array.isArray(op.parameters)) op.parameters = op.parameters.map((p: Json) => p.in === 'path' && PARAMETER_EXAMPLES[p.name] !== undefined ? { ...p, example: PARAMETER_EXAMPLES[p.name] } : p)
      const body = json(op, 'body')
      if (body !== undefined) {
        if (entry.request === undefined) throw new Error(`OpenAPI: ${key} takes a body but src/openapi-operations.ts gives no example`)
        body.example = entry.request
      }
      const success = Object.keys(op.responses ?? {}).find(status => /^2\d\d$/.test(status) && json(op, status) !== undefined)
      // A HEAD answer has no body to show.
      if (success !== undefined && method !== 'head') {
        if (entry.response === undefined) throw new Error(`OpenAPI: ${key} answers JSON but src/openapi-operations.ts gives no example`)
        ;(json(op, success) as Json).example = entry.response
      }
      item[method] = op
    }
  }
  const unused = Object.keys(OPERATIONS).filter(k => !seen.has(k))
  if (unused.length > 0) throw new Error(`OpenAPI: src/openapi-operations.ts names operations that do not exist: ${unused.join(', ')}`)

  const sources = new Map<string, Json>()
  for (const [name, path, method, where] of COMPONENT_SOURCES) {
    const schema = json(doc.paths[path]?.[method] ?? {}, where)?.schema
    if (schema === undefined) throw new Error(`OpenAPI: the ${name} schema's source, ${method.toUpperCase()} ${path} ${where}, is gone`)
    sources.set(name, schema)
  }
  const named = new Map([...sources].map(([name, schema]) => [JSON.stringify(schema), name]))
  const schemas: Json = { ...doc.components.schemas, Error: ERROR_BODY }
  for (const [name, schema] of sources) schemas[name] = refify(schema, named, name)
  for (const item of Object.values(doc.paths as Record<string, Json>)) {
    for (const method of METHODS) {
      const op = item[method]
      if (op === undefined) continue
      for (const [status, answer] of Object.entries(op.responses as Record<string, Json>)) {
        const media = answer.content?.['application/json']
        if (media === undefined) continue
        if (Number(status) >= 400) {
          const { statusCode, code } = media.schema.properties
          media.schema = { allOf: [{ $ref: '#/components/schemas/Error' }, { type: 'object', properties: { statusCode, code } }] }
          const first = code.enum[0] as ErrorCode
          media.example = { statusCode: Number(status), code: first, error: new ApiError(first).body().error, message: ERRORS[first].message }
        } else {
          media.schema = refify(media.schema, named)
        }
      }
      const body = op.requestBody?.content?.['application/json']
      if (body !== undefined) body.schema = refify(body.schema, named)
    }
  }
  doc.components.schemas = schemas
  return doc
}

const HEADER_SCHEMES: Record<string, { name: string, description: string }> = {
  AuthUsername: { name: 'Auth-Username', description: `The principal: a username, or a client principal such as \`app:<id>\`. 1..64 chars of [A-Za-z0-9._:@-].\n\n${CANONICAL}` },
  AuthKeyId: { name: 'Auth-Key-Id', description: 'The key id returned with the key by login, refresh or client registration; opaque, echoed as received.' },
  XMicrotime: { name: 'X-Microtime', description: 'Unix time of signing in milliseconds, 1..16 digits; within CLOCK_SKEW_MS of the server clock, strictly increasing per key.' },
  AuthSignature: { name: 'Auth-Signature', description: 'Lowercase hex HMAC-SHA256 of the canonical string: exactly 64 chars of [0-9a-f].' }
}

function errorResponses (codes: readonly ErrorCode[]): Record<string, unknown> {
  const byStatus = new Map<number, ErrorCode[]>()
  for (const code of new Set(codes)) {
    const status = ERRORS[code].status
    byStatus.set(status, [...(byStatus.get(status) ?? []), code])
  }
  const out: Record<string, unknown> = {}
  for (const [status, list] of [...byStatus].sort((a, b) => a[0] - b[0])) {
    out[String(status)] = {
      description: list.map(c => `\`${c}\`: ${ERRORS[c].message}`).join('; '),
      content: {
        'application/json': {
          schema: {
            type: 'object',
            required: ['statusCode', 'code', 'error', 'message'],
            properties: {
              statusCode: { type: 'integer', const: status },
              code: { type: 'string', enum: list },
              error: { type: 'string' },
              message: { type: 'string' }
            },
            additionalProperties: true
          }
        }
      }
    }
  }
  return out
}

export async function registerOpenApi (app: FastifyInstance, version: string): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'signed-api',
        version,
        description: [DESCRIPTION, '', '## Errors', '', 'Errors are JSON `{"statusCode","code","error","message"}` with a stable `code`; an unknown route is 404 `NOT_FOUND`, a known route with another method 405 `METHOD_NOT_ALLOWED`; a request the HTTP parser cannot read is 400 `BAD_REQUEST` (or `BAD_REQUEST_TARGET`), headers over the limit 431 `HEADERS_TOO_LARGE`; a head not in within `HEADERS_TIMEOUT_MS`, or a whole request not in within `BODY_TIMEOUT_MS` of its first byte, 408 `REQUEST_TIMEOUT` (the connection is then closed); an unexpected failure is 500 `INTERNAL_ERROR`, never with internal details.'].join('\n')
      },
      servers: [
        { url: 'https://127.0.0.1:8443', description: '`make run` on your own machine (development certificate: var/dev-cert.pem)' },
        { url: '/', description: 'the server this document is served by' }
      ],
      components: {
        securitySchemes: Object.fromEntries(Object.entries(HEADER_SCHEMES).map(([key, h]) => [key, { type: 'apiKey' as const, in: 'header', name: h.name, description: h.description }]))
      }
    },
    transformObject: (documents) => finishDocument((documents as { openapiObject: Json }).openapiObject) as never,
    transform: ({ schema, url, route }) => {
      const r = route as RouteOptions
      const base = (schema ?? {}) as FastifySchema & { response?: Record<string, unknown>, hide?: boolean, security?: unknown, tags?: string[] }
      const method = (Array.isArray(r.method) ? r.method[0] : r.method) as string
      const signed = (r.config as { signed?: unknown } | undefined)?.signed !== undefined
      const hasBody = base.body !== undefined
      const codes: ErrorCode[] = [...ALWAYS, ...(signed ? SIGNED_ERRORS : []), ...(hasBody ? BODY_ERRORS : []), ...((base.params !== undefined || base.querystring !== undefined) ? ['VALIDATION_FAILED' as const] : []), ...(r.config?.errors ?? [])]
      if (method === 'GET' || method === 'HEAD' || method === 'DELETE') codes.push('BODY_NOT_ALLOWED')
      // Shutting down or shedding load (plugins/load-shedding.ts): every route but liveness.
      if (url !== '/health' && !codes.includes('NOT_READY')) codes.push('NOT_READY')
      const tag = url.startsWith('/v1/public') ? 'public' : url.startsWith('/v1/notes') ? 'notes' : url.startsWith('/admin') ? 'admin' : url.startsWith('/auth') ? 'auth' : 'operations'
      return {
        schema: {
          ...base,
          tags: [tag],
          ...(signed ? { security: [Object.fromEntries(Object.keys(HEADER_SCHEMES).map(k => [k, []]))] } : {}),
          response: { ...(base.response ?? { 200: { description: 'OK', type: 'object', additionalProperties: true } }), ...errorResponses(codes) }
        },
        url
      }
    }
  })
}
