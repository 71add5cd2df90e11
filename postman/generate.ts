/**
 * The Postman collection (v2.1) of the API, generated from the committed
 * OpenAPI document (openapi/openapi.json): one folder per tag, one request
 * per operation (the website's own /web routes, which take a cookie, left
 * out), a JSON body drawn from the schema, and two collection-level scripts
 * that run in Postman's sandbox: sign.js signs every request per protocol v1,
 * after.js learns the clock offset on AUTH_STALE and sends once more.
 *
 *   make postman   rewrites postman/signed-api.postman_collection.json (a test fails when it is stale)
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const DIR = new URL('./', import.meta.url)
export const OPENAPI_PATH = fileURLToPath(new URL('../openapi/openapi.json', DIR))
export const COLLECTION_PATH = fileURLToPath(new URL('signed-api.postman_collection.json', DIR))

type Schema = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any
interface Parameter { name: string, in: string, description?: string, schema?: Schema, example?: unknown }
interface Operation {
  summary?: string
  description?: string
  operationId?: string
  tags?: string[]
  parameters?: Parameter[]
  security?: unknown[]
  requestBody?: { content?: Record<string, { schema?: Schema, example?: unknown, examples?: Record<string, { value?: unknown }> }> }
  responses?: Record<string, { content?: Record<string, { schema?: Schema }> }>
}
export interface OpenApi { info: { title: string, version: string, description?: string }, servers?: Array<{ url: string }>, paths: Record<string, Record<string, Operation>>, components?: { schemas?: Record<string, Schema> } }

const METHODS = ['get', 'head', 'post', 'put', 'patch', 'delete']
const SCHEMA_URL = 'https://schema.getpostman.com/json/collection/v2.1.0/collection.json'

/** Collection variables: where the scripts keep the key and the clock, and the values the requests use. */
const VARIABLES: Array<[string, string, string]> = [
  ['baseUrl', 'https://127.0.0.1:8443', 'The server: scheme, host, port (and a path prefix, if it has one)'],
  ['username', 'alice', 'Signup and login; then the Auth-Username that signs (set by "Log in")'],
  ['password', 'correct horse battery staple', 'Signup and login'],
  ['newPassword', 'a new correct horse battery staple', 'Change password'],
  ['keyId', '', 'Auth-Key-Id: set by "Log in" and "Refresh"; for a client key, its keyId'],
  ['signingKey', '', 'The HMAC key: set by "Log in" and "Refresh"; for a client key, its secret. Keep it out of shared exports'],
  ['expiresAt', '', 'When the key expires (set by "Log in" and "Refresh")'],
  ['clockOffsetMs', '0', 'How far the server clock is ahead of this one, learned from X-Server-Time on AUTH_STALE'],
  ['lastMicrotime', '0', 'The last X-Microtime signed: the next one is larger'],
  ['noteId', '', 'Set by "Create a note"'],
  ['articleId', '', 'Set by "Create an article"'],
  ['clientId', '', 'Set by "Register a client"'],
  ['grantee', 'bob', 'The user a note is shared with'],
  ['targetUsername', 'bob', 'The user an admin changes']
]

/** The collection variable a path parameter is read from: `{id}` after `notes` is {{noteId}}. */
function pathVariable (segments: string[], index: number, name: string): string {
  const before = segments[index - 1] ?? ''
  if (name === 'username') return before === 'grants' ? 'grantee' : 'targetUsername'
  if (name === 'id') return `${before.replace(/s$/, '')}Id`
  return name
}

function resolve (doc: OpenApi, schema: Schema | undefined): Schema {
  let s = schema ?? {}
  for (let i = 0; i < 20 && typeof s.$ref === 'string'; i++) s = doc.components?.schemas?.[s.$ref.replace('#/components/schemas/', '')] ?? {}
  return s
}

/** An example value for a schema: its own example, else one built from its type; `{{username}}`-style for the names the variables hold. */
function example (doc: OpenApi, raw: Schema | undefined, name = ''): unknown {
  const s = resolve(doc, raw)
  if (['username', 'password', 'newPassword'].includes(name)) return `{{${name}}}`
  if (s.example !== undefined) return s.example
  if (Array.isArray(s.examples) && s.examples.length > 0) return s.examples[0]
  if (s.const !== undefined) return s.const
  if (Array.isArray(s.enum)) return s.enum[0]
  const alt = s.anyOf ?? s.oneOf
  if (Array.isArray(alt) && alt.length > 0) return example(doc, alt[0], name)
  switch (s.type) {
    case 'object': {
      const props = (s.properties ?? {}) as Record<string, Schema>
      const required = Array.isArray(s.required) ? s.required as string[] : []
      const names = required.length > 0 ? required : Object.keys(props)
      return Object.fromEntries(names.map(n => [n, example(doc, props[n], n)]))
    }
    case 'array': return [example(doc, s.items, name)]
    case 'integer': case 'number': return s.minimum ?? 1
    case 'boolean': return false
    case 'string': return s.format === 'date-time' ? new Date(0).toISOString() : `An example ${name || 'text'}`
    default: return null
  }
}

function bodyExample (doc: OpenApi, op: Operation): unknown {
  const json = op.requestBody?.content?.['application/json']
  if (json === undefined) return undefined
  const given = json.example ?? Object.values(json.examples ?? {})[0]?.value
  if (given === undefined) return example(doc, json.schema)
  // The document's example names a user; the collection's requests use the variables the login fills in.
  if (given === null || typeof given !== 'object' || Array.isArray(given)) return given
  return Object.fromEntries(Object.entries(given).map(([k, v]) => [k, ['username', 'password', 'newPassword'].includes(k) ? `{{${k}}}` : v]))
}

/** A test script that keeps what a success returns: the key of a login or refresh, the id of what was created. */
function keepScript (doc: OpenApi, method: string, path: string, op: Operation): string[] {
  const ok = Object.entries(op.responses ?? {}).find(([status]) => /^2\d\d$/.test(status))
  const props = resolve(doc, ok?.[1].content?.['application/json']?.schema).properties as Record<string, unknown> | undefined
  if (props !== undefined && 'signingKey' in props && 'keyId' in props) {
    return [
      'if (pm.response.code === 200) {',
      '  const answer = pm.response.json()',
      "  for (const name of ['username', 'keyId', 'signingKey', 'expiresAt']) pm.collectionVariables.set(name, answer[name])",
      '}'
    ]
  }
  if (method === 'post' && path === '/auth/logout') {
    return ["if (pm.response.code === 204) { pm.collectionVariables.set('keyId', ''); pm.collectionVariables.set('signingKey', '') }"]
  }
  if (method === 'post' && props !== undefined && 'id' in props && !path.includes('{')) {
    const segments = path.split('/')
    const variable = pathVariable([...segments, ''], segments.length, 'id')
    return [`if (pm.response.code === 201) pm.collectionVariables.set('${variable}', pm.response.json().id)`]
  }
  return []
}

const words = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1)

/** A readable name when the document has no summary. */
function fallbackName (method: string, path: string): string {
  const known: Record<string, string> = {
    'post /auth/signup': 'Sign up', 'post /auth/login': 'Log in', 'post /auth/refresh': 'Refresh the key', 'post /auth/logout': 'Log out',
    'post /auth/password': 'Change the password', 'get /auth/whoami': 'Who am I', 'get /health': 'Health', 'get /ready': 'Ready',
    'post /v1/notes': 'Create a note', 'get /v1/notes': 'List notes', 'get /v1/notes/{id}': 'Read a note', 'patch /v1/notes/{id}': 'Change a note',
    'delete /v1/notes/{id}': 'Delete a note', 'put /v1/notes/{id}/grants/{username}': 'Share a note', 'delete /v1/notes/{id}/grants/{username}': 'Stop sharing a note',
    'post /v1/public/articles': 'Create an article', 'get /v1/public/articles': 'List articles', 'get /v1/public/articles/{id}': 'Read an article',
    'patch /v1/public/articles/{id}': 'Change an article', 'delete /v1/public/articles/{id}': 'Delete an article',
    'post /admin/clients': 'Register a client', 'get /admin/clients': 'List clients', 'post /admin/clients/{id}/rotate': 'Rotate a client key',
    'delete /admin/clients/{id}': 'Delete a client', 'patch /admin/users/{username}': 'Change a user'
  }
  return known[`${method} ${path}`] ?? `${method.toUpperCase()} ${path}`
}

function script (file: string, unsigned: Array<[string, string]>): string[] {
  let text = readFileSync(new URL(file, DIR), 'utf8')
  if (unsigned.length > 0) {
    const line = 'const UNSIGNED = [] // filled in by postman/generate.ts: [METHOD, path pattern] of the routes that take no signature'
    if (!text.includes(line)) throw new Error(`${file}: the UNSIGNED line is missing`)
    text = text.replace(line, `const UNSIGNED = ${JSON.stringify(unsigned)} // from the OpenAPI document: the routes that take no signature`)
  }
  return text.replace(/\n$/, '').split('\n')
}

export function buildCollection (doc: OpenApi): object {
  const folders = new Map<string, object[]>()
  const unsigned: Array<[string, string]> = []
  for (const [path, ops] of Object.entries(doc.paths)) {
    if (path.startsWith('/web/')) continue // the website's routes: a browser's cookie, not a signature
    const segments = path.split('/').slice(1)
    for (const method of METHODS) {
      const op = ops[method]
      if (op === undefined) continue
      const pattern = `^/${segments.map(s => /^\{.+\}$/.test(s) ? '[^/]+' : s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('/')}$`
      if (op.security === undefined || op.security.length === 0) unsigned.push([method.toUpperCase(), pattern])
      const urlPath = segments.map((s, i) => {
        const m = /^\{(.+)\}$/.exec(s)
        return m === null ? s : `{{${pathVariable(segments, i, m[1] as string)}}}`
      })
      const query = (op.parameters ?? []).filter(p => p.in === 'query').map(p => ({
        key: p.name,
        value: String(p.example ?? example(doc, p.schema, p.name) ?? ''),
        disabled: true,
        ...(p.description === undefined ? {} : { description: p.description })
      }))
      const body = bodyExample(doc, op)
      const request: Record<string, unknown> = {
        method: method.toUpperCase(),
        header: body === undefined ? [] : [{ key: 'Content-Type', value: 'application/json' }],
        url: {
          raw: `{{baseUrl}}/${urlPath.join('/')}`,
          host: ['{{baseUrl}}'],
          path: urlPath,
          ...(query.length > 0 ? { query } : {})
        },
        ...(body === undefined ? {} : { body: { mode: 'raw', raw: JSON.stringify(body, null, 2), options: { raw: { language: 'json' } } } }),
        description: [op.description ?? '', op.security === undefined || op.security.length === 0 ? 'Not signed.' : 'Signed by the collection\'s pre-request script.'].filter(s => s !== '').join('\n\n')
      }
      const keep = keepScript(doc, method, path, op)
      const item = {
        name: op.summary ?? fallbackName(method, path),
        ...(op.operationId === undefined ? {} : { id: op.operationId }),
        request,
        // Send the target exactly as written and signed: no re-encoding by Postman.
        protocolProfileBehavior: { disableUrlEncoding: true },
        ...(keep.length > 0 ? { event: [{ listen: 'test', script: { type: 'text/javascript', exec: keep } }] } : {})
      }
      const tag = op.tags?.[0] ?? 'other'
      folders.set(tag, [...(folders.get(tag) ?? []), item])
    }
  }
  const base = doc.servers?.[0]?.url
  return {
    info: {
      name: doc.info.title,
      description: [
        `Generated from the OpenAPI document (version ${doc.info.version}) by postman/generate.ts; run \`make postman\` after the routes change.`,
        '',
        'Every request is signed by the collection\'s pre-request script (HMAC-SHA256-V1: the canonical string of protocol v1, keyed with the UTF-8 bytes of {{signingKey}}). "Sign up" then "Log in" store {{username}}, {{keyId}} and {{signingKey}}; for a client key (an app or a service), set {{username}} to its principal, {{keyId}} and {{signingKey}} to its secret.',
        '',
        'Postman\'s URL encoding is off for these requests, so a target goes out exactly as signed: percent-encode it yourself. A body is raw JSON, signed byte for byte as sent. On AUTH_STALE the collection learns the server clock ({{clockOffsetMs}}) and, in a collection run, sends the request once more; sent by hand, send it again.',
        '',
        'For the development server, add $DATA_DIR/dev-cert.pem under Settings > Certificates > CA certificates (or newman --ssl-extra-ca-certs). The key is kept in the collection variables: do not share or export the collection while logged in.'
      ].join('\n'),
      schema: SCHEMA_URL
    },
    item: [...folders].map(([name, item]) => ({ name: words(name), item })),
    event: [
      { listen: 'prerequest', script: { type: 'text/javascript', exec: script('sign.js', unsigned) } },
      { listen: 'test', script: { type: 'text/javascript', exec: script('after.js', []) } }
    ],
    variable: VARIABLES.map(([key, value, description]) => ({ key, value: key === 'baseUrl' && base !== undefined && /^https?:\/\//.test(base) ? base : value, type: 'string', description })),
    protocolProfileBehavior: { disableUrlEncoding: true }
  }
}

export function collectionText (doc: OpenApi = JSON.parse(readFileSync(OPENAPI_PATH, 'utf8')) as OpenApi): string {
  return `${JSON.stringify(buildCollection(doc), null, 2)}\n`
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) process.stdout.write(collectionText())
