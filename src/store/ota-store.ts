/**
 * The OTA updater's rows (migration 005_ota.sql): jobs and their state machine, the transition history,
 * releases that failed here, the single-updater lock and command nonces. Every transition is one
 * transaction with its history row and its outbox status message.
 */
import type { Store } from './store.ts';
import type { OutboxMessage } from './types.ts';

export const OTA_STATES = [
  'QUEUED', 'REFRESHING', 'DOWNLOADING', 'VERIFYING', 'STAGED', 'DEFERRED', 'ACTIVATING', 'HEALTH_CHECK',
  'SUCCEEDED', 'FAILED', 'ROLLED_BACK', 'REJECTED', 'ALREADY_INSTALLED',
] as const;
export type OtaState = (typeof OTA_STATES)[number];

export const OTA_TERMINAL_STATES: readonly OtaState[] = ['SUCCEEDED', 'FAILED', 'ROLLED_BACK', 'REJECTED', 'ALREADY_INSTALLED'];

export function isTerminalOtaState(state: OtaState): boolean {
  return OTA_TERMINAL_STATES.includes(state);
}

/**
 * The legal moves. Pre-activation states may go back to REFRESHING: a job resumed after a crash re-checks
 * its release against the current signed metadata before using anything it downloaded.
 */
const NEXT: Record<OtaState, readonly OtaState[]> = {
  QUEUED: ['REFRESHING', 'REJECTED', 'FAILED'],
  REFRESHING: ['DOWNLOADING', 'REJECTED', 'FAILED', 'ALREADY_INSTALLED'],
  DOWNLOADING: ['VERIFYING', 'REFRESHING', 'REJECTED', 'FAILED'],
  VERIFYING: ['STAGED', 'REFRESHING', 'REJECTED', 'FAILED'],
  STAGED: ['DEFERRED', 'ACTIVATING', 'REJECTED', 'FAILED'],
  DEFERRED: ['ACTIVATING', 'FAILED'],
  ACTIVATING: ['HEALTH_CHECK', 'ROLLED_BACK', 'FAILED'],
  HEALTH_CHECK: ['SUCCEEDED', 'ROLLED_BACK'],
  SUCCEEDED: [],
  FAILED: [],
  ROLLED_BACK: [],
  REJECTED: [],
  ALREADY_INSTALLED: [],
};

export interface OtaJobRow {
  id: number;
  state: OtaState;
  trigger: string;
  source: unknown;
  requested: { id: string; version: string } | null;
  modelId: string | null;
  version: string | null;
  releaseCounter: number | null;
  manifestSha256: string | null;
  role: string | null;
  roleVersion: number | null;
  previousVersion: string | null;
  reason: string | null;
  detail: string | null;
  trialNeeded: number;
  trialDone: number;
  trialBoots: number;
  metadata: Record<string, number> | null;
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
}

export interface OtaHistoryRow {
  seq: number;
  jobId: number;
  fromState: OtaState | null;
  toState: OtaState;
  reason: string | null;
  detail: string | null;
  at: string;
}

/** Job columns a transition may set along with the state. */
export interface OtaJobFields {
  modelId?: string;
  version?: string;
  releaseCounter?: number;
  manifestSha256?: string;
  role?: string;
  roleVersion?: number;
  previousVersion?: string | null;
  trialNeeded?: number;
  metadata?: Record<string, number>;
}

/** Builds the status message of a transition inside its transaction (seq is its history row). */
export type OtaReport = (transition: { seq: number; job: OtaJobRow; fromState: OtaState | null }) => OutboxMessage | null;

export class OtaStateError extends Error {
  readonly code: 'ILLEGAL_TRANSITION' | 'BUSY' | 'NO_SUCH_JOB';
  constructor(code: OtaStateError['code'], message: string) {
    super(message);
    this.name = 'OtaStateError';
    this.code = code;
  }
}

const FIELD_COLUMNS: Record<keyof OtaJobFields, string> = {
  modelId: 'model_id', version: 'version', releaseCounter: 'release_counter', manifestSha256: 'manifest_sha256',
  role: 'role', roleVersion: 'role_version', previousVersion: 'previous_version', trialNeeded: 'trial_needed', metadata: 'metadata',
};

const now = () => new Date().toISOString();

function toJob(row: Record<string, unknown>): OtaJobRow {
  const json = (v: unknown) => (typeof v === 'string' ? JSON.parse(v) : null);
  return {
    id: row.id as number, state: row.state as OtaState, trigger: row.trigger as string, source: json(row.source),
    requested: json(row.requested), modelId: row.model_id as string | null, version: row.version as string | null,
    releaseCounter: row.release_counter as number | null, manifestSha256: row.manifest_sha256 as string | null,
    role: row.role as string | null, roleVersion: row.role_version as number | null, previousVersion: row.previous_version as string | null,
    reason: row.reason as string | null, detail: row.detail as string | null, trialNeeded: row.trial_needed as number,
    trialDone: row.trial_done as number, trialBoots: row.trial_boots as number, metadata: json(row.metadata),
    createdAt: row.created_at as string, updatedAt: row.updated_at as string, finishedAt: row.finished_at as string | null,
  };
}

export class OtaStore {
  private readonly store: Store;

  constructor(store: Store) {
    this.store = store;
  }

  private get db() {
    return this.store.db;
  }

  getJob(id: number): OtaJobRow | undefined {
    const row = this.db.prepare('SELECT * FROM ota_jobs WHERE id = ?').get(id) as Record<string, unknown> | undefined;
    return row ? toJob(row) : undefined;
  }

  /** The unfinished job, if any (there is at most one). */
  openJob(): OtaJobRow | null {
    const row = this.db.prepare('SELECT * FROM ota_jobs WHERE terminal = 0').get() as Record<string, unknown> | undefined;
    return row ? toJob(row) : null;
  }

  recentJobs(limit = 20): OtaJobRow[] {
    return (this.db.prepare('SELECT * FROM ota_jobs ORDER BY id DESC LIMIT ?').all(limit) as Record<string, unknown>[]).map(toJob);
  }

  history(jobId: number): OtaHistoryRow[] {
    return (this.db.prepare('SELECT * FROM ota_history WHERE job_id = ? ORDER BY seq').all(jobId) as Record<string, unknown>[]).map((r) => ({
      seq: r.seq as number, jobId: r.job_id as number, fromState: r.from_state as OtaState | null, toState: r.to_state as OtaState,
      reason: r.reason as string | null, detail: r.detail as string | null, at: r.at as string,
    }));
  }

  /** A new QUEUED job; BUSY when another job is unfinished. */
  createJob(input: { trigger: string; source: unknown; requested?: { id: string; version: string } | null }, report: OtaReport): OtaJobRow {
    return this.db.transaction(() => {
      const open = this.openJob();
      if (open) throw new OtaStateError('BUSY', `update job ${open.id} is still ${open.state}`);
      const info = this.db.prepare("INSERT INTO ota_jobs (state, terminal, trigger, source, requested) VALUES ('QUEUED', 0, ?, ?, ?)")
        .run(input.trigger, JSON.stringify(input.source), input.requested ? JSON.stringify(input.requested) : null);
      const job = this.getJob(Number(info.lastInsertRowid))!;
      this.record(job, null, report);
      this.store.logEvent('ota', 'ota.job.created', `ota:${job.id}`, { trigger: input.trigger });
      return job;
    })();
  }

  /**
   * Moves a job to `to` (refusing moves the state machine does not allow), sets the given fields, writes the
   * history row and the status message, all in one transaction.
   */
  transition(id: number, to: OtaState, options: { reason?: string | null; detail?: string | null; fields?: OtaJobFields; report: OtaReport }): OtaJobRow {
    return this.db.transaction(() => {
      const job = this.getJob(id);
      if (!job) throw new OtaStateError('NO_SUCH_JOB', `no update job ${id}`);
      if (!NEXT[job.state].includes(to)) throw new OtaStateError('ILLEGAL_TRANSITION', `update job ${id}: ${job.state} → ${to} is not a legal transition`);
      const sets = ['state = ?', 'terminal = ?', 'updated_at = ?', 'reason = ?', 'detail = ?'];
      const values: unknown[] = [to, isTerminalOtaState(to) ? 1 : 0, now(), options.reason ?? null, options.detail ?? null];
      for (const [key, value] of Object.entries(options.fields ?? {})) {
        sets.push(`${FIELD_COLUMNS[key as keyof OtaJobFields]} = ?`);
        values.push(key === 'metadata' ? JSON.stringify(value) : value);
      }
      if (isTerminalOtaState(to)) {
        sets.push('finished_at = ?');
        values.push(now());
      }
      this.db.prepare(`UPDATE ota_jobs SET ${sets.join(', ')} WHERE id = ?`).run(...values, id);
      const updated = this.getJob(id)!;
      this.record(updated, job.state, options.report);
      if (isTerminalOtaState(to)) {
        this.store.logEvent('ota', `ota.job.${to.toLowerCase()}`, `ota:${id}`, {
          model: updated.modelId && `${updated.modelId}@${updated.version}`, reason: updated.reason, detail: updated.detail,
        });
      }
      return updated;
    })();
  }

  /** Counts one healthy analysis of the trial window; returns the job after the count. */
  countTrialAnalysis(id: number): OtaJobRow {
    this.db.prepare("UPDATE ota_jobs SET trial_done = trial_done + 1, updated_at = ? WHERE id = ? AND state = 'HEALTH_CHECK'").run(now(), id);
    return this.getJob(id)!;
  }

  /** Counts a restart during the trial window; returns the job after the count. */
  countTrialBoot(id: number): OtaJobRow {
    this.db.prepare("UPDATE ota_jobs SET trial_boots = trial_boots + 1, updated_at = ? WHERE id = ? AND state = 'HEALTH_CHECK'").run(now(), id);
    return this.getJob(id)!;
  }

  blockRelease(release: { modelId: string; manifestSha256: string; version: string; role: string; roleVersion: number }, reason: string): void {
    this.db.prepare(`INSERT INTO ota_blocked_releases (model_id, manifest_sha256, version, role, role_version, reason) VALUES (?, ?, ?, ?, ?, ?)
      ON CONFLICT (model_id, manifest_sha256) DO UPDATE SET role = excluded.role, role_version = excluded.role_version, reason = excluded.reason, at = excluded.at`)
      .run(release.modelId, release.manifestSha256, release.version, release.role, release.roleVersion, reason);
  }

  /** Whether a release failed here and its role has published nothing newer since. */
  isBlocked(release: { modelId: string; manifestSha256: string; role: string; roleVersion: number }): boolean {
    const row = this.db.prepare('SELECT role, role_version FROM ota_blocked_releases WHERE model_id = ? AND manifest_sha256 = ?')
      .get(release.modelId, release.manifestSha256) as { role: string; role_version: number } | undefined;
    return !!row && row.role === release.role && release.roleVersion <= row.role_version;
  }

  /**
   * Takes the updater lock for `owner`; false when a live holder has it. `isStale` decides whether the
   * recorded holder is gone (its process died or the box rebooted since).
   */
  acquireLock(owner: { name: string; pid: number; bootId: string }, isStale: (holder: { pid: number; bootId: string }) => boolean): boolean {
    return this.db.transaction(() => {
      const holder = this.db.prepare('SELECT owner, pid, boot_id FROM ota_lock WHERE id = 1').get() as { owner: string; pid: number; boot_id: string } | undefined;
      if (holder && holder.owner !== owner.name && !isStale({ pid: holder.pid, bootId: holder.boot_id })) return false;
      this.db.prepare(`INSERT INTO ota_lock (id, owner, pid, boot_id, acquired_at) VALUES (1, ?, ?, ?, ?)
        ON CONFLICT (id) DO UPDATE SET owner = excluded.owner, pid = excluded.pid, boot_id = excluded.boot_id, acquired_at = excluded.acquired_at`)
        .run(owner.name, owner.pid, owner.bootId, now());
      return true;
    }).immediate();
  }

  releaseLock(ownerName: string): void {
    this.db.prepare('DELETE FROM ota_lock WHERE id = 1 AND owner = ?').run(ownerName);
  }

  /** Records a command nonce; false when it was seen before (a replay). */
  rememberNonce(nonce: string): boolean {
    return this.db.prepare('INSERT OR IGNORE INTO ota_command_nonces (nonce) VALUES (?)').run(nonce).changes === 1;
  }

  private record(job: OtaJobRow, fromState: OtaState | null, report: OtaReport): void {
    const info = this.db.prepare('INSERT INTO ota_history (job_id, from_state, to_state, reason, detail) VALUES (?, ?, ?, ?, ?)')
      .run(job.id, fromState, job.state, job.reason, job.detail);
    const message = report({ seq: Number(info.lastInsertRowid), job, fromState });
    if (message) this.store.enqueueOutbox(message);
  }
}
