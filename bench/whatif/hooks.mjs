/**
 * Module hooks behind register.mjs. Two kinds of what-if:
 *  - a module swapped for a bench-owned stand-in (resolve hook);
 *  - a compiled product module patched as text when it loads (load hook):
 *    each patch names the exact text it replaces, and the server refuses to
 *    start when that text is not there, so a stale what-if never measures
 *    the unpatched product by mistake.
 */
let what = new Set()

export async function initialize (data) {
  what = new Set(String(data?.what ?? '').split(',').map((s) => s.trim()).filter((s) => s !== ''))
}

const here = (file) => new URL(`./${file}`, import.meta.url).href

/** name -> [file suffix under dist/src, text to find, replacement] */
const PATCHES = {
  // No per-request child logger (and no redaction pass over its bindings) when request lines are not logged anyway.
  'no-child-logger': [['/dist/src/app.js', 'genReqId: () => randomUUID(),', 'genReqId: () => randomUUID(), childLoggerFactory: (logger, bindings, opts) => (logger.isLevelEnabled(\'info\') ? logger.child(bindings, opts) : logger),']],
  // whoami's expiresAt as a plain string-or-null: fast-json-stringify then needs no ajv anyOf/date-time check per response.
  'whoami-schema': [['/dist/src/routes/auth.js', "expiresAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()])", "expiresAt: Type.Unsafe({ type: ['string', 'null'] })"]],
  // Await the replay cache only when it answers with a promise (the Redis one); the memory one answers at once.
  'sync-replay': [['/dist/src/auth/plugin.js', 'answer = await replay.remember(entry.key, entry.expiresAt, now);', 'answer = replay.remember(entry.key, entry.expiresAt, now); if (typeof answer?.then === \'function\') answer = await answer;']],
  // Attribution only (not a suggestion): what the per-principal rate limit step costs.
  'skip-rate-limit': [['/dist/src/auth/plugin.js', 'const limit = await services.rateLimit(request);', 'const limit = { isAllowed: true };']]
}

export async function resolve (specifier, context, next) {
  const parent = context.parentURL ?? ''
  if (!parent.includes('/bench/whatif/')) {
    if (what.has('static-helmet') && specifier === '@fastify/helmet') return { url: here('static-helmet.mjs'), shortCircuit: true, format: 'module' }
    if (what.has('key-cache') && specifier === './keys.js' && parent.endsWith('/dist/src/auth/verify.js')) return { url: here('key-cache.mjs'), shortCircuit: true, format: 'module' }
  }
  return next(specifier, context)
}

export async function load (url, context, next) {
  const patches = [...what].flatMap((name) => (PATCHES[name] ?? []).map((p) => [name, ...p])).filter(([, suffix]) => url.endsWith(suffix))
  if (patches.length === 0) return next(url, context)
  const result = await next(url, context)
  let source = String(result.source)
  for (const [name, , find, replace] of patches) {
    if (!source.includes(find)) throw new Error(`bench what-if ${name} does not apply: ${url} no longer contains ${JSON.stringify(find)}`)
    source = source.replace(find, replace)
  }
  return { ...result, source, shortCircuit: true }
}
