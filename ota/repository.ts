/**
 * The vendor's TUF repository on disk, built with @tufjs/models:
 *   REPODIR/repo.json                     expiry periods
 *   REPODIR/metadata/<N>.root.json        every root version (boxes walk the chain), root.json = the newest
 *   REPODIR/metadata/targets.json, snapshot.json, timestamp.json, <role>.json (delegated roles)
 *   REPODIR/targets/<target path>         the files the targets roles list
 * Each model id gets a delegated targets role (model-<id>) signed by the `models` key; consistent snapshots
 * are on, so a published directory can be replaced under running clients (ota/publish.ts).
 */
import { createHash } from 'node:crypto';
import { copyFile, mkdir, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { Metadata, MetadataKind, MetaFile, Root, Snapshot, TargetFile, Targets, Timestamp } from '@tufjs/models';
import { z } from 'zod';
import { bundleFiles, loadBundle, readBundleManifest, replaceFileDurably } from '../src/models/index.ts';
import { CUSTOM_KEY, modelDelegationPaths, type ReleaseFacts, releaseFactsSchema, releaseFilePath } from '../src/ota/release-target.ts';
import { OtaToolError } from './errors.ts';
import type { SigningKey } from './keys.ts';

export type TopRole = 'root' | 'targets' | 'snapshot' | 'timestamp';
const TOP_ROLES: readonly TopRole[] = ['root', 'targets', 'snapshot', 'timestamp'];
const SPEC_VERSION = '1.0.31';
const ROLE_NAME_PATTERN = /^[a-z0-9][a-z0-9-]{0,63}$/;
const DAY_MS = 86_400_000;

/** JSON as @tufjs/models reads it; roles and delegations are built this way (their classes are not exported). */
type Json = Parameters<typeof Targets.fromJSON>[0];
type Role = Root['roles'][string];
type Delegations = NonNullable<Targets['delegations']>;

const settingsSchema = z.strictObject({
  format: z.literal(1),
  /** How long each role's metadata stays valid after it is signed. */
  expiryDays: z.strictObject({ root: z.number().positive(), targets: z.number().positive(), snapshot: z.number().positive(), timestamp: z.number().positive(), delegated: z.number().positive() }),
});
export type RepositorySettings = z.infer<typeof settingsSchema>;
export const DEFAULT_EXPIRY_DAYS: RepositorySettings['expiryDays'] = { root: 365, targets: 90, snapshot: 7, timestamp: 1, delegated: 90 };

/** Overrides for one signing (tests use them to build expired or fast-forwarded metadata). */
export interface SignOptions {
  expires?: Date;
  version?: number;
}

export interface ModelOptions {
  releaseCounter: number;
  /** process.arch values; default ["any"]. */
  arch?: string[];
  minDaemonVersion?: string;
  /** Run loadBundle (digests, ONNX load, self-test) before publishing; on by default. */
  verify?: boolean;
}

export interface ListedRelease extends ReleaseFacts {
  role: string;
  path: string;
}

/** The bytes a metadata file is published as; snapshot and timestamp lengths and hashes are computed over them. */
export function serializeMetadata(md: Metadata<Root | Targets | Snapshot | Timestamp>): string {
  return `${JSON.stringify(md.toJSON(), null, 2)}\n`;
}

export function tufExpiry(at: Date): string {
  return at.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function metaFileFor(version: number, bytes: string): MetaFile {
  return new MetaFile({ version, length: Buffer.byteLength(bytes), hashes: { sha256: createHash('sha256').update(bytes).digest('hex') } });
}

/** Keys of the keyring that belong to a role, enough to reach its threshold. */
function keysFor(role: Role, keys: Map<string, SigningKey>, roleName: string): SigningKey[] {
  const available = [...keys.values()].filter((k) => role.keyIDs.includes(k.keyId));
  if (available.length < role.threshold) {
    throw new OtaToolError('MISSING_KEY', `signing ${roleName} needs ${role.threshold} of its keys; the key directory holds ${available.length}`);
  }
  return available;
}

function signWith(md: Metadata<Root | Targets | Snapshot | Timestamp>, keys: readonly SigningKey[]): void {
  for (const key of keys) md.sign((data) => key.sign(data));
}

async function readJson(file: string): Promise<Parameters<typeof Metadata.fromJSON>[1]> {
  try {
    return JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    throw new OtaToolError('BAD_REPOSITORY', `${file} cannot be read: ${(e as Error).message}`);
  }
}

export class Repository {
  readonly dir: string;
  readonly settings: RepositorySettings;
  /** Every root version, oldest first. */
  roots: Metadata<Root>[];
  targets: Metadata<Targets>;
  snapshot: Metadata<Snapshot>;
  timestamp: Metadata<Timestamp>;
  delegated: Map<string, Metadata<Targets>>;

  private constructor(dir: string, settings: RepositorySettings, parts: Pick<Repository, 'roots' | 'targets' | 'snapshot' | 'timestamp' | 'delegated'>) {
    this.dir = dir;
    this.settings = settings;
    this.roots = parts.roots;
    this.targets = parts.targets;
    this.snapshot = parts.snapshot;
    this.timestamp = parts.timestamp;
    this.delegated = parts.delegated;
  }

  get root(): Metadata<Root> {
    return this.roots[this.roots.length - 1];
  }

  get metadataDir(): string {
    return path.join(this.dir, 'metadata');
  }

  get targetsDir(): string {
    return path.join(this.dir, 'targets');
  }

  /**
   * A new repository: root v1 with every root-* key of the keyring (threshold `rootThreshold`, default
   * min(2, count)), one key each for targets, snapshot and timestamp, and empty targets.
   */
  static async init(dir: string, keys: Map<string, SigningKey>, options: { rootThreshold?: number; expiryDays?: Partial<RepositorySettings['expiryDays']> } = {}): Promise<Repository> {
    const resolved = path.resolve(dir);
    if (await readFile(path.join(resolved, 'repo.json')).then(() => true, () => false)) {
      throw new OtaToolError('BAD_REPOSITORY', `${resolved} already holds a repository`);
    }
    const rootKeys = [...keys.values()].filter((k) => k.name.startsWith('root-'));
    if (rootKeys.length === 0) throw new OtaToolError('MISSING_KEY', 'no root-* key in the key directory');
    const online = (name: string) => {
      const key = keys.get(name);
      if (!key) throw new OtaToolError('MISSING_KEY', `no "${name}" key in the key directory`);
      return key;
    };
    const threshold = options.rootThreshold ?? Math.min(2, rootKeys.length);
    if (!Number.isInteger(threshold) || threshold < 1 || threshold > rootKeys.length) {
      throw new OtaToolError('BAD_ARGUMENT', `a root threshold of ${threshold} cannot be met by ${rootKeys.length} root keys`);
    }
    const settings: RepositorySettings = { format: 1, expiryDays: { ...DEFAULT_EXPIRY_DAYS, ...options.expiryDays } };
    const expires = (days: number) => tufExpiry(new Date(Date.now() + days * DAY_MS));
    const roleKeys: Record<TopRole, SigningKey[]> = {
      root: rootKeys, targets: [online('targets')], snapshot: [online('snapshot')], timestamp: [online('timestamp')],
    };
    const root = Root.fromJSON({
      _type: 'root', spec_version: SPEC_VERSION, version: 1, expires: expires(settings.expiryDays.root), consistent_snapshot: true,
      keys: Object.fromEntries(Object.values(roleKeys).flat().map((k) => [k.keyId, k.tufKey.toJSON()])),
      roles: Object.fromEntries(TOP_ROLES.map((r) => [r, { keyids: roleKeys[r].map((k) => k.keyId), threshold: r === 'root' ? threshold : 1 }])),
    });
    const rootMd = new Metadata(root);
    signWith(rootMd, rootKeys);
    const targets = new Metadata(new Targets({ version: 1, specVersion: SPEC_VERSION, expires: expires(settings.expiryDays.targets) }));
    signWith(targets, roleKeys.targets);
    const placeholder = new Metadata(new Snapshot({ version: 0, specVersion: SPEC_VERSION, expires: expires(0) }));
    const timestamp = new Metadata(new Timestamp({ version: 0, specVersion: SPEC_VERSION, expires: expires(0) }));
    const repo = new Repository(resolved, settings, { roots: [rootMd], targets, snapshot: placeholder, timestamp, delegated: new Map() });
    repo.commit(keys);
    await mkdir(repo.targetsDir, { recursive: true });
    await repo.save();
    return repo;
  }

  static async open(dir: string): Promise<Repository> {
    const resolved = path.resolve(dir);
    const settingsFile = path.join(resolved, 'repo.json');
    const settings = settingsSchema.safeParse(await readJson(settingsFile));
    if (!settings.success) throw new OtaToolError('BAD_REPOSITORY', `${settingsFile} is not a pathbox repository settings file`);
    const metadataDir = path.join(resolved, 'metadata');
    const names = await readdir(metadataDir);
    const rootVersions = names.map((n) => /^(\d+)\.root\.json$/.exec(n)).filter((m) => m !== null).map((m) => Number(m[1])).sort((a, b) => a - b);
    const roots: Metadata<Root>[] = [];
    for (const version of rootVersions) roots.push(Metadata.fromJSON(MetadataKind.Root, await readJson(path.join(metadataDir, `${version}.root.json`))));
    if (roots.length === 0 || roots.some((r, i) => r.signed.version !== i + 1)) throw new OtaToolError('BAD_REPOSITORY', `${metadataDir}: root versions are not 1..N`);
    const load = async (name: string) => Metadata.fromJSON(MetadataKind.Targets, await readJson(path.join(metadataDir, `${name}.json`)));
    const targets = await load('targets');
    const delegated = new Map<string, Metadata<Targets>>();
    for (const name of Object.keys(targets.signed.delegations?.roles ?? {})) delegated.set(name, await load(name));
    return new Repository(resolved, settings.data, {
      roots, targets, delegated,
      snapshot: Metadata.fromJSON(MetadataKind.Snapshot, await readJson(path.join(metadataDir, 'snapshot.json'))),
      timestamp: Metadata.fromJSON(MetadataKind.Timestamp, await readJson(path.join(metadataDir, 'timestamp.json'))),
    });
  }

  /** Every model release the targets roles list. */
  releases(): ListedRelease[] {
    const out: ListedRelease[] = [];
    for (const [role, md] of [['targets', this.targets] as const, ...this.delegated.entries()]) {
      for (const [targetPath, target] of Object.entries(md.signed.targets)) {
        const facts = releaseFactsSchema.safeParse(target.custom[CUSTOM_KEY]);
        if (facts.success) out.push({ ...facts.data, role, path: targetPath });
      }
    }
    return out.sort((a, b) => a.modelId.localeCompare(b.modelId) || a.releaseCounter - b.releaseCounter);
  }

  /**
   * Publishes a model bundle directory as a release: each file becomes a target under models/<id>/<version>/,
   * the manifest's target carries the release facts, in the model's delegated role (created on first use).
   */
  async addModel(modelDir: string, keys: Map<string, SigningKey>, options: ModelOptions): Promise<ListedRelease> {
    const manifest = await readBundleManifest(modelDir).catch((e: Error) => {
      throw new OtaToolError('BAD_MODEL', `${modelDir}: ${e.message}`);
    });
    if (options.verify ?? true) {
      await loadBundle(modelDir).catch((e: Error) => {
        throw new OtaToolError('BAD_MODEL', `${modelDir} fails the checks a box makes: ${e.message}`);
      });
    }
    if (manifest.releaseCounter !== options.releaseCounter) {
      throw new OtaToolError('BAD_MODEL', `--release-counter ${options.releaseCounter} differs from the manifest's releaseCounter ${manifest.releaseCounter}`);
    }
    for (const other of this.releases().filter((r) => r.modelId === manifest.id)) {
      if (other.version === manifest.version) throw new OtaToolError('BAD_MODEL', `${manifest.id} ${manifest.version} is already published`);
      if (other.releaseCounter >= manifest.releaseCounter) {
        throw new OtaToolError('BAD_MODEL', `${manifest.id} ${manifest.version}: release counter ${manifest.releaseCounter} must exceed ${other.releaseCounter} of ${other.version}`);
      }
    }
    const files: ReleaseFacts['files'] = {};
    const targetFiles: Record<string, TargetFile> = {};
    for (const file of bundleFiles(manifest)) {
      const bytes = await readFile(path.join(modelDir, ...file.split('/')));
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      files[file] = { length: bytes.length, sha256 };
      const targetPath = releaseFilePath(manifest.id, manifest.version, file);
      const destination = path.join(this.targetsDir, ...targetPath.split('/'));
      await mkdir(path.dirname(destination), { recursive: true });
      await copyFile(path.join(modelDir, ...file.split('/')), destination);
      targetFiles[targetPath] = new TargetFile({ path: targetPath, length: bytes.length, hashes: { sha256 } });
    }
    const facts: ReleaseFacts = releaseFactsSchema.parse({
      kind: 'model-release', modelId: manifest.id, version: manifest.version, releaseCounter: manifest.releaseCounter,
      hardware: { arch: options.arch ?? ['any'] }, minDaemonVersion: options.minDaemonVersion ?? '0.1.0', files,
    });
    const manifestPath = releaseFilePath(manifest.id, manifest.version, 'manifest.json');
    const manifestTarget = targetFiles[manifestPath];
    targetFiles[manifestPath] = new TargetFile({
      path: manifestPath, length: manifestTarget.length, hashes: manifestTarget.hashes, unrecognizedFields: { custom: { [CUSTOM_KEY]: facts } },
    });

    const roleName = `model-${manifest.id}`;
    if (!this.delegated.has(roleName)) this.delegate(roleName, modelDelegationPaths(manifest.id), keys);
    const current = this.delegated.get(roleName)!;
    this.delegated.set(roleName, this.revisedTargets(current, { ...current.signed.targets, ...targetFiles }, current.signed.delegations, this.settings.expiryDays.delegated));
    this.signDelegated(roleName, keys);
    this.commit(keys);
    await this.save();
    return { ...facts, role: roleName, path: manifestPath };
  }

  /**
   * Re-signs roles with a new version and expiry (the routine job for timestamp and snapshot). `root` is
   * different: its signatures are added to the current version, for a threshold gathered key holder by key holder.
   */
  resign(roles: readonly string[], keys: Map<string, SigningKey>, options: SignOptions = {}): void {
    let changedTargets = false;
    for (const role of roles) {
      if (role === 'root') {
        const available = [...keys.values()].filter((k) => this.root.signed.roles.root.keyIDs.includes(k.keyId) || this.previousRootKeyIds().includes(k.keyId));
        if (available.length === 0) throw new OtaToolError('MISSING_KEY', 'the key directory holds none of the root keys');
        signWith(this.root, available);
      } else if (role === 'targets') {
        this.targets = this.revisedTargets(this.targets, this.targets.signed.targets, this.targets.signed.delegations, this.settings.expiryDays.targets, options);
        signWith(this.targets, keysFor(this.root.signed.roles.targets, keys, 'targets'));
        changedTargets = true;
      } else if (this.delegated.has(role)) {
        const md = this.delegated.get(role)!;
        this.delegated.set(role, this.revisedTargets(md, md.signed.targets, md.signed.delegations, this.settings.expiryDays.delegated, options));
        this.signDelegated(role, keys);
        changedTargets = true;
      } else if (role !== 'snapshot' && role !== 'timestamp') {
        throw new OtaToolError('BAD_ARGUMENT', `no role "${role}" in this repository`);
      }
    }
    // One new snapshot and timestamp for the whole signing, whichever roles it covered.
    if (changedTargets || roles.includes('snapshot') || roles.includes('timestamp')) {
      this.commit(keys, { ...(roles.includes('snapshot') ? { snapshot: options } : {}), ...(roles.includes('timestamp') ? { timestamp: options } : {}) });
    }
  }

  /**
   * A new root version that changes a top-level role's keys or threshold. The new root is signed by the
   * keyring's keys of the old and the new root role (or exactly `signWith`); an online role whose keys
   * changed is re-signed with its new keys.
   */
  rotateKeys(role: TopRole, keys: Map<string, SigningKey>, change: { add?: SigningKey[]; remove?: string[]; threshold?: number; signWith?: SigningKey[] }): Metadata<Root> {
    const old = this.root.signed;
    const removed = new Set(change.remove ?? []);
    const keyIds = [...old.roles[role].keyIDs.filter((id) => !removed.has(id)), ...(change.add ?? []).map((k) => k.keyId)];
    const threshold = change.threshold ?? old.roles[role].threshold;
    if (threshold < 1 || threshold > keyIds.length) throw new OtaToolError('BAD_ARGUMENT', `${role}: threshold ${threshold} with ${keyIds.length} keys`);
    const roles: Record<string, { keyids: string[]; threshold: number }> = Object.fromEntries(
      Object.entries(old.roles).map(([name, r]) => [name, { keyids: r.keyIDs, threshold: r.threshold }]),
    );
    roles[role] = { keyids: [...new Set(keyIds)], threshold };
    const allKeys: Record<string, Json> = Object.fromEntries(Object.entries(old.keys).map(([id, k]) => [id, k.toJSON()]));
    for (const key of change.add ?? []) allKeys[key.keyId] = key.tufKey.toJSON();
    const used = new Set(Object.values(roles).flatMap((r) => r.keyids));
    for (const id of Object.keys(allKeys)) if (!used.has(id)) delete allKeys[id];
    const next = new Metadata(Root.fromJSON({
      _type: 'root', spec_version: old.specVersion, version: old.version + 1,
      expires: tufExpiry(new Date(Date.now() + this.settings.expiryDays.root * DAY_MS)), consistent_snapshot: old.consistentSnapshot, keys: allKeys, roles,
    }));
    const signers = change.signWith ?? [...keys.values()].filter((k) => old.roles.root.keyIDs.includes(k.keyId) || roles.root.keyids.includes(k.keyId));
    signWith(next, signers);
    this.roots.push(next);
    if (role === 'targets') this.resign(['targets'], keys);
    else if (role === 'snapshot' || role === 'timestamp') this.commit(keys);
    return next;
  }

  /** New snapshot (listing every targets role) and timestamp versions, signed. */
  commit(keys: Map<string, SigningKey>, overrides: { snapshot?: SignOptions; timestamp?: SignOptions } = {}): void {
    const days = this.settings.expiryDays;
    const expires = (d: number, o?: SignOptions) => tufExpiry(o?.expires ?? new Date(Date.now() + d * DAY_MS));
    const meta: Record<string, MetaFile> = { 'targets.json': metaFileFor(this.targets.signed.version, serializeMetadata(this.targets)) };
    for (const [name, md] of this.delegated) meta[`${name}.json`] = metaFileFor(md.signed.version, serializeMetadata(md));
    const unchangedSnapshot = !overrides.snapshot && this.snapshot.signed.version > 0 &&
      Object.entries(meta).every(([name, file]) => this.snapshot.signed.meta[name]?.equals(file)) &&
      Object.keys(this.snapshot.signed.meta).length === Object.keys(meta).length;
    if (!unchangedSnapshot) {
      this.snapshot = new Metadata(new Snapshot({
        version: overrides.snapshot?.version ?? this.snapshot.signed.version + 1, specVersion: SPEC_VERSION,
        expires: expires(days.snapshot, overrides.snapshot), meta,
      }));
      signWith(this.snapshot, keysFor(this.root.signed.roles.snapshot, keys, 'snapshot'));
    }
    this.timestamp = new Metadata(new Timestamp({
      version: overrides.timestamp?.version ?? this.timestamp.signed.version + 1, specVersion: SPEC_VERSION,
      expires: expires(days.timestamp, overrides.timestamp),
      snapshotMeta: metaFileFor(this.snapshot.signed.version, serializeMetadata(this.snapshot)),
    }));
    signWith(this.timestamp, keysFor(this.root.signed.roles.timestamp, keys, 'timestamp'));
  }

  /** Every signature checked the way a box checks it (root chain, top-level roles, delegations). */
  verify(): void {
    const check = (what: string, action: () => void) => {
      try {
        action();
      } catch (e) {
        throw new OtaToolError('BAD_REPOSITORY', `${what}: ${(e as Error).message}; sign it with more keys (pathbox ota sign)`);
      }
    };
    this.roots.forEach((root, i) => {
      if (i > 0) check(`root v${root.signed.version} by root v${i}`, () => this.roots[i - 1].verifyDelegate('root', root));
      check(`root v${root.signed.version}`, () => root.verifyDelegate('root', root));
    });
    check('targets', () => this.root.verifyDelegate('targets', this.targets));
    check('snapshot', () => this.root.verifyDelegate('snapshot', this.snapshot));
    check('timestamp', () => this.root.verifyDelegate('timestamp', this.timestamp));
    for (const [name, md] of this.delegated) check(name, () => this.targets.verifyDelegate(name, md));
  }

  async save(): Promise<void> {
    await mkdir(this.metadataDir, { recursive: true });
    await replaceFileDurably(path.join(this.dir, 'repo.json'), `${JSON.stringify(this.settings, null, 2)}\n`);
    for (const root of this.roots) await replaceFileDurably(path.join(this.metadataDir, `${root.signed.version}.root.json`), serializeMetadata(root));
    await replaceFileDurably(path.join(this.metadataDir, 'root.json'), serializeMetadata(this.root));
    for (const [name, md] of this.delegated) await replaceFileDurably(path.join(this.metadataDir, `${name}.json`), serializeMetadata(md));
    await replaceFileDurably(path.join(this.metadataDir, 'targets.json'), serializeMetadata(this.targets));
    await replaceFileDurably(path.join(this.metadataDir, 'snapshot.json'), serializeMetadata(this.snapshot));
    await replaceFileDurably(path.join(this.metadataDir, 'timestamp.json'), serializeMetadata(this.timestamp));
  }

  private previousRootKeyIds(): string[] {
    return this.roots.length > 1 ? this.roots[this.roots.length - 2].signed.roles.root.keyIDs : [];
  }

  private delegate(roleName: string, paths: string[], keys: Map<string, SigningKey>): void {
    if (!ROLE_NAME_PATTERN.test(roleName)) throw new OtaToolError('BAD_ARGUMENT', `"${roleName}" is not a role name`);
    const modelsKey = keys.get('models');
    if (!modelsKey) throw new OtaToolError('MISSING_KEY', 'no "models" key in the key directory (it signs the model roles)');
    const existing = this.targets.signed.delegations?.toJSON() as { keys: Record<string, Json>; roles: Json[] } | undefined;
    const delegations = Targets.fromJSON({
      _type: 'targets', spec_version: SPEC_VERSION, version: 1, expires: this.targets.signed.expires, targets: {},
      delegations: {
        keys: { ...existing?.keys, [modelsKey.keyId]: modelsKey.tufKey.toJSON() },
        roles: [...(existing?.roles ?? []), { name: roleName, keyids: [modelsKey.keyId], threshold: 1, terminating: true, paths }],
      },
    }).delegations;
    this.targets = this.revisedTargets(this.targets, this.targets.signed.targets, delegations, this.settings.expiryDays.targets);
    signWith(this.targets, keysFor(this.root.signed.roles.targets, keys, 'targets'));
    this.delegated.set(roleName, new Metadata(new Targets({
      version: 0, specVersion: SPEC_VERSION, expires: tufExpiry(new Date(Date.now() + this.settings.expiryDays.delegated * DAY_MS)),
    })));
  }

  private signDelegated(roleName: string, keys: Map<string, SigningKey>): void {
    const role = this.targets.signed.delegations?.roles?.[roleName];
    if (!role) throw new OtaToolError('BAD_REPOSITORY', `targets does not delegate "${roleName}"`);
    signWith(this.delegated.get(roleName)!, keysFor(role, keys, roleName));
  }

  private revisedTargets(md: Metadata<Targets>, targets: Record<string, TargetFile>, delegations: Delegations | undefined, days: number, options: SignOptions = {}): Metadata<Targets> {
    return new Metadata(new Targets({
      version: options.version ?? md.signed.version + 1, specVersion: md.signed.specVersion,
      expires: tufExpiry(options.expires ?? new Date(Date.now() + days * DAY_MS)), targets, delegations,
    }));
  }
}
