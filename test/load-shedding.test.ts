/**
 * Load shedding (issue 17, point 3): while the event loop is saturated, new
 * requests get 503 NOT_READY with Retry-After at once, /ready says not ready,
 * /health still answers; once the loop is free again, so is the server.
 *
 * The loop is blocked on purpose by the test itself (a synchronous loop between
 * requests; nothing in the product does it). The app samples the loop every
 * 50 ms here (the default is every second), so saturation shows within rounds.
 */
import t, { type Test } from 'tap'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { buildTestApp } from './helper.js'
import { SATURATED_SAMPLES } from '../src/plugins/load-shedding.js'

const SAMPLE_MS = 50

/** Keeps this process's only thread busy for `ms`: the event loop cannot turn meanwhile. */
function blockEventLoop (ms: number): void {
  const end = performance.now() + ms
  let spins = 0
  while (performance.now() < end) spins++
  if (spins < 0) throw new Error('unreachable')
}

const pause = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

/**
 * Waits until under-pressure's last SATURATED_SAMPLES samples were all under
 * the bound: on a machine busy with other tests (CI runs files in parallel),
 * the loop may already be behind before the test blocks it, and the test's
 * one stall would then complete a run of bad samples begun by the machine.
 */
async function quiet (t: Test, app: FastifyInstance, boundMs: number): Promise<void> {
  const until = performance.now() + 20_000
  let good = 0
  while (good < SATURATED_SAMPLES + 1 && performance.now() < until) {
    await pause(SAMPLE_MS)
    good = app.memoryUsage().eventLoopDelay <= boundMs ? good + 1 : 0
  }
  t.ok(good > SATURATED_SAMPLES, `the loop is under ${boundMs} ms before the test blocks it`)
}

/**
 * Saturates the loop the way too much work does: blocked 200 ms, one turn free
 * (timers, the samples), a request to /ready, again, until /ready is shed (at
 * most 5 s). Returns that answer, or the last one.
 */
async function saturateUntilShed (app: FastifyInstance, maxMs = 5000): Promise<{ shed: boolean, res: LightMyRequestResponse, rounds: number }> {
  const until = performance.now() + maxMs
  let rounds = 0
  let res = await app.inject({ method: 'GET', url: '/ready' })
  while (res.statusCode !== 503 && performance.now() < until) {
    blockEventLoop(200)
    await pause(1)
    rounds++
    res = await app.inject({ method: 'GET', url: '/ready' })
  }
  return { shed: res.statusCode === 503, res, rounds }
}

async function readyAgain (app: FastifyInstance): Promise<LightMyRequestResponse> {
  const until = performance.now() + 5000
  let res = await app.inject({ method: 'GET', url: '/ready' })
  while (res.statusCode !== 200 && performance.now() < until) {
    await pause(SAMPLE_MS)
    res = await app.inject({ method: 'GET', url: '/ready' })
  }
  return res
}

function assertShed (t: Test, res: LightMyRequestResponse, what: string): void {
  t.equal(res.statusCode, 503, `${what}: 503`)
  t.match(res.headers['content-type'], /^application\/json/, `${what}: JSON`)
  t.match(res.json(), { statusCode: 503, code: 'NOT_READY', error: 'Service Unavailable', message: /overloaded/ }, `${what}: NOT_READY`)
  t.equal(res.headers['retry-after'], '1', `${what}: Retry-After`)
  t.equal(res.headers['x-content-type-options'], 'nosniff', `${what}: the security headers, as on every answer`)
  t.ok(res.headers['x-request-id'], `${what}: a request id`)
}

t.test('a saturated event loop (mean delay): 503 NOT_READY with Retry-After, /ready too, /health still answers, then recovery', async t => {
  const { app } = await buildTestApp(t, { env: { MAX_EVENT_LOOP_DELAY_MS: '50' }, deps: { loadSheddingSampleMs: SAMPLE_MS } })
  t.equal((await app.inject({ method: 'GET', url: '/ready' })).statusCode, 200, 'ready before')

  await quiet(t, app, 50)
  const { shed, res, rounds } = await saturateUntilShed(app)
  t.ok(shed, `shed after ${rounds} rounds of 200 ms blocked`)
  t.ok(rounds >= 2, 'not on the first stall')
  assertShed(t, res, '/ready')
  t.match(res.json().message, /event-loop delay above 50 ms/)
  // Still saturated: no timer has run since (inject answers within the same turns).
  const health = await app.inject({ method: 'GET', url: '/health' })
  t.equal(health.statusCode, 200, '/health is never shed: the process is alive')
  assertShed(t, await app.inject({ method: 'GET', url: '/auth/whoami' }), 'a signed route, before its signature is read (unsigned: AUTH_MISSING otherwise)')

  const after = await readyAgain(app)
  t.equal(after.statusCode, 200, 'ready again once the loop is free')
  t.equal((await app.inject({ method: 'GET', url: '/auth/whoami' })).json().code, 'AUTH_MISSING', 'and signed routes verify again')
})

t.test('one long stall is not saturation: nothing is shed', async t => {
  const { app } = await buildTestApp(t, { env: { MAX_EVENT_LOOP_DELAY_MS: '50' }, deps: { loadSheddingSampleMs: SAMPLE_MS } })
  // under-pressure may miss a stall (a sample that resets the delay histogram before its timer recorded the
  // stall); each attempt starts from a quiet loop, and every answer of every attempt must be a 200.
  const statuses: number[] = []
  let sawIt = false
  for (let attempt = 0; attempt < 5 && !sawIt; attempt++) {
    await quiet(t, app, 50)
    blockEventLoop(1500)
    // A 1 ms watcher: each reading of under-pressure lasts one sample (50 ms), even when this busy machine delays the loop below.
    const watcher = setInterval(() => { sawIt ||= app.isUnderPressure() }, 1)
    const until = performance.now() + 6 * SAMPLE_MS
    while (performance.now() < until) {
      statuses.push((await app.inject({ method: 'GET', url: '/ready' })).statusCode)
      await pause(SAMPLE_MS / 5)
    }
    clearInterval(watcher)
  }
  t.ok(sawIt, 'under-pressure did read the stall as over the bound')
  t.same([...new Set(statuses)], [200], 'a freshly started instance after a slow start, a GC pause: requests are served')
})

t.test('event-loop utilization alone (MAX_EVENT_LOOP_UTILIZATION) sheds too', async t => {
  const { app } = await buildTestApp(t, { env: { MAX_EVENT_LOOP_DELAY_MS: '0', MAX_EVENT_LOOP_UTILIZATION: '0.5' }, deps: { loadSheddingSampleMs: SAMPLE_MS } })
  const { shed, res } = await saturateUntilShed(app)
  t.ok(shed)
  assertShed(t, res, '/ready')
  t.match(res.json().message, /event-loop utilization above 0\.5\b/)
  t.equal((await readyAgain(app)).statusCode, 200)
})

t.test('with both checks off nothing is shed', async t => {
  const { app } = await buildTestApp(t, { env: { MAX_EVENT_LOOP_DELAY_MS: '0' }, deps: { loadSheddingSampleMs: SAMPLE_MS } })
  t.notOk(app.hasDecorator('isUnderPressure'), 'under-pressure is not registered')
  const { shed, rounds } = await saturateUntilShed(app, 1500)
  t.notOk(shed, `${rounds} rounds of 200 ms blocked, never shed`)
})
