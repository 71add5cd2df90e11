// Collection pre-request script: signs every request per protocol v1 (HMAC-SHA256-V1).
// Runs in Postman's sandbox (and newman's) before each request of the collection.
//
// canonical string, seven fields joined by LF, the raw body last:
//   HMAC-SHA256-V1\n<Auth-Username>\n<Auth-Key-Id>\n<X-Microtime>\n<METHOD>\n<request-target>\n<body>
// The HMAC key is the UTF-8 bytes of {{signingKey}} as the server sent it (never base64-decoded);
// X-Microtime is Unix time in milliseconds, max(now + {{clockOffsetMs}}, last + 1).
const hmac = require('crypto-js') // CryptoJS, as the sandbox provides it

const UNSIGNED = [] // filled in by postman/generate.ts: [METHOD, path pattern] of the routes that take no signature

;(function sign () {
  const method = pm.request.method.toUpperCase()
  // Resolve {{variables}} once and put the result back, so the bytes signed are the bytes sent
  // (a dynamic variable such as {{$timestamp}} would otherwise be resolved again, differently).
  pm.request.url.update(pm.variables.replaceIn(pm.request.url.toString()))
  const target = pm.request.url.getPathWithQuery()
  let body = ''
  if (pm.request.body !== undefined && pm.request.body !== null && !pm.request.body.isEmpty()) {
    if (pm.request.body.mode !== 'raw') throw new Error('signed-api: a body is raw JSON (Body > raw > JSON); ' + pm.request.body.mode + ' bodies cannot be signed')
    body = pm.variables.replaceIn(pm.request.body.raw)
    pm.request.body.update({ mode: 'raw', raw: body, options: { raw: { language: 'json' } } })
    pm.request.headers.upsert({ key: 'Content-Type', value: 'application/json' })
  }
  const path = target.split('?')[0]
  if (UNSIGNED.some(([m, pattern]) => m === method && new RegExp(pattern).test(path))) return

  // The collection turns Postman's URL encoding off (protocolProfileBehavior.disableUrlEncoding),
  // so the target goes on the request line exactly as signed: percent-encode it yourself.
  if (!/^\/[\x21-\x7e]*$/.test(target)) throw new Error('signed-api: the request target may hold only bytes 0x21..0x7E; percent-encode spaces and non-ASCII: ' + target)
  const username = pm.variables.get('username')
  const keyId = pm.variables.get('keyId')
  const key = pm.variables.get('signingKey')
  if (!username || !keyId || !key) throw new Error('signed-api: no key yet; send "Log in" first (it stores username, keyId and signingKey), or set them for a client key')

  const offset = Number(pm.collectionVariables.get('clockOffsetMs')) || 0
  const last = Number(pm.collectionVariables.get('lastMicrotime')) || 0
  const time = String(Math.max(Date.now() + offset, last + 1))
  pm.collectionVariables.set('lastMicrotime', time)

  const canonical = ['HMAC-SHA256-V1', username, keyId, time, method, target].join('\n') + '\n' + body
  const signature = hmac.HmacSHA256(hmac.enc.Utf8.parse(canonical), hmac.enc.Utf8.parse(key)).toString(hmac.enc.Hex)
  pm.request.headers.upsert({ key: 'Auth-Username', value: username })
  pm.request.headers.upsert({ key: 'Auth-Key-Id', value: keyId })
  pm.request.headers.upsert({ key: 'X-Microtime', value: time })
  pm.request.headers.upsert({ key: 'Auth-Signature', value: signature })
})()
