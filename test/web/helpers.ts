/**
 * A dashboard on a real store with a real analysed slide (synthetic SVS, the built-in cellularity model),
 * plus a failed and a rejected slide, and one account per role. Driven with fastify's inject.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { analyzeSlide } from '../../src/analysis/index.ts';
import { sha256File } from '../../src/ingest/index.ts';
import { builtInBundleDir, createSession, ensureBuiltInModels, loadBundle } from '../../src/models/index.ts';
import { writeSyntheticSlide } from '../../src/slide/synthetic/index.ts';
import { Store, type Role } from '../../src/store/index.ts';
import { addUser, buildWebApp, type RouteInfo, type WebOptions } from '../../src/web/index.ts';

export const PASSWORDS: Record<Role, string> = { admin: 'admin-password-1', pathologist: 'patho-password-1', technician: 'tech-password-1' };
export const USERNAMES: Record<Role, string> = { admin: 'alice', pathologist: 'paula', technician: 'tom' };

export interface TestBox {
  dir: string;
  store: Store;
  app: FastifyInstance;
  routes: RouteInfo[];
  slideFile: string;
  /** An analysed slide (state done, one preliminary result). */
  slideId: number;
  resultId: number;
  failedSlideId: number;
  rejectedSlideId: number;
  close(): Promise<void>;
}

export async function analysedSlide(store: Store, dir: string, options: { width?: number; height?: number; seed?: number } = {}): Promise<{ slideId: number; resultId: number; file: string }> {
  const file = path.join(dir, `case-${options.seed ?? 3}.svs`);
  const width = options.width ?? 4096;
  const height = options.height ?? 3072;
  await writeSyntheticSlide(file, { width, height, seed: options.seed ?? 3, mpp: 0.25 });
  await ensureBuiltInModels();
  const session = await createSession(await loadBundle(builtInBundleDir('cellularity')), 'fp32', { intraOpThreads: 1 });
  try {
    const sha256 = await sha256File(file);
    const { slide } = store.addSlide({ sha256, path: file, sizeBytes: (await stat(file)).size, vendor: 'aperio', width, height, mppX: 0.25, mppY: 0.25, objectivePower: 40 });
    const job = store.claimNextJob('test', 600_000)!;
    const outDir = path.join(dir, 'results', sha256, String(job.id));
    const result = await analyzeSlide(file, { session, batchSize: 8, outDir, sha256 });
    const row = store.completeJob(job.id, 'test', {
      modelId: result.model.id, modelVersion: result.model.version, modelDigest: result.model.digest, modelRelease: result.model.releaseCounter,
      findingLabel: result.finding.label, findingScore: result.finding.score, result, outputDir: outDir,
    })!;
    return { slideId: slide.id, resultId: row.id, file };
  } finally {
    await session.release();
  }
}

export async function testBox(options: Partial<WebOptions> = {}): Promise<TestBox> {
  const dir = await mkdtemp(path.join(tmpdir(), 'pathbox-web-'));
  const store = Store.open(path.join(dir, 'pathbox.db'));
  const { slideId, resultId, file } = await analysedSlide(store, dir);
  const failed = store.addSlide({ sha256: 'f'.repeat(64), path: path.join(dir, 'broken.svs'), sizeBytes: 10 });
  const job = store.claimNextJob('test', 60_000)!;
  store.failJob(job.id, 'test', 'TIFF directory loops back on itself', { permanent: true });
  const rejected = store.addSlide({ sha256: 'e'.repeat(64), path: path.join(dir, 'notes.txt'), sizeBytes: 3, rejectedReason: 'unsupported format: not a TIFF, SVS, NDPI or DICOM slide' });
  for (const role of ['admin', 'pathologist', 'technician'] as const) await addUser(store, USERNAMES[role], role, PASSWORDS[role], 'test');
  const { app, routes } = await buildWebApp({ store, logger: pino({ level: 'silent' }), dataDir: dir, hospital: { name: 'Test County Hospital' }, ...options });
  return {
    dir, store, app, routes, slideFile: file, slideId, resultId, failedSlideId: failed.slide.id, rejectedSlideId: rejected.slide.id,
    close: async () => {
      await app.close();
      store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface LoggedIn {
  cookie: string;
  csrf: string;
}

export async function login(app: FastifyInstance, role: Role): Promise<LoggedIn> {
  const response = await app.inject({ method: 'POST', url: '/api/login', payload: { username: USERNAMES[role], password: PASSWORDS[role] } });
  if (response.statusCode !== 200) throw new Error(`login as ${role} failed: ${response.statusCode} ${response.body}`);
  const cookie = response.cookies.find((c) => c.name === 'pathbox_session');
  if (!cookie) throw new Error('login set no session cookie');
  return { cookie: `pathbox_session=${cookie.value}`, csrf: response.json<{ csrfToken: string }>().csrfToken };
}
