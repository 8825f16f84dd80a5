import type { Logger } from 'pino';
import type { Role, SessionRow, Store, WebStore } from '../store/index.ts';
import type { LoginRateLimiter } from './auth/rate-limit.ts';
import type { SlidePool } from './tiles/slide-pool.ts';

/** Who may call a route: anybody, or a logged-in user with one of these roles. Every route declares it. */
export type Access = 'public' | readonly Role[];

export const ALL_ROLES: readonly Role[] = ['admin', 'pathologist', 'technician'];
/** Slide images, findings, reviews and reports are clinical: pathologists only. */
export const CLINICAL: readonly Role[] = ['pathologist'];

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
  }
  interface FastifyRequest {
    session: SessionRow | null;
  }
}

/** What every area plugin gets: the store, one logger, and the box facts it shows. */
export interface WebContext {
  store: Store;
  web: WebStore;
  logger: Logger;
  dataDir: string;
  hospital: { name: string; logo?: string };
  /** Cookies get the Secure flag (the server speaks HTTPS). */
  secureCookies: boolean;
  slides: SlidePool;
  loginLimiter: LoginRateLimiter;
  /** The daemon's heartbeat file (model, disk, USB), or null when no daemon runs beside us (tests). */
  heartbeatFile: string | null;
  /** The models folder of the data directory. */
  modelsDir: string;
  mqtt: { url?: string; deviceId?: string };
  /** Poll period of the live-updates feed. */
  eventsPollMs: number;
}
