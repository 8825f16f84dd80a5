import os from 'node:os';
import path from 'node:path';
import si from 'systeminformation';
import type { Store, SyncStore } from '../store/index.ts';

/** What only the daemon knows (the model it serves); the rest is read from the store and the system. */
export interface TelemetryFacts {
  models(): { id: string; version: string; variant: string }[];
  dataDir: string;
  startedAt: number;
  /** The sync stage's own last problem (publisher or connection), if any. */
  syncError(): string | null;
}

export interface Telemetry {
  type: 'telemetry';
  deviceId: string;
  at: string;
  uptimeSeconds: { system: number; daemon: number };
  queue: { queued: number; running: number };
  running: { jobId: number; slideSha256: string; done: number; total: number }[];
  cpu: { loadPercent: number | null; cores: number };
  memory: { totalBytes: number; usedBytes: number | null };
  disk: { totalBytes: number | null; usedBytes: number | null };
  temperatureC: number | null;
  models: { id: string; version: string; variant: string }[];
  outbox: { depth: number; normal: number; bulk: number; oldestSince: string | null; refused: number };
  /** Kind and time only: error texts can name files and paths, which never leave the box. */
  lastError: { at: string; kind: string } | null;
  syncProblem: boolean;
}

const SYSTEM_DEADLINE_MS = 5000;
const ERROR_KINDS = ['job.failed', 'job.quarantined', 'slide.rejected', 'disk.paused', 'sync.refused'];

/** systeminformation shells out; a wedged call must not hold telemetry up, so each one has a deadline. */
function bounded<T>(run: () => Promise<T>): Promise<T | null> {
  return Promise.race([
    run().catch(() => null),
    new Promise<null>((resolve) => setTimeout(() => resolve(null), SYSTEM_DEADLINE_MS).unref()),
  ]);
}

export async function collectTelemetry(deviceId: string, store: Store, sync: SyncStore, facts: TelemetryFacts): Promise<Telemetry> {
  const [load, memory, filesystems, temperature] = await Promise.all([
    bounded(() => si.currentLoad()), bounded(() => si.mem()), bounded(() => si.fsSize()), bounded(() => si.cpuTemperature()),
  ]);
  // The file system holding the data folder: the longest mount point that contains it.
  const dataDir = path.resolve(facts.dataDir);
  const disk = (filesystems ?? [])
    .filter((f) => dataDir === f.mount || dataDir.startsWith(f.mount.endsWith('/') ? f.mount : `${f.mount}/`))
    .sort((a, b) => b.mount.length - a.mount.length)[0];
  const lanes = sync.laneDepths();
  const lastError = store.recentEvents({ kinds: ERROR_KINDS, limit: 1 })[0];
  const running = store.runningJobs();
  return {
    type: 'telemetry',
    deviceId,
    at: new Date().toISOString(),
    uptimeSeconds: { system: Math.round(os.uptime()), daemon: Math.round((Date.now() - facts.startedAt) / 1000) },
    queue: { queued: store.queueDepth(), running: running.length },
    running: running.map((job) => ({ jobId: job.id, slideSha256: store.getSlide(job.slideId)?.sha256 ?? '', done: job.progressDone, total: job.progressTotal })),
    cpu: { loadPercent: load ? Math.round(load.currentLoad * 10) / 10 : null, cores: os.availableParallelism() },
    memory: { totalBytes: memory?.total ?? os.totalmem(), usedBytes: memory ? memory.active : null },
    disk: { totalBytes: disk?.size ?? null, usedBytes: disk?.used ?? null },
    temperatureC: temperature?.main ?? null,
    models: facts.models(),
    outbox: { depth: lanes.normal + lanes.bulk, ...lanes, oldestSince: sync.oldestWaitingSince(), refused: sync.refusedCount() },
    lastError: lastError ? { at: lastError.at, kind: lastError.kind } : null,
    syncProblem: facts.syncError() !== null,
  };
}
