/**
 * Peer 2: the same route behind @fastify/jwt, HS256 bearer tokens verified on
 * every request (the usual stateless alternative to a signed request).
 * GET /token (bench only) issues a token like a login would.
 */
import Fastify from 'fastify'
import jwt from '@fastify/jwt'
import { HOST, PORT, SAMPLE, TLS, WHOAMI_SCHEMA, listening, onSignals, tlsOptions } from './common.mjs'

const https = tlsOptions()
const app = Fastify({ logger: false, ...(https === undefined ? {} : { https }) })
await app.register(jwt, { secret: process.env.BENCH_JWT_SECRET ?? 'bench-secret-0123456789abcdef0123456789abcdef', sign: { algorithm: 'HS256', expiresIn: '6h' }, verify: { algorithms: ['HS256'] } })

app.get('/token', async () => ({ token: app.jwt.sign({ sub: SAMPLE.username, kind: 'user', kid: SAMPLE.keyId }) }))

app.register(async (scope) => {
  scope.addHook('onRequest', async (request) => { await request.jwtVerify() })
  scope.get('/auth/whoami', { schema: { response: { 200: WHOAMI_SCHEMA } } }, async (request) => {
    const p = request.user
    return { username: p.sub, kind: p.kind, keyId: p.kid, expiresAt: new Date(p.exp * 1000).toISOString() }
  })
})
onSignals(() => app.close())
await app.listen({ host: HOST, port: PORT })
listening(`${TLS ? 'https' : 'http'}://${HOST}:${app.server.address().port}`)
