/**
 * The private area (api-v1.md): notes owned by a user and shared through
 * grants. A note the caller may not see is 404, never 403, so its existence
 * never leaks; a caller who can see it but not do this gets 403.
 */
import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { ApiError } from '../errors.js'
import type { Principal } from '../auth/verify.js'
import type { Note } from '../store/port.js'
import { grantOf, grantsFrom } from '../store/grants.js'
import type { LimitKey } from '../auth/login-limiter.js'
import { NoContent } from '../schemas/common.js'
import { GrantBody, GrantParams, IdParams, NoteSchema, Page, PageQuery, TextCreate, TextPatch } from '../schemas/api.js'
import type { AppServices } from '../services.js'
import { pageOf } from './paging.js'

const users = { kinds: ['user'] as const }
const found = { signed: users, errors: ['NOT_FOUND'] as const }
const owner = { signed: users, errors: ['NOT_FOUND', 'FORBIDDEN'] as const }

export function noteView (note: Note, viewer: string): { id: string, owner: string, title: string, body: string, grants: Note['grants'], createdAt: string, updatedAt: string } {
  return {
    id: note.id,
    owner: note.owner,
    title: note.title,
    body: note.body,
    grants: note.owner === viewer ? note.grants : grantsFrom(),
    createdAt: new Date(note.createdAt).toISOString(),
    updatedAt: new Date(note.updatedAt).toISOString()
  }
}

type Role = 'owner' | 'write' | 'read' | null
/** An own-property lookup: a user named `constructor` holds no grant it was not given. */
const roleOf = (note: Note, username: string): Role =>
  note.owner === username ? 'owner' : grantOf(note.grants, username)

/**
 * Counts a lookup of a name before it is made (atomically, as login attempts
 * are); 429 once the key is over its limit. A name that exists is taken back
 * with loginLimiter.succeeded, so only unknown names count.
 */
async function countLookup (s: AppServices, keys: readonly LimitKey[]): Promise<void> {
  const wait = await s.loginLimiter.attempt(keys, s.now())
  if (wait > 0) throw new ApiError('RATE_LIMITED', undefined, undefined, { 'retry-after': String(wait) })
}

export function notesRoutes (scope: FastifyInstance, s: AppServices): void {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>()
  const who = (request: { principal: Principal | null }): string => (request.principal as Principal).name

  /** The note if the caller may see it; 404 otherwise; 403 if seen but `need` is more than held. */
  async function noteFor (id: string, username: string, need: 'read' | 'write' | 'owner'): Promise<Note> {
    const note = await s.store.getNote(id)
    const role = note === null ? null : roleOf(note, username)
    if (note === null || role === null) throw new ApiError('NOT_FOUND', 'No such note')
    const ok = need === 'read' || role === 'owner' || (need === 'write' && role === 'write')
    if (!ok) throw new ApiError('FORBIDDEN', need === 'owner' ? 'Only the owner may do this' : 'This note is shared with you read-only')
    return note
  }

  app.post('/v1/notes', { config: { signed: users }, schema: { body: TextCreate, response: { 201: NoteSchema } } }, async (request, reply) => {
    const note = await s.store.createNote({ id: s.newId(), owner: who(request), ...request.body }, s.now())
    return reply.code(201).send(noteView(note, who(request)))
  })

  app.get('/v1/notes', { config: { signed: users }, schema: { querystring: PageQuery, response: { 200: Page(NoteSchema) } } }, async (request) => {
    const username = who(request)
    return pageOf(s.cursors, `notes|${username}`, request.query, (after, limit) => s.store.listNotesFor(username, after, limit), n => noteView(n, username))
  })

  app.get('/v1/notes/:id', { config: found, schema: { params: IdParams, response: { 200: NoteSchema } } }, async (request) => {
    return noteView(await noteFor(request.params.id, who(request), 'read'), who(request))
  })

  app.patch('/v1/notes/:id', { config: owner, schema: { params: IdParams, body: TextPatch, response: { 200: NoteSchema } } }, async (request) => {
    await noteFor(request.params.id, who(request), 'write')
    const updated = await s.store.updateNote(request.params.id, request.body, s.now())
    if (updated === null) throw new ApiError('NOT_FOUND', 'No such note')
    return noteView(updated, who(request))
  })

  app.delete('/v1/notes/:id', { config: owner, schema: { params: IdParams, response: { 204: NoContent } } }, async (request, reply) => {
    await noteFor(request.params.id, who(request), 'owner')
    await s.store.deleteNote(request.params.id)
    return reply.code(204).send(null)
  })

  app.put('/v1/notes/:id/grants/:username', { config: { signed: users, errors: ['NOT_FOUND', 'FORBIDDEN', 'USER_NOT_FOUND', 'RATE_LIMITED', 'RATE_LIMIT_UNAVAILABLE'] }, schema: { params: GrantParams, body: GrantBody, response: { 200: NoteSchema } } }, async (request) => {
    const { id, username } = request.params
    await noteFor(id, who(request), 'owner')
    if (username === who(request)) throw new ApiError('VALIDATION_FAILED', 'params.username: the owner cannot be granted their own note')
    // Says whether the name exists, as signup's 409 already does: unknown names
    // are limited per user as signup's are per name (counted before the lookup,
    // so once over the limit a known name is refused too and 429 tells nothing).
    const lookups = [{ key: `grantee|${who(request)}`, max: s.config.loginMaxFailures }]
    await countLookup(s, lookups)
    if (await s.store.findUser(username) === null) throw new ApiError('USER_NOT_FOUND')
    await s.loginLimiter.succeeded(lookups, s.now())
    const note = await s.store.setGrant(id, username, request.body.access, s.now())
    if (note === null) throw new ApiError('NOT_FOUND', 'No such note')
    return noteView(note, who(request))
  })

  app.delete('/v1/notes/:id/grants/:username', { config: owner, schema: { params: GrantParams, response: { 200: NoteSchema } } }, async (request) => {
    const { id, username } = request.params
    await noteFor(id, who(request), 'owner')
    const note = await s.store.setGrant(id, username, null, s.now())
    if (note === null) throw new ApiError('NOT_FOUND', 'No such note')
    return noteView(note, who(request))
  })
}
