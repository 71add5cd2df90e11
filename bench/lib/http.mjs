/** One-off HTTP(S) calls for setting up a run (signup, login, keys, seed data). */
import http from 'node:http'
import https from 'node:https'

/**
 * Sends one request to `base` (http://... or https://...). `ca`: the PEM the
 * HTTPS server must present. Resolves { status, headers, body, json }.
 */
export function call (base, method, target, { headers = {}, body, ca, timeoutMs = 30_000 } = {}) {
  const url = new URL(base)
  const lib = url.protocol === 'https:' ? https : http
  const payload = body === undefined ? undefined : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body), 'utf8')
  return new Promise((resolve, reject) => {
    const req = lib.request({
      host: url.hostname,
      port: url.port,
      method,
      path: target,
      agent: false,
      ...(url.protocol === 'https:' ? { ca, servername: 'localhost' } : {}),
      headers: {
        ...headers,
        ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(payload.length) })
      },
      timeout: timeoutMs
    }, (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        let json
        try { json = text === '' ? undefined : JSON.parse(text) } catch { json = undefined }
        resolve({ status: res.statusCode, headers: res.headers, body: text, json })
      })
    })
    req.on('timeout', () => req.destroy(new Error(`${method} ${target}: timed out`)))
    req.on('error', reject)
    if (payload !== undefined) req.write(payload)
    req.end()
  })
}

/** A signed call with a Credential from signer.mjs. */
export function signedCall (base, cred, method, target, { body, ca, headers = {} } = {}) {
  const text = body === undefined ? '' : (typeof body === 'string' ? body : JSON.stringify(body))
  return call(base, method, target, {
    ca,
    headers: { ...headers, ...cred.headers(method, target, text) },
    ...(text === '' ? {} : { body: text })
  })
}
