/**
 * The project's own documents hold: every relative link of README.md,
 * CHANGELOG.md and docs/*.md names a file in the repository (and a heading
 * in it, for `#anchor`), no link leaves the repository, and the worked
 * example of docs/protocol.md is what the protocol module computes.
 */
import t from 'tap'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createHash } from 'node:crypto'
import { canonicalBytes, deriveKey, issueUserKey, signCanonical } from '../src/protocol/index.js'
import { DOCS_DIR, readDoc } from './helper.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const PAGES = ['README.md', 'CHANGELOG.md', ...readdirSync(DOCS_DIR).filter(f => f.endsWith('.md')).map(f => `docs/${f}`)]

/** Text outside fenced code blocks and inline code, where a link is a link. */
function prose (md: string): string {
  return md.replace(/^```[\s\S]*?^```/gm, '').replace(/`[^`\n]*`/g, '``')
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes, repeats numbered. */
function anchorsOf (md: string): Set<string> {
  const seen = new Map<string, number>()
  const out = new Set<string>()
  for (const m of md.replace(/^```[\s\S]*?^```/gm, '').matchAll(/^#{1,6} (.+)$/gm)) {
    const base = (m[1] as string).trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-')
    const n = seen.get(base) ?? 0
    seen.set(base, n + 1)
    out.add(n === 0 ? base : `${base}-${n}`)
  }
  return out
}

t.test('every link in README.md, CHANGELOG.md and docs/ resolves inside the repository', async t => {
  t.ok(PAGES.length >= 7, `${PAGES.length} pages: ${PAGES.join(', ')}`)
  let links = 0
  for (const page of PAGES) {
    const text = readFileSync(join(ROOT, page), 'utf8')
    for (const m of prose(text).matchAll(/\]\(([^)\s]+)\)/g)) {
      links++
      const target = m[1] as string
      t.notMatch(target, /^[a-z][a-z0-9+.-]*:/i, `${page}: ${target} does not leave the repository`)
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue
      const [path = '', anchor] = target.split('#') as [string, string | undefined]
      const file = path === '' ? join(ROOT, page) : resolve(dirname(join(ROOT, page)), path)
      const inside = relative(ROOT, file)
      t.ok(!inside.startsWith('..') && !inside.startsWith('/'), `${page}: ${target} stays inside the repository`)
      t.ok(existsSync(file), `${page}: ${target} exists`)
      if (anchor !== undefined && existsSync(file) && statSync(file).isFile() && file.endsWith('.md')) {
        t.ok(anchorsOf(readFileSync(file, 'utf8')).has(anchor), `${page}: #${anchor} is a heading of ${relative(ROOT, file)}`)
      }
    }
  }
  t.ok(links >= 40, `${links} links checked`)
})

t.test('the link check itself: code is not prose, and anchors are GitHub\'s', async t => {
  t.same(prose('see [a](x.md) and `[b](y.md)`\n```\n[c](z.md)\n```\n').match(/\]\(([^)\s]+)\)/g), ['](x.md)'])
  const anchors = anchorsOf('# The four headers\n## Time: two instants\n### The replay window, and `REDIS_REPLAY_REPLICAS`\n## Time: two instants\n')
  t.same([...anchors], ['the-four-headers', 'time-two-instants', 'the-replay-window-and-redis_replay_replicas', 'time-two-instants-1'])
})

/** The `value` cell of the row whose first cell is `label`, in docs/protocol.md's worked example. */
function cell (doc: string, label: string, nth = 0): string {
  const rows = [...doc.matchAll(new RegExp(`^\\| ${label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\| (.+) \\|$`, 'gm'))]
  const row = rows[nth]
  if (row === undefined) throw new Error(`no row "${label}" (#${nth}) in docs/protocol.md`)
  return (row[1] as string).match(/`([^`]*)`/)?.[1] ?? ''
}

t.test('docs/protocol.md\'s worked example is what the protocol module computes', async t => {
  const doc = readDoc('protocol.md')
  const example = doc.slice(doc.indexOf('## Worked example'), doc.indexOf('## How the server checks'))
  const secret = Buffer.from(cell(example, 'keyring version 1 secret (hex)'), 'hex')
  t.equal(secret.length, 32)
  const audience = cell(example, '`AUDIENCE`')
  const now = Number(cell(example, 'login time (Unix ms)'))
  const keyring = { current: 1, secrets: new Map([[1, secret]]) }
  const key = issueUserKey(keyring, audience, 'alice', { now, sessionId: cell(example, 'session id'), keyTtlMs: Number(cell(example, '`KEY_TTL_SECONDS`')) * 1000 })
  t.equal(cell(example, 'key id'), key.keyId, 'key id')
  t.equal(cell(example, 'derivation input').replaceAll('\\|', '|'), `v1|${audience}|u|alice|${key.keyId}`, 'derivation input')
  t.equal(cell(example, 'signing key'), key.signingKey, 'signing key')
  t.equal(cell(example, 'signing key'), deriveKey(secret, audience, 'user', 'alice', key.keyId), 'the key derives from the documented input')
  t.equal(cell(example, 'expires at'), new Date(key.expiresAt).toISOString(), 'expiry')
  t.ok(example.includes(JSON.stringify({ username: 'alice', keyId: key.keyId, signingKey: key.signingKey, expiresAt: new Date(key.expiresAt).toISOString() })), 'the login answer')

  const blocks = [...example.matchAll(/^```text\n([\s\S]*?)^```/gm)].map(m => m[1] as string)
  t.equal(blocks.length, 2, 'two canonical strings are shown')
  for (const [i, block] of blocks.entries()) {
    const time = cell(example, '`X-Microtime`', i)
    const [method, target] = [...(example.match(new RegExp(`^\\| method and target \\| (.+) \\|$`, 'gm'))?.[i] ?? '').matchAll(/`([^`]*)`/g)].map(m => m[1] as string) as [string, string]
    const body = Buffer.from(cell(example, 'body', i))
    const canonical = canonicalBytes({ username: 'alice', keyId: key.keyId, time, method, target }, body)
    // The block shows the string with its LFs as line ends; without a body, the last line is the empty one after the target.
    t.equal(block.slice(0, -1), canonical.toString('utf8'), `request ${i + 1}: the canonical string as shown`)
    t.ok(example.includes(`(${canonical.length} bytes`) || example.includes(`is ${canonical.length} bytes`), `request ${i + 1}: its length, ${canonical.length}, is stated`)
    t.equal(cell(example, 'SHA-256 of the canonical string (for comparing, not sent)', i), createHash('sha256').update(canonical).digest('hex'), `request ${i + 1}: SHA-256`)
    t.equal(cell(example, '`Auth-Signature`', i), signCanonical(key.signingKey, canonical), `request ${i + 1}: the signature`)
  }
  t.match(example, /printf 'HMAC-SHA256-V1\\nalice\\n%s\\n%s\\nGET\\n%s\\n' '1\.u\.1\.mm7irhc0/, 'the shell check signs request 2')
})
