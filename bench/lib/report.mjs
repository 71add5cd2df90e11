/** The markdown report: one table, then the bars of issue 8 (measured, never asserted). */

const ORDER = ['whoami', 'metrics', 'articles', 'notes', 'login', 'health', 'bare', 'jwt', 'express', 'read-floor', 'write-floor', 'bare+helmet', 'bare+static', 'whatif:skip-hmac', 'whatif:skip-security-headers', 'whatif:skip-replay', 'whatif:skip-rate-limit', 'whatif:no-group-commit@notes']

function fmt (x, digits = 1) {
  if (x === undefined || x === null || !Number.isFinite(x)) return '—'
  if (Math.abs(x) >= 10_000) return Math.round(x).toLocaleString('en-US')
  if (Math.abs(x) >= 1000) return x.toFixed(0)
  return x.toFixed(digits)
}

const ms = (x) => (Number.isFinite(x) ? (x >= 100 ? x.toFixed(0) : x.toFixed(2)) : '—')

function notes (row) {
  const out = []
  if (row.note) out.push(row.note)
  if (row.notOk > 0.001 * row.responses) out.push('⚠ not all answers were 2xx: these figures measure something else')
  if (row.notOk > 0) {
    const bad = Object.entries(row.statuses).filter(([s]) => !(s >= 200 && s < 300)).map(([s, n]) => `${s}×${n}`)
    out.push(`non-2xx: ${bad.join(', ')} of ${row.responses}`)
  }
  if (row.errors > 0) out.push(`${row.errors} socket errors`)
  if (row.liveSigned > 0) out.push(`${row.liveSigned} signed at send time (pool ran dry)`)
  if (Number.isFinite(row.cpuPct)) out.push(`server core ${row.cpuPct.toFixed(0)}% busy`)
  if (row.machineBusyBefore > 12) out.push(`machine ${row.machineBusyBefore.toFixed(0)}% busy with other work before a run`)
  if (row.foreignPct > 10) out.push(`noisy: ${row.foreignPct.toFixed(0)}% of the server's core used by others`)
  return out.join('; ')
}

/** A row whose answers were not (nearly) all 2xx measured something else: it backs no bar. */
const valid = (r) => !r.missing && !r.skipped && r.notOk <= 0.001 * r.responses

export function renderMarkdown ({ meta, rows, soak, replay, queries }) {
  const byKey = (key, transport) => rows.find((r) => r.key === key && r.transport === transport && valid(r))
  const lines = []
  const c = meta.cfg
  lines.push(`# Bench: signed API server vs peers (${meta.mode}, ${meta.date})`)
  lines.push('')
  lines.push(`Node ${meta.node} on ${meta.cpu ?? 'unknown CPU'}, ${meta.cores} cores; ${meta.pinned ? 'server pinned to core 0, load generator (autocannon, one process) to core 1' : 'NOT pinned (taskset missing or one core)'}. ` +
    `Each row: warm-up ${c.warmup} s, then ${c.repeats} runs of ${c.duration} s, median of each figure; ${c.connections} keep-alive connections (login: ${c.loginConnections}), no pipelining. ` +
    `Server: \`LOG_LEVEL=warn\`, helmet's security headers and the rate limits on (production defaults) with \`RATE_LIMIT_PER_MINUTE=${c.rateLimitPerMinute}\` and \`LOGIN_MAX_FAILURES=${c.loginMaxFailures}\` so that no limit is met; plain HTTP with \`TLS=off TRUST_PROXY=127.0.0.1\`. ` +
    `Load average before/after: ${meta.loadavgBefore.map((x) => x.toFixed(2)).join(' ')} / ${(meta.loadavgAfter ?? []).map((x) => x.toFixed(2)).join(' ')}.`)
  lines.push('')
  lines.push('CPU µs/req is the server process\'s user+system CPU time over the measured window divided by the responses in it (the primary figure). ' +
    'The load generator has one core too: where the server\'s core is not ~100% busy (the "busy" note), req/s is the generator\'s ceiling, not the server\'s; "req/s per core" = 10⁶ / (CPU µs/req) gives what one fully busy server core would serve.')
  lines.push('')
  lines.push('| scenario | over | req/s | p50 ms | p99 ms | CPU µs/req | µs ÷ bare | req/s ÷ bare | req/s per core | notes |')
  lines.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---|')
  for (const transport of ['HTTPS', 'HTTP']) {
    const bare = byKey('bare', transport)
    // Rows in ORDER first; others (a combined what-if) after them, in the order they ran.
    const rank = (r) => { const i = ORDER.indexOf(r.key); return i === -1 ? ORDER.length : i }
    const list = rows.filter((r) => r.transport === transport).sort((a, b) => rank(a) - rank(b))
    for (const r of list) {
      if (r.missing || r.skipped) {
        lines.push(`| ${r.scenario} | ${transport} | ${r.missing ? 'route missing' : 'not run'} | | | | | | | ${r.note ?? ''} |`)
        continue
      }
      const usRatio = bare ? r.usPerReq / bare.usPerReq : NaN
      const rpsRatio = bare ? r.rps / bare.rps : NaN
      lines.push(`| ${r.scenario} | ${transport} | ${fmt(r.rps, 0)} | ${ms(r.p50)} | ${ms(r.p99)} | ${fmt(r.usPerReq)} | ${fmt(usRatio, 2)} | ${fmt(rpsRatio, 2)} | ${fmt(1e6 / r.usPerReq, 0)} | ${notes(r)} |`)
    }
  }
  if (soak !== null && soak !== undefined) {
    const l = soak.load
    const series = soak.snapshots.map((x) => `${x.heapMB.toFixed(1)}`).join(' → ')
    lines.push(`| memory: server heap over a ${c.soak} s signed load (${soak.routes.join(' + ')}, signed at send time) | HTTPS | ${fmt(l.rps, 0)} | ${ms(l.p50)} | ${ms(l.p99)} | ${fmt(l.usPerReq)} | | | | heap after GC (MB): ${soak.startMB.toFixed(1)} before; ${series} at ${soak.snapshots.map((x) => `${x.t.toFixed(0)}`).join(', ')} s: ${soak.growthMB >= 0 ? '+' : ''}${soak.growthMB.toFixed(1)} MB over the steady ${soak.growthWindowS.toFixed(0)} s; RSS ${soak.snapshots[soak.snapshots.length - 1].rssMB.toFixed(0)} MB${l.responses - l.ok > 0 ? `; non-2xx ${l.responses - l.ok}` : ''} |`)
  }
  if (replay !== null && replay !== undefined) {
    if (replay.error) lines.push(`| memory: replay-cache entry | — | | | | | | | | ${replay.error} |`)
    else lines.push(`| memory: bytes per replay-cache entry (MemoryReplayCache, keys from the server's replayEntry()) | — | | | | | | | | ${replay.runs.map((r) => `${r.bytesPerEntry.toFixed(0)} B/entry at ${r.entries.toLocaleString('en-US')} entries`).join('; ')}${replay.variants ? `. Other layouts (bench/replay-memory.mjs --variants): ${replay.variants.map((v) => `${v.layout} ${v.bytesPerEntry.toFixed(0)} B`).join(', ')}` : ''} |`)
    const a = replay.atRate
    if (a) lines.push(`| memory: replay cache at ${a.rate.toLocaleString('en-US')} signed req/s (entries live X-Microtime + ${a.skewMs / 1000} s skew + ${a.bodyTimeoutMs / 1000} s body timeout + 1 ms, to the whole second, swept the next: ${a.lifetimeS} s at most) | — | | | | | | | | ${a.entries.toLocaleString('en-US')} entries: ${a.bytesPerEntry.toFixed(0)} B/entry, ${a.mb.toFixed(1)} MB of heap |`)
  }
  if (queries) {
    if (queries.error) lines.push(`| store: statements per notes list (embedded) | — | | | | | | | | ${queries.error} |`)
    else lines.push(`| store: statements per notes list (embedded store, first page, bench/notes-queries.mjs) | — | | | | | | | | ${queries.one.statements} for ${queries.one.notes} shared note, ${queries.twenty.statements} for ${queries.twenty.notes} shared notes (${queries.twenty.grants} grants) |`)
  }
  lines.push('')

  // ---- bars ----
  const who = byKey('whoami', 'HTTPS')
  const bare = byKey('bare', 'HTTPS')
  const jwt = byKey('jwt', 'HTTPS')
  const exp = byKey('express', 'HTTPS')
  const login = byKey('login', 'HTTPS')
  const verdict = (ok) => (ok === null ? 'not measured' : ok ? '**met**' : '**NOT met**')
  // The spread of a row's repeats (min–max), so a bar decided inside the noise shows it.
  const spread = (row, field) => {
    const xs = (row.repeats ?? []).map((r) => r[field]).filter((x) => Number.isFinite(x))
    return xs.length > 1 ? ` (runs ${fmt(Math.min(...xs), field === 'rps' ? 0 : 1)}–${fmt(Math.max(...xs), field === 'rps' ? 0 : 1)})` : ''
  }
  const bars = []
  if (who && bare) {
    const r = who.usPerReq / bare.usPerReq
    bars.push(`- signed whoami over HTTPS ≤ 1.5× the bare Fastify route's CPU µs/req: ${fmt(who.usPerReq)}${spread(who, 'usPerReq')} vs ${fmt(bare.usPerReq)}${spread(bare, 'usPerReq')} µs = ${r.toFixed(2)}× → ${verdict(r <= 1.5)}`)
  } else bars.push('- signed whoami ≤ 1.5× bare Fastify: not measured')
  const withMetrics = byKey('metrics', 'HTTPS')
  if (who && withMetrics) bars.push(`- what metrics cost (measured, no bar): signed whoami over HTTPS with METRICS_PORT set ${fmt(withMetrics.usPerReq)}${spread(withMetrics, 'usPerReq')} vs ${fmt(who.usPerReq)}${spread(who, 'usPerReq')} µs/req without = ${(withMetrics.usPerReq / who.usPerReq).toFixed(2)}×`)
  if (who && jwt) bars.push(`- signed whoami over HTTPS ≤ the @fastify/jwt route's CPU µs/req: ${fmt(who.usPerReq)}${spread(who, 'usPerReq')} vs ${fmt(jwt.usPerReq)}${spread(jwt, 'usPerReq')} µs → ${verdict(who.usPerReq <= jwt.usPerReq)}`)
  else bars.push('- signed whoami ≤ @fastify/jwt: not measured')
  if (who && exp) {
    const measured = who.rps / exp.rps
    const perCore = exp.usPerReq / who.usPerReq
    bars.push(`- signed whoami over HTTPS ≥ 5× the Express + Redis route's req/s: measured ${fmt(who.rps, 0)}${spread(who, 'rps')} vs ${fmt(exp.rps, 0)}${spread(exp, 'rps')} req/s = ${measured.toFixed(2)}×${who.cpuPct < 90 ? ' (load generator bound)' : ''} → ${verdict(measured >= 5)}; per server core (10⁶/µs) ${fmt(1e6 / who.usPerReq, 0)} vs ${fmt(1e6 / exp.usPerReq, 0)} = ${perCore.toFixed(2)}× → ${verdict(perCore >= 5)}`)
  } else bars.push('- signed whoami ≥ 5× Express + Redis req/s: not measured')
  if (replay && !replay.error) {
    const worst = Math.max(...replay.runs.map((r) => r.bytesPerEntry))
    bars.push(`- replay-cache entry ≤ 200 bytes: ${worst.toFixed(0)} B (worst of ${replay.runs.map((r) => r.entries.toLocaleString('en-US')).join(' / ')} entries) → ${verdict(worst <= 200)}`)
  } else bars.push('- replay-cache entry ≤ 200 bytes: not measured')
  if (login) {
    const msCpu = login.usPerReq / 1000
    bars.push(`- one login's password hash 50–150 ms of CPU: ${msCpu.toFixed(1)} ms of server CPU per login (Argon2id plus the request around it) → ${verdict(msCpu >= 50 && msCpu <= 150)}`)
  } else bars.push('- login 50–150 ms of CPU: not measured')
  if (soak) {
    const steady = Math.min(...soak.snapshots.map((x) => x.heapMB))
    const bound = Math.max(3, 0.1 * steady)
    const judged = soak.judged !== false
    bars.push(`- no unbounded heap growth under the signed mix (${soak.routes.join(' + ')}): ${soak.growthMB >= 0 ? '+' : ''}${soak.growthMB.toFixed(1)} MB after GC from the lowest steady value to the end, over the steady ${soak.growthWindowS.toFixed(0)} s of ${c.soak} s (allowance ${bound.toFixed(1)} MB) → ${judged ? verdict(soak.growthMB <= bound) : 'not judged: the soak ends before the replay cache is full (its entries live up to 42 s); the full run soaks 5 minutes'}`)
  }
  // ---- the data-path bars (issue 20) ----
  for (const transport of ['HTTPS', 'HTTP']) {
    const arts = byKey('articles', transport)
    const readFloor = byKey('read-floor', transport)
    if (arts && readFloor) {
      const r = arts.usPerReq / readFloor.usPerReq
      bars.push(`- signed article list over ${transport} ≤ 1.3× the read floor's CPU µs/req: ${fmt(arts.usPerReq)}${spread(arts, 'usPerReq')} vs ${fmt(readFloor.usPerReq)}${spread(readFloor, 'usPerReq')} µs = ${r.toFixed(2)}× → ${verdict(r <= 1.3)}`)
    } else if (transport === 'HTTPS') bars.push('- signed article list ≤ 1.3× the read floor: not measured')
    const note = byKey('notes', transport)
    const writeFloor = byKey('write-floor', transport)
    if (note && writeFloor) {
      const r = note.usPerReq / writeFloor.usPerReq
      bars.push(`- signed note write over ${transport} ≤ 1.3× the write floor's CPU µs/req: ${fmt(note.usPerReq)}${spread(note, 'usPerReq')} vs ${fmt(writeFloor.usPerReq)}${spread(writeFloor, 'usPerReq')} µs = ${r.toFixed(2)}× → ${verdict(r <= 1.3)}`)
      const w = note.rps / writeFloor.rps
      bars.push(`- signed note write over ${transport} ≥ the write floor's writes/s: ${fmt(note.rps, 0)}${spread(note, 'rps')} vs ${fmt(writeFloor.rps, 0)}${spread(writeFloor, 'rps')} = ${w.toFixed(2)}× (server cores ${note.cpuPct.toFixed(0)}% and ${writeFloor.cpuPct.toFixed(0)}% busy) → ${verdict(w >= 1)}`)
    } else if (transport === 'HTTPS') bars.push('- signed note write ≤ 1.3× / ≥ the write floor: not measured')
  }
  const before = byKey('whatif:no-group-commit@notes', 'HTTPS')
  const after = byKey('notes', 'HTTPS')
  if (before && after) bars.push(`- group commit, before/after in this run (reported, no bar): signed note write over HTTPS ${fmt(before.rps, 0)}${spread(before, 'rps')} → ${fmt(after.rps, 0)}${spread(after, 'rps')} req/s (${(after.rps / before.rps).toFixed(2)}×), ${fmt(before.usPerReq)} → ${fmt(after.usPerReq)} µs CPU/req, p99 ${ms(before.p99)} → ${ms(after.p99)} ms`)
  if (queries && !queries.error) {
    bars.push(`- the notes list of 20 shared notes in a constant number of queries: ${queries.one.statements} statements for 1 shared note, ${queries.twenty.statements} for 20 → ${verdict(queries.constant)}`)
  } else bars.push('- the notes list in a constant number of queries: not measured')
  if (replay?.atRate) bars.push(`- replay cache at ${replay.atRate.rate.toLocaleString('en-US')} signed req/s (reported, no bar): ${replay.atRate.entries.toLocaleString('en-US')} entries × ${replay.atRate.bytesPerEntry.toFixed(0)} B = ${replay.atRate.mb.toFixed(1)} MB`)
  lines.push('Bars (issues 8 and 20; measured here, never asserted in a test):')
  lines.push('')
  lines.push(...bars)
  lines.push('')
  lines.push(`Run took ${meta.seconds?.toFixed(0) ?? '?'} s.`)
  lines.push('')
  return lines.join('\n')
}
