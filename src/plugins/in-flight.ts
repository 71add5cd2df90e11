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
  url: string
  /** Milliseconds since Fastify received it. */
  elapsedMs: number
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The requests begun and not yet answered (or cut off), oldest first. */
    inFlight (): InFlightRequest[]
  }
}

export const inFlight = fp(async (app: FastifyInstance) => {
  const open = new Set<FastifyReply>()
  app.decorate('inFlight', () => [...open].map(reply => ({
    reqId: String(reply.request.id),
    method: reply.request.method,
    url: reply.request.url,
    elapsedMs: Math.round(reply.elapsedTime)
  })))
  app.addHook('onRequest', (_request, reply, done) => {
    open.add(reply)
    reply.raw.once('close', () => open.delete(reply))
    done()
  })
}, { name: 'in-flight', fastify: '5.x' })
