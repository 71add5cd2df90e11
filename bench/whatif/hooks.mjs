/**
 * Module hooks behind register.mjs: a compiled product module patched as
 * text when it loads. Each patch names the exact text it replaces, and the
 * server refuses to start when that text is not there, so a stale what-if
 * never measures the unpatched product by mistake.
 */
let what = new Set()

export async function initialize (data) {
  what = new Set(String(data?.what ?? '').split(',').map((s) => s.trim()).filter((s) => s !== ''))
}

/** name -> [file suffix under dist/src, text to find, replacement]. Attribution only: each removes a step the protocol or the contract requires. */
const PATCHES = {
  // The signature's HMAC and its comparison: the first request's digest is reused and every signature "holds".
  'skip-hmac': [
    ['/dist/src/auth/verify.js', "const digest = canonicalDigest(key ?? 'no key', parts, body);", "const digest = globalThis.__benchDigest ??= canonicalDigest(key ?? 'no key', parts, body);"],
    ['/dist/src/auth/verify.js', '!signatureMatches(digest, auth.signature)', 'false']
  ],
  // The 12 security headers of helmet's defaults (api-v1.md requires them on every answer): written with no
  // head (server-response.ts), and set on no reply (app.ts does that for injected answers only, or as a fallback).
  'skip-security-headers': [
    ['/dist/src/server-response.js', 'storeHeader.call(this, firstLine + fixedLinesFor(headers), headers);', 'storeHeader.call(this, firstLine, headers);'],
    ['/dist/src/app.js', '    const setSecurityHeaders = (reply) => {', '    const setSecurityHeaders = (reply) => { return;']
  ],
  // Check 7: nothing remembered, every signature fresh.
  'skip-replay': [['/dist/src/auth/plugin.js', 'pending = replay.remember(entry.key, entry.expiresAt, now);', "pending = 'fresh';"]],
  // The per-principal rate limit step.
  'skip-rate-limit': [['/dist/src/auth/plugin.js', 'services.rateLimit.hit(`${principal.name}|${request.ip}`, afterLimit);', 'afterLimit(null);']]
}

export async function load (url, context, next) {
  const patches = [...what].flatMap((name) => {
    if (PATCHES[name] === undefined) throw new Error(`unknown bench what-if ${name} (known: ${Object.keys(PATCHES).join(', ')})`)
    return PATCHES[name].map((p) => [name, ...p])
  }).filter(([, suffix]) => url.endsWith(suffix))
  if (patches.length === 0) return next(url, context)
  const result = await next(url, context)
  let source = String(result.source)
  for (const [name, , find, replace] of patches) {
    if (!source.includes(find)) throw new Error(`bench what-if ${name} does not apply: ${url} no longer contains ${JSON.stringify(find)}`)
    source = source.replace(find, replace)
  }
  return { ...result, source, shortCircuit: true }
}
