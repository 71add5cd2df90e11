/**
 * The repository carries a copy of the contract documents (test/fixtures/contract)
 * so that a clone alone runs the suite. Where the shared contract sits beside the
 * checkout (../shared, as in development), the copy must be the same text.
 */
import t from 'tap'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { CONTRACT_COPY_DIR, SHARED_CONTRACT_DIR } from './helper.js'

for (const name of ['protocol-v1.md', 'api-v1.md']) {
  const shared = join(SHARED_CONTRACT_DIR, name)
  t.test(`${name}: the copy is the shared contract`, { skip: existsSync(shared) ? false : `${shared} is not beside this clone: the copy is used` }, async t => {
    t.equal(readFileSync(join(CONTRACT_COPY_DIR, name), 'utf8'), readFileSync(shared, 'utf8'), `copy with: cp ${shared} ${CONTRACT_COPY_DIR}/`)
  })
}
