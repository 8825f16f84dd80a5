import { backupDatabase, integrityCheck, openDatabase, type Db } from './database.ts';
import type { EventRow, JobRow, OutboxMessage, OutboxRow, ResultRow, SlideRow, SlideState } from './types.ts';

/** SQLite rows come back snake_case; the rest of pathbox speaks camelCase. */
function camel<T>(row: unknown): T {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(row as Record<string, unknown>)) {
    out[key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase())] = value;
  }
  return out as T;
}

const now = () => new Date().toISOString();

export interface NewSlide {
  sha256: string;
  path: string;
  sizeBytes: number;
  priority?: number;
  vendor?: string | null;
  width?: number | null;
  height?: number | null;
  mppX?: number | null;
  mppY?: number | null;
  objectivePower?: number | null;
  /** Set for files the reader refused: the slide is recorded as rejected with this reason. */
  rejectedReason?: string;
}

export interface CompletedAnalysis {
  modelId: string;
  modelVersion: string;
  modelDigest: string;
  modelRelease: number | null;
  findingLabel: string | null;
  findingScore: number | null;
  result: unknown;
  outputDir: string | null;
  /** Messages for the cloud, committed with the result (the transactional outbox). */
  outbox?: OutboxMessage[];
}

export interface RetryPolicy {
  /** Back-off before attempt n+1, in ms. */
  backoffMs(attempt: number): number;
}

/** Crashes during one slide's analysis before it is suspected of causing them. */
const MAX_INTERRUPTIONS = 5;

export const defaultRetryPolicy: RetryPolicy = { backoffMs: (attempt) => Math.min(30_000 * 2 ** (attempt - 1), 30 * 60_000) };

/**
 * The box's state: slides, jobs, results, events and the outbox in one SQLite file. Every state change
 * is one transaction, so a power cut leaves either the old or the new state, never half of one.
 */
export class Store {
  readonly db: Db;
  readonly file: string;

  private constructor(db: Db, file: string) {
    this.db = db;
    this.file = file;
  }

  static open(file: string, options: { readonly?: boolean } = {}): Store {
    return new Store(openDatabase(file, options), file);
  }

  close(): void {
    this.db.close();
  }

  backup(destination: string): Promise<void> {
    return backupDatabase(this.db, destination);
  }

  integrityCheck(): string {
    return integrityCheck(this.db);
  }

  // ---- slides -------------------------------------------------------------------------------------

  /**
   * Records a slide found by ingest, once per content: the same sha256 again returns the existing row
   * (`created: false`). A readable slide gets a queued analysis job in the same transaction.
   */
  addSlide(slide: NewSlide, actor = 'ingest'): { slide: SlideRow; created: boolean } {
    return this.db.transaction(() => {
      const existing = this.db.prepare('SELECT * FROM slides WHERE sha256 = ?').get(slide.sha256);
      if (existing) return { slide: camel<SlideRow>(existing), created: false };
      const state: SlideState = slide.rejectedReason ? 'rejected' : 'queued';
      const info = this.db.prepare(`INSERT INTO slides (sha256, path, size_bytes, state, priority, vendor, width, height, mpp_x, mpp_y, objective_power, error)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(slide.sha256, slide.path, slide.sizeBytes, state, slide.priority ?? 0,
        slide.vendor ?? null, slide.width ?? null, slide.height ?? null, slide.mppX ?? null, slide.mppY ?? null, slide.objectivePower ?? null,
        slide.rejectedReason ?? null);
      const id = Number(info.lastInsertRowid);
      if (state === 'queued') {
        this.db.prepare("INSERT INTO jobs (slide_id, state, priority) VALUES (?, 'queued', ?)").run(id, slide.priority ?? 0);
      }
      this.logEvent(actor, state === 'rejected' ? 'slide.rejected' : 'slide.added', `slide:${id}`, { sha256: slide.sha256, reason: slide.rejectedReason });
      return { slide: this.getSlide(id)!, created: true };
    })();
  }

  getSlide(id: number): SlideRow | undefined {
    const row = this.db.prepare('SELECT * FROM slides WHERE id = ?').get(id);
    return row ? camel<SlideRow>(row) : undefined;
  }

  getSlideBySha(sha256: string): SlideRow | undefined {
    const row = this.db.prepare('SELECT * FROM slides WHERE sha256 = ?').get(sha256);
    return row ? camel<SlideRow>(row) : undefined;
  }

  listSlides(options: { state?: SlideState; limit?: number } = {}): SlideRow[] {
    const rows = options.state
      ? this.db.prepare('SELECT * FROM slides WHERE state = ? ORDER BY id DESC LIMIT ?').all(options.state, options.limit ?? 1000)
      : this.db.prepare('SELECT * FROM slides ORDER BY id DESC LIMIT ?').all(options.limit ?? 1000);
    return rows.map((r) => camel<SlideRow>(r));
  }

  countSlidesByState(): Record<SlideState, number> {
    const counts: Record<SlideState, number> = { queued: 0, running: 0, done: 0, failed: 0, rejected: 0 };
    for (const row of this.db.prepare('SELECT state, COUNT(*) AS n FROM slides GROUP BY state').all() as { state: SlideState; n: number }[]) {
      counts[row.state] = row.n;
    }
    return counts;
  }

  /**
   * Hands a running job back to the queue without counting the attempt: a graceful stop (SIGTERM)
   * checkpoints the slide instead of failing it.
   */
  releaseJob(jobId: number, owner: string): boolean {
    return this.db.transaction(() => {
      const job = this.getJob(jobId);
      if (!job || job.state !== 'running' || job.leaseOwner !== owner) return false;
      this.db.prepare("UPDATE jobs SET state = 'queued', attempts = MAX(0, attempts - 1), lease_owner = NULL, lease_expires_at = NULL, not_before = NULL WHERE id = ?").run(jobId);
      this.db.prepare("UPDATE slides SET state = 'queued', updated_at = ? WHERE id = ?").run(now(), job.slideId);
      this.logEvent('analysis', 'job.released', `slide:${job.slideId}`, { jobId });
      return true;
    })();
  }

  /** Puts a failed or quarantined slide back in the queue (an operator's decision, audited). */
  retrySlide(id: number, actor: string): JobRow {
    return this.db.transaction(() => {
      const slide = this.getSlide(id);
      if (!slide) throw new Error(`no slide ${id}`);
      if (slide.state !== 'failed') throw new Error(`slide ${id} is ${slide.state}; only failed slides can be retried`);
      this.db.prepare("UPDATE slides SET state = 'queued', error = NULL, updated_at = ? WHERE id = ?").run(now(), id);
      const info = this.db.prepare("INSERT INTO jobs (slide_id, state, priority) VALUES (?, 'queued', ?)").run(id, slide.priority);
      this.logEvent(actor, 'slide.retry', `slide:${id}`, {});
      return this.getJob(Number(info.lastInsertRowid))!;
    })();
  }

  // ---- ingest bookkeeping ---------------------------------------------------------------------------

  /** Whether ingest already handled this exact file version (same path, size and mtime). */
  isIngested(filePath: string, sizeBytes: number, mtimeMs: number): boolean {
    return !!this.db.prepare('SELECT 1 FROM ingest_files WHERE path = ? AND size_bytes = ? AND mtime_ms = ?').get(filePath, sizeBytes, Math.trunc(mtimeMs));
  }

  /**
   * Records a new slide (or finds its twin by content) and remembers the file version, atomically.
   * `key` is what ingest watches (the file, or a multi-file slide's folder); slide.path is what opens.
   */
  ingest(key: string, slide: NewSlide, mtimeMs: number): { slide: SlideRow; created: boolean } {
    return this.db.transaction(() => {
      const outcome = this.addSlide(slide);
      this.db.prepare(`INSERT INTO ingest_files (path, size_bytes, mtime_ms, sha256, slide_id) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT (path) DO UPDATE SET size_bytes = excluded.size_bytes, mtime_ms = excluded.mtime_ms, sha256 = excluded.sha256,
        slide_id = excluded.slide_id, seen_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')`)
        .run(key, slide.sizeBytes, Math.trunc(mtimeMs), slide.sha256, outcome.slide.id);
      return outcome;
    })();
  }

  // ---- jobs ---------------------------------------------------------------------------------------

  getJob(id: number): JobRow | undefined {
    const row = this.db.prepare('SELECT * FROM jobs WHERE id = ?').get(id);
    return row ? camel<JobRow>(row) : undefined;
  }

  runningJobs(): JobRow[] {
    return this.db.prepare("SELECT * FROM jobs WHERE state = 'running' ORDER BY id").all().map((r) => camel<JobRow>(r));
  }

  queueDepth(): number {
    return (this.db.prepare("SELECT COUNT(*) AS n FROM jobs WHERE state = 'queued'").get() as { n: number }).n;
  }

  /** Takes the most urgent ready job (urgent first, then oldest) and leases it to `owner`. */
  claimNextJob(owner: string, leaseMs: number): JobRow | null {
    return this.db.transaction(() => {
      const at = now();
      const row = this.db.prepare(`SELECT id, slide_id FROM jobs WHERE state = 'queued' AND (not_before IS NULL OR not_before <= ?)
        ORDER BY priority DESC, id LIMIT 1`).get(at) as { id: number; slide_id: number } | undefined;
      if (!row) return null;
      const expires = new Date(Date.now() + leaseMs).toISOString();
      this.db.prepare(`UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_owner = ?, lease_expires_at = ?,
        started_at = ?, progress_done = 0, progress_total = 0 WHERE id = ?`).run(owner, expires, at, row.id);
      this.db.prepare("UPDATE slides SET state = 'running', updated_at = ? WHERE id = ?").run(at, row.slide_id);
      return this.getJob(row.id)!;
    })();
  }

  /** Stores progress and extends the lease; false when the job is no longer ours (lease taken back). */
  reportProgress(jobId: number, owner: string, done: number, total: number, leaseMs: number): boolean {
    const expires = new Date(Date.now() + leaseMs).toISOString();
    const info = this.db.prepare(`UPDATE jobs SET progress_done = ?, progress_total = ?, lease_expires_at = ?
      WHERE id = ? AND state = 'running' AND lease_owner = ?`).run(done, total, expires, jobId, owner);
    return info.changes === 1;
  }

  /**
   * Finishes a job with its result, the slide's state, an audit event and the outbox messages in one
   * transaction. A job that is no longer running under this owner is left alone (returns null), so a
   * result is never stored twice.
   */
  completeJob(jobId: number, owner: string, analysis: CompletedAnalysis): ResultRow | null {
    return this.db.transaction(() => {
      const job = this.getJob(jobId);
      if (!job || job.state !== 'running' || job.leaseOwner !== owner) return null;
      const at = now();
      const info = this.db.prepare(`INSERT INTO results (slide_id, job_id, model_id, model_version, model_digest, model_release, finding_label, finding_score, result_json, output_dir)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(job.slideId, jobId, analysis.modelId, analysis.modelVersion, analysis.modelDigest,
        analysis.modelRelease, analysis.findingLabel, analysis.findingScore, JSON.stringify(analysis.result), analysis.outputDir);
      this.db.prepare("UPDATE jobs SET state = 'done', finished_at = ?, lease_owner = NULL, lease_expires_at = NULL, error = NULL WHERE id = ?").run(at, jobId);
      this.db.prepare("UPDATE slides SET state = 'done', error = NULL, updated_at = ? WHERE id = ?").run(at, job.slideId);
      for (const message of analysis.outbox ?? []) this.enqueueOutbox(message);
      this.logEvent('analysis', 'job.done', `slide:${job.slideId}`, { jobId, model: `${analysis.modelId}@${analysis.modelVersion}` });
      return this.getResult(Number(info.lastInsertRowid))!;
    })();
  }

  /**
   * Records a failed attempt. `permanent` failures (a corrupt slide) fail the slide at once; others are
   * retried with back-off until max_attempts, then quarantined with the reason.
   */
  failJob(jobId: number, owner: string, error: string, options: { permanent: boolean; retry?: RetryPolicy }): JobRow | null {
    return this.db.transaction(() => {
      const job = this.getJob(jobId);
      if (!job || job.state !== 'running' || job.leaseOwner !== owner) return null;
      this.settleFailure(job, error, options.permanent, options.retry ?? defaultRetryPolicy);
      return this.getJob(jobId)!;
    })();
  }

  /**
   * At start-up: jobs left running by a crash or power cut go back to the queue without using up an
   * attempt. A slide interrupted MAX_INTERRUPTIONS times is quarantined instead: it may be what crashes us.
   */
  recoverInterruptedJobs(): JobRow[] {
    return this.db.transaction(() => {
      const interrupted = this.runningJobs();
      for (const job of interrupted) {
        const interruptions = job.interruptions + 1;
        this.db.prepare('UPDATE jobs SET interruptions = ?, attempts = MAX(0, attempts - 1) WHERE id = ?').run(interruptions, job.id);
        if (interruptions >= MAX_INTERRUPTIONS) {
          this.endJob(job, 'quarantined', `interrupted ${interruptions} times while analysing (the slide may crash the daemon)`);
        } else {
          this.settleFailure({ ...job, attempts: 0 }, 'interrupted (the daemon stopped while analysing)', false, defaultRetryPolicy, 0);
        }
      }
      return interrupted.map((j) => this.getJob(j.id)!);
    })();
  }

  /** A job that will not run again: the slide is failed with the reason. */
  private endJob(job: JobRow, state: 'failed' | 'quarantined', reason: string): void {
    const at = now();
    this.db.prepare('UPDATE jobs SET state = ?, error = ?, finished_at = ?, lease_owner = NULL, lease_expires_at = NULL WHERE id = ?').run(state, reason, at, job.id);
    this.db.prepare("UPDATE slides SET state = 'failed', error = ?, updated_at = ? WHERE id = ?").run(reason, at, job.slideId);
    this.logEvent('analysis', `job.${state}`, `slide:${job.slideId}`, { jobId: job.id, error: reason });
  }

  private settleFailure(job: JobRow, error: string, permanent: boolean, retry: RetryPolicy, backoffOverrideMs?: number): void {
    const at = now();
    if (permanent) return this.endJob(job, 'failed', error);
    if (job.attempts >= job.maxAttempts) return this.endJob(job, 'quarantined', `${error} (quarantined after ${job.attempts} attempts)`);
    const notBefore = new Date(Date.now() + (backoffOverrideMs ?? retry.backoffMs(job.attempts))).toISOString();
    this.db.prepare("UPDATE jobs SET state = 'queued', error = ?, not_before = ?, lease_owner = NULL, lease_expires_at = NULL WHERE id = ?").run(error, notBefore, job.id);
    this.db.prepare("UPDATE slides SET state = 'queued', updated_at = ? WHERE id = ?").run(at, job.slideId);
    this.logEvent('analysis', 'job.retry', `slide:${job.slideId}`, { jobId: job.id, error, notBefore });
  }

  // ---- results ------------------------------------------------------------------------------------

  getResult(id: number): ResultRow | undefined {
    const row = this.db.prepare('SELECT * FROM results WHERE id = ?').get(id);
    return row ? parseResult(row) : undefined;
  }

  resultsForSlide(slideId: number): ResultRow[] {
    return this.db.prepare('SELECT * FROM results WHERE slide_id = ? ORDER BY id').all(slideId).map(parseResult);
  }

  latestResult(slideId: number): ResultRow | undefined {
    const row = this.db.prepare('SELECT * FROM results WHERE slide_id = ? ORDER BY id DESC LIMIT 1').get(slideId);
    return row ? parseResult(row) : undefined;
  }

  // ---- events (audit) -----------------------------------------------------------------------------

  logEvent(actor: string, kind: string, subject: string | null, details: unknown): void {
    this.db.prepare('INSERT INTO events (actor, kind, subject, details) VALUES (?, ?, ?, ?)').run(actor, kind, subject, JSON.stringify(details ?? null));
  }

  recentEvents(options: { kinds?: string[]; limit?: number } = {}): EventRow[] {
    const limit = options.limit ?? 50;
    const rows = options.kinds?.length
      ? this.db.prepare(`SELECT * FROM events WHERE kind IN (${options.kinds.map(() => '?').join(',')}) ORDER BY id DESC LIMIT ?`).all(...options.kinds, limit)
      : this.db.prepare('SELECT * FROM events ORDER BY id DESC LIMIT ?').all(limit);
    return rows.map((r) => {
      const row = camel<EventRow & { details: string }>(r);
      return { ...row, details: row.details ? JSON.parse(row.details) : null };
    });
  }

  // ---- outbox -------------------------------------------------------------------------------------

  /** Adds a message unless one with the same idempotency key exists (call inside the causing transaction). */
  enqueueOutbox(message: OutboxMessage): void {
    this.db.prepare('INSERT OR IGNORE INTO outbox (topic, payload, idempotency_key, slide_id) VALUES (?, ?, ?, ?)')
      .run(message.topic, typeof message.payload === 'string' ? Buffer.from(message.payload) : message.payload, message.idempotencyKey, message.slideId ?? null);
  }

  /** The oldest messages, in order. */
  peekOutbox(limit: number): OutboxRow[] {
    return this.db.prepare('SELECT * FROM outbox ORDER BY id LIMIT ?').all(limit).map((r) => camel<OutboxRow>(r));
  }

  /** Deletes a message after the broker acknowledged it. */
  ackOutbox(id: number): void {
    this.db.prepare('DELETE FROM outbox WHERE id = ?').run(id);
  }

  outboxDepth(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM outbox').get() as { n: number }).n;
  }
}

function parseResult(row: unknown): ResultRow {
  const r = camel<ResultRow & { resultJson: string }>(row);
  const { resultJson, ...rest } = r;
  return { ...rest, result: JSON.parse(resultJson) };
}
