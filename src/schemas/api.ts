/** TypeBox schemas of the two areas and the admin routes (api-v1.md). */
import Type from 'typebox'
import { Username } from './common.js'
import { SCOPE_NAMES } from '../auth/scopes.js'

export const ID_PATTERN = '^[A-Za-z0-9_-]{1,64}$'
export const Id = Type.String({ pattern: ID_PATTERN, description: 'Opaque id: 1..64 chars of [A-Za-z0-9_-]' })
export const IdParams = Type.Object({ id: Id }, { additionalProperties: false })
export const GrantParams = Type.Object({ id: Id, username: Username }, { additionalProperties: false })
export const UsernameParams = Type.Object({ username: Username }, { additionalProperties: false })

export const PageQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20, description: 'Page size, 1..100 (default 20)' })),
  after: Type.Optional(Type.String({ pattern: ID_PATTERN, description: 'The `next` cursor of the previous page' }))
}, { additionalProperties: false })

export const TITLE_MAX = 200
export const BODY_MAX = 100_000
const Title = Type.String({ minLength: 1, maxLength: TITLE_MAX, description: `1..${TITLE_MAX} characters` })
const Body = Type.String({ maxLength: BODY_MAX, description: `Up to ${BODY_MAX} characters` })
export const TextCreate = Type.Object({ title: Title, body: Body }, { additionalProperties: false })
export const TextPatch = Type.Object({ title: Type.Optional(Title), body: Type.Optional(Body) }, { additionalProperties: false, minProperties: 1 })

const Timestamp = Type.String({ format: 'date-time' })
export const AccessLevel = Type.Union([Type.Literal('read'), Type.Literal('write')])
export const NoteSchema = Type.Object({
  id: Id,
  owner: Type.String(),
  title: Type.String(),
  body: Type.String(),
  grants: Type.Record(Type.String(), AccessLevel, { description: 'Only the owner sees the grants; a grantee sees {}' }),
  createdAt: Timestamp,
  updatedAt: Timestamp
})
export const ArticleSchema = Type.Object({ id: Id, title: Type.String(), body: Type.String(), author: Type.String(), createdAt: Timestamp, updatedAt: Timestamp })
export const Page = <T extends Parameters<typeof Type.Array>[0]>(item: T) => Type.Object({
  items: Type.Array(item),
  next: Type.Union([Type.String(), Type.Null()], { description: 'Cursor for the next page, or null on the last page' })
})
export const GrantBody = Type.Object({ access: AccessLevel }, { additionalProperties: false })

export const ScopeName = Type.Union(SCOPE_NAMES.map(s => Type.Literal(s)))
export const ClientCreate = Type.Object({
  name: Type.String({ pattern: '^[A-Za-z0-9 ._-]{1,64}$', description: '1..64 chars of [A-Za-z0-9 ._-], unique' }),
  kind: Type.Union([Type.Literal('app'), Type.Literal('service')]),
  scopes: Type.Optional(Type.Array(ScopeName, { uniqueItems: true, maxItems: SCOPE_NAMES.length, description: 'Default ["public:read"]; an app never holds a write scope' }))
}, { additionalProperties: false })
export const ClientSchema = Type.Object({ id: Id, name: Type.String(), kind: Type.String(), principal: Type.String(), scopes: Type.Array(Type.String()), createdAt: Timestamp })
export const ClientSecret = Type.Object({
  principal: Type.String(),
  keyId: Type.String(),
  secret: Type.String({ description: 'The signing key: shown once, never stored' })
})
export const ClientCreated = Type.Object({ id: Id, principal: Type.String(), keyId: Type.String(), secret: Type.String(), scopes: Type.Array(Type.String()) })
export const UserPatch = Type.Object({
  roles: Type.Optional(Type.Array(Type.Union([Type.Literal('admin'), Type.Literal('editor')]), { uniqueItems: true })),
  disabled: Type.Optional(Type.Boolean())
}, { additionalProperties: false, minProperties: 1 })
export const UserSchema = Type.Object({ username: Type.String(), roles: Type.Array(Type.String()), disabled: Type.Boolean() })
