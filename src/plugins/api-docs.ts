/**
 * GET /docs: the API reference, the OpenAPI document rendered by Swagger UI
 * (@fastify/swagger-ui), unsigned like /openapi.json. Every file comes from
 * the package in node_modules, so the page works with no network beyond this
 * server. Its answers carry their own Content-Security-Policy in place of the
 * fixed one: the UI's scripts, styles and the document from this origin only,
 * the logo as a data: image, nothing inline, no frames, no forms.
 *
 * "Try it out" is off: a signed route needs a key and a signature the page
 * cannot make without holding the key in the browser (README, "The website");
 * the Postman collection and the CLI sign requests.
 */
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import swaggerUi from '@fastify/swagger-ui'

export const API_DOCS_PREFIX = '/docs'

export const API_DOCS_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  // Swagger UI's bundle adds one fixed <style> of its own at run time: that text alone is allowed, by its hash
  // (test/web/api-docs.test.ts fails on any CSP violation, naming the hash a new version would need).
  "style-src 'self' 'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w='",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "form-action 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'"
].join('; ')

export interface ApiDocsOptions {
  /** PUBLIC_PATH_PREFIX: behind a proxy that strips it, the page's links to its files must carry it ('' when unset). */
  publicPathPrefix: string
}

export const apiDocs = fp(async (app: FastifyInstance, o: ApiDocsOptions) => {
  await app.register(swaggerUi, {
    routePrefix: API_DOCS_PREFIX,
    ...(o.publicPathPrefix === '' ? {} : { indexPrefix: o.publicPathPrefix }),
    staticCSP: API_DOCS_CSP,
    theme: { title: 'signed-api: API reference' },
    uiConfig: { supportedSubmitMethods: [], deepLinking: true, docExpansion: 'list', defaultModelsExpandDepth: 0 }
  })
}, { name: 'api-docs', fastify: '5.x', dependencies: ['@fastify/swagger'] })
