import type { FastifyInstance } from 'fastify';
import { ROLES, type Role } from '../../store/index.ts';
import { ALL_ROLES, type WebContext } from '../context.ts';
import { HttpError, TooManyRequestsError } from '../http-errors.ts';
import { decoyPasswordHash, hashPassword, MAX_PASSWORD_LENGTH, PasswordPolicyError, verifyPassword } from './passwords.ts';
import { clientOf, endSession, startSession } from './sessions.ts';

export const USERNAME_PATTERN = '^[A-Za-z0-9._-]{1,64}$';

const loginBody = {
  type: 'object',
  required: ['username', 'password'],
  additionalProperties: false,
  properties: {
    username: { type: 'string', minLength: 1, maxLength: 64 },
    password: { type: 'string', minLength: 1, maxLength: MAX_PASSWORD_LENGTH },
  },
} as const;

const newUserBody = {
  type: 'object',
  required: ['username', 'role', 'password'],
  additionalProperties: false,
  properties: {
    username: { type: 'string', pattern: USERNAME_PATTERN },
    role: { type: 'string', enum: [...ROLES] },
    password: { type: 'string', minLength: 1, maxLength: MAX_PASSWORD_LENGTH },
  },
} as const;

/** Login, logout, who am I, and the admin's user list. */
export async function authRoutes(app: FastifyInstance, ctx: WebContext): Promise<void> {
  app.post<{ Body: { username: string; password: string } }>('/login', { schema: { body: loginBody }, config: { access: 'public' } }, async (request, reply) => {
    const { username, password } = request.body;
    const waitMs = ctx.loginLimiter.retryAfterMs(username, request.ip);
    if (waitMs > 0) {
      ctx.store.logEvent('anonymous', 'auth.login-throttled', `user:${username}`, { client: clientOf(request) });
      throw new TooManyRequestsError('too many failed logins: wait before trying again', Math.ceil(waitMs / 1000));
    }
    const user = ctx.web.findUser(username);
    const matches = await verifyPassword(password, user?.passwordHash ?? (await decoyPasswordHash()));
    if (!user || !matches || user.disabled) {
      ctx.loginLimiter.recordFailure(username, request.ip);
      ctx.store.logEvent('anonymous', 'auth.login-failed', `user:${username}`, { client: clientOf(request), reason: !user ? 'unknown user' : user.disabled ? 'disabled' : 'wrong password' });
      throw new HttpError(401, 'BAD_CREDENTIALS', 'wrong username or password');
    }
    ctx.loginLimiter.recordSuccess(username);
    const { csrfToken } = startSession(ctx, reply, user, clientOf(request));
    ctx.store.logEvent(user.username, 'auth.login', `user:${user.username}`, { client: clientOf(request) });
    return { user: { username: user.username, role: user.role }, csrfToken };
  });

  app.post('/logout', { config: { access: ALL_ROLES } }, async (request, reply) => {
    ctx.store.logEvent(request.session!.user.username, 'auth.logout', `user:${request.session!.user.username}`, {});
    endSession(ctx, request, reply);
    return { ok: true };
  });

  app.get('/me', { config: { access: ALL_ROLES } }, async (request) => {
    const session = request.session!;
    return { user: { username: session.user.username, role: session.user.role }, csrfToken: session.csrfToken, hospital: { name: ctx.hospital.name, logo: !!ctx.hospital.logo } };
  });

  app.get('/users', { config: { access: ['admin'] } }, async () => ({ users: ctx.web.listUsers() }));

  app.post<{ Body: { username: string; role: Role; password: string } }>('/users', { schema: { body: newUserBody }, config: { access: ['admin'] } }, async (request, reply) => {
    let hash: string;
    try {
      hash = await hashPassword(request.body.password);
    } catch (e) {
      if (e instanceof PasswordPolicyError) throw new HttpError(400, 'WEAK_PASSWORD', e.message);
      throw e;
    }
    const user = ctx.web.addUser(request.body.username, request.body.role, hash, request.session!.user.username);
    reply.code(201);
    return { user: { id: user.id, username: user.username, role: user.role } };
  });
}
