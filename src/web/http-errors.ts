import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { isSlideError, type SlideErrorCode } from '../slide/index.ts';
import { WebStoreError } from '../store/index.ts';

/** An error with the HTTP status it should produce; the message is shown to the user as it is. */
export class HttpError extends Error {
  readonly statusCode: number;
  readonly code: string;
  constructor(statusCode: number, code: string, message: string) {
    super(message);
    this.name = 'HttpError';
    this.statusCode = statusCode;
    this.code = code;
  }
}

export const notFound = (message: string) => new HttpError(404, 'NOT_FOUND', message);
export const badRequest = (message: string) => new HttpError(400, 'BAD_REQUEST', message);

/** Slide reader failures as HTTP: a tile that does not exist is 404, an unreadable slide 422, never 500. */
const SLIDE_ERROR_STATUS: Record<SlideErrorCode, number> = {
  OUT_OF_BOUNDS: 404,
  TOO_LARGE: 422,
  UNSUPPORTED_FORMAT: 422,
  UNSUPPORTED_COMPRESSION: 422,
  TRUNCATED: 422,
  CORRUPT_STRUCTURE: 422,
  CORRUPT_TILE: 422,
  IO: 503,
};

export interface ErrorBody {
  error: string;
  message: string;
}

/** One shape for every error: `{ error: CODE, message }`. Unexpected errors are logged and not described. */
export function errorHandler(logger: Logger) {
  return (error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): ErrorBody => {
    const { status, body } = describe(error);
    if (status >= 500) logger.error({ err: error, url: request.url, method: request.method }, 'request failed');
    else logger.debug({ url: request.url, status, code: body.error }, body.message);
    if (error instanceof TooManyRequestsError) reply.header('retry-after', String(error.retryAfterSeconds));
    reply.code(status);
    return body;
  };
}

function describe(error: FastifyError | Error): { status: number; body: ErrorBody } {
  if (error instanceof HttpError) return { status: error.statusCode, body: { error: error.code, message: error.message } };
  if (error instanceof WebStoreError) return { status: error.code === 'NOT_FOUND' ? 404 : 409, body: { error: error.code, message: error.message } };
  if (isSlideError(error)) return { status: SLIDE_ERROR_STATUS[error.code], body: { error: `SLIDE_${error.code}`, message: error.message } };
  const fastifyError = error as FastifyError;
  if (fastifyError.validation) return { status: 400, body: { error: 'BAD_REQUEST', message: fastifyError.message } };
  const status = fastifyError.statusCode;
  if (status !== undefined && status >= 400 && status < 500) return { status, body: { error: fastifyError.code ?? 'BAD_REQUEST', message: fastifyError.message } };
  return { status: 500, body: { error: 'INTERNAL', message: 'internal error (logged on the box)' } };
}

/** 429 with the seconds to wait. */
export class TooManyRequestsError extends HttpError {
  readonly retryAfterSeconds: number;
  constructor(message: string, retryAfterSeconds: number) {
    super(429, 'TOO_MANY_REQUESTS', message);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}
