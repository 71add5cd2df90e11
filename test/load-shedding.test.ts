/**
 * Load shedding (issue 17, point 3): while the event loop is saturated, new
 * requests get 503 NOT_READY with Retry-After at once, /ready says not ready,
 * /health still answers; once the loop is free again, so is the server.
 *
 * The loop is blocked on purpose by the test itself (a synchronous loop between
 * requests; nothing in the product does it). The app samples the loop every
 * 100 ms here (the default is every second), so a sample soon sees the block.
 */
import t, { type Test } from 'tap'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { buildTestApp } from './helper.js'

const SAMPLE_MS = 100

/** Keeps this process's only thread busy for `ms`: the event loop cannot turn meanwhile. */
function blockEventLoop (ms: number): void {
  const end = performance.now() + ms
  let spins = 0
  while (performance.now() < end) spins++
  if (spins < 0) throw new Error('unreachable')
}

const pause = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

/**
 * Blocks the loop for 1 s, waits (at most 1 s) for a sample to see it, then sends `url`.
 * A few attempts: a sample taken just before the block sees it only in the next window.
 */
async function whileSaturated (app: FastifyInstance, url: string): Promise<{ seen: boolean, res: LightMyRequestResponse }> {
  let res: LightMyRequestResponse | undefined
  for (let attempt = 0; attempt < 4; attempt++) {
    blockEventLoop(1000)
    const until = performance.now() + 1000
    while (!app.isUnderPressure() && performance.now() < until) await pause(5)
    if (!app.isUnderPressure()) continue
    res = await app.inject({ method: 'GET', url })
    return { seen: true, res }
  }
  res = await app.inject({ method: 'GET', url })
  return { seen: false, res }
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

  const ready = await whileSaturated(app, '/ready')
  t.ok(ready.seen, 'the blocked loop was seen')
  assertShed(t, ready.res, '/ready')
  t.match(ready.res.json().message, /event-loop delay above 50 ms/)

  const signed = await whileSaturated(app, '/auth/whoami')
  t.ok(signed.seen)
  assertShed(t, signed.res, 'a signed route, before its signature is even read (it has none: AUTH_MISSING otherwise)')

  const health = await whileSaturated(app, '/health')
  t.ok(health.seen)
  t.equal(health.res.statusCode, 200, '/health is never shed: the process is alive')

  const after = await readyAgain(app)
  t.equal(after.statusCode, 200, 'ready again once the loop is free')
  t.equal((await app.inject({ method: 'GET', url: '/auth/whoami' })).json().code, 'AUTH_MISSING', 'and signed routes verify again')
})

t.test('event-loop utilization alone (MAX_EVENT_LOOP_UTILIZATION) sheds too', async t => {
  const { app } = await buildTestApp(t, { env: { MAX_EVENT_LOOP_DELAY_MS: '0', MAX_EVENT_LOOP_UTILIZATION: '0.5' }, deps: { loadSheddingSampleMs: SAMPLE_MS } })
  const ready = await whileSaturated(app, '/ready')
  t.ok(ready.seen)
  assertShed(t, ready.res, '/ready')
  t.match(ready.res.json().message, /event-loop utilization above 0\.5\b/)
  t.equal((await readyAgain(app)).statusCode, 200)
})

t.test('with both checks off nothing is shed', async t => {
  const { app } = await buildTestApp(t, { env: { MAX_EVENT_LOOP_DELAY_MS: '0' }, deps: { loadSheddingSampleMs: SAMPLE_MS } })
  t.notOk(app.hasDecorator('isUnderPressure'), 'under-pressure is not registered')
  blockEventLoop(1000)
  await pause(2 * SAMPLE_MS)
  t.equal((await app.inject({ method: 'GET', url: '/ready' })).statusCode, 200)
})
