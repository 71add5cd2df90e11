/**
 * Keyring maintenance: `node dist/src/keyring-cli.js rotate FILE` adds a new
 * newest master key version (new keys derive from it; keys issued under older
 * versions keep verifying until they expire). Restart every instance after.
 */
import { rotateKeyringFile, KeyringError } from './auth/keyring-file.js'

const [command, file] = process.argv.slice(2)
if (command !== 'rotate' || file === undefined) {
  process.stderr.write('usage: keyring-cli rotate KEYRING_FILE\n')
  process.exit(2)
}
try {
  const version = rotateKeyringFile(file, Date.now())
  process.stdout.write(`${file}: version ${version} is now the newest; restart every instance to use it\n`)
} catch (err) {
  process.stderr.write(`${err instanceof KeyringError ? err.message : String(err)}\n`)
  process.exit(1)
}
