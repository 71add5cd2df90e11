/**
 * Load shedding with @fastify/under-pressure: while the event loop is
 * saturated (its mean delay over a sample above MAX_EVENT_LOOP_DELAY_MS, or its
 * utilization over a sample above MAX_EVENT_LOOP_UTILIZATION, for
 * SATURATED_SAMPLES samples in a row), a
 * new request is answered at once with 503 `NOT_READY` and `Retry-After`
 * instead of joining a queue that only grows: its answer would come too late
 * anyway, and a proxy (nginx's `proxy_next_upstream`) can try another instance.
 * `/ready` is shed the same way, so a health-checking balancer takes the
 * instance out while it is saturated. `/health` is not shed: the process is
 * alive, and a liveness probe that failed here would restart a busy instance.
 *
 * One stall is not saturation: a start-up that compiles schemas for a second,
 * a long GC, or a process the OS did not schedule for a while reads as one or
 * two samples over the bound (a sample with no tick at all reads as an infinite
 * delay), then the loop turns freely again and nothing is queued. Shedding on
 * it would refuse the first requests of every freshly started instance on a
 * busy machine. Saturation is a loop that stays behind, sample after sample.
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

/** Samples in a row over a bound before requests are shed (the first good sample ends it). */
export const SATURATED_SAMPLES = 3

/** The routes never shed: liveness. */
const NEVER_SHED = new Set(['/health'])

export const loadShedding = fp(async (app: FastifyInstance, o: LoadSheddingOptions) => {
  if (o.maxEventLoopDelayMs <= 0 && o.maxEventLoopUtilization <= 0) return
  const sampleIntervalMs = o.sampleIntervalMs ?? 1000
  // Samples over a bound in a row, read from under-pressure's own figures (its memoryUsage decorator).
  let overInARow = 0
  const over = (): boolean => {
    const { eventLoopDelay, eventLoopUtilized } = app.memoryUsage()
    return (o.maxEventLoopDelayMs > 0 && eventLoopDelay > o.maxEventLoopDelayMs) || (o.maxEventLoopUtilization > 0 && eventLoopUtilized > o.maxEventLoopUtilization)
  }
  await app.register(underPressure, {
    maxEventLoopDelay: o.maxEventLoopDelayMs,
    maxEventLoopUtilization: o.maxEventLoopUtilization,
    // Utilization over the last sample, not since start (the default): a busy minute after a quiet day still counts.
    eventLoopUtilizationMode: 'interval',
    sampleInterval: sampleIntervalMs,
    // undefined lets the request through; a rejected promise hands the error to the app's error handler (errors.ts).
    // The bound passed, not the reading: a loop blocked for a whole sample reads as an infinite delay.
    pressureHandler: (request, _reply, type) => {
      if (request.routeOptions.url !== undefined && NEVER_SHED.has(request.routeOptions.url)) return undefined
      if (overInARow < SATURATED_SAMPLES) return undefined
      const shown = type === underPressure.TYPE_EVENT_LOOP_UTILIZATION ? `event-loop utilization above ${o.maxEventLoopUtilization}` : `event-loop delay above ${o.maxEventLoopDelayMs} ms`
      return Promise.reject(new ApiError('NOT_READY', `The server is overloaded (${shown}); retry shortly or on another instance`, undefined, { 'retry-after': '1' }))
    }
  })
  const counter = setInterval(() => { overInARow = over() ? overInARow + 1 : 0 }, sampleIntervalMs)
  counter.unref()
  app.addHook('onClose', async () => { clearInterval(counter) })
}, { name: 'load-shedding', fastify: '5.x', dependencies: ['headers'] })
