/**
 * Load shedding with @fastify/under-pressure: while the event loop is
 * saturated (its mean delay over the last sample above MAX_EVENT_LOOP_DELAY_MS,
 * or its utilization over the last sample above MAX_EVENT_LOOP_UTILIZATION), a
 * new request is answered at once with 503 `NOT_READY` and `Retry-After`
 * instead of joining a queue that only grows: its answer would come too late
 * anyway, and a proxy (nginx's `proxy_next_upstream`) can try another instance.
 * `/ready` is shed the same way, so a health-checking balancer takes the
 * instance out while it is saturated. `/health` is not shed: the process is
 * alive, and a liveness probe that failed here would restart a busy instance.
 *
 * Registered after the headers plugin: a shed answer carries the security
 * headers, `X-Server-Time` and `X-Request-Id` like every other answer.
 */
import fp from 'fastify-plugin'
import underPressure from '@fastify/under-pressure'
import type { FastifyInstance } from 'fastify'
import { ApiError } from '../errors.js'

export interface LoadSheddingOptions {
  /** Mean event-loop delay (ms) over a sample above which requests are shed; 0: not checked. */
  maxEventLoopDelayMs: number
  /** Event-loop utilization (0..1) over a sample above which requests are shed; 0: not checked. */
  maxEventLoopUtilization: number
  /** How often the event loop is sampled (ms; default 1000). */
  sampleIntervalMs?: number
}

/** The routes never shed: liveness. */
const NEVER_SHED = new Set(['/health'])

export const loadShedding = fp(async (app: FastifyInstance, o: LoadSheddingOptions) => {
  if (o.maxEventLoopDelayMs <= 0 && o.maxEventLoopUtilization <= 0) return
  await app.register(underPressure, {
    maxEventLoopDelay: o.maxEventLoopDelayMs,
    maxEventLoopUtilization: o.maxEventLoopUtilization,
    // Utilization over the last sample, not since start (the default): a busy minute after a quiet day still counts.
    eventLoopUtilizationMode: 'interval',
    sampleInterval: o.sampleIntervalMs ?? 1000,
    // undefined lets the request through; a rejected promise hands the error to the app's error handler (errors.ts).
    // The bound passed, not the reading: a loop blocked for a whole sample reads as an infinite delay.
    pressureHandler: (request, _reply, type) => {
      if (request.routeOptions.url !== undefined && NEVER_SHED.has(request.routeOptions.url)) return undefined
      const shown = type === underPressure.TYPE_EVENT_LOOP_UTILIZATION ? `event-loop utilization above ${o.maxEventLoopUtilization}` : `event-loop delay above ${o.maxEventLoopDelayMs} ms`
      return Promise.reject(new ApiError('NOT_READY', `The server is overloaded (${shown}); retry shortly or on another instance`, undefined, { 'retry-after': '1' }))
    }
  })
}, { name: 'load-shedding', fastify: '5.x', dependencies: ['headers'] })
