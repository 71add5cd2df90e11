/**
 * Stand-in for @fastify/helmet: the same headers (helmet with the same
 * options), computed once when the plugin registers and set with one
 * reply.headers() call in a callback-style onRequest hook. @fastify/helmet
 * 13 instead calls helmet(options) on every request, which rebuilds every
 * middleware (the CSP directives are parsed again) and runs two more hooks.
 */
import helmet from 'helmet'

function staticHelmet (fastify, options, done) {
  const { global: _global, enableCSPNonces: _nonces, ...config } = options
  const headers = {}
  helmet(config)({}, { setHeader: (name, value) => { headers[name.toLowerCase()] = value }, removeHeader: () => {} }, () => {})
  fastify.addHook('onRequest', (_request, reply, next) => { reply.headers(headers); next() })
  done()
}
// Like fastify-plugin: the hook applies to the whole instance, not a child scope.
staticHelmet[Symbol.for('skip-override')] = true
staticHelmet[Symbol.for('fastify.display-name')] = '@fastify/helmet (bench what-if: static headers)'
staticHelmet[Symbol.for('plugin-meta')] = { name: '@fastify/helmet', fastify: '5.x' }
export default staticHelmet
