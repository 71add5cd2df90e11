/** The error catalogue and the protocol's tables stay in step. */
import t from 'tap'
import { ApiError, ERRORS, type ErrorCode } from '../src/errors.js'
import { readContract } from './helper.js'

const protocol = readContract('protocol-v1.md')
const api = readContract('api-v1.md')

t.test('every code the protocol and api-v1.md name is in the catalogue with the same status', async t => {
  const named = new Map<string, number>()
  for (const doc of [protocol, api]) {
    for (const m of doc.matchAll(/(\d{3}) `([A-Z][A-Z_]{3,})`/g)) named.set(m[2] as string, Number(m[1]))
  }
  t.ok(named.size >= 20, `${named.size} codes found in the docs`)
  for (const [code, status] of named) {
    t.ok(Object.hasOwn(ERRORS, code), `${code} is in the catalogue`)
    if (Object.hasOwn(ERRORS, code)) t.equal(ERRORS[code as ErrorCode].status, status, `${code} is ${status}`)
  }
})

t.test('an ApiError has the protocol body shape', async t => {
  const e = new ApiError('AUTH_STALE', undefined, { extra: 1 })
  t.same(e.body(), { statusCode: 401, code: 'AUTH_STALE', error: 'Unauthorized', message: ERRORS.AUTH_STALE.message, extra: 1 })
})
