/**
 * The process: config, keyring, store, TLS, listen; closes cleanly on
 * SIGTERM/SIGINT (stop accepting, finish in-flight requests, close the store,
 * exit 0) within SHUTDOWN_GRACE_MS, past which it logs the requests still in
 * flight and exits 1. An uncaught exception or unhandled rejection is logged
 * (pino, level fatal), closes the same way and exits 1. Start-up problems
 * print one clear line and exit non-zero, no stack.
 */
import closeWithGrace from 'close-with-grace'
import { buildApp } from './app.js'
import { ConfigError, loadConfig, type Config } from './config.js'
import { loadKeyring, KeyringError } from './auth/keyring-file.js'
import { openEmbeddedStore, StoreSchemaError } from './store/embedded.js'
import { openMongoStore } from './store/mongodb.js'
import { loadTls } from './tls.js'
import { connectRedis, redisTargetOf } from './redis.js'
import type { Store } from './store/port.js'

class StartupError extends Error {}

/**
 * Signals close-with-grace would also handle that keep Node's default here: the faults (no JS may run
 * after a real one), and the rarely sent ones; SIGUSR2 stays free for the bench's probe (bench/lib/probe.mjs).
 */
const UNHANDLED_SIGNALS = ['SIGHUP', 'SIGQUIT', 'SIGILL', 'SIGTRAP', 'SIGABRT', 'SIGBUS', 'SIGFPE', 'SIGSEGV', 'SIGUSR2'] as const

async function openStore (config: Config): Promise<Store> {
  if (config.mongodbUri === undefined) {
    try {
      return openEmbeddedStore(config.dataDir)
    } catch (err) {
      // A store newer than this code: exit 2 with the reason, never run on it.
      if (err instanceof StoreSchemaError) throw new StartupError(`cannot open the embedded store: ${err.message}`)
      throw err
    }
  }
  try {
    return await openMongoStore(config.mongodbUri)
  } catch (err) {
    throw new StartupError(`cannot open the MongoDB store: ${(err as Error).message}`)
  }
}

async function main (): Promise<void> {
  const config = loadConfig(process.env)
  const { keyring, path: keyringPath, created } = loadKeyring(config.masterKeyFile, config.dataDir, Date.now())
  const tls = config.tls ? await loadTls({ certFile: config.tlsCertFile, keyFile: config.tlsKeyFile, dataDir: config.dataDir }) : undefined
  const store = await openStore(config)
  // An unreachable Redis does not stop the start: signed requests answer 503 until it is back.
  const target = redisTargetOf(config)
  const redis = target === undefined ? undefined : connectRedis(target, (err) => process.stderr.write(`${JSON.stringify({ level: 40, time: Date.now(), msg: 'redis unavailable', err: err.message })}\n`))
  // buildApp's replay cache waits for REDIS_REPLAY_REPLICAS replicas to hold each entry (1 with Sentinel or Cluster).
  const app = await buildApp(config, { store, keyring, ...(redis === undefined ? {} : { redis }), ...(tls === undefined ? {} : { https: { key: tls.key, cert: tls.cert } }) })
  // SIGTERM/SIGINT, an uncaught exception or an unhandled rejection: one graceful close (close-with-grace),
  // bounded by SHUTDOWN_GRACE_MS; a second one while closing exits at once.
  const graceMs = config.shutdownGraceMs
  closeWithGrace({
    delay: graceMs,
    logger: false, // every line goes through pino, below
    skip: [...UNHANDLED_SIGNALS, 'beforeExit'],
    onTimeout: () => {
      // The count, and the oldest few: thousands of held connections must not make one line of megabytes.
      const { total, oldest } = app.inFlight()
      app.log.error({ graceMs, inFlightTotal: total, inFlight: oldest }, 'shutdown grace period over: exiting with requests still in flight')
    },
    onSecondSignal: (signal) => { app.log.warn({ signal }, 'second signal while closing: exiting now') },
    onSecondError: (err) => { app.log.fatal({ err }, 'another uncaught error while closing: exiting now') }
  }, async ({ signal, err }) => {
    if (err !== undefined) app.log.fatal({ err }, 'uncaught error: closing, then exiting with code 1')
    else app.log.info({ signal, graceMs }, 'closing: no new connections, finishing in-flight requests')
    try {
      await app.close()
    } catch (closeErr) {
      app.log.error({ err: closeErr }, 'close failed')
      throw closeErr
    }
  })

  // GET /metrics on its own listener (METRICS_PORT), never on the public one; closed with the app. Started first:
  // if its port is taken the process ends before the public port takes any request it would have to drop.
  const metricsUrl = config.metrics === undefined || app.metricsServer === null ? undefined : await app.metricsServer.listen(config.metrics)
  await app.listen({ host: config.host, port: config.port })
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : config.port
  app.log.info({
    url: `${config.tls ? 'https' : 'http'}://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`,
    store: store.kind,
    redis: redis !== undefined,
    keyring: keyringPath,
    keyringCreated: created,
    keyringVersion: keyring.current,
    tls: tls === undefined ? 'off' : tls.source,
    certificate: tls?.certPath,
    metrics: metricsUrl === undefined ? undefined : `${metricsUrl}/metrics`
  }, 'listening')
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError || err instanceof KeyringError || err instanceof StartupError) {
    process.stderr.write(`${err.message}\n`)
    process.exit(2)
  }
  const e = err as NodeJS.ErrnoException
  if (e.code === 'EADDRINUSE' || e.code === 'EACCES' || e.code === 'ENOENT' || e.code === 'EADDRNOTAVAIL') {
    process.stderr.write(`cannot start: ${e.message}\n`)
    process.exit(1)
  }
  process.stderr.write(`cannot start: ${e.message ?? String(err)}\n`)
  process.exit(1)
})
