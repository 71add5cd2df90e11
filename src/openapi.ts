/**
 * The OpenAPI 3.1 document, generated from the route schemas by
 * @fastify/swagger. Each route's error answers come from what it is (signed or
 * not, with a body or not) plus the codes the route declares in
 * `config.errors`; `openapi/openapi.json` is the committed copy, and a test
 * fails when it and the running routes differ (`make openapi` rewrites it).
 */
import type { FastifyInstance, FastifySchema, RouteOptions } from 'fastify'
import swagger from '@fastify/swagger'
import { ERRORS, type ErrorCode } from './errors.js'

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
  'See protocol-v1.md and the test vectors in test/fixtures/vectors.json.'
].join('\n')

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
        description: 'A stateless, HMAC-signed REST API. Errors are JSON `{"statusCode","code","error","message"}` with a stable `code`; an unknown route is 404 `NOT_FOUND`, a known route with another method 405 `METHOD_NOT_ALLOWED`; a request the HTTP parser cannot read is 400 `BAD_REQUEST` (or `BAD_REQUEST_TARGET`), headers over the limit 431 `HEADERS_TOO_LARGE`; a head not in within `HEADERS_TIMEOUT_MS`, or a whole request not in within `BODY_TIMEOUT_MS` of its first byte, 408 `REQUEST_TIMEOUT` (the connection is then closed); an unexpected failure is 500 `INTERNAL_ERROR`, never with internal details.'
      },
      components: {
        securitySchemes: Object.fromEntries(Object.entries(HEADER_SCHEMES).map(([key, h]) => [key, { type: 'apiKey' as const, in: 'header', name: h.name, description: h.description }]))
      }
    },
    transform: ({ schema, url, route }) => {
      const r = route as RouteOptions
      const base = (schema ?? {}) as FastifySchema & { response?: Record<string, unknown>, hide?: boolean, security?: unknown, tags?: string[] }
      const method = (Array.isArray(r.method) ? r.method[0] : r.method) as string
      const signed = (r.config as { signed?: unknown } | undefined)?.signed !== undefined
      const hasBody = base.body !== undefined
      const codes: ErrorCode[] = [...ALWAYS, ...(signed ? SIGNED_ERRORS : []), ...(hasBody ? BODY_ERRORS : []), ...((base.params !== undefined || base.querystring !== undefined) ? ['VALIDATION_FAILED' as const] : []), ...(r.config?.errors ?? [])]
      if (method === 'GET' || method === 'HEAD' || method === 'DELETE') codes.push('BODY_NOT_ALLOWED')
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
