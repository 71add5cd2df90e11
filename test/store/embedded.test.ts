/** The Store contract against the embedded (SQLite) adapter: always runs. */
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openEmbeddedStore } from '../../src/store/embedded.js'
import { runStoreContract } from './contract.js'

await runStoreContract(t, 'embedded', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'store-contract-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return openEmbeddedStore(dir)
})
