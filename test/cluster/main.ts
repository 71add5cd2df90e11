/**
 * `make cluster`: Redis, three instances and nginx on loopback until Ctrl-C
 * (or SIGTERM), then everything is stopped and the temp dir removed.
 * CLUSTER_PORT picks nginx's port (default 9443).
 */
import { startCluster } from './cluster.js'

const port = Number(process.env.CLUSTER_PORT ?? '9443')
const cluster = await startCluster({ nginxPort: port })
process.stdout.write([
  `cluster up: ${cluster.url} (nginx, TLS) -> ${cluster.instances.map(i => `127.0.0.1:${i.port}`).join(', ')}`,
  `redis: ${cluster.redisUrl}; files: ${cluster.dir}`,
  `trust the certificate with: curl --cacert ${cluster.caFile} ${cluster.url}/ready`,
  'Ctrl-C stops everything.',
  ''
].join('\n'))
let stopping = false
const stop = (): void => {
  if (stopping) return
  stopping = true
  process.stdout.write('stopping...\n')
  cluster.stop().then(() => { process.stdout.write('stopped\n'); process.exit(0) }, (err: unknown) => { process.stderr.write(`${String(err)}\n`); process.exit(1) })
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
