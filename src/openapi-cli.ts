/**
 * Prints the OpenAPI document of the running routes (`make openapi` writes it
 * to openapi/openapi.json). Builds the app on a throwaway DATA_DIR; never listens.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildApp } from './app.js'
import { loadConfig } from './config.js'
import { addKeyringVersion, parseKeyring } from './auth/keys.js'
import { openEmbeddedStore } from './store/embedded.js'

export async function openApiDocument (): Promise<unknown> {
  const dir = mkdtempSync(join(tmpdir(), 'openapi-'))
  try {
    const app = await buildApp(loadConfig({ DATA_DIR: dir, LOG_LEVEL: 'silent' }), {
      store: openEmbeddedStore(dir),
      keyring: parseKeyring(JSON.stringify(addKeyringVersion(null, 0)))
    })
    await app.ready()
    const doc = app.swagger()
    await app.close()
    return doc
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

if (process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].split('/').pop() ?? '\0')) {
  process.stdout.write(`${JSON.stringify(await openApiDocument(), null, 2)}\n`)
}
