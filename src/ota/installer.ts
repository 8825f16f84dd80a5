/**
 * The update state machine. Every step is persisted (OtaStore) before the next begins, and each one can be
 * run again after a crash with the same result:
 *   QUEUED → REFRESHING (TUF metadata) → DOWNLOADING (resumable, into content-addressed objects) → VERIFYING
 *   (objects re-verified, bundle assembled, registry install: ONNX load, io signature, self-test) → STAGED →
 *   DEFERRED (until the running slide is done) → ACTIVATING (atomic pointer switch) → HEALTH_CHECK (trial
 *   window) → SUCCEEDED, or ROLLED_BACK to the previous model; FAILED / REJECTED / ALREADY_INSTALLED end
 *   a job earlier. Pre-activation states resume by refreshing again, so whatever was downloaded is used only
 *   if the current signed metadata still names it.
 */
import { readFileSync } from 'node:fs';
import { chmod, readdir, readFile, stat, statfs } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { createHash, randomUUID } from 'node:crypto';
import { processAlive } from '../device/index.ts';
import { ensureBuiltInModels, loadBundle, readBundleManifest } from '../models/index.ts';
import { isTerminalOtaState, type OtaJobRow, type OtaReport, type OtaState, OtaStore } from '../store/index.ts';
import { OtaError, type OtaReason } from './errors.ts';
import { emptyMark } from './high-water-mark.ts';
import type { MetadataView, TrustedRelease } from './metadata-view.ts';
import { assembleBundle, collectReleaseFiles, downloadRelease, missingBytes, releaseFileDirs, type ReleaseFileDirs } from './release-files.ts';
import { selectRelease, type SelectionContext } from './select-release.ts';
import { type DeviceKey, loadDeviceKey, statusMessage } from './status-report.ts';
import {
  BLOCKING_REASONS, DAEMON_VERSION, FAILED_REASONS, type JobOutcome, type OtaEnvironment, RESUMABLE_REASONS, toOtaError, type UpdateRequest,
} from './settings.ts';
import { type RepositorySource, TrustedMetadata } from './trusted-metadata.ts';

function outcomeOf(job: OtaJobRow): JobOutcome {
  return {
    jobId: job.id, state: job.state, reason: job.reason, detail: job.detail,
    model: job.modelId ? { id: job.modelId, version: job.version, releaseCounter: job.releaseCounter } : null,
  };
}

const BOOT_ID = (() => {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return 'unknown';
  }
})();

export class OtaInstaller {
  readonly env: OtaEnvironment;
  readonly otaDir: string;
  readonly trusted: TrustedMetadata;
  private readonly jobs: OtaStore;
  private readonly dirs: ReleaseFileDirs;
  private readonly owner = { name: `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`, pid: process.pid, bootId: BOOT_ID };
  private deviceKey: DeviceKey | null = null;

  constructor(env: OtaEnvironment) {
    this.env = env;
    this.otaDir = path.join(env.dataDir, 'ota');
    this.jobs = new OtaStore(env.store);
    this.dirs = releaseFileDirs(this.otaDir);
    this.trusted = new TrustedMetadata({ dir: this.otaDir, factoryRoot: env.settings.factoryRoot, limits: env.settings.limits, now: env.now, checkpoint: env.checkpoint });
  }

  /**
   * Continues the unfinished job, if any, then starts `request` as a new job. Returns the request's outcome
   * (BUSY while another job is unfinished or another process holds the updater), or the resumed job's.
   */
  async run(request?: UpdateRequest): Promise<JobOutcome | null> {
    return this.locked(async () => {
      let job = this.jobs.openJob();
      if (job) {
        job = await this.advance(job);
        if (!request) return outcomeOf(job);
        if (!isTerminalOtaState(job.state)) return busy(`update job ${job.id} is ${job.state}`);
      }
      if (!request) return null;
      job = this.jobs.createJob({ trigger: request.trigger, source: request.source, requested: request.requested ?? null }, this.report);
      await this.env.checkpoint?.('persist:QUEUED');
      return outcomeOf(await this.advance(job));
    });
  }

  /** An analysis by the model on trial finished: counts it, commits after the window, or rolls back on failure. */
  async recordAnalysis(analysis: { modelId: string; version: string; ok: boolean; detail?: string }): Promise<JobOutcome | null> {
    return this.locked(async () => {
      const job = this.jobs.openJob();
      if (!job || job.state !== 'HEALTH_CHECK' || job.modelId !== analysis.modelId || job.version !== analysis.version) return null;
      if (!analysis.ok) return outcomeOf(await this.rollback(job, `an analysis failed during the trial window: ${analysis.detail ?? 'no detail'}`));
      const counted = this.jobs.countTrialAnalysis(job.id);
      await this.env.checkpoint?.('health:analysis');
      return outcomeOf(counted.trialDone >= counted.trialNeeded ? await this.commit(counted) : counted);
    });
  }

  /** At daemon start: a restart during the trial window counts; too many is a crash loop and rolls back. */
  async onStart(): Promise<JobOutcome | null> {
    return this.locked(async () => {
      const job = this.jobs.openJob();
      if (!job || job.state !== 'HEALTH_CHECK') return null;
      const counted = this.jobs.countTrialBoot(job.id);
      if (counted.trialBoots > this.env.settings.maxTrialBoots) {
        return outcomeOf(await this.rollback(counted, `the daemon restarted ${counted.trialBoots} times during the trial window`));
      }
      return outcomeOf(counted);
    }, () => null);
  }

  /**
   * Boot-time scrub: every active model is verified completely (digests, load, self-test). A damaged one
   * (bit rot, a bad disk) is replaced by its previous version, or by the built-in bundle, before the daemon
   * opens it. Returns the ids that were rolled back.
   */
  async scrub(): Promise<string[]> {
    return this.locked(async () => {
      const restoredIds: string[] = [];
      for (const id of await this.installedIds()) {
        const pointer = await this.env.registry.activePointer(id).catch(() => null);
        if (!pointer) continue;
        const problem = await loadBundle(this.env.registry.bundleDir(id, pointer.version)).then(() => null, (e: Error) => e.message);
        if (!problem) continue;
        const restored = pointer.previousVersion
          ? await this.env.registry.setActive(id, pointer.previousVersion, { previousVersion: null }).then(() => pointer.previousVersion, () => null)
          : null;
        if (!restored) await this.env.registry.clearActive(id);
        this.env.store.logEvent('ota', 'ota.scrub.quarantined', `model:${id}`, { version: pointer.version, problem, restored: restored ?? 'built-in' });
        this.env.logger?.error({ id, version: pointer.version, problem, restored: restored ?? 'built-in' }, 'active model damaged on disk; rolled back');
        restoredIds.push(id);
      }
      return restoredIds;
    }, () => []);
  }

  private async locked<T>(action: () => Promise<T>, whenBusy: () => T = () => busy('another process is updating') as T): Promise<T> {
    const isStale = (holder: { pid: number; bootId: string }) => holder.bootId !== BOOT_ID || !processAlive(holder.pid);
    if (!this.jobs.acquireLock(this.owner, isStale)) return whenBusy();
    try {
      this.deviceKey ??= await loadDeviceKey(this.otaDir);
      return await action();
    } finally {
      this.jobs.releaseLock(this.owner.name);
    }
  }

  private readonly report: OtaReport = (transition) => (this.deviceKey ? statusMessage(this.env.deviceId, this.deviceKey, transition) : null);

  private async move(job: OtaJobRow, to: OtaState, options: { reason?: OtaReason | null; detail?: string | null; fields?: Parameters<OtaStore['transition']>[2]['fields'] } = {}): Promise<OtaJobRow> {
    const moved = this.jobs.transition(job.id, to, { ...options, report: this.report });
    await this.env.checkpoint?.(`persist:${to}`);
    return moved;
  }

  private async advance(start: OtaJobRow): Promise<OtaJobRow> {
    let job = start;
    for (;;) {
      switch (job.state) {
        case 'QUEUED':
        case 'REFRESHING':
        case 'DOWNLOADING':
        case 'VERIFYING':
          job = await this.prepare(job);
          if (job.state !== 'STAGED') return job;
          break;
        case 'STAGED':
        case 'DEFERRED':
        case 'ACTIVATING':
          job = await this.activate(job);
          if (job.state !== 'HEALTH_CHECK') return job;
          break;
        case 'HEALTH_CHECK': {
          const pointer = await this.env.registry.activePointer(job.modelId!).catch(() => null);
          if (pointer?.version !== job.version) return this.rollback(job, 'a rollback was interrupted; it has been completed');
          return job.trialDone >= job.trialNeeded ? this.commit(job) : job;
        }
        default:
          return job;
      }
    }
  }

  /** Ends a job early with the state its reason calls for, blocking a bad release, then collects files. */
  private async end(job: OtaJobRow, error: OtaError, release?: TrustedRelease): Promise<OtaJobRow> {
    const state = FAILED_REASONS.includes(error.reason) ? 'FAILED' : 'REJECTED';
    if (release && BLOCKING_REASONS.includes(error.reason)) {
      this.jobs.blockRelease({ modelId: release.facts.modelId, manifestSha256: release.manifestSha256, version: release.facts.version, role: release.role, roleVersion: release.roleVersion }, error.reason);
    }
    if (error.reason === 'EXPIRED_METADATA') this.env.store.logEvent('ota', 'ota.possible-freeze', `ota:${job.id}`, { detail: error.message });
    const ended = await this.move(job, state, { reason: error.reason, detail: error.message });
    this.env.logger?.warn({ jobId: job.id, reason: error.reason, detail: error.message }, `update ${state.toLowerCase()}`);
    // After a network failure the downloads are kept: the next attempt resumes them (if still signed).
    await this.collect(RESUMABLE_REASONS.includes(error.reason) ? 'downloads' : null);
    return ended;
  }

  private async prepare(start: OtaJobRow): Promise<OtaJobRow> {
    let job = start.state === 'REFRESHING' ? start : await this.move(start, 'REFRESHING');
    const deadline = AbortSignal.timeout(this.env.settings.deadlineMs);
    const signal = this.env.signal ? AbortSignal.any([deadline, this.env.signal]) : deadline;
    let view: MetadataView;
    try {
      // Also for a resumed job: whatever it downloaded is used only if the current metadata still names it.
      view = await this.trusted.refresh(job.source as RepositorySource, signal);
    } catch (e) {
      return this.end(job, toOtaError(e));
    }
    const selection = selectRelease(view, await this.selectionContext(job));
    const metadata = { root: view.root.version, ...view.versions };
    if (selection.kind === 'none') {
      if (selection.state === 'ALREADY_INSTALLED') return this.move(job, 'ALREADY_INSTALLED', { detail: selection.detail, fields: { metadata } });
      return this.end(job, new OtaError(selection.reason ?? 'INVALID_METADATA', selection.detail));
    }
    const release = selection.release;
    const { facts } = release;
    job = await this.move(job, 'DOWNLOADING', {
      fields: { modelId: facts.modelId, version: facts.version, releaseCounter: facts.releaseCounter, manifestSha256: release.manifestSha256, role: release.role, roleVersion: release.roleVersion, metadata },
    });
    try {
      await this.checkSpace(release);
      await downloadRelease(release, this.dirs, {
        targetsUrl: (job.source as RepositorySource).targetsUrl, consistentSnapshot: view.root.consistentSnapshot, limits: this.env.settings.limits,
        signal, fault: this.env.writeFault, checkpoint: this.env.checkpoint,
      });
      job = await this.move(job, 'VERIFYING');
      const bundleDir = await assembleBundle(release, this.dirs);
      await this.env.checkpoint?.('verify:done');
      await this.install(release, bundleDir);
      await this.env.checkpoint?.('stage:installed');
      return await this.move(job, 'STAGED', { detail: `${facts.modelId} ${facts.version} installed and self-tested` });
    } catch (e) {
      return this.end(job, toOtaError(e), release);
    }
  }

  private async checkSpace(release: TrustedRelease): Promise<void> {
    const total = release.files.reduce((sum, f) => sum + f.target.length, 0);
    if (total > this.env.settings.maxReleaseBytes) {
      throw new OtaError('NO_SPACE', `${release.facts.modelId} ${release.facts.version} has ${total} bytes, above the limit of ${this.env.settings.maxReleaseBytes}`);
    }
    // The download and the registry's installed copy; staging uses hard links to the downloaded objects.
    const needed = (await missingBytes(release, this.dirs)) + total + this.env.settings.minFreeBytes;
    const free = await (this.env.freeBytes ?? freeBytesOf)(this.env.dataDir);
    if (free < needed) throw new OtaError('NO_SPACE', `${free} bytes free in ${this.env.dataDir}, ${needed} needed for ${release.facts.modelId} ${release.facts.version}`);
  }

  /** Installs the staged bundle (the registry verifies it completely first), or accepts the identical bundle already installed. */
  private async install(release: TrustedRelease, bundleDir: string): Promise<void> {
    const { registry } = this.env;
    const dir = registry.bundleDir(release.facts.modelId, release.facts.version);
    if (await stat(dir).then(() => true, () => false)) {
      for (const [file, digest] of Object.entries(release.facts.files)) {
        const same = await readFile(path.join(dir, ...file.split('/'))).then((b) => b.length === digest.length && sha256(b) === digest.sha256, () => false);
        if (!same) throw new OtaError('BUNDLE_INVALID', `another bundle is installed as ${release.facts.modelId} ${release.facts.version} (${file} differs)`);
      }
      return;
    }
    await registry.install(bundleDir);
    await makeReadOnly(dir);
  }

  private async activate(start: OtaJobRow): Promise<OtaJobRow> {
    let job = start;
    const hooks = this.env.activation;
    if (job.state === 'STAGED' && hooks) job = await this.move(job, 'DEFERRED', { detail: hooks === 'hand-off' ? 'the running daemon switches between two slides' : 'waiting for the running slide' });
    if (hooks === 'hand-off') return job;
    return hooks ? hooks.betweenSlides(() => this.switchModel(job)) : this.switchModel(job);
  }

  private async switchModel(start: OtaJobRow): Promise<OtaJobRow> {
    let job = start;
    const id = job.modelId!;
    const version = job.version!;
    const pointer = await this.env.registry.activePointer(id).catch(() => null);
    if (job.state !== 'ACTIVATING') {
      job = await this.move(job, 'ACTIVATING', { fields: { previousVersion: pointer && pointer.version !== version ? pointer.version : null } });
    }
    await this.env.checkpoint?.('activate:before-flip');
    if (pointer?.version !== version) {
      try {
        await this.env.registry.setActive(id, version, { previousVersion: job.previousVersion });
      } catch (e) {
        return this.end(job, toOtaError(e));
      }
    }
    await this.env.checkpoint?.('activate:flipped');
    const hooks = this.env.activation;
    if (hooks && hooks !== 'hand-off') {
      try {
        await hooks.serve(id);
      } catch (e) {
        return this.rollback(job, `the new model could not be opened to serve: ${(e as Error).message}`);
      }
    }
    job = await this.move(job, 'HEALTH_CHECK', { fields: { trialNeeded: this.env.settings.trialAnalyses }, detail: `${id} ${version} active; on trial` });
    return job.trialNeeded === 0 ? this.commit(job) : job;
  }

  private async commit(job: OtaJobRow): Promise<OtaJobRow> {
    await this.env.checkpoint?.('commit:before');
    await this.trusted.marks.raise({ ...emptyMark(), models: { [job.modelId!]: job.releaseCounter! } });
    const done = await this.move(job, 'SUCCEEDED', { detail: `${job.modelId} ${job.version} committed after ${job.trialDone} healthy analyses` });
    this.env.logger?.info({ jobId: job.id, model: `${job.modelId}@${job.version}` }, 'model update committed');
    await this.env.checkpoint?.('commit:done');
    await this.collect(null);
    return done;
  }

  /** Restores the previous model (or the built-in one), blocks the failed release and ends ROLLED_BACK. */
  private async rollback(job: OtaJobRow, detail: string): Promise<OtaJobRow> {
    const id = job.modelId!;
    const restored = job.previousVersion
      ? await this.env.registry.setActive(id, job.previousVersion, { previousVersion: null }).then(() => true, () => false)
      : false;
    if (!restored) await this.env.registry.clearActive(id);
    await this.env.checkpoint?.('rollback:restored');
    await this.env.registry.remove(id, job.version!).catch((e: Error) => this.env.logger?.warn({ err: e }, 'the failed version was not removed'));
    const hooks = this.env.activation;
    if (hooks && hooks !== 'hand-off') await hooks.serve(id).catch((e: Error) => this.env.logger?.error({ err: e }, 'the restored model could not be opened'));
    this.jobs.blockRelease({ modelId: id, manifestSha256: job.manifestSha256!, version: job.version!, role: job.role!, roleVersion: job.roleVersion! }, 'HEALTH_FAILED');
    const ended = await this.move(job, 'ROLLED_BACK', { reason: 'HEALTH_FAILED', detail });
    this.env.logger?.warn({ jobId: job.id, model: `${id}@${job.version}`, detail }, 'model update rolled back');
    await this.collect(null);
    return ended;
  }

  /** GC: downloads (unless kept for a retry), and installed versions other than the active and the previous one. */
  private async collect(keep: 'downloads' | null): Promise<void> {
    await this.env.checkpoint?.('gc:start');
    if (keep !== 'downloads') await collectReleaseFiles(this.dirs, this.env.checkpoint);
    for (const id of await this.installedIds()) await this.env.registry.collectGarbage(id).catch((e: Error) => this.env.logger?.warn({ err: e, id }, 'model GC skipped'));
  }

  private async installedIds(): Promise<string[]> {
    return (await readdir(this.env.registry.root, { withFileTypes: true }).catch(() => [])).filter((e) => e.isDirectory()).map((e) => e.name);
  }

  private async selectionContext(job: OtaJobRow): Promise<SelectionContext> {
    const builtIn = new Map<string, { version: string; releaseCounter: number }>();
    for (const dir of await ensureBuiltInModels()) {
      const m = await readBundleManifest(dir);
      builtIn.set(m.id, { version: m.version, releaseCounter: m.releaseCounter });
    }
    const modelIds = [...new Set([...builtIn.keys(), ...(await this.installedIds())])];
    const active = new Map<string, { version: string; releaseCounter: number }>();
    for (const id of modelIds) {
      const pointer = await this.env.registry.activePointer(id).catch(() => null);
      const serving = pointer ?? builtIn.get(id);
      if (serving) active.set(id, { version: serving.version, releaseCounter: serving.releaseCounter });
    }
    return {
      modelIds, active, committed: (await this.trusted.marks.read())?.models ?? {}, arch: this.env.arch ?? process.arch, daemonVersion: DAEMON_VERSION,
      isBlocked: (r) => this.jobs.isBlocked({ modelId: r.facts.modelId, manifestSha256: r.manifestSha256, role: r.role, roleVersion: r.roleVersion }),
      requested: job.requested,
    };
  }
}

function busy(detail: string): JobOutcome {
  return { jobId: null, state: 'REJECTED', reason: 'BUSY', detail, model: null };
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

async function makeReadOnly(dir: string): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) await chmod(path.join(entry.parentPath, entry.name), 0o444);
  }
}

async function freeBytesOf(dir: string): Promise<number> {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
}
