/** config.ts's Redis password, TLS and replica variables: defaults per way of reaching Redis, misuse named at once. */
import t from 'tap'
import { ConfigError, loadConfig } from '../src/config.js'
import { redisTargetOf } from '../src/redis.js'

const problemsOf = (env: Record<string, string>): string[] => {
  try { loadConfig(env) } catch (err) { return (err as ConfigError).problems }
  return []
}
const sentinel = { REDIS_SENTINELS: '127.0.0.1:26379', REDIS_SENTINEL_MASTER: 'signed-api' }

t.test('replay entries wait for one replica with Sentinel or Cluster, none with REDIS_URL, as set otherwise', async t => {
  t.equal(loadConfig({}).redisReplayReplicas, 0)
  t.equal(loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379' }).redisReplayReplicas, 0)
  t.equal(loadConfig(sentinel).redisReplayReplicas, 1)
  t.equal(loadConfig({ REDIS_CLUSTER_NODES: '127.0.0.1:7000' }).redisReplayReplicas, 1)
  t.equal(loadConfig({ ...sentinel, REDIS_REPLAY_REPLICAS: '0' }).redisReplayReplicas, 0)
  t.equal(loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379', REDIS_REPLAY_REPLICAS: '2' }).redisReplayReplicas, 2)
})

t.test('passwords and TLS reach the Sentinel and Cluster targets', async t => {
  t.same(redisTargetOf(loadConfig({ ...sentinel, REDIS_PASSWORD: 'node pw', REDIS_SENTINEL_PASSWORD: 'sentinel pw', REDIS_TLS: 'on' })), {
    sentinels: [{ host: '127.0.0.1', port: 26379 }], master: 'signed-api', password: 'node pw', sentinelPassword: 'sentinel pw', tls: true
  })
  t.same(redisTargetOf(loadConfig({ REDIS_CLUSTER_NODES: '127.0.0.1:7000', REDIS_PASSWORD: 'node pw' })), { clusterNodes: [{ host: '127.0.0.1', port: 7000 }], password: 'node pw', tls: false })
  t.equal(redisTargetOf(loadConfig({ REDIS_URL: 'rediss://:pw@127.0.0.1:6379' })), 'rediss://:pw@127.0.0.1:6379')
  t.equal(redisTargetOf(loadConfig({})), undefined)
})

t.test('misuse is named, all at once, and no password is echoed', async t => {
  const problems = problemsOf({ REDIS_URL: 'redis://127.0.0.1:6379', REDIS_PASSWORD: 'hunter2 secret', REDIS_TLS: 'on', REDIS_SENTINEL_PASSWORD: 'other secret', REDIS_REPLAY_REPLICAS: '17' })
  t.match(problems, [
    /^REDIS_REPLAY_REPLICAS must be an integer 0\.\.16/,
    /^REDIS_PASSWORD and REDIS_TLS=on apply to REDIS_SENTINELS or REDIS_CLUSTER_NODES \(with REDIS_URL, the URL carries them/,
    /^REDIS_SENTINEL_PASSWORD needs REDIS_SENTINELS/
  ])
  t.equal(problems.length, 3)
  t.match(problemsOf({ REDIS_REPLAY_REPLICAS: '1' }), [/REDIS_REPLAY_REPLICAS needs REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES/])
  t.match(problemsOf({ ...sentinel, REDIS_TLS: 'yes' }), [/^REDIS_TLS must be on or off/])
  t.same(problemsOf({ REDIS_URL: 'redis://127.0.0.1:6379', REDIS_TLS: 'off' }), [], 'REDIS_TLS=off says nothing new')
  const hidden = problemsOf({ ...sentinel, REDIS_PASSWORD: '' + 'x'.repeat(600) })
  t.match(hidden, [/^REDIS_PASSWORD must be 1\.\.512 characters \(got \(value hidden\)\)$/])
})
