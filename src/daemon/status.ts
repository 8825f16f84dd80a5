import { existsSync, readFileSync } from 'node:fs';
import { processAlive } from '../device/index.ts';
import { Store } from '../store/index.ts';
import { readSyncStatus, type SyncStatus } from '../sync/index.ts';
import { dataPaths, type Heartbeat } from './daemon.ts';
import { diskSpace } from './disk-guard.ts';

/** A heartbeat older than this means the daemon is not running (it writes one every 2 s). */
const STALE_MS = 15_000;

export interface BoxStatus {
  daemon: { running: boolean; pid: number | null; startedAt: string | null; lastHeartbeat: string | null };
  slides: Record<'queued' | 'running' | 'done' | 'failed' | 'rejected', number>;
  running: { jobId: number; slideId: number; sha256: string; progress: { done: number; total: number }; startedAt: string | null }[];
  models: NonNullable<Heartbeat['model']>[];
  disk: { path: string; freeBytes: number; totalBytes: number; paused: boolean; reason: string | null };
  inboxes: Heartbeat['inboxes'];
  usb: Heartbeat['usb'];
  outbox: { depth: number };
  /** Cloud sync: second opinions and their answers, bytes sent per slide against its size (null before sync's migration). */
  sync: SyncStatus | null;
  errors: { at: string; kind: string; subject: string | null; message: string }[];
}

/** Works with the daemon running or stopped: the database is read directly, the heartbeat adds live facts. */
export async function readStatus(dataDir: string): Promise<BoxStatus> {
  const paths = dataPaths(dataDir);
  if (!existsSync(paths.database)) throw new Error(`no pathbox database in ${dataDir} (has the daemon ever run with --data-dir ${dataDir}?)`);
  let heartbeat: Heartbeat | null = null;
  try {
    heartbeat = JSON.parse(readFileSync(paths.heartbeat, 'utf8')) as Heartbeat;
  } catch {
    heartbeat = null;
  }
  const running = !!heartbeat && Date.now() - Date.parse(heartbeat.at) < STALE_MS && processAlive(heartbeat.pid);
  const store = Store.open(paths.database, { readonly: true });
  try {
    const space = await diskSpace(dataDir);
    return {
      daemon: { running, pid: running ? heartbeat!.pid : null, startedAt: heartbeat?.startedAt ?? null, lastHeartbeat: heartbeat?.at ?? null },
      slides: store.countSlidesByState(),
      running: store.runningJobs().map((job) => ({
        jobId: job.id, slideId: job.slideId, sha256: store.getSlide(job.slideId)!.sha256,
        progress: { done: job.progressDone, total: job.progressTotal }, startedAt: job.startedAt,
      })),
      models: heartbeat?.model ? [heartbeat.model] : [],
      disk: { path: dataDir, ...space, paused: running ? heartbeat!.disk.paused : false, reason: running ? heartbeat!.disk.reason : null },
      inboxes: heartbeat?.inboxes ?? [],
      usb: running ? heartbeat!.usb : [],
      outbox: { depth: store.outboxDepth() },
      sync: readSyncStatus(store),
      errors: store.recentEvents({ kinds: ['job.failed', 'job.quarantined', 'slide.rejected', 'disk.paused'], limit: 10 }).map((e) => ({
        at: e.at, kind: e.kind, subject: e.subject,
        message: String((e.details as { error?: string; reason?: string } | null)?.error ?? (e.details as { reason?: string } | null)?.reason ?? ''),
      })),
    };
  } finally {
    store.close();
  }
}
