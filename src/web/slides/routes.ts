import { readFile } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import { ALL_ROLES, CLINICAL, type WebContext } from '../context.ts';
import { HttpError, notFound } from '../http-errors.ts';
import { reviewedRoisGeoJson } from '../reports/exports.ts';
import { requireResult, requireSlide, resultFile, slideIdParams } from './lookup.ts';

const downloadQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { download: { type: 'string', enum: ['0', '1'] } },
} as const;

/** The worklist, one slide's record, and the analysis outputs the viewer overlays. */
export async function slideRoutes(app: FastifyInstance, ctx: WebContext): Promise<void> {
  app.get('/slides', { config: { access: ALL_ROLES } }, async () => ({ slides: ctx.web.worklist() }));

  app.get<{ Params: { id: number } }>('/slides/:id', { schema: { params: slideIdParams }, config: { access: ALL_ROLES } }, async (request) => {
    const slide = requireSlide(ctx, request.params.id);
    const [row] = ctx.web.worklistRows([slide.id]);
    const result = ctx.store.latestResult(slide.id);
    return {
      slide: row,
      mpp: slide.mppX !== null && slide.mppY !== null ? [slide.mppX, slide.mppY] : null,
      objectivePower: slide.objectivePower,
      // The stored analysis says "preliminary" forever; the row's status is the one sign-out changes.
      result: result ? { ...(result.result as object), id: result.id, status: result.status, createdAt: result.createdAt } : null,
      reviews: result ? ctx.web.reviewsForResult(result.id) : [],
      signOut: result ? ctx.web.signOutFor(result.id) ?? null : null,
    };
  });

  app.post<{ Params: { id: number } }>('/slides/:id/retry', { schema: { params: slideIdParams }, config: { access: ['technician', 'admin'] } }, async (request) => {
    const slide = requireSlide(ctx, request.params.id);
    if (slide.state !== 'failed') throw new HttpError(409, 'CONFLICT', `slide ${slide.id} is ${slide.state}; only failed slides can be retried`);
    const job = ctx.store.retrySlide(slide.id, request.session!.user.username);
    return { slideId: slide.id, jobId: job.id, state: job.state };
  });

  app.get<{ Params: { id: number } }>('/slides/:id/heatmap.png', { schema: { params: slideIdParams }, config: { access: CLINICAL } }, async (request, reply) => {
    const analysed = requireResult(ctx, request.params.id);
    const png = await readFile(resultFile(analysed, 'heatmap.png')).catch(() => {
      throw notFound(`slide ${analysed.slide.id}'s heatmap is missing on disk (removed by retention?)`);
    });
    reply.type('image/png').header('cache-control', 'private, no-cache');
    return png;
  });

  app.get<{ Params: { id: number }; Querystring: { download?: '0' | '1' } }>('/slides/:id/rois.geojson',
    { schema: { params: slideIdParams, querystring: downloadQuery }, config: { access: CLINICAL } }, async (request, reply) => {
      const analysed = requireResult(ctx, request.params.id);
      const text = await readFile(resultFile(analysed, 'rois.geojson'), 'utf8').catch(() => {
        throw notFound(`slide ${analysed.slide.id}'s regions file is missing on disk`);
      });
      const geojson = reviewedRoisGeoJson(JSON.parse(text) as object, ctx.web.reviewsForResult(analysed.row.id));
      reply.type('application/geo+json').header('cache-control', 'private, no-cache');
      if (request.query.download === '1') reply.header('content-disposition', `attachment; filename="slide-${analysed.slide.id}-rois.geojson"`);
      return JSON.stringify(geojson);
    });
}
