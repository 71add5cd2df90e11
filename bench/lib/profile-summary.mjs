/**
 * Summarises a V8 .cpuprofile (node --cpu-prof): where the busy time goes,
 * by area (the product's files, each package, Node internals, GC) and by
 * function, self and inclusive. Usable alone:
 *
 *   node bench/lib/profile-summary.mjs file.cpuprofile
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

function area (url, name) {
  if (url === '') {
    if (name === '(idle)') return '(idle)'
    if (name === '(garbage collector)') return '(garbage collector)'
    if (name === '(program)') return '(program: native, not JS)'
    return '(native)'
  }
  const src = /\/dist\/(src\/.+?)\.js$/.exec(url)
  if (src) return src[1] + '.ts'
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)
  if (pkg) return pkg[1]
  if (url.startsWith('node:')) return url.replace(/^node:internal\/([^/]+).*$/, 'node:internal/$1').replace(/^node:([^/]+).*$/, (m) => m)
  return url.replace(/^file:\/\//, '').split('/').slice(-2).join('/')
}

function label (frame) {
  const name = frame.functionName === '' ? '(anonymous)' : frame.functionName
  const where = frame.url === '' ? '' : ` ${frame.url.replace(/^file:\/\//, '').replace(/^.*\/(dist\/src\/|node_modules\/)/, '$1')}:${frame.lineNumber + 1}`
  return `${name}${where}`
}

export function summarizeProfile (profile, { top = 25 } = {}) {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]))
  const parent = new Map()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const deltas = profile.timeDeltas
  const self = new Map()
  const incl = new Map()
  const byArea = new Map()
  let total = 0
  let idle = 0
  for (let i = 0; i < profile.samples.length; i++) {
    const w = deltas[i + 1] ?? deltas[i] ?? 0
    const node = nodes.get(profile.samples[i])
    const f = node.callFrame
    total += w
    if (f.functionName === '(idle)') { idle += w; continue }
    const key = label(f)
    self.set(key, (self.get(key) ?? 0) + w)
    const a = area(f.url, f.functionName)
    byArea.set(a, (byArea.get(a) ?? 0) + w)
    const seen = new Set()
    for (let id = node.id; id !== undefined; id = parent.get(id)) {
      const k = label(nodes.get(id).callFrame)
      if (seen.has(k)) continue
      seen.add(k)
      incl.set(k, (incl.get(k) ?? 0) + w)
    }
  }
  const busy = total - idle
  const pct = (x) => `${((x / busy) * 100).toFixed(1)}%`
  const out = []
  out.push(`Sampled ${(total / 1e6).toFixed(1)} s, of which busy (not idle) ${(busy / 1e6).toFixed(1)} s. Shares below are of the busy time.`)
  out.push('')
  out.push('| area (self time) | share |')
  out.push('|---|---:|')
  for (const [k, v] of [...byArea].sort((a, b) => b[1] - a[1]).slice(0, 20)) out.push(`| ${k} | ${pct(v)} |`)
  out.push('')
  out.push(`| top ${top} functions by self time | self |`)
  out.push('|---|---:|')
  for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) out.push(`| \`${k}\` | ${pct(v)} |`)
  out.push('')
  out.push('| the product\'s functions (dist/src) by inclusive time | inclusive |')
  out.push('|---|---:|')
  for (const [k, v] of [...incl].filter(([k]) => k.includes('dist/src/')).sort((a, b) => b[1] - a[1]).slice(0, top)) out.push(`| \`${k}\` | ${pct(v)} |`)
  out.push('')
  // Inclusive time of every function, leaving out pure dispatchers that sit above everything.
  const generic = /^(\(root\)|\(program\)|processTicksAndRejections|runMicrotasks|emit |emit$|listOnTimeout|processTimers|onStreamRead|parserOnHeadersComplete|parserOnIncoming|next |hookRunner|handleResolve|hookIterator|(anonymous) node:)/
  out.push(`| top ${top} functions by inclusive time (dispatchers left out) | inclusive |`)
  out.push('|---|---:|')
  for (const [k, v] of [...incl].filter(([k]) => !generic.test(k)).sort((a, b) => b[1] - a[1]).slice(0, top)) out.push(`| \`${k}\` | ${pct(v)} |`)
  out.push('')
  const watch = ['createHmac', 'digest', 'Hmac', 'timingSafeEqual', 'toISOString', 'randomUUID', 'serialize', 'writeHead', 'end', 'helmetApplyHeaders', 'helmetConfigureReply', 'buildHelmetOnRoutes', 'replyDecorators', 'child', 'setHeader', 'writev', 'onSendEnd', 'preHandlerCallback', 'preValidationCallback']
  const named = [...incl].filter(([k]) => watch.some((w) => k.startsWith(`${w} `) || k === w)).sort((a, b) => b[1] - a[1]).slice(0, 20)
  if (named.length > 0) {
    out.push('| selected library functions by inclusive time | inclusive |')
    out.push('|---|---:|')
    for (const [k, v] of named) out.push(`| \`${k}\` | ${pct(v)} |`)
    out.push('')
  }
  return out.join('\n')
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = process.argv[2]
  if (file === undefined) {
    process.stderr.write('usage: node bench/lib/profile-summary.mjs file.cpuprofile\n')
    process.exit(2)
  }
  process.stdout.write(summarizeProfile(JSON.parse(readFileSync(file, 'utf8'))) + '\n')
}
