// Your own Fastify app, protected by signed-api: one login route of yours that hands out keys,
// and signed routes that say who may call them. Run: node server.js (PORT, default 3000).
import Fastify from 'fastify'
import signedApi, { MemoryRevocations } from 'signed-api/fastify'
import { issueUserKey, newKeyring, newSessionId } from 'signed-api/protocol'

const audience = 'example-api'
const keyring = newKeyring() // in production: one keyring file shared by every instance
const revocations = new MemoryRevocations()
const app = Fastify()
await app.register(signedApi, { keyring, audience, revocations })

// Unsigned: check the password your own way, then issue a key of a new session.
app.post('/auth/login', async (request, reply) => {
  const { username, password } = request.body as { username: string, password: string }
  if (password !== 'let me in') return await reply.code(401).send({ code: 'AUTH_INVALID_CREDENTIALS', message: 'Wrong username or password' })
  const key = issueUserKey(keyring, audience, username, { now: Date.now(), sessionId: newSessionId() })
  return { username, keyId: key.keyId, signingKey: key.signingKey, expiresAt: new Date(key.expiresAt).toISOString() }
})

// Signed: only users' keys; request.principal is the verified caller.
app.get('/hello', { config: { signed: { kinds: ['user'] } } }, async (request) => ({ hello: request.principal?.name }))

// Signed: every key of the caller's session stops working.
app.post('/auth/logout', { config: { signed: { kinds: ['user'] } } }, async (request, reply) => {
  const me = request.principal
  if (me !== null) revocations.revokeSession(me.name, me.fields.sid, Date.now())
  return await reply.code(204).send()
})

const url = await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 3000) })
console.log(`listening on ${url}`)
