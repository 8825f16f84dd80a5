import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import sharp from 'sharp';
import { ALL_ROLES, CLINICAL, type WebContext } from '../context.ts';
import { notFound } from '../http-errors.ts';
import { requireResult, slideIdParams } from '../slides/lookup.ts';
import { fhirBundle, latestDecisions } from './exports.ts';

/** Longest side of a region snapshot on the report, in pixels. */
const SNAPSHOT_SIDE = 512;
const LOGO_TYPES: Record<string, string> = { '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.svg': 'image/svg+xml' };

const roiParams = {
  type: 'object',
  required: ['id', 'roi'],
  properties: { id: slideIdParams.properties.id, roi: { type: 'string', pattern: '^[0-9]{1,3}\\.jpeg$' } },
} as const;

/** The report page's data, its region snapshots, the hospital logo, and the FHIR export. */
export async function reportRoutes(app: FastifyInstance, ctx: WebContext): Promise<void> {
  app.get<{ Params: { id: number } }>('/slides/:id/report', { schema: { params: slideIdParams }, config: { access: CLINICAL } }, async (request) => {
    const { slide, row, result } = requireResult(ctx, request.params.id);
    const reviews = ctx.web.reviewsForResult(row.id);
    const decisions = latestDecisions(reviews);
    const [listed] = ctx.web.worklistRows([slide.id]);
    return {
      hospital: { name: ctx.hospital.name, logo: !!ctx.hospital.logo },
      slide: {
        id: slide.id, name: listed.name, sha256: slide.sha256, vendor: slide.vendor, width: slide.width, height: slide.height,
        mpp: slide.mppX !== null && slide.mppY !== null ? [slide.mppX, slide.mppY] : null, objectivePower: slide.objectivePower, receivedAt: slide.createdAt,
      },
      result: {
        id: row.id, status: row.status, analysedAt: row.createdAt, finding: result.finding, model: result.model, tissue: result.tissue, notes: result.notes,
        rois: result.rois.map((roi, index) => ({ index, ...roi, review: decisions.get(`roi:${index}`) ?? null })),
      },
      slideReview: decisions.get('slide') ?? null,
      reviews,
      signOut: ctx.web.signOutFor(row.id) ?? null,
      generatedAt: new Date().toISOString(),
    };
  });

  app.get<{ Params: { id: number; roi: string } }>('/slides/:id/rois/:roi', { schema: { params: roiParams }, config: { access: CLINICAL } }, async (request, reply) => {
    const { slide, result } = requireResult(ctx, request.params.id);
    const index = Number(request.params.roi.slice(0, -'.jpeg'.length));
    const roi = result.rois[index];
    if (!roi) throw notFound(`slide ${slide.id}'s result has ${result.rois.length} regions; there is no region ${index}`);
    const jpeg = await ctx.slides.use(slide.id, slide.path, async ({ slide: open }) => {
      const levels = open.metadata.levels;
      const wanted = Math.max(1, Math.max(roi.width, roi.height) / SNAPSHOT_SIDE);
      const level = levels.reduce((best, l, i) => (l.downsample <= wanted && l.downsample > levels[best].downsample ? i : best), 0);
      const ds = levels[level].downsample;
      const region = await open.readRegion(level, roi.x, roi.y, Math.max(1, Math.ceil(roi.width / ds)), Math.max(1, Math.ceil(roi.height / ds)));
      return sharp(region.data, { raw: { width: region.width, height: region.height, channels: 3 } })
        .resize(SNAPSHOT_SIDE, SNAPSHOT_SIDE, { fit: 'inside', withoutEnlargement: true }).jpeg({ quality: 85 }).toBuffer();
    });
    reply.type('image/jpeg').header('cache-control', 'private, max-age=3600');
    return jpeg;
  });

  app.get<{ Params: { id: number } }>('/slides/:id/fhir.json', { schema: { params: slideIdParams }, config: { access: CLINICAL } }, async (request, reply) => {
    const analysed = requireResult(ctx, request.params.id);
    const bundle = fhirBundle({
      ...analysed, reviews: ctx.web.reviewsForResult(analysed.row.id), signOut: ctx.web.signOutFor(analysed.row.id) ?? null, hospitalName: ctx.hospital.name,
    });
    ctx.store.logEvent(request.session!.user.username, 'report.exported', `slide:${analysed.slide.id}`, { format: 'fhir-r4', resultId: analysed.row.id });
    reply.type('application/fhir+json').header('content-disposition', `attachment; filename="slide-${analysed.slide.id}-fhir.json"`);
    return JSON.stringify(bundle, null, 2);
  });

  app.get('/hospital/logo', { config: { access: ALL_ROLES } }, async (_request, reply) => {
    const logo = ctx.hospital.logo;
    const type = logo ? LOGO_TYPES[path.extname(logo).toLowerCase()] : undefined;
    if (!logo || !type) throw notFound('no hospital logo configured (hospital.logo: a .png, .jpg or .svg file)');
    const data = await readFile(logo).catch(() => {
      throw notFound(`hospital logo ${path.basename(logo)} cannot be read`);
    });
    reply.type(type).header('cache-control', 'private, max-age=3600');
    return data;
  });
}
