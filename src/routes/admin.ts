/**
 * Admin routes (api-v1.md): clients (apps and services) and users. Client
 * secrets are derived keys: shown once, never stored. Rotation and deletion
 * are revocation records, so every instance refuses the old keys within
 * seconds with no per-request lookup.
 */
import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { randomBytes } from 'node:crypto'
import { ApiError } from '../errors.js'
import { issueKey } from '../auth/keys.js'
import { clientSid, DEFAULT_SCOPES, isWriteScope, type Scope } from '../auth/scopes.js'
import { ConflictError, type Client } from '../store/port.js'
import { NoContent } from '../schemas/common.js'
import { ClientCreate, ClientCreated, ClientSchema, ClientSecret, IdParams, UserPatch, UserSchema, UsernameParams } from '../schemas/api.js'
import type { AppServices } from '../services.js'

const admins = { kinds: ['user'] as const, roles: ['admin'] as const }
const principalOf = (c: Pick<Client, 'kind' | 'id'>): string => `${c.kind}:${c.id}`

export function adminRoutes (scope: FastifyInstance, s: AppServices): void {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>()
  const { config } = s

  function keyFor (client: Client): { principal: string, keyId: string, secret: string } {
    const now = s.now()
    const principal = principalOf(client)
    const key = issueKey(s.keyring, config.audience, principal, {
      kind: client.kind, sessionStart: now, issuedAt: now, expiresAt: null, sid: clientSid(client.generation, client.scopes as Scope[])
    })
    return { principal, keyId: key.keyId, secret: key.signingKey }
  }

  app.post('/admin/clients', { config: { signed: admins, errors: ['CLIENT_NAME_TAKEN'] }, schema: { body: ClientCreate, response: { 201: ClientCreated } } }, async (request, reply) => {
    const { name, kind } = request.body
    const scopes = request.body.scopes ?? DEFAULT_SCOPES
    const write = scopes.find(isWriteScope)
    if (kind === 'app' && write !== undefined) {
      throw new ApiError('VALIDATION_FAILED', `body.scopes: an app client never holds a write scope ("${write}"): its key ships inside the app`)
    }
    let client: Client
    try {
      client = await s.store.createClient({ id: randomBytes(8).toString('hex'), name, kind, scopes }, s.now())
    } catch (err) {
      if (err instanceof ConflictError) throw new ApiError('CLIENT_NAME_TAKEN')
      throw err
    }
    request.log.info({ client: principalOf(client) }, 'client registered')
    reply.header('cache-control', 'no-store')
    return reply.code(201).send({ id: client.id, ...keyFor(client), scopes: client.scopes })
  })

  app.get('/admin/clients', { config: { signed: admins }, schema: { response: { 200: { type: 'object', properties: { items: { type: 'array', items: ClientSchema } } } } } }, async () => {
    const clients = await s.store.listClients()
    return { items: clients.map(c => ({ id: c.id, name: c.name, kind: c.kind, principal: principalOf(c), scopes: c.scopes, createdAt: new Date(c.createdAt).toISOString() })) }
  })

  app.post('/admin/clients/:id/rotate', { config: { signed: admins, errors: ['NOT_FOUND'] }, schema: { params: IdParams, response: { 200: ClientSecret } } }, async (request, reply) => {
    const client = await s.store.rotateClient(request.params.id, s.now())
    if (client === null) throw new ApiError('NOT_FOUND', 'No such client')
    const now = s.now()
    const principal = principalOf(client)
    const scopes = client.scopes as Scope[]
    // The immediately previous key works for the overlap; any older one stops now.
    await s.revoke({ principal, sid: clientSid(client.generation - 1, scopes), before: null, effectiveAt: now + config.clientKeyOverlapSeconds * 1000, expiresAt: null })
    if (client.generation > 2) await s.revoke({ principal, sid: clientSid(client.generation - 2, scopes), before: null, effectiveAt: now, expiresAt: null })
    request.log.info({ client: principal, generation: client.generation }, 'client key rotated')
    reply.header('cache-control', 'no-store')
    return keyFor(client)
  })

  app.delete('/admin/clients/:id', { config: { signed: admins, errors: ['NOT_FOUND'] }, schema: { params: IdParams, response: { 204: NoContent } } }, async (request, reply) => {
    const client = await s.store.getClient(request.params.id)
    if (client === null || !await s.store.deleteClient(client.id)) throw new ApiError('NOT_FOUND', 'No such client')
    await s.revoke({ principal: principalOf(client), sid: null, before: Number.MAX_SAFE_INTEGER, effectiveAt: s.now(), expiresAt: null })
    request.log.info({ client: principalOf(client) }, 'client deleted; its keys are revoked')
    return reply.code(204).send(null)
  })

  app.patch('/admin/users/:username', { config: { signed: admins, errors: ['USER_NOT_FOUND'] }, schema: { params: UsernameParams, body: UserPatch, response: { 200: UserSchema } } }, async (request) => {
    const user = await s.store.updateUser(request.params.username, request.body, s.now())
    if (user === null) throw new ApiError('USER_NOT_FOUND')
    if (request.body.disabled === true) {
      // The cut-off is read only once the flag is stored: a login that read the user still enabled
      // took its sessionStart before that read, so at or before this instant, and its key is revoked too.
      const cutoff = s.now()
      await s.revoke({ principal: user.username, sid: null, before: cutoff + 1, effectiveAt: cutoff, expiresAt: cutoff + config.sessionMaxSeconds * 1000 })
      request.log.info({ username: user.username }, 'user disabled; keys revoked')
    }
    return { username: user.username, roles: user.roles, disabled: user.disabled }
  })
}
