/**
 * The in-flight report the shutdown line prints (src/plugins/in-flight.ts):
 * the count of open requests and only the oldest few, each target cut short,
 * so that thousands of held connections cannot make one log line of megabytes.
 */
import t from 'tap'
import Fastify from 'fastify'
import { connect, type Socket } from 'node:net'
import { inFlight, LISTED_BY_DEFAULT, URL_SHOWN } from '../src/plugins/in-flight.js'

t.test('many held requests: the count of all, the oldest 20 in arrival order, long targets cut', async t => {
  const app = Fastify()
  await app.register(inFlight)
  let arrived = 0
  let release!: () => void
  const released = new Promise<void>(resolve => { release = resolve })
  app.get('/held', async () => { arrived++; await released; return { ok: true } })
  await app.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(async () => { release(); await app.close() })
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0

  const sockets: Socket[] = []
  const send = async (target: string): Promise<void> => {
    const socket = connect(port, '127.0.0.1')
    sockets.push(socket)
    await new Promise<void>(resolve => socket.once('connect', resolve))
    socket.write(`GET ${target} HTTP/1.1\r\nHost: x\r\n\r\n`)
  }
  const longTarget = `/held?${'q'.repeat(5000)}`
  // One at a time, each seen by its handler before the next, so the arrival order is known.
  const targets = [longTarget, ...Array.from({ length: 29 }, (_, i) => `/held?n=${i}`)]
  for (const target of targets) {
    const before = arrived
    await send(target)
    while (arrived === before) await new Promise(resolve => setTimeout(resolve, 5))
  }

  const report = app.inFlight()
  t.equal(report.total, 30, 'every open request counted')
  t.equal(report.oldest.length, LISTED_BY_DEFAULT, 'only the oldest listed')
  t.equal(report.oldest[0]?.url, `${longTarget.slice(0, URL_SHOWN)}...`, 'a long target cut, marked')
  t.same(report.oldest.slice(1).map(r => r.url), targets.slice(1, LISTED_BY_DEFAULT), 'oldest first')
  t.ok(report.oldest.every(r => r.method === 'GET' && typeof r.reqId === 'string' && r.elapsedMs >= 0))
  t.equal(app.inFlight(3).oldest.length, 3, 'the number listed is the caller\'s')

  // Answered or cut off: no longer in flight.
  sockets[0]?.destroy()
  while (app.inFlight().total !== 29) await new Promise(resolve => setTimeout(resolve, 5))
  t.equal(app.inFlight().oldest[0]?.url, '/held?n=0', 'a closed connection leaves the report')
  // From the middle and from the newest end too, the order of the others kept.
  sockets[5]?.destroy()
  sockets[29]?.destroy()
  while (app.inFlight().total !== 27) await new Promise(resolve => setTimeout(resolve, 5))
  t.same(app.inFlight(30).oldest.map(r => r.url), targets.filter((_, i) => i !== 0 && i !== 5 && i !== 29), 'the rest, oldest first')
  release()
  while (app.inFlight().total !== 0) await new Promise(resolve => setTimeout(resolve, 5))
  t.equal(app.inFlight().oldest.length, 0, 'all answered: nothing in flight')
  for (const socket of sockets) socket.destroy()
})
