/**
 * Request ids (Fastify's `genReqId`): the id a trusted proxy gives in
 * `X-Request-Id` when it is well formed, a fresh UUID otherwise. The id is
 * echoed on every answer (plugins/headers.ts) and bound to every log line
 * the request writes (`reqId`), so one id follows a request from the proxy's
 * access log through the instance's lines back to the client.
 *
 * Only the peer of the connection decides: a header sent by anyone else is
 * ignored, so a client cannot give its requests the ids of others' to muddle
 * the logs. Trust is the same as TRUST_PROXY's for `X-Forwarded-*`, with the
 * same library Fastify uses for it (@fastify/proxy-addr).
 */
import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import proxyAddr from '@fastify/proxy-addr'

/** 1..128 characters of letters, digits, `.`, `_`, `:` and `-`: a UUID, nginx's `$request_id`, most tracing ids. */
const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/

/** A `genReqId` for these TRUST_PROXY entries (none: the header is never read). */
export function requestIdGenerator (trustProxy: readonly string[]): (req: IncomingMessage) => string {
  if (trustProxy.length === 0) return () => randomUUID()
  const trusted = proxyAddr.compile([...trustProxy])
  return (req) => {
    const given = req.headers['x-request-id']
    if (typeof given === 'string' && REQUEST_ID_PATTERN.test(given)) {
      const peer = req.socket.remoteAddress
      if (peer !== undefined && trusted(peer, 0)) return given
    }
    return randomUUID()
  }
}
