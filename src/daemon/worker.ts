import { hostname } from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { analyzeSlide, ResolutionError } from '../analysis/index.ts';
import { isModelBundleError, type ModelRuntime } from '../models/index.ts';
import { isSlideError } from '../slide/index.ts';
import type { JobRow, Store } from '../store/index.ts';
import { resultMessage } from '../sync/messages.ts';
import type { Logger } from './logger.ts';

export interface WorkerOptions {
  store: Store;
  logger: Logger;
  resultsDir: string;
  /** The model serving now (an update may swap it between slides). */
  model: () => ModelRuntime;
  defaultMpp: number | null;
  /** When set, each result is also queued for the cloud under this device id. */
  syncDeviceId: string | null;
  leaseMs?: number;
  idleMs?: number;
  /** Told after each analysis how the model did (the OTA trial window); slide errors are not the model's. */
  onAnalysed?: (outcome: { modelId: string; version: string; ok: boolean; detail?: string }) => void;
}

const PROGRESS_EVERY_MS = 500;

/**
 * Takes queued slides one at a time and analyses them. The job's lease is renewed with each progress
 * report; the result, the slide's state and the outbox message are committed together.
 */
export class AnalysisWorker {
  readonly owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private readonly options: WorkerOptions;
  private stopping = false;
  private current: { job: JobRow; abort: AbortController } | null = null;
  private wakeUp: (() => void) | null = null;
  private loop: Promise<void> | null = null;
  /** Set while something must run between two slides (a model swap); the loop claims nothing until it settles. */
  private exclusive: Promise<unknown> | null = null;
  private idleWaiters: (() => void)[] = [];
  lastBeat = Date.now();

  constructor(options: WorkerOptions) {
    this.options = options;
  }

  start(): void {
    this.loop = this.run();
  }

  /** Something was queued: stop idling. */
  wake(): void {
    this.wakeUp?.();
  }

  get runningJob(): JobRow | null {
    return this.current?.job ?? null;
  }

  /** Runs `fn` once the running slide (if any) is finished, before the next one is claimed. */
  async betweenSlides<T>(fn: () => Promise<T>): Promise<T> {
    const previous = this.exclusive;
    const turn = (async () => {
      await previous?.catch(() => {});
      while (this.current) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
      return fn();
    })();
    this.exclusive = turn;
    try {
      return await turn;
    } finally {
      if (this.exclusive === turn) this.exclusive = null;
      this.wake();
    }
  }

  /**
   * Stops taking work; the running slide gets `drainMs` to finish, then is aborted and handed back to
   * the queue (not counted as a failed attempt).
   */
  async stop(drainMs: number): Promise<void> {
    this.stopping = true;
    this.wake();
    const running = this.current;
    if (running) {
      const timer = setTimeout(() => running.abort.abort(new Error('daemon stopping')), drainMs);
      await this.loop;
      clearTimeout(timer);
    } else {
      await this.loop;
    }
  }

  private async run(): Promise<void> {
    const { store, logger } = this.options;
    const leaseMs = this.options.leaseMs ?? 120_000;
    while (!this.stopping) {
      this.lastBeat = Date.now();
      if (this.exclusive) {
        await this.exclusive.catch(() => {});
        continue;
      }
      const job = store.claimNextJob(this.owner, leaseMs);
      if (!job) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.options.idleMs ?? 1000);
          this.wakeUp = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wakeUp = null;
        continue;
      }
      const abort = new AbortController();
      this.current = { job, abort };
      try {
        await this.analyse(job, abort.signal, leaseMs);
      } catch (e) {
        logger.error({ err: e, jobId: job.id }, 'worker error');
      } finally {
        this.current = null;
        for (const resolve of this.idleWaiters.splice(0)) resolve();
      }
    }
  }

  private async analyse(job: JobRow, signal: AbortSignal, leaseMs: number): Promise<void> {
    const { store, logger } = this.options;
    const slide = store.getSlide(job.slideId)!;
    const runtime = this.options.model();
    const outDir = path.join(this.options.resultsDir, slide.sha256, String(job.id));
    const log = logger.child({ slideId: slide.id, jobId: job.id, attempt: job.attempts });
    log.info({ model: `${runtime.bundle.manifest.id}@${runtime.bundle.manifest.version}` }, 'analysis started');
    let lastReport = 0;
    try {
      const result = await analyzeSlide(slide.path, {
        session: runtime.session,
        batchSize: runtime.selection.batchSize,
        decodeThreads: runtime.selection.decodeThreads,
        outDir,
        sha256: slide.sha256,
        defaultMpp: this.options.defaultMpp,
        signal,
        onProgress: (done, total) => {
          this.lastBeat = Date.now();
          if (done !== total && Date.now() - lastReport < PROGRESS_EVERY_MS) return;
          lastReport = Date.now();
          store.reportProgress(job.id, this.owner, done, total, leaseMs);
        },
      });
      const analysedAt = new Date().toISOString();
      const stored = store.completeJob(job.id, this.owner, {
        modelId: result.model.id,
        modelVersion: result.model.version,
        modelDigest: result.model.digest,
        modelRelease: result.model.releaseCounter,
        findingLabel: result.finding.label,
        findingScore: result.finding.score,
        result,
        outputDir: outDir,
        outbox: this.options.syncDeviceId ? [resultMessage(this.options.syncDeviceId, job.id, slide.id, result, analysedAt)] : [],
      });
      if (stored) log.info({ finding: result.finding.label, score: result.finding.score, ms: result.timings.totalMs }, 'analysis done');
      else log.warn('job was taken back while analysing; result discarded');
      this.options.onAnalysed?.({ modelId: result.model.id, version: result.model.version, ok: true });
    } catch (e) {
      if (signal.aborted) {
        store.releaseJob(job.id, this.owner);
        log.info('analysis interrupted by shutdown; slide back in the queue');
        return;
      }
      // A slide the reader cannot read, or one with no resolution, will not improve on retry.
      const permanent = isSlideError(e) || e instanceof ResolutionError;
      const reason = e instanceof Error ? e.message : String(e);
      const after = store.failJob(job.id, this.owner, reason, { permanent });
      log.warn({ reason, state: after?.state }, 'analysis failed');
      const { id, version } = runtime.bundle.manifest;
      if (isModelBundleError(e)) this.options.onAnalysed?.({ modelId: id, version, ok: false, detail: reason });
    }
  }
}
