/**
 * The updater inside the daemon: polls the fleet repository, acts on MQTT nudges, feeds the trial window
 * with analysis outcomes and finishes jobs another process (pathbox ota install) handed over. All work runs
 * one piece at a time on a single chain, so the daemon never runs two updates at once.
 */
import { OtaStore } from '../store/index.ts';
import { OtaError } from './errors.ts';
import { OtaInstaller } from './installer.ts';
import type { JobOutcome, OtaEnvironment } from './settings.ts';
import { type NudgeVerdict, parseNudge } from './nudge.ts';
import type { RepositorySource } from './trusted-metadata.ts';

export interface OtaAgentOptions extends OtaEnvironment {
  /** The fleet repository; null disables polling and nudges (USB installs still work). */
  source: RepositorySource | null;
  /** Time between polls of the repository; 0 polls only on nudges. */
  pollMs: number;
  /** Time between looks for jobs left unfinished or handed over by another process. */
  resumeMs?: number;
}

let registered: OtaAgent | null = null;

/**
 * Entry point for the MQTT client: call it with every message on pathbox/v1/fleet/ota and on the box's own
 * OTA command topic. It never throws; the verdict says whether the message will cause a refresh.
 */
export async function handleOtaNudge(payload: Buffer | string): Promise<NudgeVerdict> {
  if (!registered) return { accepted: false, reason: 'no update agent running', detail: 'the daemon has not started its updater' };
  return registered.handleNudge(payload);
}

export class OtaAgent {
  readonly installer: OtaInstaller;
  private readonly options: OtaAgentOptions;
  private readonly jobs: OtaStore;
  private chain: Promise<unknown> = Promise.resolve();
  private timers: NodeJS.Timeout[] = [];
  /** The highest announced timestamp version a refresh has been queued for (duplicates coalesce into it). */
  private announced = 0;
  private stopped = false;
  private readonly stopping = new AbortController();

  constructor(options: OtaAgentOptions) {
    this.options = options;
    this.installer = new OtaInstaller({ ...options, signal: this.stopping.signal });
    this.jobs = new OtaStore(options.store);
  }

  /** Counts a restart in a trial window, resumes an unfinished job, then polls. */
  async start(): Promise<void> {
    registered = this;
    await this.installer.onStart();
    this.enqueue(() => this.installer.run());
    const { pollMs, resumeMs = 5000, source } = this.options;
    if (source && pollMs > 0) this.timers.push(setInterval(() => this.enqueue(() => this.installer.run({ source, trigger: 'poll' })), pollMs));
    if (resumeMs > 0) this.timers.push(setInterval(() => this.enqueue(() => this.installer.run()), resumeMs));
    for (const timer of this.timers) timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (registered === this) registered = null;
    for (const timer of this.timers) clearInterval(timer);
    this.stopping.abort(new OtaError('DOWNLOAD_FAILED', 'the daemon stopped during the update; it resumes at the next start'));
    await this.idle();
  }

  /** Resolves when the queued work is done (tests and shutdown wait on it). */
  async idle(): Promise<void> {
    for (let seen = this.chain; ; seen = this.chain) {
      await seen;
      if (seen === this.chain) return;
    }
  }

  async handleNudge(payload: Buffer | string): Promise<NudgeVerdict> {
    const verdict = parseNudge(payload);
    if (!verdict.accepted) return verdict;
    const { source } = this.options;
    if (!source || this.stopped) return { accepted: false, reason: 'no update agent running', detail: 'no fleet repository is configured' };
    const nudge = verdict.nudge;
    if (nudge.type === 'ota-announce') {
      const seen = (await this.installer.trusted.marks.read())?.roles.timestamp?.version ?? 0;
      if (nudge.timestampVersion <= seen) return { accepted: false, reason: 'stale', detail: `timestamp version ${nudge.timestampVersion}, this box has ${seen}` };
    } else {
      const now = (this.options.now ?? (() => new Date()))();
      if (Date.parse(nudge.expiresAt) <= now.getTime()) return { accepted: false, reason: 'expired', detail: `the command expired at ${nudge.expiresAt}` };
      if (!this.jobs.rememberNonce(nudge.nonce)) return { accepted: false, reason: 'replayed', detail: `nonce ${nudge.nonce} was seen before` };
    }
    if (nudge.type === 'ota-announce') {
      // A QoS 1 duplicate, or an older announcement, while a refresh for a newer one is queued or running.
      if (nudge.timestampVersion <= this.announced) return verdict;
      this.announced = nudge.timestampVersion;
    }
    const requested = nudge.type === 'ota-install' ? nudge.model ?? null : null;
    this.enqueue(() => this.installer.run({ source, trigger: 'nudge', requested }));
    return verdict;
  }

  /** Reports one finished analysis (the worker calls this after every slide). */
  recordAnalysis(analysis: { modelId: string; version: string; ok: boolean; detail?: string }): Promise<JobOutcome | null> {
    return this.enqueue(() => this.installer.recordAnalysis(analysis));
  }

  private enqueue<T>(work: () => Promise<T>): Promise<T | null> {
    const next = this.chain.then(work).catch((e: unknown) => {
      this.options.logger?.error({ err: e }, 'update step failed');
      return null;
    });
    this.chain = next;
    return next;
  }
}
