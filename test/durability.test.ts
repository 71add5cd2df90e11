/**
 * No acknowledged write is lost: SIGKILL the server in the middle of a stream
 * of acknowledged signups, restart it on the same DATA_DIR, and find every one.
 */
import t from 'tap'
import { tempDir } from './helper.js'
import { call, startServer } from './server-process.js'
import { openEmbeddedStore } from '../src/store/embedded.js'

t.test('every acknowledged signup survives kill -9', async t => {
  const dataDir = tempDir(t)
  const env = { DATA_DIR: dataDir, LOGIN_MAX_FAILURES: '1000', LOG_LEVEL: 'warn' }
  const server = await startServer(t, { ...env, LOG_LEVEL: 'info' })
  const acknowledged: string[] = []
  let sent = 0
  let killed = false
  const worker = async (w: number): Promise<void> => {
    for (let i = 0; !killed; i++) {
      const username = `w${w}n${i}`
      sent++
      try {
        const res = await call(server, 'POST', '/auth/signup', { body: JSON.stringify({ username, password: 'long enough password' }) })
        if (res.status === 201) acknowledged.push(username)
        else if (!killed) throw new Error(`unexpected ${res.status} ${res.body}`)
      } catch (err) {
        if (!killed) throw err
      }
      if (acknowledged.length >= 40 && !killed) {
        killed = true
        server.proc.kill('SIGKILL') // other workers' requests are still in flight
      }
    }
  }
  await Promise.all([0, 1, 2, 3].map(worker))
  t.same(await server.exited, { code: null, signal: 'SIGKILL' })
  t.ok(sent > acknowledged.length, `${sent} sent, ${acknowledged.length} acknowledged before the kill`)

  const again = await startServer(t, { ...env, LOG_LEVEL: 'info' })
  const store = openEmbeddedStore(dataDir)
  t.teardown(() => store.close())
  const missing = []
  for (const username of acknowledged) if (await store.findUser(username) === null) missing.push(username)
  t.same(missing, [], 'every acknowledged signup is in the store')
  const last = acknowledged.at(-1) as string
  const taken = await call(again, 'POST', '/auth/signup', { body: JSON.stringify({ username: last, password: 'long enough password' }) })
  t.equal(taken.json().code, 'USERNAME_TAKEN', 'and the restarted server sees them')
  const login = await call(again, 'POST', '/auth/login', { body: JSON.stringify({ username: last, password: 'long enough password' }) })
  t.equal(login.status, 200)
})
