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
  // The 12 security headers of helmet's defaults (api-v1.md requires them on every answer), set on each reply
  // by the root hook (plugins/headers.ts): what they cost now that no undocumented Node method writes them.
  'skip-security-headers': [
    ['/dist/src/plugins/headers.js', '        reply.headers(security);', '']
  ],
  // Check 7: nothing remembered, every signature fresh.
  'skip-replay': [['/dist/src/fastify/index.js', 'pending = replay.remember(entry.key, entry.expiresAt, tBody);', "pending = 'fresh';"]],
  // The per-principal rate limit step.
  'skip-rate-limit': [['/dist/src/fastify/index.js', 'limiter.hit(`${principal.name}|${limitAddress(request.ip)}`, afterLimit);', 'afterLimit(null);']],
  // The list of requests in flight (plugins/in-flight.ts: one onRequest hook and a close listener per request),
  // which only a shutdown past SHUTDOWN_GRACE_MS reads.
  'skip-in-flight': [['/dist/src/app.js', '    await app.register(inFlight);\n', '']],
  // The data path before group commit (issue 20): each write flushed at once, alone in its own transaction
  // and its own WAL fsync, as the embedded store wrote before. Not a required step: the before/after of a change.
  'no-group-commit': [['/dist/src/store/embedded.js', 'timer ??= setImmediate(flush);', 'flush();']]
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
