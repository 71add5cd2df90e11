/**
 * No acknowledged write is lost: SIGKILL the server in the middle of a stream
 * of acknowledged signups, restart it on the same DATA_DIR, and find every one.
 * The same under many concurrent note writers, whose writes the embedded
 * store commits in groups (one transaction per event-loop turn).
 */
import t from 'tap'
import { sign, tempDir, type Credential } from './helper.js'
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

t.test('every acknowledged note survives kill -9 under 24 concurrent writers (group commits)', async t => {
  const dataDir = tempDir(t)
  const env = { DATA_DIR: dataDir, LOGIN_MAX_FAILURES: '1000', RATE_LIMIT_PER_MINUTE: '1000000', LOG_LEVEL: 'warn' }
  const server = await startServer(t, { ...env, LOG_LEVEL: 'info' })
  const password = 'long enough password'
  const up = await call(server, 'POST', '/auth/signup', { body: JSON.stringify({ username: 'writer', password }) })
  t.equal(up.status, 201)
  const login = await call(server, 'POST', '/auth/login', { body: JSON.stringify({ username: 'writer', password }) })
  t.equal(login.status, 200)
  const cred = login.json() as Credential

  const acknowledged = new Map<string, string>() // note id -> title
  let sent = 0
  let killed = false
  const worker = async (w: number): Promise<void> => {
    for (let i = 0; !killed; i++) {
      const title = `w${w} note ${i}`
      const body = JSON.stringify({ title, body: `written by worker ${w} before the kill` })
      sent++
      try {
        const res = await call(server, 'POST', '/v1/notes', { body, headers: sign(cred, 'POST', '/v1/notes', body) })
        if (res.status === 201) acknowledged.set(res.json().id as string, title)
        else if (!killed) throw new Error(`unexpected ${res.status} ${res.body}`)
      } catch (err) {
        if (!killed) throw err
      }
      if (acknowledged.size >= 300 && !killed) {
        killed = true
        server.proc.kill('SIGKILL') // other workers' notes are still in flight, some in a group not yet committed
      }
    }
  }
  await Promise.all(Array.from({ length: 24 }, (_, w) => worker(w)))
  t.same(await server.exited, { code: null, signal: 'SIGKILL' })
  t.ok(sent > acknowledged.size, `${sent} sent, ${acknowledged.size} acknowledged before the kill`)

  const store = openEmbeddedStore(dataDir)
  t.teardown(() => store.close())
  const lost = []
  for (const [id, title] of acknowledged) if ((await store.getNote(id))?.title !== title) lost.push(id)
  t.same(lost, [], 'every acknowledged note is in the store, as acknowledged')
  const stored = await store.listNotesFor('writer', null, 100_000)
  t.ok(stored.length >= acknowledged.size, `${stored.length} notes stored (some may be committed without their answer sent)`)
})
