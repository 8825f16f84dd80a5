import { listModels, type ModelListing } from '../../cli/model-listing.ts';
import type { ModelRegistry } from '../../models/index.ts';
import { OtaStore, type OtaHistoryRow, type OtaJobRow, type Store } from '../../store/index.ts';

/** Enough to see the last few updates and how each one ended; the full record is `pathbox ota status`. */
const UPDATE_JOBS_SHOWN = 10;

export type ModelVersionRow = Omit<ModelListing, 'dir'> & {
  /** The version that served before the active one: kept installed as the rollback target. */
  previous: boolean;
};

export type UpdateJobRow = Pick<OtaJobRow,
  'id' | 'state' | 'trigger' | 'reason' | 'detail' | 'modelId' | 'version' | 'releaseCounter' | 'previousVersion' | 'createdAt' | 'updatedAt' | 'finishedAt'> & {
  history: Omit<OtaHistoryRow, 'seq' | 'jobId'>[];
};

/**
 * Every installed version (active and previous marked) and the built-in bundles. The data directory's path
 * is left out: the dashboard has no use for it.
 */
export async function modelVersions(registry: ModelRegistry): Promise<ModelVersionRow[]> {
  const listed = await listModels(registry);
  const previousById = new Map<string, string | undefined>();
  for (const id of new Set(listed.filter((m) => m.origin === 'installed').map((m) => m.id))) {
    // A damaged pointer already shows as "nothing active" in the listing; it must not hide the table.
    previousById.set(id, (await registry.activePointer(id).catch(() => null))?.previousVersion);
  }
  return listed.map(({ dir: _dir, ...m }) => ({ ...m, previous: m.origin === 'installed' && previousById.get(m.id) === m.version }));
}

/** The newest update jobs, newest first, each with its state transitions in order. */
export function recentUpdates(store: Store): UpdateJobRow[] {
  const ota = new OtaStore(store);
  return ota.recentJobs(UPDATE_JOBS_SHOWN).map((job) => ({
    id: job.id, state: job.state, trigger: job.trigger, reason: job.reason, detail: job.detail,
    modelId: job.modelId, version: job.version, releaseCounter: job.releaseCounter, previousVersion: job.previousVersion,
    createdAt: job.createdAt, updatedAt: job.updatedAt, finishedAt: job.finishedAt,
    history: ota.history(job.id).map(({ fromState, toState, reason, detail, at }) => ({ fromState, toState, reason, detail, at })),
  }));
}
