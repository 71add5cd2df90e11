/**
 * A small argument parser with one-line errors: options may come before or
 * after the command, `--name value` or `--name=value`, `--` ends options.
 * Each command declares its options, so a misplaced one is named.
 */

/** A bad argument: the CLI prints the message on one line and exits 2. */
export class ArgError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'ArgError'
  }
}

export interface OptionSpec {
  /** Options that take a value. */
  values: readonly string[]
  /** Options that take none. */
  flags: readonly string[]
  /** Single-letter aliases, e.g. { i: 'include' }. */
  short?: Readonly<Record<string, string>>
}

export interface Parsed {
  positionals: string[]
  values: Map<string, string>
  flags: Set<string>
}

export const GLOBAL_OPTIONS: OptionSpec = { values: ['base-url', 'ca', 'credentials'], flags: ['help'], short: { h: 'help' } }

export function parseArgs (argv: readonly string[], spec: OptionSpec): Parsed {
  const values = new Map<string, string>()
  const flags = new Set<string>()
  const positionals: string[] = []
  const allValues = new Set([...GLOBAL_OPTIONS.values, ...spec.values])
  const allFlags = new Set([...GLOBAL_OPTIONS.flags, ...spec.flags])
  const short: Record<string, string> = { ...GLOBAL_OPTIONS.short, ...spec.short }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1))
      break
    }
    let name: string
    let inline: string | undefined
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=')
      name = eq === -1 ? arg.slice(2) : arg.slice(2, eq)
      inline = eq === -1 ? undefined : arg.slice(eq + 1)
    } else if (/^-[A-Za-z]$/.test(arg)) {
      const long = short[arg.slice(1)]
      if (long === undefined) throw new ArgError(`unknown option ${arg}`)
      name = long
    } else {
      positionals.push(arg)
      continue
    }
    if (allFlags.has(name)) {
      if (inline !== undefined) throw new ArgError(`--${name} takes no value`)
      flags.add(name)
    } else if (allValues.has(name)) {
      const value = inline ?? argv[++i]
      if (value === undefined) throw new ArgError(`--${name} needs a value`)
      if (values.has(name)) throw new ArgError(`--${name} is given twice`)
      values.set(name, value)
    } else {
      throw new ArgError(`unknown option --${name}${spec.values.length + spec.flags.length > 0 ? ` (this command takes ${[...spec.values, ...spec.flags].map(o => `--${o}`).join(', ')})` : ''}`)
    }
  }
  return { positionals, values, flags }
}

/** Exactly `names.length` positionals, named in the error. */
export function expectPositionals (p: Parsed, command: string, names: readonly string[]): string[] {
  if (p.positionals.length < names.length) throw new ArgError(`${command}: missing ${names.slice(p.positionals.length).join(' ')}`)
  if (p.positionals.length > names.length) throw new ArgError(`${command}: unexpected argument ${JSON.stringify(p.positionals[names.length])}`)
  return p.positionals
}
