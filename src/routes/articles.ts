/**
 * The public area (api-v1.md): any valid signature reads (a client needs
 * `public:read`); writing needs a user with role admin or editor, or a client
 * with `articles:write`.
 */
import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { ApiError } from '../errors.js'
import type { Principal } from '../auth/verify.js'
import type { Article } from '../store/port.js'
import { NoContent } from '../schemas/common.js'
import { ArticleSchema, IdParams, Page, PageQuery, TextCreate, TextPatch } from '../schemas/api.js'
import type { AppServices } from '../services.js'
import { pageOf } from './paging.js'

const readers = { kinds: ['user', 'app', 'service'] as const, scopes: ['public:read'] as const }
const writers = { kinds: ['user', 'app', 'service'] as const, roles: ['admin', 'editor'] as const, scopes: ['articles:write'] as const }

export const articleView = (a: Article): { id: string, title: string, body: string, author: string, createdAt: string, updatedAt: string } => ({
  id: a.id, title: a.title, body: a.body, author: a.author, createdAt: new Date(a.createdAt).toISOString(), updatedAt: new Date(a.updatedAt).toISOString()
})

export function articlesRoutes (scope: FastifyInstance, s: AppServices): void {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>()
  const notFound = (): ApiError => new ApiError('NOT_FOUND', 'No such article')

  app.get('/v1/public/articles', { config: { signed: readers }, schema: { querystring: PageQuery, response: { 200: Page(ArticleSchema) } } }, async (request) => {
    return pageOf(s.cursors, 'articles', request.query, (after, limit) => s.store.listArticles(after, limit), articleView)
  })

  app.get('/v1/public/articles/:id', { config: { signed: readers, errors: ['NOT_FOUND'] }, schema: { params: IdParams, response: { 200: ArticleSchema } } }, async (request) => {
    const article = await s.store.getArticle(request.params.id)
    if (article === null) throw notFound()
    return articleView(article)
  })

  app.post('/v1/public/articles', { config: { signed: writers }, schema: { body: TextCreate, response: { 201: ArticleSchema } } }, async (request, reply) => {
    const author = (request.principal as Principal).name
    const article = await s.store.createArticle({ id: s.newId(), author, ...request.body }, s.now())
    return reply.code(201).send(articleView(article))
  })

  app.patch('/v1/public/articles/:id', { config: { signed: writers, errors: ['NOT_FOUND'] }, schema: { params: IdParams, body: TextPatch, response: { 200: ArticleSchema } } }, async (request) => {
    const article = await s.store.updateArticle(request.params.id, request.body, s.now())
    if (article === null) throw notFound()
    return articleView(article)
  })

  app.delete('/v1/public/articles/:id', { config: { signed: writers, errors: ['NOT_FOUND'] }, schema: { params: IdParams, response: { 204: NoContent } } }, async (request, reply) => {
    if (!await s.store.deleteArticle(request.params.id)) throw notFound()
    return reply.code(204).send(null)
  })
}
