/**
 * `signed-api keyring ...`: the master key rotation an operator runs, in three
 * steps, each followed by a rolling restart (restart the instances one at a
 * time), so that no request fails on the way (api-v1.md):
 *
 *   keyring add FILE               a new version, held: it verifies, never issues
 *   keyring activate FILE VERSION  it issues keys, cursors and cookies; the others still verify
 *   keyring retire FILE VERSION    its secret is removed; refused while a live key may need it
 *   keyring status FILE            each version's state
 *
 * retire reads the limits (KEY_TTL_SECONDS, SESSION_MAX_SECONDS,
 * CLIENT_KEY_OVERLAP_SECONDS, CLOCK_SKEW_MS) and the clients from the store
 * (DATA_DIR or MONGODB_URI) through the servers' own environment variables.
 * Exit codes: 0 done, 1 refused, 2 bad arguments or configuration.
 */
import { existsSync } from 'node:fs'
import { ArgError, expectPositionals, parseArgs, type OptionSpec } from './cli/args.js'
import type { Io } from './cli/io.js'
import { configFromEnv } from './cli/server-config.js'
import type { Config } from './config.js'
import {
  activateInKeyringFile, addToKeyringFile, KeyringError, readKeyringFile, retireFromKeyringFile, RetireRefused
} from './auth/keyring-file.js'
import { activeVersion, issuingIntervals, type ClientKeyRecord, type KeyringFile, type RetireLimits } from './auth/keys.js'

const SPECS: Record<string, OptionSpec> = {
  add: { values: [], flags: [] },
  activate: { values: [], flags: [] },
  retire: { values: ['rollout-seconds'], flags: [] },
  status: { values: [], flags: [] }
}

const DEFAULT_ROLLOUT_SECONDS = 3600

/** The facts `keyring retire` needs from outside the keyring file: the limits, and the clients from the store. */
export interface RetireFacts {
  limits: (config: Config) => Omit<RetireLimits, 'rolloutMs'>
  clients: (config: Config) => Promise<ClientKeyRecord[]>
}

/** The clients, read from the store the servers use. The embedded store must already exist: a wrong DATA_DIR would otherwise look like a store with no clients. */
async function storeClients (config: Config): Promise<ClientKeyRecord[]> {
  if (config.mongodbUri !== undefined) {
    const { openMongoStore } = await import('./store/mongodb.js')
    const store = await openMongoStore(config.mongodbUri)
    try {
      return await store.listClients()
    } finally {
      await store.close()
    }
  }
  const { embeddedStoreFile, openEmbeddedStore } = await import('./store/embedded.js')
  const file = embeddedStoreFile(config.dataDir)
  if (!existsSync(file)) throw new ArgError(`no store at ${file}: run keyring retire with the servers' DATA_DIR (or MONGODB_URI), so it sees their clients`)
  const store = openEmbeddedStore(config.dataDir)
  try {
    return await store.listClients()
  } finally {
    await store.close()
  }
}

const defaultFacts: RetireFacts = {
  limits: (config) => ({
    keyTtlMs: config.keyTtlSeconds * 1000,
    sessionMaxMs: config.sessionMaxSeconds * 1000,
    clientKeyOverlapMs: config.clientKeyOverlapSeconds * 1000,
    clockSkewMs: config.clockSkewMs
  }),
  clients: storeClients
}

function version (text: string): number {
  if (!/^[1-9][0-9]{0,5}$/.test(text)) throw new ArgError(`VERSION must be a keyring version number 1..999999 (got ${JSON.stringify(text)})`)
  return Number(text)
}

/** Runs `keyring <argv...>`; resolves to the exit code. `now` and `facts` are injectable for tests. */
export async function keyringCommand (argv: readonly string[], io: Io, now: () => number = Date.now, facts: RetireFacts = defaultFacts): Promise<number> {
  const sub = argv[0]
  if (sub === undefined || !Object.hasOwn(SPECS, sub)) {
    throw new ArgError(sub === undefined ? 'keyring: missing step (add, activate, retire, status)' : `keyring: unknown step ${JSON.stringify(sub)} (add, activate, retire, status)`)
  }
  const parsed = parseArgs(argv.slice(1), SPECS[sub] as OptionSpec)
  try {
    switch (sub) {
      case 'add': {
        const [file] = expectPositionals(parsed, 'keyring add', ['FILE']) as [string]
        const { version: added, active } = addToKeyringFile(file, now())
        io.stdout(`${file}: version ${added} added. It verifies and does not issue; version ${active} still issues.\n` +
          `next: restart every instance, one at a time; then: signed-api keyring activate ${file} ${added}\n`)
        return 0
      }
      case 'activate': {
        const [file, text] = expectPositionals(parsed, 'keyring activate', ['FILE', 'VERSION']) as [string, string]
        const v = version(text)
        const { previous, changed } = activateInKeyringFile(file, v, now())
        if (!changed) {
          io.stdout(`${file}: version ${v} is already the active version\n`)
          return 0
        }
        io.stdout(`${file}: version ${v} is active: it issues keys, cursors and website cookies; version ${previous} and the other held versions still verify.\n` +
          `next: restart every instance, one at a time. Once no live key needs version ${previous}: signed-api keyring retire ${file} ${previous}\n`)
        return 0
      }
      case 'retire': {
        const [file, text] = expectPositionals(parsed, 'keyring retire', ['FILE', 'VERSION']) as [string, string]
        const v = version(text)
        const rollout = parsed.values.get('rollout-seconds') ?? String(DEFAULT_ROLLOUT_SECONDS)
        if (!/^[0-9]{1,8}$/.test(rollout)) throw new ArgError(`--rollout-seconds must be a whole number of seconds (got ${JSON.stringify(rollout)})`)
        const config = configFromEnv(io.env)
        // The file first: an unknown or active version is refused without opening the store.
        readKeyringFile(file, now())
        const limits: RetireLimits = { ...facts.limits(config), rolloutMs: Number(rollout) * 1000 }
        retireFromKeyringFile(file, v, await facts.clients(config), limits, now())
        io.stdout(`${file}: version ${v} retired: its secret is gone from the file.\nnext: restart every instance, one at a time; after that nothing of version ${v} verifies.\n`)
        return 0
      }
      default: {
        const [file] = expectPositionals(parsed, 'keyring status', ['FILE']) as [string]
        io.stdout(describeKeyring(file, readKeyringFile(file, now())))
        return 0
      }
    }
  } catch (err) {
    if (err instanceof RetireRefused) {
      io.stderr(`signed-api: cannot retire yet; a live key may still need it:\n${err.problems.map(p => `  - ${p}\n`).join('')}`)
      return 1
    }
    if (err instanceof KeyringError) {
      io.stderr(`signed-api: ${err.message}\n`)
      return 1
    }
    throw err
  }
}

/** One line per version: active, held (added or formerly active), retired. */
export function describeKeyring (path: string, file: KeyringFile): string {
  const active = activeVersion(file)
  const lines = [`${path}: version ${active} is active`]
  for (const k of [...file.keys].sort((a, b) => a.version - b.version)) {
    const intervals = issuingIntervals(file, k.version)
    const last = intervals.at(-1)
    let state: string
    if (k.secret === undefined) state = `retired at ${k.retiredAt as string}`
    else if (k.version === active) state = `active since ${new Date((last as { from: number }).from).toISOString()}: issues and verifies`
    else if (last === undefined) state = `held since ${k.createdAt}, never active: verifies, does not issue`
    else state = `held, active until ${new Date(last.to).toISOString()}: verifies, does not issue`
    lines.push(`  version ${k.version}: ${state}`)
  }
  return `${lines.join('\n')}\n`
}
