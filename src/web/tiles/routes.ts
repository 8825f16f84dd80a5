import type { FastifyInstance, FastifyRequest } from 'fastify';
import { CLINICAL, type WebContext } from '../context.ts';
import { notFound } from '../http-errors.ts';
import { requireViewableSlide, slideIdParams } from '../slides/lookup.ts';
import { DeepZoomError, dziXml, planTile, type TileSourcePlan } from './deep-zoom.ts';
import { renderTile } from './render.ts';

/** Bump when the tile encoding changes, so browsers do not keep tiles made the old way. */
const TILE_VERSION = 1;
/** Tiles of a slide never change (a slide row is one file content), so browsers may keep them; private: they need a login. */
const TILE_CACHE_CONTROL = 'private, max-age=86400, immutable';

const tileParams = {
  type: 'object',
  required: ['id', 'level', 'tile'],
  properties: {
    id: slideIdParams.properties.id,
    level: { type: 'integer', minimum: 0, maximum: 40 },
    tile: { type: 'string', pattern: '^[0-9]{1,7}_[0-9]{1,7}\\.jpeg$' },
  },
} as const;

/** Deep Zoom for OpenSeadragon: the descriptor and the tiles, stored JPEGs passed through where they fit. */
export async function tileRoutes(app: FastifyInstance, ctx: WebContext): Promise<void> {
  app.get<{ Params: { id: number } }>('/slides/:id/dzi', { schema: { params: slideIdParams }, config: { access: CLINICAL } }, async (request, reply) => {
    const slide = requireViewableSlide(ctx, request.params.id);
    const plan = await ctx.slides.use(slide.id, slide.path, async (opened) => opened.deepZoom);
    reply.type('application/xml; charset=utf-8').header('cache-control', 'private, no-cache');
    return dziXml(plan, `/api/slides/${slide.id}/tiles/`);
  });

  app.get<{ Params: { id: number; level: number; tile: string } }>('/slides/:id/tiles/:level/:tile', { schema: { params: tileParams }, config: { access: CLINICAL } }, async (request, reply) => {
    const { id, level, tile } = request.params;
    const [col, row] = tile.slice(0, -'.jpeg'.length).split('_').map(Number);
    const slide = requireViewableSlide(ctx, id);
    const etag = `"${slide.sha256.slice(0, 16)}-${level}-${col}-${row}-v${TILE_VERSION}"`;
    reply.header('cache-control', TILE_CACHE_CONTROL).header('etag', etag);
    if (notModified(request, etag)) return reply.code(304).send();
    const jpeg = await ctx.slides.use(slide.id, slide.path, async ({ slide: open, deepZoom }) => {
      let plan: TileSourcePlan;
      try {
        plan = planTile(deepZoom, open.metadata, level, col, row);
      } catch (e) {
        if (e instanceof DeepZoomError) throw notFound(e.message);
        throw e;
      }
      return renderTile(open, plan);
    });
    reply.type('image/jpeg');
    return jpeg;
  });
}

function notModified(request: FastifyRequest, etag: string): boolean {
  const given = request.headers['if-none-match'];
  return typeof given === 'string' && given.split(',').some((t) => t.trim() === etag);
}
