/**
 * `signed-api backup FILE` and `signed-api restore FILE`: the embedded
 * store's online backup (while the servers run and write) and its restore
 * into a DATA_DIR with no store. Both read DATA_DIR from the environment, as
 * the servers do. MongoDB deployments back up with MongoDB's own tools.
 * Exit codes: 0 done, 1 failed, 2 bad arguments or configuration.
 */
import { resolve } from 'node:path'
import { ArgError, expectPositionals, parseArgs } from './cli/args.js'
import type { Io } from './cli/io.js'
import { configFromEnv } from './cli/server-config.js'
import type { Config } from './config.js'
import { backupEmbeddedStore, BackupError, restoreEmbeddedStore } from './store/embedded.js'

function embeddedConfig (io: Io, command: string): Config {
  const config = configFromEnv(io.env)
  if (config.mongodbUri !== undefined) throw new ArgError(`${command} is for the embedded store; with MONGODB_URI set, back up with mongodump and restore with mongorestore`)
  return config
}

export async function backupCommand (command: 'backup' | 'restore', argv: readonly string[], io: Io): Promise<number> {
  const parsed = parseArgs(argv, { values: [], flags: [] })
  const [file] = expectPositionals(parsed, command, ['FILE']) as [string]
  const config = embeddedConfig(io, command)
  try {
    if (command === 'backup') {
      const started = new Date().toISOString()
      const result = await backupEmbeddedStore(config.dataDir, resolve(file))
      io.stdout(`${result.file}: backup of ${config.dataDir} begun at ${started}: ${result.pages} pages, schema version ${result.schemaVersion}, integrity ok\n`)
    } else {
      const result = await restoreEmbeddedStore(resolve(file), config.dataDir)
      io.stdout(`${result.file}: restored from ${resolve(file)} (schema version ${result.schemaVersion}); start the servers with DATA_DIR=${config.dataDir}\n`)
    }
    return 0
  } catch (err) {
    if (err instanceof BackupError) {
      io.stderr(`signed-api: ${err.message}\n`)
      return 1
    }
    throw err
  }
}
