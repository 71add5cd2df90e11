/**
 * Peer 1, the ceiling: a bare Fastify route answering what whoami answers, no auth at all.
 *
 * BENCH_VARIANT (attribution rows of a full run, to price one layer of the product):
 *   helmet          + @fastify/helmet with the product's options (global, HSTS on HTTPS)
 *   static-headers  + the same headers, computed once by helmet at start and set with reply.headers()
 */
import Fastify from 'fastify'
import { HOST, PORT, SAMPLE, TLS, WHOAMI_SCHEMA, listening, onSignals, tlsOptions } from './common.mjs'

const variant = process.env.BENCH_VARIANT ?? ''
const helmetOptions = { hsts: TLS ? { maxAge: 31_536_000, includeSubDomains: true } : false }
const https = tlsOptions()
const app = Fastify({ logger: false, ...(https === undefined ? {} : { https }) })

if (variant === 'helmet') {
  const { default: fastifyHelmet } = await import('@fastify/helmet')
  await app.register(fastifyHelmet, { ...helmetOptions, global: true })
} else if (variant === 'static-headers') {
  const { default: helmet } = await import('helmet')
  const headers = {}
  helmet(helmetOptions)({}, { setHeader: (k, v) => { headers[k.toLowerCase()] = v }, removeHeader: () => {} }, () => {})
  app.addHook('onRequest', (_request, reply, done) => { reply.headers(headers); done() })
} else if (variant !== '') {
  throw new Error(`unknown BENCH_VARIANT ${variant}`)
}

app.get('/auth/whoami', { schema: { response: { 200: WHOAMI_SCHEMA } } }, async () => ({
  username: SAMPLE.username, kind: SAMPLE.kind, keyId: SAMPLE.keyId, expiresAt: new Date(SAMPLE.expiresAt).toISOString()
}))
onSignals(() => app.close())
await app.listen({ host: HOST, port: PORT })
listening(`${TLS ? 'https' : 'http'}://${HOST}:${app.server.address().port}`)
