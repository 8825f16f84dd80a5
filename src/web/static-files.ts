import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { notFound } from './http-errors.ts';

const UI_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'ui');
/** OpenSeadragon's browser build, served from node_modules: nothing is fetched from a CDN. */
const OPENSEADRAGON_DIR = path.dirname(createRequire(import.meta.url).resolve('openseadragon'));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
};

interface StaticFile {
  data: Buffer;
  type: string;
  etag: string;
  cacheControl: string;
}

/**
 * The dashboard's files, read once at start-up into a map from URL to content. A request is a map
 * lookup, so no URL (../, encoded slashes, absolute paths) can reach any other file on the box.
 */
export function loadStaticFiles(): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  const add = (dir: string, prefix: string, cacheControl: string) => {
    for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
      const type = TYPES[path.extname(entry.name)];
      if (!entry.isFile() || !type) continue;
      const file = path.join(entry.parentPath, entry.name);
      const data = readFileSync(file);
      const url = `${prefix}/${path.relative(dir, file).split(path.sep).join('/')}`;
      files.set(url, { data, type, cacheControl, etag: `"${createHash('sha256').update(data).digest('base64url').slice(0, 22)}"` });
    }
  };
  // The UI revalidates on every load (cheap with the ETag), so an update shows at once.
  add(UI_DIR, '', 'no-cache');
  add(OPENSEADRAGON_DIR, '/vendor/openseadragon', 'public, max-age=86400');
  return files;
}

export async function staticRoutes(app: FastifyInstance): Promise<void> {
  const files = loadStaticFiles();
  app.get('/', { config: { access: 'public' } }, async (_request, reply) => reply.redirect('/worklist.html'));
  app.get('/*', { config: { access: 'public' } }, async (request, reply) => {
    const url = request.url.split('?')[0];
    const file = files.get(url);
    if (!file) throw notFound(`no page ${url.slice(0, 200)}`);
    reply.header('etag', file.etag).header('cache-control', file.cacheControl).type(file.type);
    if (request.headers['if-none-match'] === file.etag) return reply.code(304).send();
    return file.data;
  });
}
