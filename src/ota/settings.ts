/**
 * What the updater needs from the box and how it is tuned: settings, the daemon's activation hooks, the
 * request and outcome shapes, and how failures map to reason codes and terminal states.
 */
import { readFileSync } from 'node:fs';
import type { Logger } from '../daemon/logger.ts';
import { isModelBundleError, type ModelRegistry } from '../models/index.ts';
import type { OtaState, Store } from '../store/index.ts';
import { isNoSpace, OtaError, type OtaReason } from './errors.ts';
import { DEFAULT_TRANSFER_LIMITS, type TransferLimits, type WriteFault } from './transfer.ts';
import type { RepositorySource } from './trusted-metadata.ts';

export const DAEMON_VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export interface OtaSettings {
  /** Healthy analyses by the new model before it is committed. */
  trialAnalyses: number;
  /** Restarts tolerated during the trial window before it counts as a crash loop. */
  maxTrialBoots: number;
  /** Space that must stay free after download and install. */
  minFreeBytes: number;
  /** Largest release (all files) the box accepts. */
  maxReleaseBytes: number;
  /** Deadline for refresh and download together. */
  deadlineMs: number;
  limits: TransferLimits;
  /** The factory root.json, trusted when the box has no metadata yet. */
  factoryRoot?: string;
}

export const DEFAULT_OTA_SETTINGS: OtaSettings = {
  trialAnalyses: 3, maxTrialBoots: 2, minFreeBytes: 256 * 2 ** 20, maxReleaseBytes: 4 * 2 ** 30, deadlineMs: 6 * 3600_000, limits: DEFAULT_TRANSFER_LIMITS,
};

/** How the running daemon takes part in a switch. */
export interface ActivationHooks {
  /** Runs fn while no slide is being analysed (the worker finishes its slide, then waits). */
  betweenSlides<T>(fn: () => Promise<T>): Promise<T>;
  /** Opens the model id's active bundle and serves it from the next slide on; throws when it cannot. */
  serve(modelId: string): Promise<void>;
}

export interface OtaEnvironment {
  dataDir: string;
  store: Store;
  registry: ModelRegistry;
  deviceId: string;
  settings: OtaSettings;
  logger?: Pick<Logger, 'info' | 'warn' | 'error'>;
  /** The daemon's hooks; 'hand-off' leaves STAGED jobs DEFERRED for a daemon running in another process. */
  activation?: ActivationHooks | 'hand-off';
  now?: () => Date;
  arch?: string;
  freeBytes?: (dir: string) => Promise<number>;
  /** Fault injection: called at named points (tests kill the process there). */
  checkpoint?: (step: string) => void | Promise<void>;
  writeFault?: WriteFault;
  /** Aborts refreshes and downloads when the daemon stops (the job fails as DOWNLOAD_FAILED and resumes later). */
  signal?: AbortSignal;
}

export interface UpdateRequest {
  source: RepositorySource;
  trigger: 'cli' | 'poll' | 'nudge';
  requested?: { id: string; version: string } | null;
}

export interface JobOutcome {
  jobId: number | null;
  state: OtaState;
  reason: string | null;
  detail: string | null;
  model: { id: string; version: string | null; releaseCounter: number | null } | null;
}

/** Reasons that are the box's or the network's trouble (FAILED); the rest refuse what was offered (REJECTED). */
export const FAILED_REASONS: readonly OtaReason[] = ['CLOCK_UNTRUSTED', 'NO_TRUST_ROOT', 'SLOW_RETRIEVAL', 'DOWNLOAD_FAILED', 'NO_SPACE', 'IO_ERROR', 'BUSY'];
/** Failures that say the release itself is bad: not retried until its role publishes new metadata. */
export const BLOCKING_REASONS: readonly OtaReason[] = ['SELF_TEST_FAILED', 'MODEL_INVALID', 'BUNDLE_INVALID', 'HEALTH_FAILED'];
/** Failures after which partial downloads are worth keeping for the next attempt. */
export const RESUMABLE_REASONS: readonly OtaReason[] = ['SLOW_RETRIEVAL', 'DOWNLOAD_FAILED'];

export function toOtaError(e: unknown): OtaError {
  if (e instanceof OtaError) return e;
  if (isNoSpace(e)) return new OtaError('NO_SPACE', `no space left: ${(e as Error).message}`, { cause: e });
  if (isModelBundleError(e)) {
    const reason: OtaReason = e.code === 'SELF_TEST_FAILED' ? 'SELF_TEST_FAILED'
      : ['ONNX_INVALID', 'SIGNATURE_MISMATCH', 'SELF_TEST_INVALID', 'EXECUTION_PROVIDER_UNAVAILABLE'].includes(e.code) ? 'MODEL_INVALID' : 'BUNDLE_INVALID';
    return new OtaError(reason, e.message, { cause: e });
  }
  return new OtaError('IO_ERROR', e instanceof Error ? e.message : String(e), { cause: e });
}
