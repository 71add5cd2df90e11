/**
 * The requests this instance is working on, so that a shutdown that runs out
 * of its grace period (server.ts, SHUTDOWN_GRACE_MS) can say which requests
 * it gave up on. A request counts from its onRequest hook until its answer
 * closes (Node's `close` event on the response: finished or cut off).
 */
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply } from 'fastify'

export interface InFlightRequest {
  reqId: string
  method: string
  /** The target as received, cut to URL_SHOWN characters (then ending in "..."). */
  url: string
  /** Milliseconds since Fastify received it. */
  elapsedMs: number
}

export interface InFlightReport {
  /** How many requests are open. */
  total: number
  /** The oldest of them, at most the number asked for. */
  oldest: InFlightRequest[]
}

/** How much of a request's target a report shows: a target may be kilobytes long. */
export const URL_SHOWN = 256
/** How many requests a report lists by default: with thousands open, one log line must stay readable. */
export const LISTED_BY_DEFAULT = 20

declare module 'fastify' {
  interface FastifyInstance {
    /** The requests begun and not yet answered (or cut off): their count and the oldest `max` of them. */
    inFlight (max?: number): InFlightReport
  }
}

export const inFlight = fp(async (app: FastifyInstance) => {
  // A Set iterates in insertion order: oldest first.
  const open = new Set<FastifyReply>()
  app.decorate('inFlight', (max = LISTED_BY_DEFAULT): InFlightReport => {
    const oldest: InFlightRequest[] = []
    for (const reply of open) {
      if (oldest.length >= max) break
      const url = reply.request.url
      oldest.push({
        reqId: String(reply.request.id),
        method: reply.request.method,
        url: url.length > URL_SHOWN ? `${url.slice(0, URL_SHOWN)}...` : url,
        elapsedMs: Math.round(reply.elapsedTime)
      })
    }
    return { total: open.size, oldest }
  })
  app.addHook('onRequest', (_request, reply, done) => {
    open.add(reply)
    reply.raw.once('close', () => open.delete(reply))
    done()
  })
}, { name: 'in-flight', fastify: '5.x' })
