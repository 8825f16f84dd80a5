import type { FastifyInstance } from 'fastify';
import type { ReviewDecision } from '../../store/index.ts';
import { CLINICAL, type WebContext } from '../context.ts';
import { badRequest } from '../http-errors.ts';
import { requireResult, slideIdParams } from '../slides/lookup.ts';

const reviewBody = {
  type: 'object',
  required: ['resultId', 'target', 'decision'],
  additionalProperties: false,
  properties: {
    resultId: { type: 'integer', minimum: 1 },
    /** 'slide' for the slide-level finding, 'roi' with `roi` = the region's index. */
    target: { type: 'string', enum: ['slide', 'roi'] },
    roi: { type: 'integer', minimum: 0, maximum: 999 },
    decision: { type: 'string', enum: ['confirm', 'reject', 'amend'] },
    label: { type: 'string', minLength: 1, maxLength: 200 },
    comment: { type: 'string', maxLength: 2000 },
  },
} as const;

const signOutBody = {
  type: 'object',
  required: ['resultId', 'conclusion'],
  additionalProperties: false,
  properties: {
    resultId: { type: 'integer', minimum: 1 },
    conclusion: { type: 'string', minLength: 1, maxLength: 4000 },
  },
} as const;

interface ReviewBody {
  resultId: number;
  target: 'slide' | 'roi';
  roi?: number;
  decision: ReviewDecision;
  label?: string;
  comment?: string;
}

/** A pathologist confirms, rejects or amends each AI finding, then signs the result out (preliminary → final). */
export async function reviewRoutes(app: FastifyInstance, ctx: WebContext): Promise<void> {
  app.post<{ Params: { id: number }; Body: ReviewBody }>('/slides/:id/review',
    { schema: { params: slideIdParams, body: reviewBody }, config: { access: CLINICAL } }, async (request, reply) => {
      const { resultId, target, roi, decision, label, comment } = request.body;
      const analysed = requireResult(ctx, request.params.id);
      if (target === 'roi' && (roi === undefined || roi >= analysed.result.rois.length)) {
        throw badRequest(`roi must be the index of one of the result's ${analysed.result.rois.length} regions`);
      }
      if (target === 'slide' && roi !== undefined) throw badRequest('roi is only for target "roi"');
      if ((decision === 'amend') !== (label !== undefined)) throw badRequest('label is required with "amend" and only allowed with it');
      const review = ctx.web.addReview({
        slideId: analysed.slide.id, resultId, target: target === 'slide' ? 'slide' : `roi:${roi}`, decision,
        amendedLabel: label ?? null, comment: comment?.trim() || null, user: request.session!.user,
      });
      reply.code(201);
      return { review };
    });

  app.post<{ Params: { id: number }; Body: { resultId: number; conclusion: string } }>('/slides/:id/sign-out',
    { schema: { params: slideIdParams, body: signOutBody }, config: { access: CLINICAL } }, async (request) => {
      const analysed = requireResult(ctx, request.params.id);
      const conclusion = request.body.conclusion.trim();
      if (!conclusion) throw badRequest('conclusion must not be blank');
      return { signOut: ctx.web.signOut(analysed.slide.id, request.body.resultId, conclusion, request.session!.user) };
    });
}
