/**
 * The only reader of the environment. Every variable of api-v1.md is
 * validated here with TypeBox at start; all bad values are reported at once.
 */
import { isIP } from 'node:net'
import { resolve } from 'node:path'
import Type, { type TSchema } from 'typebox'
import Value from 'typebox/value'
import { PASSWORD_MAX, PASSWORD_MIN, USERNAME_PATTERN } from './schemas/common.js'

const Int = (min: number, max: number, description: string) => Type.Integer({ minimum: min, maximum: max, description })
const Text = (pattern: string, description: string) => Type.String({ pattern, description })
// host:port, the host a name, an IPv4 address or a bracketed IPv6 address.
const HOST_PORT_LIST = '^(?:(?:[A-Za-z0-9.-]{1,255}|\\[[0-9A-Fa-f:.]{2,45}\\]):\\d{1,5})(?:\\s*,\\s*(?:[A-Za-z0-9.-]{1,255}|\\[[0-9A-Fa-f:.]{2,45}\\]):\\d{1,5})*$'
const HOST = Text('^[A-Za-z0-9.:\\-]{1,255}$', 'a host name or address (an IPv6 address without brackets, such as ::1)')
const OnOff = (description: string) => Type.Union([Type.Literal('on'), Type.Literal('off')], { description })

/** Each variable, its schema and its default (undefined: unset is allowed). */
const VARIABLES = {
  HOST: { schema: HOST, default: '127.0.0.1' },
  PORT: { schema: Int(0, 65535, 'an integer 0..65535'), default: '8443' },
  TLS: { schema: OnOff('on or off'), default: 'on' },
  TLS_CERT_FILE: { schema: Text('^.+$', 'a file path'), default: undefined },
  TLS_KEY_FILE: { schema: Text('^.+$', 'a file path'), default: undefined },
  DATA_DIR: { schema: Text('^.+$', 'a directory path'), default: './var' },
  MONGODB_URI: { schema: Text('^mongodb(\\+srv)?://.+$', 'a mongodb:// or mongodb+srv:// URI'), default: undefined },
  MASTER_KEY_FILE: { schema: Text('^.+$', 'a file path'), default: undefined },
  KEY_TTL_SECONDS: { schema: Int(60, 31_536_000, 'an integer number of seconds, 60..31536000'), default: '21600' },
  CLOCK_SKEW_MS: { schema: Int(1000, 300_000, 'an integer number of milliseconds, 1000..300000'), default: '10000' },
  SIGNUP: { schema: Type.Union([Type.Literal('open'), Type.Literal('client'), Type.Literal('closed')], { description: 'open, client or closed' }), default: 'open' },
  ADMIN_USERNAME: { schema: Text(USERNAME_PATTERN, 'a username: 3..32 chars of [a-z0-9._-], starting with a letter or digit'), default: undefined },
  ADMIN_PASSWORD: { schema: Type.String({ minLength: PASSWORD_MIN, maxLength: PASSWORD_MAX, description: `${PASSWORD_MIN}..${PASSWORD_MAX} characters` }), default: undefined },
  TRUST_PROXY: { schema: Text('^.+$', 'comma-separated addresses or CIDRs'), default: undefined },
  REDIS_URL: { schema: Text('^rediss?://.+$', 'a redis:// or rediss:// URL'), default: undefined },
  REDIS_SENTINELS: { schema: Text(HOST_PORT_LIST, 'comma-separated host:port pairs of the Sentinels'), default: undefined },
  REDIS_SENTINEL_MASTER: { schema: Text('^[A-Za-z0-9._-]{1,128}$', 'the master name the Sentinels monitor: 1..128 chars of [A-Za-z0-9._-]'), default: undefined },
  REDIS_CLUSTER_NODES: { schema: Text(HOST_PORT_LIST, 'comma-separated host:port pairs of Redis Cluster seed nodes'), default: undefined },
  REDIS_PASSWORD: { schema: Type.String({ minLength: 1, maxLength: 512, description: '1..512 characters' }), default: undefined },
  REDIS_SENTINEL_PASSWORD: { schema: Type.String({ minLength: 1, maxLength: 512, description: '1..512 characters' }), default: undefined },
  REDIS_TLS: { schema: OnOff('on or off'), default: 'off' },
  REDIS_REPLAY_REPLICAS: { schema: Int(0, 16, 'an integer 0..16'), default: undefined },
  BODY_LIMIT_BYTES: { schema: Int(1024, 104_857_600, 'an integer number of bytes, 1024..104857600'), default: '1048576' },
  HEADERS_TIMEOUT_MS: { schema: Int(1000, 300_000, 'an integer number of milliseconds, 1000..300000'), default: '10000' },
  BODY_TIMEOUT_MS: { schema: Int(1000, 600_000, 'an integer number of milliseconds, 1000..600000'), default: '30000' },
  MAX_CONNECTIONS: { schema: Int(1, 1_000_000, 'an integer 1..1000000'), default: '10000' },
  // Unset: BODY_TIMEOUT_MS + 5 s, so that a request whose body may still be arriving can finish (shutdownGraceMs).
  SHUTDOWN_GRACE_MS: { schema: Int(1000, 600_000, 'an integer number of milliseconds, 1000..600000'), default: undefined },
  RATE_LIMIT_PER_MINUTE: { schema: Int(1, 1_000_000, 'an integer 1..1000000'), default: '1200' },
  LOGIN_MAX_FAILURES: { schema: Int(1, 1000, 'an integer 1..1000'), default: '10' },
  LOGIN_WINDOW_SECONDS: { schema: Int(1, 86_400, 'an integer number of seconds, 1..86400'), default: '900' },
  AUDIENCE: { schema: Text('^[A-Za-z0-9._-]{1,64}$', '1..64 chars of [A-Za-z0-9._-]'), default: 'dev' },
  SESSION_MAX_SECONDS: { schema: Int(60, 31_536_000, 'an integer number of seconds, 60..31536000'), default: '604800' },
  CLIENT_KEY_OVERLAP_SECONDS: { schema: Int(0, 2_592_000, 'an integer number of seconds, 0..2592000'), default: '86400' },
  CORS_ORIGINS: { schema: Text('^.+$', 'comma-separated origins such as https://app.example.com'), default: undefined },
  PUBLIC_PATH_PREFIX: { schema: Text('^(/[\\x21-\\x2e\\x30-\\x7e]+)*$', 'empty, or a path such as /api with no trailing slash'), default: '' },
  SIGNATURE_DEBUG: { schema: OnOff('on or off'), default: 'on' },
  METRICS_PORT: { schema: Int(0, 65535, 'an integer 0..65535'), default: undefined },
  METRICS_HOST: { schema: HOST, default: undefined },
  MAX_EVENT_LOOP_DELAY_MS: { schema: Int(0, 60_000, 'an integer number of milliseconds, 0..60000 (0: not checked)'), default: '1000' },
  // 1 could never be exceeded: a bound that never sheds is written 0.
  MAX_EVENT_LOOP_UTILIZATION: { schema: Text('^0(?:\\.\\d{1,6})?$', 'a fraction below 1 such as 0.98 (0: not checked)'), default: undefined },
  LOG_LEVEL: { schema: Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map(l => Type.Literal(l)), { description: 'fatal, error, warn, info, debug, trace or silent' }), default: 'info' }
} satisfies Record<string, { schema: TSchema, default: string | undefined }>

/**
 * Variables of this project beyond api-v1.md's table (the README lists them too).
 * MAX_CONNECTIONS caps open connections: past it new ones are closed at once.
 */
export const PROJECT_VARIABLES: readonly string[] = ['MAX_CONNECTIONS', 'REDIS_PASSWORD', 'REDIS_SENTINEL_PASSWORD', 'REDIS_TLS', 'REDIS_REPLAY_REPLICAS', 'SHUTDOWN_GRACE_MS', 'METRICS_PORT', 'METRICS_HOST', 'MAX_EVENT_LOOP_DELAY_MS', 'MAX_EVENT_LOOP_UTILIZATION']

/** Values that must never be echoed back in an error message. */
const SECRET_VARIABLES = new Set(['ADMIN_PASSWORD', 'MONGODB_URI', 'REDIS_URL', 'REDIS_PASSWORD', 'REDIS_SENTINEL_PASSWORD'])

/**
 * SHUTDOWN_GRACE_MS when unset: a request may take BODY_TIMEOUT_MS to arrive, then a few seconds to be
 * answered, and SIGTERM lets the requests in flight finish (api-v1.md), so the grace period outlasts both.
 */
export function defaultShutdownGraceMs (bodyTimeoutMs: number): number {
  return Math.max(10_000, bodyTimeoutMs + 5000)
}

export type VariableName = keyof typeof VARIABLES
export const VARIABLE_NAMES = Object.keys(VARIABLES) as VariableName[]

export interface Config {
  host: string
  port: number
  tls: boolean
  tlsCertFile: string | undefined
  tlsKeyFile: string | undefined
  dataDir: string
  mongodbUri: string | undefined
  masterKeyFile: string | undefined
  keyTtlSeconds: number
  clockSkewMs: number
  signup: 'open' | 'client' | 'closed'
  admin: { username: string, password: string } | undefined
  trustProxy: string[]
  redisUrl: string | undefined
  /** Sentinel addresses and the monitored master's name (REDIS_SENTINELS, REDIS_SENTINEL_MASTER). */
  redisSentinel: { sentinels: Array<{ host: string, port: number }>, master: string } | undefined
  /** Seed nodes of a Redis Cluster (REDIS_CLUSTER_NODES). */
  redisClusterNodes: Array<{ host: string, port: number }> | undefined
  /**
   * How the Sentinel and Cluster modes log in and encrypt (REDIS_PASSWORD for the Redis nodes,
   * REDIS_SENTINEL_PASSWORD for the Sentinels, REDIS_TLS); REDIS_URL carries its own in the URL.
   */
  redisAuth: { password: string | undefined, sentinelPassword: string | undefined, tls: boolean }
  /**
   * Replicas that must hold a replay entry before its request is accepted (REDIS_REPLAY_REPLICAS):
   * 1 by default with Sentinel or Cluster, 0 with REDIS_URL.
   */
  redisReplayReplicas: number
  bodyLimitBytes: number
  /** The head must arrive within this many ms (408 REQUEST_TIMEOUT). */
  headersTimeoutMs: number
  /** The whole request must arrive within this many ms of its first byte (408 REQUEST_TIMEOUT). */
  bodyTimeoutMs: number
  /** Open connections at most; more are closed as they come. */
  maxConnections: number
  /** On SIGTERM/SIGINT or a crash, in-flight requests may finish for this long; then the process exits 1 (default: BODY_TIMEOUT_MS + 5 s). */
  shutdownGraceMs: number
  rateLimitPerMinute: number
  loginMaxFailures: number
  loginWindowSeconds: number
  audience: string
  sessionMaxSeconds: number
  clientKeyOverlapSeconds: number
  corsOrigins: string[]
  publicPathPrefix: string
  signatureDebug: boolean
  /**
   * GET /metrics (Prometheus) on a listener of its own, never on the public port (METRICS_PORT,
   * METRICS_HOST): undefined when METRICS_PORT is unset, and then nothing is measured.
   */
  metrics: { host: string, port: number } | undefined
  /**
   * Load shedding (@fastify/under-pressure): past either bound new requests get 503 NOT_READY.
   * 0 turns a check off (MAX_EVENT_LOOP_DELAY_MS, MAX_EVENT_LOOP_UTILIZATION).
   */
  maxEventLoopDelayMs: number
  maxEventLoopUtilization: number
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
}

export class ConfigError extends Error {
  readonly problems: string[]
  constructor (problems: string[]) {
    super(`Invalid configuration:\n${problems.map(p => `  - ${p}`).join('\n')}`)
    this.name = 'ConfigError'
    this.problems = problems
  }
}

function describe (name: VariableName, raw: string): string {
  const shown = SECRET_VARIABLES.has(name) ? '(value hidden)' : JSON.stringify(raw)
  return `${name} must be ${(VARIABLES[name].schema as { description?: string }).description ?? 'valid'} (got ${shown})`
}

function isCidrOrAddress (entry: string): boolean {
  const [address, bits, ...rest] = entry.split('/')
  if (address === undefined || rest.length > 0) return false
  const family = isIP(address)
  if (family === 0) return false
  if (bits === undefined) return true
  if (!/^\d{1,3}$/.test(bits)) return false
  return Number(bits) <= (family === 4 ? 32 : 128)
}

function isOrigin (entry: string): boolean {
  try {
    const url = new URL(entry)
    return (url.protocol === 'https:' || url.protocol === 'http:') && url.origin === entry
  } catch {
    return false
  }
}

const list = (raw: string | undefined): string[] =>
  raw === undefined ? [] : raw.split(',').map(s => s.trim()).filter(s => s !== '')

/** `host:port,...` (already matched by HOST_PORT_LIST) as pairs; a port outside 1..65535 is a problem. */
function hostPorts (raw: string | undefined, name: string, problems: string[]): Array<{ host: string, port: number }> | undefined {
  if (raw === undefined) return undefined
  const pairs = list(raw).map(entry => {
    const at = entry.lastIndexOf(':')
    return { host: entry.slice(0, at).replace(/^\[(.*)\]$/, '$1'), port: Number(entry.slice(at + 1)) }
  })
  for (const p of pairs) if (!(p.port >= 1 && p.port <= 65535)) problems.push(`${name} ports must be 1..65535 (got ${p.port})`)
  return pairs
}

/**
 * Reads and validates the environment. Throws ConfigError naming every bad
 * variable; returns a frozen Config. An empty string counts as unset.
 */
export function loadConfig (env: Record<string, string | undefined> = process.env): Config {
  const problems: string[] = []
  const raw = {} as Record<VariableName, string | undefined>
  const value = {} as Record<VariableName, unknown>
  for (const name of VARIABLE_NAMES) {
    const given = env[name]
    const text = given === undefined || given === '' ? VARIABLES[name].default : given
    raw[name] = text
    if (text === undefined) continue
    const schema = VARIABLES[name].schema
    const candidate = (schema as { type?: string }).type === 'integer' ? (/^\d{1,16}$/.test(text) ? Number(text) : text) : text
    if (!Value.Check(schema, candidate)) problems.push(describe(name, text))
    else value[name] = candidate
  }

  const trustProxy = list(raw.TRUST_PROXY)
  for (const entry of trustProxy) {
    if (!isCidrOrAddress(entry)) problems.push(`TRUST_PROXY entries must be IP addresses or CIDRs (got ${JSON.stringify(entry)})`)
  }
  const corsOrigins = list(raw.CORS_ORIGINS)
  for (const entry of corsOrigins) {
    if (!isOrigin(entry)) problems.push(`CORS_ORIGINS entries must be origins such as https://app.example.com (got ${JSON.stringify(entry)})`)
  }
  if ((raw.TLS_CERT_FILE === undefined) !== (raw.TLS_KEY_FILE === undefined)) {
    problems.push('TLS_CERT_FILE and TLS_KEY_FILE must be set together')
  }
  if ((raw.ADMIN_USERNAME === undefined) !== (raw.ADMIN_PASSWORD === undefined)) {
    problems.push('ADMIN_USERNAME and ADMIN_PASSWORD must be set together')
  }
  if ((raw.REDIS_SENTINELS === undefined) !== (raw.REDIS_SENTINEL_MASTER === undefined)) {
    problems.push('REDIS_SENTINELS and REDIS_SENTINEL_MASTER must be set together')
  }
  const redisWays = (['REDIS_URL', 'REDIS_SENTINELS', 'REDIS_CLUSTER_NODES'] as const).filter(n => raw[n] !== undefined)
  if (redisWays.length > 1) problems.push(`${redisWays.join(' and ')} are exclusive: set one way to reach Redis`)
  const sentinels = hostPorts(raw.REDIS_SENTINELS, 'REDIS_SENTINELS', problems)
  const clusterNodes = hostPorts(raw.REDIS_CLUSTER_NODES, 'REDIS_CLUSTER_NODES', problems)
  // The URL carries its own password and scheme (rediss://); the other two ways take them from here.
  const given = [...(raw.REDIS_PASSWORD === undefined ? [] : ['REDIS_PASSWORD']), ...(raw.REDIS_TLS === 'on' ? ['REDIS_TLS=on'] : [])]
  if (given.length > 0 && raw.REDIS_SENTINELS === undefined && raw.REDIS_CLUSTER_NODES === undefined) {
    problems.push(`${given.join(' and ')} apply to REDIS_SENTINELS or REDIS_CLUSTER_NODES${raw.REDIS_URL === undefined ? '' : ' (with REDIS_URL, the URL carries them: redis://:password@host:port, rediss:// for TLS)'}`)
  }
  if (raw.REDIS_SENTINEL_PASSWORD !== undefined && raw.REDIS_SENTINELS === undefined) problems.push('REDIS_SENTINEL_PASSWORD needs REDIS_SENTINELS')
  if (raw.REDIS_REPLAY_REPLICAS !== undefined && redisWays.length === 0) problems.push('REDIS_REPLAY_REPLICAS needs REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES')
  if (raw.METRICS_HOST !== undefined && raw.METRICS_PORT === undefined) problems.push('METRICS_HOST needs METRICS_PORT (unset: no metrics listener)')
  if (typeof value.METRICS_PORT === 'number' && value.METRICS_PORT !== 0 && value.METRICS_PORT === value.PORT) problems.push(`METRICS_PORT must differ from PORT (both ${value.PORT}): the metrics get a listener of their own`)
  if (typeof value.HEADERS_TIMEOUT_MS === 'number' && typeof value.BODY_TIMEOUT_MS === 'number' && value.HEADERS_TIMEOUT_MS > value.BODY_TIMEOUT_MS) {
    problems.push(`HEADERS_TIMEOUT_MS must not be more than BODY_TIMEOUT_MS (got ${value.HEADERS_TIMEOUT_MS} and ${value.BODY_TIMEOUT_MS}): the head is part of the request`)
  }
  if (problems.length > 0) throw new ConfigError(problems)

  const config: Config = {
    host: value.HOST as string,
    port: value.PORT as number,
    tls: value.TLS === 'on',
    tlsCertFile: raw.TLS_CERT_FILE,
    tlsKeyFile: raw.TLS_KEY_FILE,
    dataDir: resolve(value.DATA_DIR as string),
    mongodbUri: raw.MONGODB_URI,
    masterKeyFile: raw.MASTER_KEY_FILE === undefined ? undefined : resolve(raw.MASTER_KEY_FILE),
    keyTtlSeconds: value.KEY_TTL_SECONDS as number,
    clockSkewMs: value.CLOCK_SKEW_MS as number,
    signup: value.SIGNUP as Config['signup'],
    admin: raw.ADMIN_USERNAME !== undefined && raw.ADMIN_PASSWORD !== undefined
      ? { username: raw.ADMIN_USERNAME, password: raw.ADMIN_PASSWORD }
      : undefined,
    trustProxy,
    redisUrl: raw.REDIS_URL,
    redisSentinel: sentinels === undefined || raw.REDIS_SENTINEL_MASTER === undefined ? undefined : { sentinels, master: raw.REDIS_SENTINEL_MASTER },
    redisClusterNodes: clusterNodes,
    redisAuth: { password: raw.REDIS_PASSWORD, sentinelPassword: raw.REDIS_SENTINEL_PASSWORD, tls: value.REDIS_TLS === 'on' },
    redisReplayReplicas: typeof value.REDIS_REPLAY_REPLICAS === 'number' ? value.REDIS_REPLAY_REPLICAS : (raw.REDIS_SENTINELS !== undefined || raw.REDIS_CLUSTER_NODES !== undefined ? 1 : 0),
    bodyLimitBytes: value.BODY_LIMIT_BYTES as number,
    headersTimeoutMs: value.HEADERS_TIMEOUT_MS as number,
    bodyTimeoutMs: value.BODY_TIMEOUT_MS as number,
    maxConnections: value.MAX_CONNECTIONS as number,
    shutdownGraceMs: typeof value.SHUTDOWN_GRACE_MS === 'number' ? value.SHUTDOWN_GRACE_MS : defaultShutdownGraceMs(value.BODY_TIMEOUT_MS as number),
    rateLimitPerMinute: value.RATE_LIMIT_PER_MINUTE as number,
    loginMaxFailures: value.LOGIN_MAX_FAILURES as number,
    loginWindowSeconds: value.LOGIN_WINDOW_SECONDS as number,
    audience: value.AUDIENCE as string,
    sessionMaxSeconds: value.SESSION_MAX_SECONDS as number,
    clientKeyOverlapSeconds: value.CLIENT_KEY_OVERLAP_SECONDS as number,
    corsOrigins,
    publicPathPrefix: value.PUBLIC_PATH_PREFIX as string,
    signatureDebug: value.SIGNATURE_DEBUG === 'on',
    metrics: typeof value.METRICS_PORT === 'number' ? { host: (value.METRICS_HOST as string | undefined) ?? '127.0.0.1', port: value.METRICS_PORT } : undefined,
    maxEventLoopDelayMs: value.MAX_EVENT_LOOP_DELAY_MS as number,
    maxEventLoopUtilization: raw.MAX_EVENT_LOOP_UTILIZATION === undefined ? 0 : Number(raw.MAX_EVENT_LOOP_UTILIZATION),
    logLevel: value.LOG_LEVEL as Config['logLevel']
  }
  return Object.freeze(config)
}
