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

/** One open request in the list, oldest first. */
interface Entry { reply: FastifyReply, prev: Entry | null, next: Entry | null }

export const inFlight = fp(async (app: FastifyInstance) => {
  // A doubly linked list, oldest first, not a Set: on Node 24 adding and deleting every request in a Set that
  // outlives them made each young-generation GC take ~30 ms instead of ~3 ms under load (bench/README.md,
  // "In-flight list and GC"), which showed as a p99 near 30 ms on every route.
  let head: Entry | null = null
  let tail: Entry | null = null
  let total = 0
  app.decorate('inFlight', (max = LISTED_BY_DEFAULT): InFlightReport => {
    const oldest: InFlightRequest[] = []
    for (let e = head; e !== null && oldest.length < max; e = e.next) {
      const { reply } = e
      const url = reply.request.url
      oldest.push({
        reqId: String(reply.request.id),
        method: reply.request.method,
        url: url.length > URL_SHOWN ? `${url.slice(0, URL_SHOWN)}...` : url,
        elapsedMs: Math.round(reply.elapsedTime)
      })
    }
    return { total, oldest }
  })
  app.addHook('onRequest', (_request, reply, done) => {
    const entry: Entry = { reply, prev: tail, next: null }
    if (tail === null) head = entry
    else tail.next = entry
    tail = entry
    total++
    reply.raw.once('close', () => {
      if (entry.prev === null) head = entry.next
      else entry.prev.next = entry.next
      if (entry.next === null) tail = entry.prev
      else entry.next.prev = entry.prev
      entry.prev = entry.next = null
      total--
    })
    done()
  })
}, { name: 'in-flight', fastify: '5.x' })
