/**
 * One bounded autocannon run against one server, with the server's CPU time
 * read just before and just after the measured window.
 *
 * Timeline of a run: autocannon opens its connections (TLS handshakes
 * included) -> `ramp` -> probe (CPU A) -> measured window of `duration` s,
 * every response counted with its latency -> probe (CPU B) -> stop.
 * So handshakes and connection teardown stay outside the figures.
 *
 * Signed requests: every request is a raw HTTP/1.1 message built here and
 * handed to autocannon in place of its own (client.getRequestBuffer), taken
 * from a pool of pre-signed requests built before the run; a pool that runs
 * dry falls back to signing at send time (counted, shown in the notes).
 */
import autocannon from 'autocannon'
import { coreTimes, probe } from './procs.mjs'

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** A raw HTTP/1.1 request. Header values and bodies here are ASCII, so string length is byte length. */
export function rawRequest (host, method, target, headers, body) {
  let head = `${method} ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: keep-alive\r\n`
  for (const name in headers) head += `${name}: ${headers[name]}\r\n`
  if (body !== undefined && body !== null && body.length > 0) {
    head += `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  } else {
    head += '\r\n'
  }
  return head
}

/**
 * Signed traffic: `routes` is a list of { method, target, body?: (seq) => string }
 * visited round robin; `creds` the signing keys, used round robin so that
 * no key needs more than one X-Microtime per millisecond.
 */
export class SignedTraffic {
  constructor ({ host, routes, creds, extraHeaders = {} }) {
    this.host = host
    this.routes = routes
    // Pools and live signing use disjoint keys: a pool moves its keys' last
    // X-Microtime up to the end of its run, which must never push a live
    // signature into the future (AUTH_STALE) or make one repeat (AUTH_REPLAY).
    // Alternate blocks of 4 (the runner interleaves its 4 users), so both halves hold every user.
    this.poolCreds = creds.filter((_, i) => Math.floor(i / 4) % 2 === 0)
    this.liveCreds = creds.length > 4 ? creds.filter((_, i) => Math.floor(i / 4) % 2 === 1) : creds
    this.extra = extraHeaders
    this.seq = 0
    this.live = 0
    this.pools = []
    this.buildUsPerEntry = 4
  }

  /** One raw signed request with X-Microtime `time` (already taken from cred.nextTime). */
  #one (cred, time, seq) {
    const route = this.routes[seq % this.routes.length]
    const body = route.body === undefined ? '' : route.body(seq)
    const auth = cred.headers(route.method, route.target, body, time)
    return rawRequest(this.host, route.method, route.target, {
      'Auth-Username': auth['auth-username'],
      'Auth-Key-Id': auth['auth-key-id'],
      'X-Microtime': auth['x-microtime'],
      'Auth-Signature': auth['auth-signature'],
      ...this.extra
    }, body)
  }

  /** Signs one request now (the fallback when a pool is empty, and the only source when none was built). */
  liveRequest () {
    const seq = this.seq++
    this.live++
    const cred = this.liveCreds[seq % this.liveCreds.length]
    return Buffer.from(this.#one(cred, cred.nextTime(Date.now()), seq), 'latin1')
  }

  /**
   * Builds one pool per connection before the run: `rate` predicted req/s,
   * `seconds` to cover, `factor` spare requests. Request g (interleaved
   * across connections) carries X-Microtime = its predicted send time,
   * start + g / rate, capped at the end of the run (the spare requests are
   * only sent if the real rate beats the prediction, and then early), so
   * each stays well inside the 10 s skew and no key's X-Microtime runs
   * ahead of the clock from one run to the next.
   */
  buildPools ({ connections, rate, seconds, factor = 1.4 }) {
    const t0 = Date.now()
    const total = Math.ceil(rate * seconds * factor)
    const perConn = Math.max(1, Math.ceil(total / connections))
    const count = perConn * connections
    const start = t0 + count * this.buildUsPerEntry / 1000
    const parts = Array.from({ length: connections }, () => [])
    const keys = Array.from({ length: connections }, () => new Int32Array(perConn))
    const times = Array.from({ length: connections }, () => new Float64Array(perConn))
    const creds = this.poolCreds
    this.lastBefore = creds.map((c) => c.last)
    this.sentLast = creds.map(() => -Infinity)
    for (let i = 0; i < perConn; i++) {
      for (let c = 0; c < connections; c++) {
        const g = i * connections + c
        const seq = this.seq++
        const k = g % creds.length
        const t = creds[k].nextTime(start + Math.min(g / rate, seconds) * 1000)
        parts[c].push(this.#one(creds[k], t, seq))
        keys[c][i] = k
        times[c][i] = t
      }
    }
    this.pools = parts.map((list, c) => {
      const offsets = new Int32Array(list.length + 1)
      let at = 0
      for (let i = 0; i < list.length; i++) { offsets[i] = at; at += list[i].length }
      offsets[list.length] = at
      return { buf: Buffer.from(list.join(''), 'latin1'), offsets, keys: keys[c], times: times[c], n: list.length, i: 0 }
    })
    const took = Date.now() - t0
    this.buildUsPerEntry = Math.max(1, (took * 1000) / count)
    this.live = 0
    return { entries: count, ms: took }
  }

  /**
   * Drops the pools. A pool key's last X-Microtime goes back to the last one
   * actually sent: the unsent spare requests never reached the server, so
   * their times are free again and the next run's do not start in the future.
   */
  clearPools () {
    if (this.pools.length > 0) {
      this.poolCreds.forEach((cred, k) => { cred.last = Math.max(this.lastBefore[k], this.sentLast[k]) })
    }
    this.pools = []
  }

  /** The request source for autocannon's connection number `c`. */
  source (c) {
    const pool = this.pools[c]
    if (pool === undefined) return () => this.liveRequest()
    return () => {
      if (pool.i < pool.n) {
        const i = pool.i++
        const k = pool.keys[i]
        if (pool.times[i] > this.sentLast[k]) this.sentLast[k] = pool.times[i]
        return pool.buf.subarray(pool.offsets[i], pool.offsets[i + 1])
      }
      return this.liveRequest()
    }
  }
}

function percentile (sorted, p) {
  if (sorted.length === 0) return NaN
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[idx]
}

/**
 * Runs autocannon once. `request` is { method, path, headers, body } for a
 * fixed (unsigned) request, or `traffic` a SignedTraffic. Returns the figures
 * of the measured window. `server` null: no CPU figures (warm-up).
 */
export async function runLoad ({ url, connections, pipelining = 1, duration, ramp, server, request, traffic, cores }) {
  let measuring = false
  let count = 0
  const statuses = {}
  let lat = new Float64Array(1 << 16)
  let latN = 0
  let conn = 0
  // autocannon takes the path from the URL, the rest of a fixed request from method/headers/body.
  const { path, ...fixed } = request ?? {}
  const opts = {
    url: path === undefined ? url : new URL(path, url).href,
    connections,
    pipelining,
    duration: ramp + duration + 30,
    timeout: 30,
    // stop() takes effect at the next sample tick: keep it short so a run ends promptly.
    sampleInt: 100,
    ...fixed,
    ...(traffic === undefined
      ? {}
      : {
          setupClient (client) {
            client.getRequestBuffer = traffic.source(conn++)
          }
        })
  }
  const inst = autocannon(opts)
  let errors = 0
  inst.on('reqError', () => { if (measuring) errors++ })
  inst.on('response', (_client, statusCode, _bytes, responseTime) => {
    if (!measuring) return
    count++
    statuses[statusCode] = (statuses[statusCode] ?? 0) + 1
    if (latN === lat.length) {
      const next = new Float64Array(lat.length * 2)
      next.set(lat)
      lat = next
    }
    lat[latN++] = responseTime
  })
  const done = new Promise((resolve, reject) => {
    inst.once('done', resolve)
    inst.once('error', reject)
  })

  await sleep(ramp * 1000)
  const liveBefore = traffic?.live ?? 0
  const coresA = coreTimes()
  const a = server === null ? null : await probe(server)
  const tA = process.hrtime.bigint()
  measuring = true
  await sleep(duration * 1000)
  measuring = false
  const tB = process.hrtime.bigint()
  const b = server === null ? null : await probe(server)
  const coresB = coreTimes()
  const liveSigned = (traffic?.live ?? 0) - liveBefore
  inst.stop()
  await done

  const seconds = Number(tB - tA) / 1e9
  const sorted = lat.subarray(0, latN).sort()
  const cpuUs = a === null ? NaN : b.cpuUs - a.cpuUs
  let foreign = null
  if (cores?.server !== null && cores?.server !== undefined && coresA[cores.server] !== undefined) {
    const ca = coresA[cores.server]
    const cb = coresB[cores.server]
    const busyPct = (cb.busy - ca.busy) / Math.max(1, cb.total - ca.total) * 100
    foreign = Number.isFinite(cpuUs) ? busyPct - (cpuUs / (seconds * 1e6)) * 100 : null
  }
  const ok = Object.entries(statuses).filter(([s]) => s >= 200 && s < 300).reduce((n, [, v]) => n + v, 0)
  return {
    seconds,
    responses: count,
    ok,
    statuses,
    errors,
    rps: count / seconds,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    cpuUs,
    usPerReq: cpuUs / count,
    cpuPct: (cpuUs / (seconds * 1e6)) * 100,
    foreignPct: foreign,
    liveSigned
  }
}
