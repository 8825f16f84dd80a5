/**
 * What a verified metadata directory offers this box: the model releases, each with every file as a TUF
 * target. Delegated roles are reached the way tuf-js walks them (so their signatures, versions and the
 * delegation paths are checked by tuf-js), and every release and file is looked up again through tuf-js
 * (getTargetInfo): a role cannot list a target for a path it was not delegated.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Metadata, MetadataKind, type TargetFile, type Targets } from '@tufjs/models';
import type { Updater } from 'tuf-js';
import type { OtaReason } from './errors.ts';
import { CUSTOM_KEY, MODELS_PREFIX, type ReleaseFacts, releaseFactsSchema, releaseFilePath } from './release-target.ts';

export interface ReleaseFile {
  /** Path inside the bundle. */
  file: string;
  target: TargetFile;
}

export interface TrustedRelease {
  facts: ReleaseFacts;
  /** SHA-256 of the release's manifest.json: identifies its content. */
  manifestSha256: string;
  files: ReleaseFile[];
  role: string;
  roleVersion: number;
}

export interface LoadedRoles {
  root: { version: number; timestampKeys: string[]; snapshotKeys: string[]; consistentSnapshot: boolean };
  /** Version of every role in use (timestamp, snapshot, targets, delegated roles). */
  versions: Record<string, number>;
  expires: Record<string, string>;
  /** Version the snapshot lists for each targets role file (targets.json, <role>.json). */
  snapshotMeta: Record<string, number>;
  targets: Map<string, Metadata<Targets>>;
}

/** A listed release this box cannot use: never installed; reported when it is the newest on offer. */
export interface UnusableRelease {
  path: string;
  modelId: string | null;
  version: string | null;
  releaseCounter: number | null;
  reason: OtaReason;
  problem: string;
}

export interface MetadataView extends LoadedRoles {
  releases: TrustedRelease[];
  unusable: UnusableRelease[];
}

async function readMetadataJson(dir: string, role: string): Promise<Parameters<typeof Metadata.fromJSON>[1] | null> {
  try {
    return JSON.parse(await readFile(path.join(dir, `${encodeURIComponent(role)}.json`), 'utf8'));
  } catch {
    return null;
  }
}

/**
 * Loads every delegated targets role through tuf-js and reads the verified files it keeps in `dir`. A role
 * file counts only when its version is the one the current snapshot lists (a stale file of a role tuf-js
 * did not load this time is ignored).
 */
export async function loadRoles(updater: Updater, dir: string, maxRoles: number): Promise<LoadedRoles> {
  const json = async (role: string) => {
    const data = await readMetadataJson(dir, role);
    if (!data) throw new Error(`${role}.json is missing from the verified metadata`);
    return data;
  };
  const root = Metadata.fromJSON(MetadataKind.Root, await json('root')).signed;
  const timestamp = Metadata.fromJSON(MetadataKind.Timestamp, await json('timestamp')).signed;
  const snapshot = Metadata.fromJSON(MetadataKind.Snapshot, await json('snapshot')).signed;
  const snapshotMeta = Object.fromEntries(Object.entries(snapshot.meta).map(([name, meta]) => [name, meta.version]));
  const targets = new Map<string, Metadata<Targets>>();
  const versions: Record<string, number> = { timestamp: timestamp.version, snapshot: snapshot.version };
  const expires: Record<string, string> = { root: root.expires, timestamp: timestamp.expires, snapshot: snapshot.expires };
  const queue: { name: string; probe: string | null }[] = [{ name: 'targets', probe: null }];
  while (queue.length > 0 && targets.size < maxRoles) {
    const { name, probe } = queue.shift()!;
    if (targets.has(name)) continue;
    if (probe) await updater.getTargetInfo(probe);
    const data = await readMetadataJson(dir, name);
    if (!data) continue;
    const md = Metadata.fromJSON(MetadataKind.Targets, data);
    if (md.signed.version !== snapshotMeta[`${name}.json`]) continue;
    targets.set(name, md);
    versions[name] = md.signed.version;
    expires[name] = md.signed.expires;
    for (const role of Object.values(md.signed.delegations?.roles ?? {})) {
      // Any path the role is delegated makes tuf-js load it; wildcards stand for one plain character.
      const pattern = role.paths?.[0];
      if (pattern) queue.push({ name: role.name, probe: pattern.replace(/[*?]/g, 'x') });
    }
  }
  return {
    root: {
      version: root.version, timestampKeys: root.roles.timestamp.keyIDs, snapshotKeys: root.roles.snapshot.keyIDs,
      consistentSnapshot: root.consistentSnapshot,
    },
    versions, expires, snapshotMeta, targets,
  };
}

/** Checks one listed release against what tuf-js authorises; returns it, or why it is unusable. */
async function authorise(updater: Updater, role: string, roleVersion: number, targetPath: string, target: TargetFile): Promise<TrustedRelease | UnusableRelease> {
  const located = new RegExp(`^${MODELS_PREFIX}/([^/]+)/([^/]+)/manifest\\.json$`).exec(targetPath);
  const raw = target.custom[CUSTOM_KEY] as { releaseCounter?: unknown } | undefined;
  const unusable = (reason: OtaReason, problem: string): UnusableRelease => ({
    path: targetPath, modelId: located?.[1] ?? null, version: located?.[2] ?? null,
    releaseCounter: typeof raw?.releaseCounter === 'number' ? raw.releaseCounter : null, reason, problem,
  });
  const parsed = releaseFactsSchema.safeParse(raw);
  if (!parsed.success) return unusable('BUNDLE_INVALID', `release facts invalid: ${parsed.error.issues.map((i) => `${i.path.join('.')} ${i.message}`).join('; ')}`);
  const facts = parsed.data;
  if (targetPath !== releaseFilePath(facts.modelId, facts.version, 'manifest.json')) return unusable('INVALID_METADATA', `listed at ${targetPath}, not where ${facts.modelId} ${facts.version} belongs`);
  const authoritative = await updater.getTargetInfo(targetPath);
  if (!authoritative?.equals(target)) return unusable('NOT_AUTHORISED', `${role} is not trusted for ${targetPath}`);
  const files: ReleaseFile[] = [];
  for (const [file, digest] of Object.entries(facts.files)) {
    const fileTarget = await updater.getTargetInfo(releaseFilePath(facts.modelId, facts.version, file));
    if (!fileTarget) return unusable('INVALID_METADATA', `${file} is not a signed target`);
    if (fileTarget.length !== digest.length || fileTarget.hashes.sha256 !== digest.sha256) {
      return unusable('INVALID_METADATA', `${file}: the target (${fileTarget.length} bytes, sha256 ${fileTarget.hashes.sha256 ?? 'none'}) differs from the release facts`);
    }
    files.push({ file, target: fileTarget });
  }
  return { facts, manifestSha256: facts.files['manifest.json'].sha256, files, role, roleVersion };
}

export async function listReleases(updater: Updater, roles: LoadedRoles): Promise<MetadataView> {
  const releases: TrustedRelease[] = [];
  const unusable: UnusableRelease[] = [];
  for (const [role, md] of roles.targets) {
    for (const [targetPath, target] of Object.entries(md.signed.targets)) {
      if (!(CUSTOM_KEY in target.custom)) continue;
      const outcome = await authorise(updater, role, md.signed.version, targetPath, target);
      if ('facts' in outcome) releases.push(outcome);
      else unusable.push(outcome);
    }
  }
  return { ...roles, releases, unusable };
}

/** Where a target file is served: consistent snapshots name it <dir>/<sha256>.<name>. */
export function targetUrl(targetsUrl: string, target: TargetFile, consistentSnapshot: boolean): string {
  const parts = target.path.split('/');
  if (consistentSnapshot) parts[parts.length - 1] = `${target.hashes.sha256}.${parts[parts.length - 1]}`;
  return `${targetsUrl}${parts.map(encodeURIComponent).join('/')}`;
}
