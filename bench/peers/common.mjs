/**
 * What every peer shares: the listen address, and the same TLS key and
 * certificate as the product (the P-256 pair the server made in DATA_DIR),
 * so a TLS handshake and a record cost the same on both sides of a ratio.
 */
import { readFileSync } from 'node:fs'

export const HOST = process.env.HOST ?? '127.0.0.1'
export const PORT = Number(process.env.PORT ?? '0')
export const TLS = (process.env.TLS ?? 'on') === 'on'

/** { key, cert } from BENCH_TLS_PAIR (a PEM file holding both), or undefined when TLS=off. */
export function tlsOptions () {
  if (!TLS) return undefined
  const path = process.env.BENCH_TLS_PAIR
  if (path === undefined || path === '') throw new Error('BENCH_TLS_PAIR must name a PEM file with a private key and a certificate')
  const pair = readFileSync(path, 'utf8')
  const key = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----\n?/.exec(pair)?.[0]
  const cert = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/.exec(pair)?.[0]
  if (key === undefined || cert === undefined) throw new Error(`${path} holds no key and certificate`)
  return { key, cert }
}

/** The JSON whoami answers (protocol-v1.md), with realistic sizes. */
export const WHOAMI_SCHEMA = {
  type: 'object',
  properties: {
    username: { type: 'string' },
    kind: { type: 'string', enum: ['user', 'app', 'service'] },
    keyId: { type: 'string' },
    expiresAt: { anyOf: [{ type: 'string', format: 'date-time' }, { type: 'null' }] }
  }
}
export const SAMPLE = {
  username: 'bench0',
  kind: 'user',
  keyId: '1.u.1.mjuoghpc.mjuoghpc.mjv1bgdc.c2Vzc2lvbi1pZC0wMDAxAAAAAA',
  expiresAt: Date.now() + 6 * 3600_000
}

export function listening (url) {
  process.stdout.write(JSON.stringify({ level: 30, msg: 'listening', url }) + '\n')
}

export function onSignals (close) {
  let closing = false
  const stop = () => {
    if (closing) return
    closing = true
    Promise.resolve(close()).then(() => process.exit(0), () => process.exit(1))
  }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
}
