/**
 * The Python client (src/clients/python/signed_api.py): the published
 * vectors, then a live server: signup, login, whoami, a tampered request
 * refused with AUTH_BAD_SIGNATURE, the AUTH_STALE and AUTH_REPLAY re-signs
 * (its `time` swapped for a skewed or frozen one), and a note.
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { ROOT, VECTORS_PATH, randomName, signatureCases, startLiveServer, vectors } from './live-server.js'

const CLIENT_DIR = join(ROOT, 'src/clients/python')

async function python (script: string, env: Record<string, string> = {}, stdin = ''): Promise<string> {
  return await new Promise((resolve, reject) => {
    const child = execFile('python3', ['-c', script], { env: { PATH: process.env.PATH ?? '', CLIENT_DIR, PYTHONDONTWRITEBYTECODE: '1', ...env }, timeout: 60_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err !== null) reject(new Error(`python3 failed: ${err.message}\n${stderr}`))
      else resolve(stdout)
    })
    child.stdin?.end(stdin)
  })
}

const VECTOR_SCRIPT = `
import json, os, sys
sys.path.insert(0, os.environ["CLIENT_DIR"])
from signed_api import canonical, signature
out = []
for v in json.load(sys.stdin):
    msg = canonical(v["username"], v["keyId"], v["time"], v["method"], v["target"], bytes.fromhex(v["bodyHex"]))
    out.append({"name": v["name"], "canonicalHex": msg.hex(), "signature": signature(v["key"], msg)})
print(json.dumps(out))
`

t.test('the vectors: positive ones reproduced, mismatch ones differ', async t => {
  t.ok(VECTORS_PATH.endsWith('vectors.json'))
  const positive = JSON.parse(await python(VECTOR_SCRIPT, {}, JSON.stringify(vectors.positive))) as Array<{ name: string, canonicalHex: string, signature: string }>
  t.equal(positive.length, vectors.positive.length)
  for (const [i, v] of vectors.positive.entries()) {
    t.equal(positive[i]?.canonicalHex, v.canonicalHex, `${v.name}: canonical bytes`)
    t.equal(positive[i]?.signature, v.signature, `${v.name}: signature`)
  }
  const cases = signatureCases()
  const computed = JSON.parse(await python(VECTOR_SCRIPT, {}, JSON.stringify(cases))) as Array<{ signature: string }>
  for (const [i, c] of cases.entries()) {
    if (c.expect === 'AUTH_BAD_SIGNATURE') t.not(computed[i]?.signature, c.signature, `${c.name}: mismatch`)
    else t.equal(computed[i]?.signature, c.signature, `${c.name}: right signature, stale time`)
  }
})

const LIVE_SCRIPT = `
import json, os, sys, time
sys.path.insert(0, os.environ["CLIENT_DIR"])
import signed_api
from signed_api import Client, canonical, signature
url, ca, user, pw = os.environ["URL"], os.environ["CA"], os.environ["USER_NAME"], os.environ["PASSWORD"]
text = lambda x: x.decode("utf-8", "replace") if isinstance(x, bytes) else x
out = {}
api = Client(url, cafile=ca)
out["signup"] = api.login(user, pw, path="/auth/signup")
out["login"] = api.login(user, pw)
out["whoami"] = api.request("GET", "/auth/whoami")
# Tampered: signed for /auth/whoami, sent to /auth/whoami?tampered=1.
t = int(time.time() * 1000)
sig = signature(api.key, canonical(api.username, api.key_id, t, "GET", "/auth/whoami"))
status, headers, raw = api._send("GET", "/auth/whoami?tampered=1", b"", {"Auth-Username": api.username, "Auth-Key-Id": api.key_id, "X-Microtime": str(t), "Auth-Signature": sig})
out["tampered"] = [status, json.loads(raw)]

class Clock:
    def __init__(self, fn): self.fn = fn
    def time(self): return self.fn()
real = time.time
same_key = lambda: Client(url, cafile=ca, username=api.username, key_id=api.key_id, key=api.key)
for name, skew in (("behind", -60), ("ahead", 90)):
    signed_api.time = Clock(lambda: real() + skew)
    c = same_key()
    out["stale_" + name] = [c.request("GET", "/auth/whoami")[0], c.offset]
frozen = real()
signed_api.time = Clock(lambda: frozen)
a, b = same_key(), same_key()
out["replay_get"] = [a.request("GET", "/auth/whoami")[0], b.request("GET", "/auth/whoami")[0], b.last - a.last]
frozen = real() + 0.5
a, b = same_key(), same_key()
out["replay_post"] = [a.request("POST", "/auth/refresh")[0], text(b.request("POST", "/auth/refresh")[1])]
signed_api.time = time

status, note = api.request("POST", "/v1/notes", {"title": "From Python", "body": "caf\\u00e9 \\u2615"})
out["note_create"] = [status, text(note)]
if status == 201:
    out["note_read"] = list(api.request("GET", "/v1/notes/" + note["id"]))
print(json.dumps(out))
`

t.test('the Python client against a live HTTPS server', async t => {
  const server = await startLiveServer(t)
  const user = randomName('py')
  const out = JSON.parse(await python(LIVE_SCRIPT, { URL: server.url, CA: server.caFile, USER_NAME: user, PASSWORD: 'correct horse battery staple' })) as Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any
  t.same(out.signup, [201, { username: user }], 'signup')
  t.equal(out.login[0], 200, 'login')
  t.equal(out.login[1].username, user)
  t.equal(out.whoami[0], 200, 'whoami')
  t.match(out.whoami[1], { username: user, kind: 'user', keyId: out.login[1].keyId })
  t.equal(out.tampered[0], 401, 'a tampered request is refused')
  t.equal(out.tampered[1].code, 'AUTH_BAD_SIGNATURE')
  t.equal(out.tampered[1].canonical.lines[5], '/auth/whoami?tampered=1', 'the server shows the target it verified')
  t.equal(out.stale_behind[0], 200, 'a clock 60 s behind: signed again after AUTH_STALE')
  t.ok(Math.abs(out.stale_behind[1] - 60_000) < 5000, `offset learned: ${out.stale_behind[1]}`)
  t.equal(out.stale_ahead[0], 200, 'a clock 90 s ahead: signed again after AUTH_STALE')
  t.ok(Math.abs(out.stale_ahead[1] + 90_000) < 5000, `offset learned: ${out.stale_ahead[1]}`)
  t.same(out.replay_get, [200, 200, 1], 'a replayed GET is signed again with the next millisecond')
  t.equal(out.replay_post[0], 200)
  t.equal(out.replay_post[1].code, 'AUTH_REPLAY', 'a replayed POST is not retried')
  t.equal(out.note_create[0], 201, `create a note (got ${JSON.stringify(out.note_create)})`)
  if (out.note_create[0] === 201) {
    t.equal(out.note_read[0], 200)
    t.match(out.note_read[1], { id: out.note_create[1].id, title: 'From Python', body: 'café ☕' })
  }
})
