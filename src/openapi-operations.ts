/**
 * What the OpenAPI document says of each operation beyond its schemas: a
 * summary, an operationId and examples. Keyed by `METHOD path` as the
 * document writes them (`/v1/notes/{id}`); src/openapi.ts refuses to build a
 * document with an operation that has no entry here, or an entry with no
 * operation, so a new route cannot go undocumented.
 * The example values follow docs/protocol.md's worked example (alice, her key
 * id and key).
 */

export interface OperationDoc {
  operationId: string
  summary: string
  /** An example request body (routes with a body). */
  request?: unknown
  /** An example of the success answer's JSON (routes that answer with one). */
  response?: unknown
}

const KEY_ID = '1.u.1.mm7irhc0.mm7irhc0.mm7vmg00.exampleSession01'
const SIGNING_KEY = 'IDQ9SsGiC3_TCSLyVfb-FhQSTbLXJJquf3YETjMPErQ'
const CREDENTIALS = { username: 'alice', password: 'correct horse battery' }
const KEY = { username: 'alice', keyId: KEY_ID, signingKey: SIGNING_KEY, expiresAt: '2026-03-01T15:00:00.000Z' }
const NOTE = { id: 'Jq0nR5v2kX8aLz1c', owner: 'alice', title: 'Groceries', body: 'milk, eggs', grants: {}, createdAt: '2026-03-01T09:01:30.000Z', updatedAt: '2026-03-01T09:01:30.000Z' }
const ARTICLE = { id: 'b7Tq2LmN9xW4pK0s', title: 'Welcome', body: 'Hello, visitors', author: 'admin', createdAt: '2026-03-01T08:00:00.000Z', updatedAt: '2026-03-01T08:00:00.000Z' }
const CLIENT_KEY = { principal: 'app:18572344eb3881e2', keyId: '1.a.1.mxaroi52.mxaroi52.0.1-r', secret: 'YzRy47jgE1Kd-nWcRzDbTeqTCfGMllcrP-C6yxd_FPA' }

export const OPERATIONS: Readonly<Record<string, OperationDoc>> = {
  'GET /health': { operationId: 'health', summary: 'Health', response: { status: 'ok' } },
  'GET /ready': { operationId: 'ready', summary: 'Ready', response: { status: 'ready', checks: { store: true, revocations: true, replayCache: true } } },

  'POST /auth/signup': { operationId: 'signup', summary: 'Sign up', request: CREDENTIALS, response: { username: 'alice' } },
  'POST /auth/login': { operationId: 'login', summary: 'Log in', request: CREDENTIALS, response: KEY },
  'POST /auth/refresh': { operationId: 'refreshKey', summary: 'Refresh the key', response: KEY },
  'POST /auth/logout': { operationId: 'logout', summary: 'Log out' },
  'POST /auth/password': { operationId: 'changePassword', summary: 'Change the password', request: { password: 'correct horse battery', newPassword: 'a longer passphrase, changed' } },
  'GET /auth/whoami': { operationId: 'whoAmI', summary: 'Who am I', response: { username: 'alice', kind: 'user', keyId: KEY_ID, expiresAt: KEY.expiresAt } },

  'GET /v1/public/articles': { operationId: 'listArticles', summary: 'List articles', response: { items: [ARTICLE], next: null } },
  'POST /v1/public/articles': { operationId: 'createArticle', summary: 'Create an article', request: { title: 'Welcome', body: 'Hello, visitors' }, response: ARTICLE },
  'GET /v1/public/articles/{id}': { operationId: 'getArticle', summary: 'Read an article', response: ARTICLE },
  'PATCH /v1/public/articles/{id}': { operationId: 'updateArticle', summary: 'Change an article', request: { title: 'Welcome back' }, response: { ...ARTICLE, title: 'Welcome back', updatedAt: '2026-03-01T10:00:00.000Z' } },
  'DELETE /v1/public/articles/{id}': { operationId: 'deleteArticle', summary: 'Delete an article' },

  'POST /v1/notes': { operationId: 'createNote', summary: 'Create a note', request: { title: 'Groceries', body: 'milk, eggs' }, response: NOTE },
  'GET /v1/notes': { operationId: 'listNotes', summary: 'List notes', response: { items: [NOTE], next: null } },
  'GET /v1/notes/{id}': { operationId: 'getNote', summary: 'Read a note', response: NOTE },
  'PATCH /v1/notes/{id}': { operationId: 'updateNote', summary: 'Change a note', request: { body: 'milk, eggs, bread' }, response: { ...NOTE, body: 'milk, eggs, bread', updatedAt: '2026-03-01T09:05:00.000Z' } },
  'DELETE /v1/notes/{id}': { operationId: 'deleteNote', summary: 'Delete a note' },
  'PUT /v1/notes/{id}/grants/{username}': { operationId: 'shareNote', summary: 'Share a note', request: { access: 'read' }, response: { ...NOTE, grants: { bob: 'read' } } },
  'DELETE /v1/notes/{id}/grants/{username}': { operationId: 'unshareNote', summary: 'Stop sharing a note', response: NOTE },

  'POST /admin/clients': { operationId: 'registerClient', summary: 'Register a client', request: { name: 'ios-app-1.0', kind: 'app' }, response: { id: '18572344eb3881e2', ...CLIENT_KEY, scopes: ['public:read'] } },
  'GET /admin/clients': { operationId: 'listClients', summary: 'List clients', response: { items: [{ id: '18572344eb3881e2', name: 'ios-app-1.0', kind: 'app', principal: CLIENT_KEY.principal, scopes: ['public:read'], createdAt: '2026-03-01T08:30:00.000Z' }] } },
  'POST /admin/clients/{id}/rotate': { operationId: 'rotateClientKey', summary: 'Rotate a client key', response: { ...CLIENT_KEY, keyId: '1.a.1.mxaroi52.mxb0k1a9.0.2-r', secret: 'R7n1Qm0vXc2LpZ8sWk4TyH6uJd3FgA5bNe9oIq1rSt0' } },
  'DELETE /admin/clients/{id}': { operationId: 'deleteClient', summary: 'Delete a client' },
  'PATCH /admin/users/{username}': { operationId: 'updateUser', summary: 'Change a user', request: { roles: ['editor'] }, response: { username: 'bob', roles: ['editor'], disabled: false } },

  'POST /web/signup': { operationId: 'webSignup', summary: 'Website: create an account (performs POST /auth/signup)', request: CREDENTIALS, response: { username: 'alice' } },
  'POST /web/login': { operationId: 'webLogin', summary: 'Website: log in (performs POST /auth/login)', request: CREDENTIALS, response: { username: 'alice', expiresAt: KEY.expiresAt } },
  'POST /web/logout': { operationId: 'webLogout', summary: 'Website: log out (performs POST /auth/logout)' },
  'GET /web/api/{*}': { operationId: 'webApiGet', summary: 'Website: perform an API read as the logged-in user', response: { items: [NOTE], next: null } },
  'HEAD /web/api/{*}': { operationId: 'webApiHead', summary: 'Website: perform an API HEAD as the logged-in user' },
  'POST /web/api/{*}': { operationId: 'webApiPost', summary: 'Website: perform an API create as the logged-in user', request: { title: 'Groceries', body: 'milk, eggs' }, response: NOTE },
  'PUT /web/api/{*}': { operationId: 'webApiPut', summary: 'Website: perform an API PUT as the logged-in user', request: { access: 'read' }, response: { ...NOTE, grants: { bob: 'read' } } },
  'PATCH /web/api/{*}': { operationId: 'webApiPatch', summary: 'Website: perform an API change as the logged-in user', request: { body: 'milk, eggs, bread' }, response: NOTE },
  'DELETE /web/api/{*}': { operationId: 'webApiDelete', summary: 'Website: perform an API delete as the logged-in user', response: NOTE }
}

/** Examples of path parameters, by name: every operation with one shows it. */
export const PARAMETER_EXAMPLES: Readonly<Record<string, string>> = {
  id: NOTE.id,
  username: 'bob',
  '*': 'v1/notes?limit=5'
}
