/**
 * A vendor for OTA tests: real Ed25519 keys, a real TUF repository on disk (ota/), real model bundles (copies
 * of the built-in cellularity bundle relabelled as new releases), published into a folder that the test
 * server (repo-server.ts) serves or that stands for a USB stick.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Metadata, MetadataKind } from '@tufjs/models';
import {
  DEFAULT_KEY_NAMES, generateSigningKey, loadKeys, publishRepository, Repository, serializeMetadata, writeNewKeys, type ModelOptions, type SigningKey,
} from '../../../ota/index.ts';
import { cellularityCopy, editManifest, tempDir } from '../../models/bundle-fixtures.ts';

export interface Vendor {
  dir: string;
  keys: Map<string, SigningKey>;
  repo: Repository;
  /** The published folder (metadata/ and targets/), served over HTTP or used as a USB bundle. */
  published: string;
  /** The factory root a box pins. */
  factoryRoot: string;
  publish(): Promise<void>;
  /** A fresh key, added to the keyring. */
  newKey(name: string): SigningKey;
}

export async function makeVendor(options: { rootThreshold?: number } = {}): Promise<Vendor> {
  const dir = await tempDir('pathbox-ota-vendor-');
  await writeNewKeys(path.join(dir, 'keys'), DEFAULT_KEY_NAMES);
  const keys = await loadKeys(path.join(dir, 'keys'));
  const repo = await Repository.init(path.join(dir, 'repo'), keys, { rootThreshold: options.rootThreshold ?? 1 });
  const published = path.join(dir, 'published');
  const vendor: Vendor = {
    dir, keys, repo, published,
    factoryRoot: path.join(published, 'metadata', '1.root.json'),
    publish: async () => {
      await vendor.repo.save();
      await publishRepository(vendor.repo, published);
    },
    newKey: (name) => {
      const { key } = generateSigningKey(name);
      keys.set(name, key);
      return key;
    },
  };
  await vendor.publish();
  return vendor;
}

/** A copy of the built-in bundle as another release; `edit` may change the manifest further. */
export async function releaseBundle(version: string, releaseCounter: number, edit?: (manifest: Record<string, unknown>) => void): Promise<string> {
  const dir = await cellularityCopy();
  await editManifest(dir, (m) => {
    Object.assign(m, { version, releaseCounter });
    edit?.(m);
  });
  return dir;
}

/** A release whose self-test expects a value the model does not produce (it loads, but fails its self-test). */
export function failingSelfTest(manifest: Record<string, unknown>): void {
  const vectors = (manifest.selfTest as { vectors: { expected: { values: number[] }[] }[] }).vectors;
  vectors[1].expected[0].values = [0.2];
}

/** Adds a release to the vendor's repository (unverified, so broken models can be published) and publishes. */
export async function addRelease(vendor: Vendor, version: string, releaseCounter: number, options: Partial<ModelOptions> & { edit?: (m: Record<string, unknown>) => void } = {}): Promise<string> {
  const bundle = await releaseBundle(version, releaseCounter, options.edit);
  await vendor.repo.addModel(bundle, vendor.keys, { releaseCounter, verify: false, ...options });
  await vendor.publish();
  return bundle;
}

/** The published bytes of a metadata file, e.g. 'timestamp.json' or '3.snapshot.json'. */
export function publishedMetadata(vendor: Vendor, name: string): Promise<Buffer> {
  return readFile(path.join(vendor.published, 'metadata', name));
}

export async function overwritePublished(vendor: Vendor, name: string, bytes: Buffer | string): Promise<void> {
  await writeFile(path.join(vendor.published, 'metadata', name), bytes);
}

type AnyKind = MetadataKind.Root | MetadataKind.Timestamp | MetadataKind.Snapshot | MetadataKind.Targets;

/** Edits published metadata JSON and re-signs it with `signers` (or leaves the old signatures when null). */
export async function tamperPublished(vendor: Vendor, name: string, kind: AnyKind, edit: (signed: Record<string, unknown>) => void, signers: SigningKey[] | null): Promise<void> {
  const json = JSON.parse((await publishedMetadata(vendor, name)).toString('utf8'));
  edit(json.signed);
  if (signers) {
    const md = Metadata.fromJSON(kind as MetadataKind.Targets, { ...json, signatures: [] });
    for (const key of signers) md.sign((data) => key.sign(data));
    await overwritePublished(vendor, name, serializeMetadata(md));
  } else {
    await overwritePublished(vendor, name, `${JSON.stringify(json, null, 2)}\n`);
  }
}

export function key(vendor: Vendor, name: string): SigningKey {
  const found = vendor.keys.get(name);
  if (!found) throw new Error(`no key ${name}`);
  return found;
}

/**
 * Writes the repository's current metadata into the published folder without the signature checks of
 * `ota publish`: how an attacker (or a broken signer) gets bad metadata onto a mirror.
 */
export async function publishUnchecked(vendor: Vendor): Promise<void> {
  const { repo } = vendor;
  const write = (name: string, md: Parameters<typeof serializeMetadata>[0]) => overwritePublished(vendor, name, serializeMetadata(md));
  for (const root of repo.roots) await write(`${root.signed.version}.root.json`, root);
  for (const [name, md] of repo.delegated) await write(`${md.signed.version}.${name}.json`, md);
  await write(`${repo.targets.signed.version}.targets.json`, repo.targets);
  await write(`${repo.snapshot.signed.version}.snapshot.json`, repo.snapshot);
  await write('timestamp.json', repo.timestamp);
}

/** Replaces a role's signatures with those of `signers`. */
export function resignWith(md: Metadata<Parameters<typeof serializeMetadata>[0]['signed']>, signers: SigningKey[]): void {
  md.signatures = {};
  for (const signer of signers) md.sign((data) => signer.sign(data));
}

type TargetsJson = Record<string, { length: number; hashes: Record<string, string>; custom?: { pathbox?: Record<string, any> } }>;

/** Edits the model role's targets as JSON (a new role version signed by the models key), then commits and publishes. */
export async function editModelRole(vendor: Vendor, edit: (targets: TargetsJson) => void): Promise<void> {
  const md = vendor.repo.delegated.get('model-cellularity')!;
  const json = md.signed.toJSON() as Record<string, any>;
  json.version += 1;
  edit(json.targets);
  const next = Metadata.fromJSON(MetadataKind.Targets, { signed: json, signatures: [] });
  resignWith(next, [key(vendor, 'models')]);
  vendor.repo.delegated.set('model-cellularity', next);
  vendor.repo.commit(vendor.keys);
  await vendor.publish();
}

/** The release facts (custom.pathbox) of a listed version, for editing inside editModelRole. */
export function factsOf(targets: TargetsJson, version: string): Record<string, any> {
  return targets[`models/cellularity/${version}/manifest.json`].custom!.pathbox!;
}

/** Adds a file to the repository's targets folder (so publishing finds it) and returns its target entry. */
export async function stageTargetFile(vendor: Vendor, targetPath: string, bytes: Buffer): Promise<{ length: number; hashes: { sha256: string } }> {
  const file = path.join(vendor.repo.targetsDir, ...targetPath.split('/'));
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, bytes);
  return { length: bytes.length, hashes: { sha256: createHash('sha256').update(bytes).digest('hex') } };
}
