/**
 * `make cluster`: Redis, three instances and nginx on loopback until Ctrl-C
 * (or SIGTERM), then everything is stopped and the temp dir removed.
 * CLUSTER_PORT picks nginx's port (default 9443); REDIS=sentinel starts a
 * master, two replicas and three Sentinels instead of one redis-server.
 */
import { startCluster } from './cluster.js'

const port = Number(process.env.CLUSTER_PORT ?? '9443')
const redis = process.env.REDIS ?? 'single'
if (redis !== 'single' && redis !== 'sentinel') {
  process.stderr.write(`REDIS must be single or sentinel (got ${JSON.stringify(redis)})\n`)
  process.exit(2)
}
const cluster = await startCluster({ nginxPort: port, redis })
process.stdout.write([
  `cluster up: ${cluster.url} (nginx, TLS) -> ${cluster.instances.map(i => `127.0.0.1:${i.port}`).join(', ')}`,
  cluster.sentinel === undefined
    ? `redis: ${cluster.redisUrl}; files: ${cluster.dir}`
    : `redis: master 127.0.0.1:${cluster.sentinel.master.port} (pid ${String(cluster.sentinel.master.proc.pid)}: kill -9 it to watch a failover), replicas ${cluster.sentinel.replicas.map(r => r.port).join(', ')}, Sentinels ${cluster.sentinel.env.REDIS_SENTINELS ?? ''}; files: ${cluster.dir}`,
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
