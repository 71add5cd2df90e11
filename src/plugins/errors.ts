/**
 * The error catalogue on the wire: every error the app answers, Fastify's own
 * included, is JSON `{statusCode, code, error, message}` with a stable `code`
 * (src/errors.ts); a known route asked with another method is 405 with
 * `Allow`; a 5xx never forwards its message. Requests Node's parser refuses and
 * Fastify's early errors are answered in the same shape (server options,
 * given to Fastify() in app.ts).
 */
import fp from 'fastify-plugin'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyServerOptions } from 'fastify'
import type { ErrorObject } from 'ajv'
import { ApiError, isErrorCode, type ErrorCode } from '../errors.js'
import { RedisUnavailableError } from '../redis.js'

function validationMessage (errors: ErrorObject[], context: string): string {
  const first = errors[0]
  if (first === undefined) return 'The request is not valid'
  const where = `${context}${first.instancePath.replace(/\//g, '.')}`
  if (first.keyword === 'additionalProperties') return `${where} has an unknown field "${String((first.params as { additionalProperty: string }).additionalProperty)}"`
  if (first.keyword === 'required') return `${where}.${String((first.params as { missingProperty: string }).missingProperty)} is required`
  return `${where} ${first.message ?? 'is not valid'}`
}

const BY_FASTIFY_CODE: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BAD_REQUEST',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_JSON',
  FST_ERR_BAD_URL: 'BAD_REQUEST_TARGET'
}

/** Fastify's own errors mapped onto the catalogue; a 5xx never forwards its message. */
export function toApiError (error: FastifyError & { validation?: ErrorObject[], validationContext?: string }): ApiError {
  if (error instanceof ApiError) return error
  if ((error as unknown) instanceof RedisUnavailableError) return new ApiError('RATE_LIMIT_UNAVAILABLE', undefined, undefined, { 'retry-after': '1' })
  if (error.validation !== undefined) {
    return new ApiError('VALIDATION_FAILED', validationMessage(error.validation, error.validationContext ?? 'request'))
  }
  const mapped = Object.hasOwn(BY_FASTIFY_CODE, error.code) ? BY_FASTIFY_CODE[error.code] : undefined
  if (mapped !== undefined) return new ApiError(mapped)
  if (isErrorCode(error.code)) return new ApiError(error.code)
  const status = error.statusCode ?? 500
  if (status === 429) return new ApiError('RATE_LIMITED')
  if (status >= 400 && status < 500) return new ApiError('BAD_REQUEST', error.message)
  return new ApiError('INTERNAL_ERROR')
}

export function sendError (reply: FastifyReply, err: ApiError): FastifyReply {
  if (err.statusCode === 401) reply.header('www-authenticate', `HMAC-SHA256 error="${err.code}"`)
  if (err.headers !== undefined) for (const [name, value] of Object.entries(err.headers)) reply.header(name, value)
  return reply.code(err.statusCode).type('application/json; charset=utf-8').send(err.body())
}

/** Route table kept from onRoute, to tell 405 from 404 in the not-found handler. */
function routeTable (): { add (method: string | string[], url: string): void, methodsFor (path: string): string[] } {
  const routes: Array<{ pattern: RegExp, methods: Set<string> }> = []
  return {
    add (method, url) {
      const source = url.split('/').map(seg => seg.startsWith(':') ? '[^/]+' : seg === '*' ? '.*' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('/')
      const pattern = new RegExp(`^${source}$`)
      const existing = routes.find(r => r.pattern.source === pattern.source)
      const methods = existing?.methods ?? new Set<string>()
      for (const m of Array.isArray(method) ? method : [method]) methods.add(m)
      if (existing === undefined) routes.push({ pattern, methods })
    },
    methodsFor (path) {
      const found = new Set<string>()
      for (const r of routes) if (r.pattern.test(path)) for (const m of r.methods) found.add(m)
      return [...found].sort()
    }
  }
}

export interface ErrorsOptions {
  /** Routes not counted for 405 (the request-target catch-all). */
  hiddenRoutes?: readonly string[]
}

/** The error handler, and the not-found handler that tells 405 from 404. Register first: it sees every route. */
export const errors = fp(async (app: FastifyInstance, opts: ErrorsOptions) => {
  const hidden = new Set(opts.hiddenRoutes ?? [])
  const routes = routeTable()
  app.addHook('onRoute', (route) => { if (!hidden.has(route.url)) routes.add(route.method, route.url) })
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const apiError = toApiError(error)
    if (apiError.statusCode >= 500 && apiError.code === 'INTERNAL_ERROR') request.log.error({ err: error }, 'request failed')
    return sendError(reply, apiError)
  })
  app.setNotFoundHandler((request, reply) => {
    const methods = routes.methodsFor((request.url ?? '').split('?')[0] ?? '')
    // A route that serves this method found nothing (a file /docs/static/* lacks): 404, not 405.
    if (methods.length > 0 && !methods.includes(request.method)) return sendError(reply, new ApiError('METHOD_NOT_ALLOWED', undefined, undefined, { allow: methods.join(', ') }))
    return sendError(reply, new ApiError('NOT_FOUND'))
  })
}, { name: 'errors', fastify: '5.x' })

export interface EarlyAnswerOptions {
  now: () => number
  /** Security headers for an answer written straight to a socket ("name: value\r\n" lines). */
  fixedLines: string
  /** Headers every reply gets (the root hook has not run for an early error). */
  onReply: (reply: FastifyReply) => void
  /** True when an answer has begun on this socket: nothing more may be written to it. */
  answerBegunOn: (socket: unknown) => boolean
}

/** Fastify's `frameworkErrors` and Node's `clientErrorHandler`: errors before any route, in the same JSON shape. */
export function earlyErrorOptions (o: EarlyAnswerOptions): Pick<FastifyServerOptions, 'frameworkErrors' | 'clientErrorHandler'> {
  return {
    frameworkErrors: (error, _request, reply) => {
      o.onReply(reply)
      reply.header('x-server-time', String(o.now()))
      sendError(reply, error.code === 'FST_ERR_BAD_URL' ? new ApiError('BAD_REQUEST_TARGET', 'The path is not valid percent-encoding') : new ApiError('BAD_REQUEST'))
    },
    // Requests Node's HTTP parser refuses (or that time out) never reach a route: answer them in the same JSON shape.
    clientErrorHandler: (err: NodeJS.ErrnoException, socket) => {
      // Once an answer has begun on this socket nothing more can be written: close it.
      if (err.code === 'ECONNRESET' || !socket.writable || o.answerBegunOn(socket)) { socket.destroy(); return }
      const apiError = new ApiError(err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'REQUEST_TIMEOUT' : err.code === 'HPE_INVALID_URL' ? 'BAD_REQUEST_TARGET' : err.code === 'HPE_HEADER_OVERFLOW' ? 'HEADERS_TOO_LARGE' : 'BAD_REQUEST')
      const body = JSON.stringify(apiError.body())
      socket.end(`HTTP/1.1 ${apiError.statusCode} ${apiError.body().error}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${o.fixedLines}x-server-time: ${o.now()}\r\nconnection: close\r\n\r\n${body}`)
    }
  }
}
