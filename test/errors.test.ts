/** The error catalogue and the documented codes stay in step (docs/protocol.md "Error codes", docs/api.md). */
import t from 'tap'
import { ApiError, ERRORS, type ErrorCode } from '../src/errors.js'
import { readDoc } from './helper.js'

const protocol = readDoc('protocol.md')
const api = readDoc('api.md')

/** The rows `| status | \`CODE\` | when |` of docs/protocol.md's "Error codes" table. */
function codeTable (doc: string): Map<string, number> {
  const at = doc.indexOf('\n## Error codes\n')
  const section = doc.slice(at, doc.indexOf('\n## ', at + 1))
  const rows = new Map<string, number>()
  for (const m of section.matchAll(/^\| (\d{3}) \| `([A-Z][A-Z_]+)` \|/gm)) rows.set(m[2] as string, Number(m[1]))
  return rows
}

t.test('docs/protocol.md\'s code table is the catalogue: the same codes, each with its status', async t => {
  const table = codeTable(protocol)
  t.same([...table.keys()].sort(), Object.keys(ERRORS).sort(), 'the same codes, none missing, none extra')
  for (const [code, status] of table) {
    if (Object.hasOwn(ERRORS, code)) t.equal(ERRORS[code as ErrorCode].status, status, `${code} is ${status}`)
  }
})

t.test('every "<status> `CODE`" the docs name elsewhere is in the catalogue with that status', async t => {
  const named = new Map<string, number>()
  for (const doc of [protocol, api]) {
    for (const m of doc.matchAll(/(\d{3}) `([A-Z][A-Z_]{3,})`/g)) named.set(m[2] as string, Number(m[1]))
  }
  t.ok(named.size >= 15, `${named.size} codes named in the prose`)
  for (const [code, status] of named) {
    t.ok(Object.hasOwn(ERRORS, code), `${code} is in the catalogue`)
    if (Object.hasOwn(ERRORS, code)) t.equal(ERRORS[code as ErrorCode].status, status, `${code} is ${status}`)
  }
})

t.test('an ApiError has the protocol body shape', async t => {
  const e = new ApiError('AUTH_STALE', undefined, { extra: 1 })
  t.same(e.body(), { statusCode: 401, code: 'AUTH_STALE', error: 'Unauthorized', message: ERRORS.AUTH_STALE.message, extra: 1 })
})
