import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { SessionRow, UserRow } from '../../store/index.ts';
import type { WebContext } from '../context.ts';
import { HttpError } from '../http-errors.ts';

export const SESSION_COOKIE = 'pathbox_session';
export const CSRF_HEADER = 'x-csrf-token';
/** A session ends after this much idleness... */
const IDLE_MS = 8 * 3600_000;
/** ...and in any case this long after login (one working day plus a margin). */
const ABSOLUTE_MS = 12 * 3600_000;
/** last_seen is written at most this often, so tile bursts do not turn into database writes. */
const TOUCH_EVERY_MS = 60_000;
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

const tokenHash = (token: string) => createHash('sha256').update(token).digest('hex');

function sessionExpiry(createdAt: number, at: number): string {
  return new Date(Math.min(at + IDLE_MS, createdAt + ABSOLUTE_MS)).toISOString();
}

/** Starts a session: a random cookie (only its hash is stored) and a CSRF token the page sends back in a header. */
export function startSession(ctx: WebContext, reply: FastifyReply, user: UserRow, client: string): { csrfToken: string } {
  const token = randomBytes(32).toString('base64url');
  const csrfToken = randomBytes(32).toString('base64url');
  const at = Date.now();
  ctx.web.createSession(tokenHash(token), user.id, csrfToken, sessionExpiry(at, at), client);
  // No Max-Age: the cookie dies with the browser, which matters on shared office PCs.
  reply.setCookie(SESSION_COOKIE, token, { httpOnly: true, sameSite: 'strict', secure: ctx.secureCookies, path: '/' });
  return { csrfToken };
}

export function endSession(ctx: WebContext, request: FastifyRequest, reply: FastifyReply): void {
  if (request.session) ctx.web.deleteSession(request.session.tokenHash);
  reply.clearCookie(SESSION_COOKIE, { httpOnly: true, sameSite: 'strict', secure: ctx.secureCookies, path: '/' });
}

function sameToken(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * The one gate in front of every route: finds the session, then applies the route's declared access.
 * No session → 401; a role the route does not allow → 403; a state-changing request without the
 * session's CSRF token (or from another origin) → 403.
 */
export function accessHook(ctx: WebContext) {
  return async (request: FastifyRequest): Promise<void> => {
    request.session = null;
    // Unmatched URLs reach the not-found handler without a route config.
    if (!request.routeOptions.url) return;
    const access = request.routeOptions.config.access;
    if (access === undefined) throw new HttpError(500, 'NO_ACCESS_RULE', `route ${request.routeOptions.url} declares no access rule`);
    if (!SAFE_METHODS.has(request.method)) assertSameOrigin(request);
    const session = currentSession(ctx, request);
    request.session = session;
    if (access === 'public') return;
    if (!session) throw new HttpError(401, 'UNAUTHENTICATED', 'not logged in (or the session expired): log in again');
    if (!access.includes(session.user.role)) {
      throw new HttpError(403, 'FORBIDDEN', `a ${session.user.role} may not use ${request.method} ${request.routeOptions.url} (allowed: ${access.join(', ')})`);
    }
    if (!SAFE_METHODS.has(request.method)) {
      const given = request.headers[CSRF_HEADER];
      if (typeof given !== 'string' || !sameToken(given, session.csrfToken)) {
        throw new HttpError(403, 'CSRF', `missing or wrong ${CSRF_HEADER} header (reload the page)`);
      }
    }
  };
}

function currentSession(ctx: WebContext, request: FastifyRequest): SessionRow | null {
  const token = request.cookies[SESSION_COOKIE];
  if (!token || token.length > 128) return null;
  const session = ctx.web.findSession(tokenHash(token));
  if (!session) return null;
  const at = Date.now();
  if (at - Date.parse(session.lastSeenAt) > TOUCH_EVERY_MS) ctx.web.touchSession(session.tokenHash, sessionExpiry(Date.parse(session.createdAt), at));
  return session;
}

/** Browsers send Origin on cross-site POSTs: one naming another host is refused before anything else. */
function assertSameOrigin(request: FastifyRequest): void {
  const origin = request.headers.origin;
  if (origin === undefined) return;
  let host: string | null = null;
  try {
    host = new URL(origin).host;
  } catch {
    host = null;
  }
  if (host === null || host !== request.headers.host) throw new HttpError(403, 'CROSS_ORIGIN', `requests from ${origin} are not accepted`);
}

/** Address and browser of a request, for the audit trail. */
export function clientOf(request: FastifyRequest): string {
  return `${request.ip} ${String(request.headers['user-agent'] ?? '').slice(0, 120)}`.trim();
}
