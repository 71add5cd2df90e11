/**
 * The web app's files: `GET /` is index.html, `GET /web/static/<name>` the
 * stylesheet, icon and compiled browser script. Names are one path segment
 * from a strict pattern and must resolve inside one of two directories, so no
 * request can reach any other file. Pages carry a strict Content-Security-Policy.
 */
import { readFile, stat } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { extname, join, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance, FastifySchema } from 'fastify'
import { ApiError } from '../errors.js'

/** Only the page's own files, no inline script or style, no framing, no plugins; Trusted Types so no string reaches an HTML sink. */
export const PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
  "require-trusted-types-for 'script'"
].join('; ')

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon'
}
const NAME = /^[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9]+)+$/

/**
 * The project root, whether this module runs from src/web (tsx) or from
 * dist/src/web (the build): the page's files stay in src/web/public, and the
 * browser script is compiled by src/web/client/tsconfig.json into dist/web.
 */
function projectRoot (): string {
  const here = fileURLToPath(new URL('.', import.meta.url))
  for (const up of ['../..', '../../..']) {
    const root = resolve(here, up)
    if (existsSync(join(root, 'src', 'web', 'public', 'index.html'))) return root
  }
  return resolve(here, '../..')
}

export interface StaticDirs {
  /** index.html, app.css, the icon. */
  pages: string
  /** The compiled browser script. */
  scripts: string
}

export function defaultStaticDirs (): StaticDirs {
  const root = projectRoot()
  return { pages: join(root, 'src', 'web', 'public'), scripts: join(root, 'dist', 'web') }
}

/** The file for `name` inside one of `dirs`, or null: never a path outside them. */
export async function findStatic (dirs: StaticDirs, name: string): Promise<{ path: string, type: string } | null> {
  if (!NAME.test(name) || name.includes('..')) return null
  const type = TYPES[extname(name).toLowerCase()]
  if (type === undefined) return null
  for (const dir of [dirs.pages, dirs.scripts]) {
    const base = resolve(dir)
    const path = resolve(base, name)
    if (!path.startsWith(base + sep)) continue
    try {
      if ((await stat(path)).isFile()) return { path, type }
    } catch { /* not in this directory */ }
  }
  return null
}

const hidden = { hide: true } as FastifySchema

export function staticRoutes (scope: FastifyInstance, dirs: StaticDirs = defaultStaticDirs()): void {
  scope.get('/', { schema: hidden }, async (_request, reply) => {
    const body = await readFile(join(dirs.pages, 'index.html'))
    return reply.header('content-security-policy', PAGE_CSP).header('cache-control', 'no-cache').type(TYPES['.html'] as string).send(body)
  })

  scope.get('/web/static/:name', { schema: hidden }, async (request, reply) => {
    const { name } = request.params as { name: string }
    const file = await findStatic(dirs, name)
    if (file === null) throw new ApiError('NOT_FOUND', 'No such file')
    const body = await readFile(file.path)
    if (file.type.startsWith('text/html')) reply.header('content-security-policy', PAGE_CSP)
    return reply.header('cache-control', 'no-cache').type(file.type).send(body)
  })
}
