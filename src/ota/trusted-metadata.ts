/**
 * The box's trusted TUF metadata, refreshed with tuf-js but never in place:
 *   <ota>/trusted -> trusted-XXXX/   the live, verified metadata (a symlink swapped atomically)
 *   <ota>/hwm-a.json, hwm-b.json     high-water marks (high-water-mark.ts)
 * A refresh copies the live files into a new staging directory, lets tuf-js update that copy, checks the
 * result against the high-water marks, fsyncs it, raises the marks and only then renames a new symlink over
 * `trusted` (and fsyncs the directory). A failure or a power cut at any point leaves the previous trusted
 * metadata in place.
 */
import { mkdtemp, readdir, readFile, readlink, realpath, rename, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Metadata, MetadataKind } from '@tufjs/models';
import { Updater } from 'tuf-js';
import { fsyncPath } from '../models/index.ts';
import { checkClock } from './clock.ts';
import { OtaError } from './errors.ts';
import { emptyMark, type HighWaterMark, HighWaterMarkStore, keyEpoch } from './high-water-mark.ts';
import { type LoadedRoles, listReleases, loadRoles, type MetadataView } from './metadata-view.ts';
import type { TransferLimits } from './transfer.ts';
import { BoxFetcher, checkDistinctKeys } from './tuf-fetcher.ts';
import { classifyTufError } from './tuf-errors.ts';

/** Where a repository's metadata and targets are: http(s) URLs or file:// folders, each ending in "/". */
export interface RepositorySource {
  metadataUrl: string;
  targetsUrl: string;
}

export interface TrustedMetadataOptions {
  /** The updater's folder (<dataDir>/ota). */
  dir: string;
  /** The factory root: trusted when the box has no metadata yet, or when its root.json is unreadable. */
  factoryRoot?: string;
  limits: TransferLimits;
  now?: () => Date;
  maxRootRotations?: number;
  maxDelegations?: number;
  /** Fault-injection seam (tests kill the process here). */
  checkpoint?: (step: string) => void | Promise<void>;
}

const LIVE = 'trusted';
const STAGE_PREFIX = 'trusted-';

/** tuf-js limits; timestamp and root caps follow the TUF reference client. */
const TUF_LIMITS = { rootMaxLength: 512_000, timestampMaxLength: 16_384, snapshotMaxLength: 2_000_000, targetsMaxLength: 5_000_000 };

interface Session {
  updater: Updater;
  fetcher: BoxFetcher;
  error: unknown;
}

function rotationEpoch(json: unknown): string {
  const root = Metadata.fromJSON(MetadataKind.Root, json as Parameters<typeof Metadata.fromJSON>[1]).signed;
  return keyEpoch(root.roles.timestamp.keyIDs, root.roles.snapshot.keyIDs);
}

/** The high-water mark a loaded set of roles implies. */
export function markOf(roles: LoadedRoles): HighWaterMark {
  const timestampEpoch = keyEpoch(roles.root.timestampKeys);
  const snapshotEpoch = keyEpoch(roles.root.timestampKeys, roles.root.snapshotKeys);
  const mark = emptyMark();
  mark.root = roles.root.version;
  for (const [role, version] of Object.entries(roles.versions)) {
    mark.roles[role] = { version, epoch: role === 'timestamp' ? timestampEpoch : snapshotEpoch };
  }
  return mark;
}

/** Refuses metadata older than anything seen before within the same key epoch (see high-water-mark.ts). */
export function checkAgainstMark(seen: HighWaterMark, roles: LoadedRoles): void {
  const now = markOf(roles);
  if (now.root < seen.root) throw new OtaError('METADATA_ROLLBACK', `root version ${now.root} is below version ${seen.root} trusted before`);
  for (const [role, mark] of Object.entries(seen.roles)) {
    const current = now.roles[role];
    if (current && current.epoch === mark.epoch && current.version < mark.version) {
      throw new OtaError('METADATA_ROLLBACK', `${role} version ${current.version} is below version ${mark.version} trusted before`);
    }
    const listed = role === 'timestamp' || role === 'snapshot' ? undefined : roles.snapshotMeta[`${role}.json`];
    if (role !== 'timestamp' && role !== 'snapshot' && mark.epoch === now.roles.snapshot.epoch && (listed === undefined || listed < mark.version)) {
      throw new OtaError('METADATA_ROLLBACK', `the snapshot lists ${role} ${listed === undefined ? 'no longer' : `at version ${listed}`}; version ${mark.version} was trusted before`);
    }
  }
}

export class TrustedMetadata {
  private readonly options: TrustedMetadataOptions;
  readonly marks: HighWaterMarkStore;

  constructor(options: TrustedMetadataOptions) {
    this.options = options;
    this.marks = new HighWaterMarkStore(options.dir);
  }

  private get liveLink(): string {
    return path.join(this.options.dir, LIVE);
  }

  /** The live metadata directory, or null before the first successful refresh. */
  async liveDir(): Promise<string | null> {
    return realpath(this.liveLink).catch(() => null);
  }

  /**
   * Updates the trusted metadata from `source` and returns what it offers. Throws OtaError (the previous
   * metadata stays trusted) for every refusal: clock, signatures, expiry, rollback, mix-and-match, transport.
   */
  async refresh(source: RepositorySource, signal: AbortSignal): Promise<MetadataView> {
    checkClock((this.options.now ?? (() => new Date()))());
    await this.removeAbandonedStages();
    const seen = (await this.marks.read()) ?? (await this.markOfLive());
    const stage = await mkdtemp(path.join(this.options.dir, STAGE_PREFIX));
    try {
      const startEpoch = rotationEpoch(await this.seed(stage));
      let session = await this.runTuf(stage, source, signal);
      if (startEpoch !== rotationEpoch(JSON.parse(await readFile(path.join(stage, 'root.json'), 'utf8')))) {
        // Spec 5.3.11: a new root rotated the timestamp or snapshot keys, so their old versions no longer bind.
        await rm(path.join(stage, 'timestamp.json'), { force: true });
        await rm(path.join(stage, 'snapshot.json'), { force: true });
        session = await this.runTuf(stage, source, signal);
      }
      if (session.error) throw classifyTufError(session.error, session.fetcher.lastFailure);
      const view = await this.view(session, stage);
      if (seen) checkAgainstMark(seen, view);
      for (const name of await readdir(stage)) await fsyncPath(path.join(stage, name));
      await fsyncPath(stage);
      await this.options.checkpoint?.('refresh:staged');
      await this.marks.raise(markOf(view));
      await this.options.checkpoint?.('refresh:marks-raised');
      await this.swapIn(stage);
      await this.options.checkpoint?.('refresh:swapped');
      return view;
    } catch (e) {
      await rm(stage, { recursive: true, force: true });
      throw e;
    }
  }

  /** Seeds a staging directory with the live files, or the factory root; returns the root it starts from. */
  private async seed(stage: string): Promise<unknown> {
    const live = await this.liveDir();
    if (live) {
      for (const name of await readdir(live)) {
        if (name.endsWith('.json')) await writeFile(path.join(stage, name), await readFile(path.join(live, name)));
      }
      try {
        return this.checkedRoot(await readFile(path.join(stage, 'root.json'), 'utf8'), 'the trusted root.json');
      } catch {
        // torn or damaged: fall through to the factory root
      }
    }
    // No metadata yet, or a damaged root.json: start again from the factory root and walk the chain.
    if (!this.options.factoryRoot) {
      throw new OtaError('NO_TRUST_ROOT', live ? `${live}/root.json is unreadable and no factory root is configured` : 'the box has no trusted metadata; pin the factory root (--root ROOT.json)');
    }
    const text = await readFile(this.options.factoryRoot, 'utf8').catch((e: Error) => {
      throw new OtaError('NO_TRUST_ROOT', `cannot read the factory root ${this.options.factoryRoot}: ${e.message}`);
    });
    const root = this.checkedRoot(text, this.options.factoryRoot);
    await writeFile(path.join(stage, 'root.json'), text);
    return root;
  }

  /** A root must parse, list distinct keys and be signed by a threshold of its own root keys. */
  private checkedRoot(text: string, what: string): unknown {
    try {
      const json = JSON.parse(text);
      checkDistinctKeys(json, what);
      const root = Metadata.fromJSON(MetadataKind.Root, json);
      root.verifyDelegate('root', root);
      return json;
    } catch (e) {
      if (e instanceof OtaError) throw e;
      throw new OtaError('INVALID_SIGNATURE', `${what} is not a root signed by its own threshold: ${(e as Error).message}`);
    }
  }

  private async runTuf(dir: string, source: RepositorySource, signal: AbortSignal): Promise<Session> {
    const fetcher = new BoxFetcher(this.options.limits, signal, this.options.dir);
    let updater: Updater;
    try {
      updater = new Updater({
        metadataDir: dir, metadataBaseUrl: source.metadataUrl, fetcher,
        config: { ...TUF_LIMITS, maxRootRotations: this.options.maxRootRotations ?? 32, maxDelegations: this.options.maxDelegations ?? 32 },
      });
    } catch (e) {
      throw classifyTufError(e, fetcher.lastFailure);
    }
    try {
      await updater.refresh();
      return { updater, fetcher, error: null };
    } catch (e) {
      return { updater, fetcher, error: e };
    }
  }

  private async view(session: Session, dir: string): Promise<MetadataView> {
    try {
      const roles = await loadRoles(session.updater, dir, this.options.maxDelegations ?? 32);
      return await listReleases(session.updater, roles);
    } catch (e) {
      throw classifyTufError(e, session.fetcher.lastFailure);
    }
  }

  /**
   * Without a mark file (first run, or both copies lost) the versions in the live files are the floor. They
   * are read as they are: these files were verified when they were swapped in.
   */
  private async markOfLive(): Promise<HighWaterMark | null> {
    const live = await this.liveDir();
    if (!live) return null;
    const signed = async (name: string) => JSON.parse(await readFile(path.join(live, `${encodeURIComponent(name)}.json`), 'utf8')).signed as { version: number; meta?: Record<string, { version: number }> };
    try {
      const rootJson = JSON.parse(await readFile(path.join(live, 'root.json'), 'utf8'));
      const root = Metadata.fromJSON(MetadataKind.Root, rootJson).signed;
      const snapshot = await signed('snapshot');
      const versions: Record<string, number> = { timestamp: (await signed('timestamp')).version, snapshot: snapshot.version };
      for (const file of Object.keys(snapshot.meta ?? {})) {
        const role = file.replace(/\.json$/, '');
        versions[role] = await signed(role).then((s) => s.version, () => 0);
      }
      return markOf({
        root: { version: root.version, timestampKeys: root.roles.timestamp.keyIDs, snapshotKeys: root.roles.snapshot.keyIDs, consistentSnapshot: root.consistentSnapshot },
        versions, expires: {}, snapshotMeta: {}, targets: new Map(),
      });
    } catch {
      return null;
    }
  }

  private async swapIn(stage: string): Promise<void> {
    const previous = await this.liveDir();
    const next = `${this.liveLink}.next`;
    await rm(next, { force: true });
    await symlink(path.basename(stage), next);
    await rename(next, this.liveLink);
    await fsyncPath(this.options.dir);
    if (previous && previous !== stage) await rm(previous, { recursive: true, force: true });
  }

  /** Staging copies left by a refresh that was killed; the live one is kept. */
  private async removeAbandonedStages(): Promise<void> {
    const live = await readlink(this.liveLink).catch(() => null);
    for (const name of await readdir(this.options.dir).catch(() => [] as string[])) {
      if (name.startsWith(STAGE_PREFIX) && name !== live) {
        await rm(path.join(this.options.dir, name), { recursive: true, force: true });
      }
    }
  }
}
