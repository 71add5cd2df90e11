/**
 * The JVM client (src/clients/java/SignedApi.java, JDK 17, no dependencies):
 * the published vectors through `java SignedApi.java vectors` (the source
 * launcher, as a user runs it), its command line against a live server
 * (signup, login, signed reads and writes, refusals and exit codes; after
 * the first runs from classes compiled once, to spare a compile per JVM start), then a
 * small program compiled with it that drives the library: a tampered target
 * and a tampered body refused with AUTH_BAD_SIGNATURE, the AUTH_STALE re-sign
 * with a skewed clock, AUTH_REPLAY with a frozen one, refresh before
 * expiresAt, a client key, logout. Clocks are injected, nothing sleeps.
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { exportedCredentials, ROOT, randomName, signatureCases, startLiveServer, vectors } from './live-server.js'

const SOURCE = join(ROOT, 'src/clients/java/SignedApi.java')
// A small, quick JVM: these runs are short.
const JVM = ['-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-Xss1m']
const PASSWORD = 'correct horse battery staple'

interface Result { code: number, stdout: string, stderr: string }

async function run (cmd: string, args: string[], env: Record<string, string> = {}, stdin = ''): Promise<Result> {
  return await new Promise(resolve => {
    const child = execFile(cmd, args, { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 120_000, encoding: 'utf8', maxBuffer: 8 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr })
    })
    child.stdin?.end(stdin)
  })
}

/** `java SignedApi.java ARGS`: the source launcher compiles the one file and runs it, as a user would. */
const launch = async (args: string[], env: Record<string, string> = {}, stdin = ''): Promise<Result> => await run('java', [...JVM, SOURCE, ...args], env, stdin)

function scratch (t: { teardown (fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'signed-api-java-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

// A JVM start with the source launcher costs a compile each time: after the
// first runs, the same main is run from classes compiled once (with every lint on).
t.setTimeout(300_000)
const CLASSES = join(scratch(t), 'classes')
const javac = async (...extra: string[]): Promise<Result> => await run('javac', ['-Xlint:all', '-Werror', '-d', CLASSES, SOURCE, ...extra])
const compiled = javac()
const main = async (args: string[], env: Record<string, string> = {}): Promise<Result> => await run('java', [...JVM, '-cp', CLASSES, 'SignedApi', ...args], env)

t.test('the vectors: positive ones reproduced, mismatch ones differ', async t => {
  const fields = (v: { name: string, key: string, username: string, keyId: string, time: string, method: string, target: string, bodyHex: string }): object =>
    ({ name: v.name, key: v.key, username: v.username, keyId: v.keyId, time: v.time, method: v.method, target: v.target, bodyHex: v.bodyHex })
  const cases = signatureCases()
  const res = await launch(['vectors'], {}, JSON.stringify([...vectors.positive.map(fields), ...cases.map(fields)]))
  t.equal(res.code, 0, `exit 0 ${res.stderr}`)
  const out = JSON.parse(res.stdout) as Array<{ name: string, canonicalHex: string, signature: string }>
  t.equal(out.length, vectors.positive.length + cases.length, 'one answer per vector')
  for (const [i, v] of vectors.positive.entries()) {
    t.equal(out[i]?.name, v.name)
    t.equal(out[i]?.canonicalHex, v.canonicalHex, `${v.name}: canonical bytes`)
    t.equal(out[i]?.signature, v.signature, `${v.name}: signature`)
  }
  for (const [j, c] of cases.entries()) {
    const got = out[vectors.positive.length + j]?.signature
    t.match(got, /^[0-9a-f]{64}$/, `${c.name}: a signature`)
    if (c.expect === 'AUTH_BAD_SIGNATURE') t.not(got, c.signature, `${c.name}: mismatch`)
    else t.equal(got, c.signature, `${c.name}: right signature, stale time`)
  }
  const usage = await launch([])
  t.equal(usage.code, 2, 'no command: usage, exit 2')
  t.match(usage.stderr, /java SignedApi\.java request METHOD TARGET/)
  t.match(usage.stderr, /exit codes: 0 a 2xx answer, 1 the server refused/)
})

t.test('the command line against a live HTTPS server', async t => {
  const server = await startLiveServer(t)
  const built = await compiled
  t.equal(built.code, 0, `javac: no error, no warning ${built.stderr}`)
  const user = randomName('jv')
  const base = { SIGNED_API_URL: server.url, SIGNED_API_CA: server.caFile, SIGNED_API_PASSWORD: PASSWORD }

  const signup = await launch(['signup', user], base)
  t.equal(signup.code, 0, `signup ${signup.stderr}`)
  t.same(JSON.parse(signup.stdout), { username: user })
  const again = await main(['signup', user], base)
  t.equal(again.code, 1, 'a refusal (409) exits 1')
  t.equal(again.stderr, 'HTTP 409\n')
  t.equal(JSON.parse(again.stdout).code, 'USERNAME_TAKEN')

  const login = await launch(['login', user], base)
  t.equal(login.code, 0, `login ${login.stderr}`)
  const exported = exportedCredentials(login.stdout)
  t.ok(exported, 'login prints export lines to eval')
  if (exported === null) return
  const env = { ...base, ...exported }
  t.equal(env.SIGNED_API_USERNAME, user)

  const who = await main(['request', 'GET', '/auth/whoami?x=%2F+y'], env)
  t.equal(who.stderr, 'HTTP 200\n', 'a signed read, percent-escapes sent as signed')
  t.equal(who.code, 0)
  t.match(JSON.parse(who.stdout), { username: user, kind: 'user', keyId: env.SIGNED_API_KEY_ID })

  // An inline body is what the JVM decodes from its arguments: a UTF-8 locale keeps it intact.
  const created = await main(['request', 'POST', '/v1/notes', '{"title":"From Java","body":"café ☕"}'], { ...env, LC_ALL: 'C.UTF-8' })
  t.equal(created.stderr, 'HTTP 201\n', `a signed write: ${created.stdout}`)
  t.equal(created.code, 0)
  const note = JSON.parse(created.stdout) as { id: string, title: string, body: string }
  t.match(note, { title: 'From Java', body: 'café ☕' })
  // @FILE sends the file's bytes exactly, whatever the locale (none here).
  const bodyFile = join(scratch(t), 'body.json')
  writeFileSync(bodyFile, '{"body":"naïve\\n☕","title":"From a file"}')
  const patched = await main(['request', 'PATCH', `/v1/notes/${note.id}`, `@${bodyFile}`], env)
  t.equal(patched.stderr, 'HTTP 200\n', `a signed write from a file: ${patched.stdout}`)
  t.match(JSON.parse(patched.stdout), { id: note.id, title: 'From a file', body: 'naïve\n☕' })

  const wrongKey = await main(['request', 'GET', `/v1/notes/${note.id}`], { ...env, SIGNED_API_KEY: `${env.SIGNED_API_KEY}x` })
  t.equal(wrongKey.code, 1, 'a refused request exits 1')
  t.equal(wrongKey.stderr, 'HTTP 401\n')
  t.equal(JSON.parse(wrongKey.stdout).code, 'AUTH_BAD_SIGNATURE')
  t.notOk(wrongKey.stdout.includes(env.SIGNED_API_KEY) || wrongKey.stderr.includes(env.SIGNED_API_KEY), 'the key is never printed')

  const missing = await main(['request', 'GET', '/v1/notes/nope'], env)
  t.equal(missing.code, 1)
  t.equal(JSON.parse(missing.stdout).code, 'NOT_FOUND')
  const badTarget = await main(['request', 'GET', '/a b'], env)
  t.equal(badTarget.code, 2, 'a target that cannot be signed: exit 2')
  t.match(badTarget.stderr, /0x21\.\.0x7E/)
  const noKey = await main(['request', 'GET', '/auth/whoami'], base)
  t.equal(noKey.code, 2)
  t.match(noKey.stderr, /set SIGNED_API_USERNAME/)
  const unreachable = await main(['request', 'GET', '/auth/whoami'], { ...env, SIGNED_API_URL: 'https://127.0.0.1:9' })
  t.equal(unreachable.code, 3, 'no server: exit 3')
})

/** Drives the library; prints one JSON object of what happened. */
const LIVE = String.raw`
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.*;
import java.util.concurrent.atomic.AtomicInteger;

public class Live {
  static String url = System.getenv("URL");
  static Path ca = Path.of(System.getenv("CA"));

  static SignedApi make() throws Exception { return new SignedApi(url).trust(ca); }

  /** The default transport, counting attempts and recording the X-Microtime of each. */
  static SignedApi counted(SignedApi api, List<Long> times) {
    SignedApi.Transport http = api.httpTransport();
    return api.transport((m, t, h, b) -> { times.add(Long.parseLong(h.get("X-Microtime"))); return http.send(m, t, h, b); });
  }

  static List<Object> pair(SignedApi.Response r) { return Arrays.asList(r.status(), r.json()); }

  public static void main(String[] args) throws Exception {
    String user = System.getenv("USER_NAME"), pw = System.getenv("PASSWORD");
    Map<String, Object> out = new LinkedHashMap<>();
    SignedApi api = make();
    List<SignedApi.Credentials> seen = new ArrayList<>();
    api.onCredentials(seen::add);
    out.put("signup", pair(api.signup(user, pw)));
    out.put("wrongPassword", pair(api.login(user, "not the password")));
    out.put("login", api.login(user, pw).status());
    SignedApi.Credentials creds = api.credentials();
    out.put("seen", seen.size());
    out.put("keyInToString", (String.valueOf(creds) + api.login(user, pw)).contains(creds.signingKey()));
    creds = api.credentials();
    out.put("whoami", pair(api.request("GET", "/auth/whoami")));
    out.put("head", api.request("HEAD", "/auth/whoami").status());

    // Tampered after signing: the target, then one body byte.
    SignedApi.Transport http = api.httpTransport();
    SignedApi tamperTarget = make().credentials(creds).transport((m, t, h, b) -> http.send(m, t + "?tampered=1", h, b));
    SignedApi.Response tt = tamperTarget.request("GET", "/auth/whoami");
    out.put("tamperedTarget", Arrays.asList(tt.status(), tt.code(), tt.json()));
    SignedApi tamperBody = make().credentials(creds).transport((m, t, h, b) -> { byte[] c = b.clone(); c[c.length - 3] ^= 1; return http.send(m, t, h, c); });
    SignedApi.Response tb = tamperBody.request("POST", "/v1/notes", Map.of("title", "x", "body", "tampered"));
    out.put("tamperedBody", Arrays.asList(tb.status(), tb.code()));

    // A clock far behind, then far ahead: AUTH_STALE, the offset learned, signed again once.
    for (long skew : new long[] { -60_000, 90_000 }) {
      List<Long> times = new ArrayList<>();
      SignedApi c = counted(make().credentials(creds).clock(() -> System.currentTimeMillis() + skew), times);
      int first = c.request("GET", "/auth/whoami").status();
      int second = c.request("GET", "/auth/whoami").status();
      out.put("stale" + skew, Arrays.asList(first, c.offsetMs(), times.size(), second, times.get(2) > times.get(1), Math.abs(times.get(1) - System.currentTimeMillis())));
    }
    // A clock that keeps running away: one re-sign, then the AUTH_STALE answer.
    AtomicInteger calls = new AtomicInteger();
    List<Long> runTimes = new ArrayList<>();
    SignedApi runaway = counted(make().credentials(creds).clock(() -> System.currentTimeMillis() + 60_000L * (1 + calls.getAndIncrement())), runTimes);
    out.put("runaway", Arrays.asList(runaway.request("GET", "/auth/whoami").code(), runTimes.size()));

    // Two clients sharing a key and a frozen clock send the same signature.
    long frozen = System.currentTimeMillis();
    List<Long> a = new ArrayList<>(), b = new ArrayList<>();
    SignedApi ca1 = counted(make().credentials(creds).clock(() -> frozen), a);
    SignedApi cb1 = counted(make().credentials(creds).clock(() -> frozen), b);
    out.put("replayGet", Arrays.asList(ca1.request("GET", "/auth/whoami").status(), cb1.request("GET", "/auth/whoami").status(), b.size(), b.get(b.size() - 1) - b.get(0)));
    long frozen2 = System.currentTimeMillis() + 500;
    List<Long> c2 = new ArrayList<>(), d2 = new ArrayList<>();
    SignedApi cc = counted(make().credentials(creds).clock(() -> frozen2), c2);
    SignedApi cd = counted(make().credentials(creds).clock(() -> frozen2), d2);
    int firstPost = cc.request("POST", "/auth/refresh").status();
    SignedApi.Response replayed = cd.request("POST", "/auth/refresh");
    out.put("replayPost", Arrays.asList(firstPost, replayed.status(), replayed.code(), d2.size()));

    // Refresh before expiresAt: due when within refreshBeforeMs of it.
    List<SignedApi.Credentials> stored = new ArrayList<>();
    SignedApi due = make().credentials(creds).refreshBeforeMs(7 * 3600_000L).onCredentials(stored::add);
    SignedApi.Response dueWho = due.request("GET", "/auth/whoami");
    out.put("refreshDue", Arrays.asList(dueWho.status(), !due.credentials().keyId().equals(creds.keyId()), ((Map<?, ?>) dueWho.json()).get("keyId").equals(due.credentials().keyId()), stored.size()));
    SignedApi notDue = make().credentials(creds);
    notDue.request("GET", "/auth/whoami");
    out.put("refreshNotDue", notDue.credentials().keyId().equals(creds.keyId()));

    // A note, with a body that is not ASCII.
    SignedApi.Response created = api.request("POST", "/v1/notes", Map.of("title", "From the JVM", "body", "caf\u00e9 \u2615\nline two"));
    out.put("noteCreate", pair(created));
    if (created.status() == 201) {
      String id = (String) ((Map<?, ?>) created.json()).get("id");
      out.put("noteRead", pair(api.request("GET", "/v1/notes/" + id)));
      out.put("notePatch", pair(api.request("PATCH", "/v1/notes/" + id, "{\"title\":\"Renamed\"}".getBytes(StandardCharsets.UTF_8))));
      out.put("noteDelete", api.request("DELETE", "/v1/notes/" + id).status());
      out.put("noteGone", api.request("GET", "/v1/notes/" + id).code());
    }

    // A client key registered by an admin signs the same way; refresh is refused locally.
    SignedApi admin = make();
    admin.login(System.getenv("ADMIN"), System.getenv("ADMIN_PASSWORD"));
    SignedApi.Response reg = admin.request("POST", "/admin/clients", Map.of("name", "java-test-app", "kind", "app"));
    Map<?, ?> r = (Map<?, ?>) reg.json();
    SignedApi app = make().credentials(new SignedApi.Credentials((String) r.get("principal"), (String) r.get("keyId"), (String) r.get("secret")));
    out.put("app", Arrays.asList(reg.status(), app.request("GET", "/auth/whoami").json(), app.request("GET", "/v1/public/articles?limit=5").status(), app.request("GET", "/v1/notes").code()));
    String refused;
    try { app.refresh(); refused = "no"; } catch (IllegalStateException e) { refused = e.getMessage(); }
    out.put("appRefresh", refused);

    // Logout revokes the session: the next request needs a login.
    SignedApi old = make().credentials(api.credentials());
    out.put("logout", Arrays.asList(api.logout().status(), api.credentials() == null));
    SignedApi.Response after = old.request("GET", "/auth/whoami");
    out.put("afterLogout", Arrays.asList(after.code(), after.needsLogin()));
    System.out.println(SignedApi.Json.stringify(out));
  }
}
`

t.test('the library against a live HTTPS server', async t => {
  const ADMIN = 'javaadmin'
  const ADMIN_PASSWORD = 'admin password for the java test'
  const server = await startLiveServer(t, { ADMIN_USERNAME: ADMIN, ADMIN_PASSWORD })
  const dir = scratch(t)
  writeFileSync(join(dir, 'Live.java'), LIVE)
  await compiled
  const built = await javac(join(dir, 'Live.java'))
  t.equal(built.code, 0, `javac: no error, no warning ${built.stderr}`)
  const user = randomName('jl')
  const res = await run('java', [...JVM, '-cp', CLASSES, 'Live'], { URL: server.url, CA: server.caFile, USER_NAME: user, PASSWORD, ADMIN, ADMIN_PASSWORD })
  t.equal(res.code, 0, `the driver ran ${res.stderr}`)
  const out = JSON.parse(res.stdout) as Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any
  t.same(out.signup, [201, { username: user }], 'signup')
  t.equal(out.wrongPassword[0], 401)
  t.equal(out.wrongPassword[1].code, 'AUTH_INVALID_CREDENTIALS')
  t.equal(out.login, 200, 'login')
  t.equal(out.seen, 1, 'onCredentials saw the new key (not the failed login)')
  t.equal(out.keyInToString, false, 'toString never shows the key')
  t.equal(out.whoami[0], 200, 'whoami')
  t.match(out.whoami[1], { username: user, kind: 'user' })
  t.equal(out.head, 200, 'HEAD is signed as HEAD')

  t.same(out.tamperedTarget.slice(0, 2), [401, 'AUTH_BAD_SIGNATURE'], 'a target changed after signing is refused')
  t.equal(out.tamperedTarget[2].canonical.lines[5], '/auth/whoami?tampered=1', 'the server shows the target it verified')
  t.same(out.tamperedBody, [401, 'AUTH_BAD_SIGNATURE'], 'a body byte changed after signing is refused')

  for (const [skew, name] of [[-60_000, 'behind'], [90_000, 'ahead']] as const) {
    const [first, offset, attempts, second, increasing, distance] = out[`stale${skew}`] as [number, number, number, number, boolean, number]
    t.equal(first, 200, `a clock 60-90 s ${name}: signed again after AUTH_STALE`)
    t.ok(Math.abs(offset + skew) < 5000, `offset ${offset} undoes the skew ${skew}`)
    t.equal(attempts, 3, 'two attempts, then the next request needs no retry')
    t.equal(second, 200)
    t.equal(increasing, true, 'X-Microtime keeps increasing')
    t.ok(distance < 5000, 'the second signature carries the server time')
  }
  t.same(out.runaway, ['AUTH_STALE', 2], 'a runaway clock: exactly one re-sign, then the AUTH_STALE answer')
  t.same(out.replayGet, [200, 200, 2, 1], 'a replayed GET is signed again with the next millisecond')
  t.same(out.replayPost, [200, 401, 'AUTH_REPLAY', 1], 'a replayed POST is not retried')
  t.same(out.refreshDue, [200, true, true, 1], 'a key due for refresh is refreshed, and the request signed with the new key')
  t.equal(out.refreshNotDue, true, 'a key far from expiry is not refreshed')

  t.equal(out.noteCreate[0], 201, `create a note (got ${JSON.stringify(out.noteCreate)})`)
  t.match(out.noteRead, [200, { title: 'From the JVM', body: 'café ☕\nline two' }])
  t.match(out.notePatch, [200, { title: 'Renamed', body: 'café ☕\nline two' }])
  t.equal(out.noteDelete, 204)
  t.equal(out.noteGone, 'NOT_FOUND')

  t.equal(out.app[0], 201, 'client registered')
  t.match(out.app[1], { kind: 'app', expiresAt: null })
  t.match(out.app[1].username, /^app:/)
  t.equal(out.app[2], 200, 'the public area takes a client key')
  t.equal(out.app[3], 'FORBIDDEN', 'a client key on /v1/notes: 403 FORBIDDEN')
  t.match(out.appRefresh, /refresh is for user keys/)

  t.same(out.logout, [204, true], 'logout forgets the key')
  t.same(out.afterLogout, ['AUTH_KEY_REVOKED', true], 'a key of the logged-out session needs a login')
})
