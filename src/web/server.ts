import { readFile } from 'node:fs/promises';
import path from 'node:path';
import cookie from '@fastify/cookie';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { WebStore, type Store } from '../store/index.ts';
import { LoginRateLimiter, type LoginLimits } from './auth/rate-limit.ts';
import { authRoutes } from './auth/routes.ts';
import { accessHook } from './auth/sessions.ts';
import type { Access, WebContext } from './context.ts';
import { deviceRoutes } from './device/routes.ts';
import { eventRoutes } from './events/routes.ts';
import { errorHandler, notFound } from './http-errors.ts';
import { reportRoutes } from './reports/routes.ts';
import { reviewRoutes } from './reviews/routes.ts';
import { slideRoutes } from './slides/routes.ts';
import { staticRoutes } from './static-files.ts';
import { SlidePool } from './tiles/slide-pool.ts';
import { tileRoutes } from './tiles/routes.ts';

/** JSON bodies are small (logins, reviews); anything bigger is refused before it is parsed. */
const BODY_LIMIT_BYTES = 16 * 1024;

export interface WebOptions {
  store: Store;
  logger: Logger;
  dataDir: string;
  hospital: { name: string; logo?: string };
  tls?: { cert: string; key: string };
  heartbeatFile?: string | null;
  modelsDir?: string;
  mqtt?: { url?: string; deviceId?: string };
  loginLimits?: LoginLimits;
  eventsPollMs?: number;
  openSlides?: number;
}

/**
 * Security headers on every answer. The UI loads only its own files: no inline script, no other origin,
 * no framing (clickjacking). Inline styles are allowed because OpenSeadragon positions its elements with them.
 */
function securityHeaders(tls: boolean): Record<string, string> {
  return {
    'content-security-policy': "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-resource-policy': 'same-origin',
    'permissions-policy': 'camera=(), microphone=(), geolocation=(), usb=()',
    ...(tls ? { 'strict-transport-security': 'max-age=31536000' } : {}),
  };
}

/** A registered route and who may call it (the authorisation test walks this list). */
export interface RouteInfo {
  method: string;
  url: string;
  access: Access;
}

/** The dashboard application (not listening yet): tests drive it with `app.inject`. */
export async function buildWebApp(options: WebOptions): Promise<{ app: FastifyInstance; context: WebContext; routes: RouteInfo[] }> {
  const tls = options.tls ? { cert: await readFile(options.tls.cert), key: await readFile(options.tls.key) } : null;
  const app = Fastify({
    loggerInstance: options.logger.child({ component: 'web' }),
    // One line per tile request would drown the journal; errors are logged by the error handler.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT_BYTES,
    trustProxy: false,
    // Unknown fields in a body are an error, not silently dropped.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: false } },
    ...(tls ? { https: tls } : {}),
  }) as unknown as FastifyInstance;
  const context: WebContext = {
    store: options.store,
    web: new WebStore(options.store),
    logger: options.logger,
    dataDir: options.dataDir,
    hospital: options.hospital,
    secureCookies: !!tls,
    slides: new SlidePool(options.openSlides ?? 4),
    loginLimiter: new LoginRateLimiter(options.loginLimits),
    heartbeatFile: options.heartbeatFile ?? null,
    modelsDir: options.modelsDir ?? path.join(options.dataDir, 'models'),
    mqtt: options.mqtt ?? {},
    eventsPollMs: options.eventsPollMs ?? 500,
  };
  const headers = securityHeaders(!!tls);
  app.decorateRequest('session', null);
  const routes: RouteInfo[] = [];
  app.addHook('onRoute', (route) => {
    const access = route.config?.access;
    if (access === undefined) throw new Error(`route ${String(route.method)} ${route.url} declares no access rule (config.access)`);
    for (const method of [route.method].flat()) routes.push({ method, url: route.url, access });
  });
  await app.register(cookie);
  // The API takes JSON only: any other body type is 415, not a string for the schema to puzzle over.
  app.removeContentTypeParser('text/plain');
  app.addHook('onRequest', async (_request, reply) => {
    reply.headers(headers);
  });
  app.addHook('onRequest', accessHook(context));
  app.setErrorHandler(errorHandler(options.logger));
  app.setNotFoundHandler(async (request) => {
    throw notFound(`no route ${request.method} ${request.url.split('?')[0].slice(0, 200)}`);
  });
  app.addHook('onClose', async () => {
    await context.slides.close();
  });
  for (const area of [authRoutes, slideRoutes, tileRoutes, reviewRoutes, reportRoutes, deviceRoutes, eventRoutes]) {
    await app.register(async (scope) => area(scope, context), { prefix: '/api' });
  }
  await app.register(staticRoutes);
  return { app, context, routes };
}

export interface WebServer {
  app: FastifyInstance;
  url: string;
  close(): Promise<void>;
}

/** Builds the app and listens; `port` 0 picks a free port (tests). */
export async function startWebServer(options: WebOptions & { host: string; port: number }): Promise<WebServer> {
  const { app, context } = await buildWebApp(options);
  await app.listen({ host: options.host, port: options.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const host = options.host === '0.0.0.0' || options.host === '::' ? 'localhost' : options.host;
  const url = `${options.tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}/`;
  if (!options.tls && !isLoopback(options.host)) {
    options.logger.warn({ url }, 'dashboard served over plain HTTP on a network address: set http.tlsCert and http.tlsKey so passwords and slides are encrypted');
  }
  const purge = setInterval(() => context.web.purgeExpiredSessions(), 3600_000);
  purge.unref();
  return {
    app,
    url,
    close: async () => {
      clearInterval(purge);
      await app.close();
    },
  };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}
