/**
 * Peer 3: the same route behind Express + express-session, the session kept
 * in a real redis-server (connect-redis on node-redis), defaults otherwise:
 * each request unsigns the cookie, reads the session from Redis and touches
 * its expiry. POST /login (bench only) creates the session and sets the cookie.
 */
import http from 'node:http'
import https from 'node:https'
import express from 'express'
import session from 'express-session'
import { RedisStore } from 'connect-redis'
import { createClient } from 'redis'
import { HOST, PORT, SAMPLE, TLS, listening, onSignals, tlsOptions } from './common.mjs'

const redis = createClient({ url: process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379' })
redis.on('error', (err) => process.stderr.write(`redis: ${err.message}\n`))
await redis.connect()

const app = express()
app.disable('x-powered-by')
app.use(session({
  store: new RedisStore({ client: redis, prefix: 'bench:' }),
  secret: process.env.BENCH_SESSION_SECRET ?? 'bench-session-secret-0123456789abcdef',
  name: 'sid',
  resave: false,
  saveUninitialized: false,
  cookie: { httpOnly: true, secure: TLS, sameSite: 'lax', maxAge: 6 * 3600_000 }
}))
app.post('/login', (req, res, next) => {
  req.session.regenerate((err) => {
    if (err) return next(err)
    req.session.user = { username: SAMPLE.username, kind: 'user', keyId: SAMPLE.keyId, expiresAt: SAMPLE.expiresAt }
    res.json({ username: SAMPLE.username })
  })
})
app.get('/auth/whoami', (req, res) => {
  const u = req.session.user
  if (u === undefined) return res.status(401).json({ statusCode: 401, code: 'AUTH_MISSING', error: 'Unauthorized', message: 'No session' })
  res.json({ username: u.username, kind: u.kind, keyId: u.keyId, expiresAt: new Date(u.expiresAt).toISOString() })
})

const tls = tlsOptions()
const server = tls === undefined ? http.createServer(app) : https.createServer(tls, app)
onSignals(() => new Promise((resolve) => { server.close(() => { redis.quit().then(resolve, resolve) }); server.closeIdleConnections?.() }))
server.listen(PORT, HOST, () => {
  listening(`${TLS ? 'https' : 'http'}://${HOST}:${server.address().port}`)
})
