import path from 'node:path';
import type { AnalysisResult } from '../../analysis/index.ts';
import type { ResultRow, SlideRow } from '../../store/index.ts';
import type { WebContext } from '../context.ts';
import { HttpError, notFound } from '../http-errors.ts';

/** Shared by the area plugins: the `:id` parameter, the slide it names, and its latest analysis. */

export const slideIdParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'integer', minimum: 1, maximum: 2 ** 31 - 1 } },
} as const;

export function requireSlide(ctx: WebContext, id: number): SlideRow {
  const slide = ctx.store.getSlide(id);
  if (!slide) throw notFound(`no slide ${id}`);
  return slide;
}

/** A slide whose pixels can be shown: not one the reader refused. */
export function requireViewableSlide(ctx: WebContext, id: number): SlideRow {
  const slide = requireSlide(ctx, id);
  if (slide.state === 'rejected') throw new HttpError(422, 'SLIDE_REJECTED', `slide ${id} was not accepted: ${slide.error ?? 'unreadable'}`);
  return slide;
}

export interface AnalysedSlide {
  slide: SlideRow;
  row: ResultRow;
  result: AnalysisResult;
}

export function requireResult(ctx: WebContext, id: number): AnalysedSlide {
  const slide = requireSlide(ctx, id);
  const row = ctx.store.latestResult(id);
  if (!row) throw notFound(`slide ${id} has no analysis result yet (state: ${slide.state})`);
  return { slide, row, result: row.result as AnalysisResult };
}

/**
 * A file the analysis wrote for this result. The name comes from our own code, never from the request,
 * and the result folder from the database; the check below still refuses anything outside that folder.
 */
export function resultFile(analysed: AnalysedSlide, name: 'heatmap.png' | 'rois.geojson'): string {
  const dir = analysed.row.outputDir;
  if (!dir) throw notFound(`slide ${analysed.slide.id}'s result kept no files (${name})`);
  const file = path.resolve(dir, name);
  if (path.dirname(file) !== path.resolve(dir)) throw notFound(name);
  return file;
}
