/**
 * The `signed-api` command line: log in, send signed requests, and debug a
 * client's signatures (`--print-canonical`, `verify`). Exit codes: 0 done,
 * 1 the server refused or could not be reached or a signature does not
 * match, 2 a bad argument (one line, no stack). The key is never printed.
 */
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import {
  ApiError, SignedApiClient, TransportError, UsageError, canonicalBytes, canonicalSummary, fieldProblem, signCanonical, targetProblem, signatureMatches,
  SIGNATURE_RE, type Credentials, type SignedFields
} from '../sdk/index.js'
import { ArgError, expectPositionals, GLOBAL_OPTIONS, parseArgs, type OptionSpec, type Parsed } from './args.js'
import { defaultCredentialsPath, deleteCredentials, readCredentials, writeCredentials, type StoredCredentials } from './credentials-file.js'
import { readPassword, type Io } from './io.js'

export type { Io } from './io.js'

const DEFAULT_BASE_URL = 'https://127.0.0.1:8443'

export const USAGE = `usage: signed-api [options] <command> [arguments]

commands:
  signup USERNAME                 create a user
  login USERNAME                  log in and store the key (file mode 0600)
  whoami                          GET /auth/whoami with the stored key
  refresh                         get a fresh key of the session and store it
  logout                          revoke the session's keys and delete the stored key
  request METHOD TARGET           send a signed request; prints the JSON answer, the status on stderr
      --data JSON|@FILE|@-        body: inline JSON, or the exact bytes of a file or of stdin
      --print-canonical           show on stderr exactly what is signed (never the key)
      --dry-run                   sign but do not send: print the four auth headers
      --time MS                   X-Microtime to sign with (only with --dry-run)
      -i, --include               also print the answer's headers on stderr
  verify METHOD TARGET            check a client's signature against a key and a request
      --time MS --signature HEX   the request's X-Microtime and Auth-Signature
      --username U --key-id K     default: the stored key's
      --key-file FILE             the key; or env SIGNED_API_KEY; default: the stored key
      --data JSON|@FILE|@-        the body as sent

operator commands (run where the servers run, with their environment):
  keyring add FILE                add a master key version: held (it verifies, never issues)
  keyring activate FILE VERSION   make VERSION the one that issues; the other held versions still verify
  keyring retire FILE VERSION     remove VERSION's secret; refused while a live key may need it
      --rollout-seconds N         how long the rolling restart after the last activation took at most (default 3600)
  keyring status FILE             every version's state
                                  (restart every instance, one at a time, after add, activate and retire)
  backup FILE                     online backup of the embedded store in DATA_DIR to the new file FILE
  restore FILE                    restore a backup into DATA_DIR, which must hold no store (servers stopped)

options:
  --base-url URL       server (env SIGNED_API_URL; default: the stored key's, else ${DEFAULT_BASE_URL})
  --ca FILE            PEM certificate to trust, e.g. $DATA_DIR/dev-cert.pem (env SIGNED_API_CA; default: the one
                       given at login, stored with the key)
  --credentials FILE   stored key (env SIGNED_API_CREDENTIALS; default ~/.config/signed-api/credentials.json)
  --password-stdin     (signup, login) read the password from stdin; or env SIGNED_API_PASSWORD
  -h, --help           this text

exit codes: 0 success, 1 refused by the server / unreachable / signature mismatch, 2 bad arguments`

const NONE: OptionSpec = { values: [], flags: [] }
const COMMANDS: Record<string, OptionSpec> = {
  signup: { values: [], flags: ['password-stdin'] },
  login: { values: [], flags: ['password-stdin'] },
  whoami: NONE,
  refresh: NONE,
  logout: NONE,
  request: { values: ['data', 'time'], flags: ['print-canonical', 'dry-run', 'include'], short: { i: 'include' } },
  verify: { values: ['data', 'time', 'signature', 'username', 'key-id', 'key-file'], flags: [] }
}

/** Runs one command line; resolves to the exit code. Never throws. */
export async function run (argv: readonly string[], io: Io): Promise<number> {
  try {
    const index = commandIndex(argv)
    const command = index === -1 ? undefined : argv[index] as string
    if (command === undefined || argv.includes('--help') || argv.includes('-h')) {
      if (command === undefined && !argv.includes('--help') && !argv.includes('-h')) throw new ArgError('missing command (signup, login, whoami, refresh, logout, request, verify, keyring, backup, restore)')
      io.stdout(`${USAGE}\n`)
      return 0
    }
    const rest = [...argv.slice(0, index), ...argv.slice(index + 1)]
    // The operator's commands live in their own modules, loaded only when used (the store's driver with them).
    if (command === 'keyring') return await (await import('../keyring-cli.js')).keyringCommand(rest, io)
    if (command === 'backup' || command === 'restore') return await (await import('../backup-cli.js')).backupCommand(command, rest, io)
    // Own properties only: `signed-api constructor` is an unknown command, not Object's constructor.
    const spec = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined
    if (spec === undefined) throw new ArgError(`unknown command ${JSON.stringify(command)} (signup, login, whoami, refresh, logout, request, verify, keyring, backup, restore)`)
    const parsed = parseArgs(rest, spec)
    return await dispatch(command, parsed, io)
  } catch (err) {
    return report(err, io)
  }
}

/** Index of the command: the first argument that is neither an option nor a global option's value. */
function commandIndex (argv: readonly string[]): number {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string
    if (a === '--') return i + 1 < argv.length ? i + 1 : -1
    if (a.startsWith('-')) {
      if (a.startsWith('--') && !a.includes('=') && GLOBAL_OPTIONS.values.includes(a.slice(2))) i++
      continue
    }
    return i
  }
  return -1
}

function report (err: unknown, io: Io): number {
  if (err instanceof ArgError || err instanceof UsageError) {
    io.stderr(`signed-api: ${oneLine(err.message)} (see signed-api --help)\n`)
    return 2
  }
  if (err instanceof ApiError) {
    io.stderr(`signed-api: ${oneLine(err.message)}\n`)
    return 1
  }
  if (err instanceof TransportError) {
    io.stderr(`signed-api: ${oneLine(err.message)}\n`)
    return 1
  }
  io.stderr(`signed-api: unexpected error: ${oneLine(err instanceof Error ? err.message : String(err))}\n`)
  return 1
}

const oneLine = (s: string): string => s.replace(/\s*\n\s*/g, ' ')

interface Context {
  parsed: Parsed
  io: Io
  credentialsPath: string
}

async function dispatch (command: string, parsed: Parsed, io: Io): Promise<number> {
  const ctx: Context = { parsed, io, credentialsPath: parsed.values.get('credentials') ?? nonEmpty(io.env.SIGNED_API_CREDENTIALS) ?? defaultCredentialsPath(io.env) }
  switch (command) {
    case 'signup': return await signupOrLogin(ctx, 'signup')
    case 'login': return await signupOrLogin(ctx, 'login')
    case 'whoami':
      expectPositionals(parsed, 'whoami', [])
      return await send(ctx, 'GET', '/auth/whoami', undefined)
    case 'refresh': return await refresh(ctx)
    case 'logout': return await logout(ctx)
    case 'request': return await request(ctx)
    default: return verify(ctx)
  }
}

const nonEmpty = (v: string | undefined): string | undefined => v === undefined || v === '' ? undefined : v

function baseUrl (ctx: Context, stored: StoredCredentials | null): string {
  return ctx.parsed.values.get('base-url') ?? nonEmpty(ctx.io.env.SIGNED_API_URL) ?? stored?.baseUrl ?? DEFAULT_BASE_URL
}

/** The CA file named by --ca or SIGNED_API_CA, else the one stored with the key at login, as an absolute path. */
function caFile (ctx: Context, stored: StoredCredentials | null): string | undefined {
  const named = ctx.parsed.values.get('ca') ?? nonEmpty(ctx.io.env.SIGNED_API_CA)
  return named === undefined ? stored?.ca ?? undefined : resolve(named)
}

function readCa (file: string | undefined, stored: StoredCredentials | null): string | undefined {
  if (file === undefined) return undefined
  let pem: string
  try {
    pem = readFileSync(file, 'utf8')
  } catch (err) {
    const where = file === stored?.ca ? ' (stored with the key at login; pass --ca FILE)' : ''
    throw new ArgError(`cannot read CA file ${file}${where}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new ArgError(`CA file ${file} holds no PEM certificate`)
  return pem
}

function client (ctx: Context, stored: StoredCredentials | null, extra: { print?: boolean } = {}): SignedApiClient {
  const url = baseUrl(ctx, stored)
  const file = caFile(ctx, stored)
  const ca = readCa(file, stored)
  return new SignedApiClient({
    baseUrl: url,
    ...(ca === undefined ? {} : { ca }),
    ...(stored === null ? {} : { credentials: stored }),
    // A refreshed key replaces the stored one; a logout removes it.
    onCredentials: (c) => {
      if (c === null) deleteCredentials(ctx.credentialsPath)
      else writeCredentials(ctx.credentialsPath, { ...c, baseUrl: url, ca: file ?? null })
    },
    ...(extra.print === true ? { onSign: (s) => ctx.io.stderr(describeCanonical(s.canonical, s.headers['auth-signature'] as string)) } : {})
  })
}

function requireStored (ctx: Context): StoredCredentials {
  const stored = readCredentials(ctx.credentialsPath, line => ctx.io.stderr(`${line}\n`))
  if (stored === null) throw new ArgError(`not logged in: no key at ${ctx.credentialsPath}; run: signed-api login USERNAME`)
  return stored
}

async function signupOrLogin (ctx: Context, which: 'signup' | 'login'): Promise<number> {
  const [username] = expectPositionals(ctx.parsed, which, ['USERNAME']) as [string]
  if (!/^[a-z0-9][a-z0-9._-]{2,31}$/.test(username)) throw new ArgError(`USERNAME must be 3..32 chars of [a-z0-9._-], starting with a letter or digit (got ${JSON.stringify(username)})`)
  const api = client(ctx, null)
  const password = await readPassword(ctx.io, ctx.parsed.flags.has('password-stdin'))
  if (which === 'signup') {
    await api.signup(username, password)
    ctx.io.stdout(`${JSON.stringify({ username }, null, 2)}\n`)
    return 0
  }
  const answer = await api.login(username, password)
  ctx.io.stderr(`logged in as ${answer.username}; key stored in ${ctx.credentialsPath} (expires ${answer.expiresAt})\n`)
  ctx.io.stdout(`${JSON.stringify(answer, null, 2)}\n`)
  return 0
}

async function refresh (ctx: Context): Promise<number> {
  expectPositionals(ctx.parsed, 'refresh', [])
  const answer = await client(ctx, requireStored(ctx)).refresh()
  ctx.io.stdout(`${JSON.stringify(answer, null, 2)}\n`)
  return 0
}

async function logout (ctx: Context): Promise<number> {
  expectPositionals(ctx.parsed, 'logout', [])
  await client(ctx, requireStored(ctx)).logout()
  ctx.io.stderr(`logged out; ${ctx.credentialsPath} deleted\n`)
  return 0
}

/** --data: inline text must be JSON (sent exactly as typed); @FILE and @- are sent byte for byte. */
async function readData (ctx: Context): Promise<Buffer | undefined> {
  const data = ctx.parsed.values.get('data')
  if (data === undefined) return undefined
  if (data === '@-') return await ctx.io.readStdin()
  if (data.startsWith('@')) {
    try {
      return readFileSync(data.slice(1))
    } catch (err) {
      throw new ArgError(`cannot read --data file ${data.slice(1)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
    }
  }
  try {
    JSON.parse(data)
  } catch (err) {
    throw new ArgError(`--data is not valid JSON (${(err as Error).message}); use --data @FILE to send other bytes`)
  }
  return Buffer.from(data, 'utf8')
}

function methodAndTarget (ctx: Context, command: string): { method: string, target: string } {
  const [rawMethod, target] = expectPositionals(ctx.parsed, command, ['METHOD', 'TARGET']) as [string, string]
  const method = rawMethod.toUpperCase()
  if (!/^[A-Z]{1,20}$/.test(method)) throw new ArgError(`METHOD must be an HTTP method such as GET or POST (got ${JSON.stringify(rawMethod)})`)
  const problem = targetProblem(target)
  if (problem !== null) throw new ArgError(`TARGET: ${problem}`)
  return { method, target }
}

function readTime (ctx: Context, required: boolean): string | undefined {
  const time = ctx.parsed.values.get('time')
  if (time === undefined) {
    if (required) throw new ArgError('--time MS is required: the X-Microtime the request was signed with')
    return undefined
  }
  if (!/^[0-9]{1,16}$/.test(time)) throw new ArgError(`--time must be Unix milliseconds, 1..16 digits (got ${JSON.stringify(time)})`)
  return time
}

async function request (ctx: Context): Promise<number> {
  const { method, target } = methodAndTarget(ctx, 'request')
  const time = readTime(ctx, false)
  const dryRun = ctx.parsed.flags.has('dry-run')
  if (time !== undefined && !dryRun) throw new ArgError('--time needs --dry-run: a request that is sent is signed with the clock')
  const body = await readData(ctx)
  const stored = requireStored(ctx)
  const print = ctx.parsed.flags.has('print-canonical')
  const api = client(ctx, stored, { print })
  if (dryRun) {
    const signed = api.sign(method, target, body, time === undefined ? undefined : Number(time))
    if (print) ctx.io.stderr(describeCanonical(signed.canonical, signed.headers['auth-signature'] as string))
    ctx.io.stdout(`${method} ${signed.target}\nAuth-Username: ${signed.headers['auth-username']}\nAuth-Key-Id: ${signed.headers['auth-key-id']}\nX-Microtime: ${signed.headers['x-microtime']}\nAuth-Signature: ${signed.headers['auth-signature']}\n`)
    return 0
  }
  return await send(ctx, method, target, body, api)
}

async function send (ctx: Context, method: string, target: string, body: Buffer | undefined, api?: SignedApiClient): Promise<number> {
  const c = api ?? client(ctx, requireStored(ctx))
  const include = ctx.parsed.flags.has('include')
  try {
    const res = await c.request(method, target, body)
    ctx.io.stderr(`HTTP ${res.status}\n`)
    if (include) ctx.io.stderr(formatHeaders(res.headers))
    ctx.io.stdout(res.data !== undefined ? `${JSON.stringify(res.data, null, 2)}\n` : res.raw.length > 0 ? res.raw : '')
    return 0
  } catch (err) {
    if (!(err instanceof ApiError) || err.status === 200) throw err
    ctx.io.stderr(`HTTP ${err.status} ${err.code}\n`)
    if (err.body !== undefined) ctx.io.stdout(`${JSON.stringify(err.body, null, 2)}\n`)
    if (err.code === 'AUTH_BAD_SIGNATURE' && err.canonical !== undefined) ctx.io.stderr('the server signed the lines shown in "canonical"; compare with --print-canonical\n')
    if (err.code === 'AUTH_KEY_EXPIRED' || err.code === 'AUTH_KEY_REVOKED') ctx.io.stderr('the key no longer works: run signed-api login USERNAME\n')
    return 1
  }
}

function formatHeaders (headers: Record<string, string | string[] | undefined>): string {
  return Object.entries(headers).map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(', ') : String(v)}\n`).join('')
}

/** What is signed, line by line, then the exact bytes in hex: the same view as the server's AUTH_BAD_SIGNATURE `canonical`. */
export function describeCanonical (canonical: Buffer, signature: string, label = 'Auth-Signature'): string {
  const lines: string[] = []
  let start = 0
  for (let i = 0; i < 6; i++) {
    const end = canonical.indexOf(0x0a, start)
    lines.push(canonical.subarray(start, end).toString('utf8'))
    start = end + 1
  }
  const body = canonical.subarray(start)
  const summary = canonicalSummary({ username: '', keyId: '', time: '', method: '', target: '' }, body)
  return [
    'canonical string (7 fields joined by LF; the body is the last; the key is never shown):',
    ...lines.map((l, i) => `  ${i + 1} ${l}`),
    `  7 body: ${summary.bodyLength} bytes, sha256 ${summary.bodySha256}`,
    `hex: ${canonical.toString('hex')}`,
    `${label}: ${signature}`,
    ''
  ].join('\n')
}

function verify (ctx: Context): number {
  const { method, target } = methodAndTarget(ctx, 'verify')
  const time = readTime(ctx, true) as string
  const signature = ctx.parsed.values.get('signature')
  if (signature === undefined) throw new ArgError('--signature HEX is required: the Auth-Signature to check')
  const keyFile = ctx.parsed.values.get('key-file')
  let key: string | undefined
  if (keyFile !== undefined) {
    try {
      key = readFileSync(keyFile, 'utf8').replace(/\r?\n$/, '')
    } catch (err) {
      throw new ArgError(`cannot read --key-file ${keyFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
    }
  } else key = nonEmpty(ctx.io.env.SIGNED_API_KEY)
  let username = ctx.parsed.values.get('username')
  let keyId = ctx.parsed.values.get('key-id')
  if (key === undefined || username === undefined || keyId === undefined) {
    const stored: Credentials | null = readCredentials(ctx.credentialsPath, line => ctx.io.stderr(`${line}\n`))
    if (stored === null) throw new ArgError(`verify needs --username, --key-id and a key (--key-file or SIGNED_API_KEY), or a stored key at ${ctx.credentialsPath}`)
    key ??= stored.signingKey
    username ??= stored.username
    keyId ??= stored.keyId
  }
  if (key === '') throw new ArgError('the key is empty')
  return verifyWith(ctx, key, { username, keyId, time, method, target }, signature)
}

function verifyWith (ctx: Context, key: string, fields: SignedFields, signature: string): number {
  const data = ctx.parsed.values.get('data')
  // verify is synchronous on purpose except for stdin, which it does not take.
  if (data === '@-') throw new ArgError('verify takes --data JSON or --data @FILE, not stdin')
  const body = data === undefined ? Buffer.alloc(0) : data.startsWith('@') ? readDataFile(data.slice(1)) : Buffer.from(data, 'utf8')
  const canonical = canonicalBytes(fields, body)
  const expected = signCanonical(key, canonical)
  const problem = fieldProblem(fields) ?? (SIGNATURE_RE.test(signature) ? null : 'Auth-Signature must be exactly 64 lowercase hex chars (the server answers AUTH_MALFORMED)')
  if (problem !== null) {
    ctx.io.stdout(`MALFORMED: ${problem}\n`)
    ctx.io.stderr(describeCanonical(canonical, expected, 'expected Auth-Signature'))
    return 1
  }
  if (signatureMatches(key, fields, body, signature)) {
    ctx.io.stdout('OK: the signature matches\n')
    return 0
  }
  ctx.io.stdout(`MISMATCH: got ${signature}, but this key signs this request as ${expected}\n`)
  ctx.io.stderr(describeCanonical(canonical, expected, 'expected Auth-Signature'))
  return 1
}

function readDataFile (path: string): Buffer {
  try {
    return readFileSync(path)
  } catch (err) {
    throw new ArgError(`cannot read --data file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
}
