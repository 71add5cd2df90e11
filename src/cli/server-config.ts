/**
 * The server's configuration as the operator commands (keyring, backup,
 * restore) read it from their environment: a bad variable is a usage error
 * (one line, exit 2), as for the servers at start.
 */
import { ArgError } from './args.js'
import { ConfigError, loadConfig, type Config } from '../config.js'

export function configFromEnv (env: Record<string, string | undefined>): Config {
  try {
    return loadConfig(env)
  } catch (err) {
    if (err instanceof ConfigError) throw new ArgError(err.problems.join('; '))
    throw err
  }
}
