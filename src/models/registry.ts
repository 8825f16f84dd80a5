/**
 * Installed model bundles and the active version of each model id, on disk:
 *   <root>/<id>/<version>/manifest.json ...   installed bundles, never modified once installed
 *   <root>/<id>/active.json                   which version serves; replaced atomically (temp file, fsync, rename, fsync dir)
 * A version is installed into a staging directory, verified there (digests, signature, self-test) and only then
 * renamed into place, so a half-copied or failing bundle is never visible as installed.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { loadBundle, type ModelBundle, readBundleManifest } from './bundle.ts';
import { resolveBundleFile } from './bundle-files.ts';
import { fsyncPath, replaceFileDurably, writeFileDurably } from './durable-files.ts';
import { errorMessage, isModelBundleError, ModelBundleError } from './errors.ts';
import { bundleFiles, MODEL_ID_PATTERN, type ModelManifest, SEMVER_PATTERN } from './manifest.ts';
import type { SelfTestResult } from './self-test.ts';
import { compareSemver } from './semver.ts';

const ACTIVE_FILE = 'active.json';
const STAGING_PREFIX = '.staging-';

const activePointerSchema = z.strictObject({
  id: z.string().regex(MODEL_ID_PATTERN),
  version: z.string().regex(SEMVER_PATTERN),
  releaseCounter: z.int().nonnegative(),
  activatedAt: z.string(),
  /** The version that served before this one: kept installed (GC spares it) so a rollback has somewhere to go. */
  previousVersion: z.string().regex(SEMVER_PATTERN).optional(),
});
export type ActivePointer = z.infer<typeof activePointerSchema>;

export interface InstalledBundle {
  id: string;
  version: string;
  dir: string;
  manifest: ModelManifest;
  active: boolean;
}

/** An installed directory whose manifest cannot be read is listed with its error instead of hiding it. */
export type InstalledEntry =
  | ({ ok: true } & InstalledBundle)
  | { ok: false; id: string; version: string; dir: string; active: boolean; error: ModelBundleError };

async function isDirectory(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

async function listDirectories(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    return entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

export class ModelRegistry {
  readonly root: string;

  constructor(root: string) {
    this.root = path.resolve(root);
  }

  /** Directory of an installed version; refuses ids and versions that could not be directory names here. */
  bundleDir(id: string, version: string): string {
    if (!MODEL_ID_PATTERN.test(id)) throw new ModelBundleError('NOT_INSTALLED', `"${id}" is not a valid model id`);
    if (!SEMVER_PATTERN.test(version)) throw new ModelBundleError('NOT_INSTALLED', `"${version}" is not a semantic version`);
    return path.join(this.root, id, version);
  }

  async listInstalled(): Promise<InstalledEntry[]> {
    const entries: InstalledEntry[] = [];
    for (const id of await listDirectories(this.root)) {
      if (!MODEL_ID_PATTERN.test(id)) continue;
      const activeVersion = await this.readPointer(id).then((p) => p?.version, () => undefined);
      const versions = (await listDirectories(path.join(this.root, id))).filter((v) => SEMVER_PATTERN.test(v));
      for (const version of versions.sort(compareSemver)) {
        const dir = path.join(this.root, id, version);
        const active = version === activeVersion;
        try {
          entries.push({ ok: true, ...(await this.readInstalled(id, version, active)) });
        } catch (e) {
          if (!isModelBundleError(e)) throw e;
          entries.push({ ok: false, id, version, dir, active, error: e });
        }
      }
    }
    return entries;
  }

  /** The active version of a model id, or null when none was ever activated. */
  async getActive(id: string): Promise<InstalledBundle | null> {
    const pointer = await this.readPointer(id);
    if (!pointer) return null;
    if (!(await isDirectory(this.bundleDir(id, pointer.version)))) {
      throw new ModelBundleError('NOT_INSTALLED', `${id}: the active version ${pointer.version} is not installed`);
    }
    return this.readInstalled(id, pointer.version, true);
  }

  /**
   * Makes an installed version the one that serves. The version is verified completely first (loadBundle),
   * so a bundle damaged on disk since it was installed is refused and the previous version stays active.
   * The version serving until now becomes `previousVersion` unless `options.previousVersion` says otherwise
   * (a rollback passes null: the failed version is not worth keeping).
   */
  async setActive(id: string, version: string, options: { previousVersion?: string | null } = {}): Promise<ModelBundle> {
    const dir = this.bundleDir(id, version);
    if (!(await isDirectory(dir))) throw new ModelBundleError('NOT_INSTALLED', `${id} ${version} is not installed in ${this.root}`);
    const bundle = await loadBundle(dir);
    this.checkPlacement(id, version, bundle.manifest);
    const current = await this.readPointer(id).catch(() => null);
    const previousVersion = options.previousVersion === undefined
      ? (current && current.version !== version ? current.version : current?.previousVersion)
      : options.previousVersion ?? undefined;
    const pointer: ActivePointer = {
      id, version, releaseCounter: bundle.manifest.releaseCounter, activatedAt: new Date().toISOString(),
      ...(previousVersion && previousVersion !== version ? { previousVersion } : {}),
    };
    await replaceFileDurably(path.join(this.root, id, ACTIVE_FILE), `${JSON.stringify(pointer, null, 2)}\n`);
    return bundle;
  }

  /**
   * Removes the active pointer, so the model id falls back to its built-in bundle: the rollback of a first
   * installed version, which has no previous version to return to.
   */
  async clearActive(id: string): Promise<void> {
    const idDir = path.dirname(this.bundleDir(id, '0.0.0'));
    await rm(path.join(idDir, ACTIVE_FILE), { force: true });
    if (await isDirectory(idDir)) await fsyncPath(idDir);
  }

  /** Deletes an installed version that is neither active nor previous (a release that was rolled back). */
  async remove(id: string, version: string): Promise<void> {
    const pointer = await this.readPointer(id);
    if (pointer?.version === version || pointer?.previousVersion === version) {
      throw new ModelBundleError('INSTALL_CONFLICT', `${id} ${version} is the ${pointer.version === version ? 'active' : 'previous'} version and is kept`);
    }
    await rm(this.bundleDir(id, version), { recursive: true, force: true });
    await fsyncPath(path.join(this.root, id)).catch(() => {});
  }

  /** The active-version pointer of a model id as stored, or null when none was ever activated. */
  activePointer(id: string): Promise<ActivePointer | null> {
    return this.readPointer(id);
  }

  /**
   * Removes installed versions of `id` other than the active and the previous one, and staging directories
   * left by an interrupted install. Returns the removed versions.
   */
  async collectGarbage(id: string): Promise<string[]> {
    const pointer = await this.readPointer(id);
    const keep = new Set([pointer?.version, pointer?.previousVersion].filter((v): v is string => !!v));
    const idDir = path.join(this.root, id);
    const removed: string[] = [];
    for (const name of await listDirectories(idDir)) {
      // Without an active version nothing installed is known to be unused.
      const stale = name.startsWith(STAGING_PREFIX) || (pointer !== null && SEMVER_PATTERN.test(name) && !keep.has(name));
      if (!stale) continue;
      await rm(path.join(idDir, name), { recursive: true, force: true });
      if (!name.startsWith(STAGING_PREFIX)) removed.push(name);
    }
    if (removed.length > 0) await fsyncPath(idDir);
    return removed;
  }

  /**
   * Copies the files a bundle's manifest lists into <root>/<id>/<version>, verifying the copy (loadBundle) before
   * it becomes visible. Refuses a version that is already installed, and a releaseCounter that does not grow
   * with the version among the installed versions of the same id.
   */
  async install(sourceDir: string): Promise<InstalledBundle & { selfTest: SelfTestResult[] }> {
    const manifest = await readBundleManifest(sourceDir);
    const { id, version, releaseCounter } = manifest;
    const target = this.bundleDir(id, version);
    if (await isDirectory(target)) throw new ModelBundleError('INSTALL_CONFLICT', `${id} ${version} is already installed`);
    await this.checkReleaseCounter(manifest);

    const idDir = path.join(this.root, id);
    const staging = path.join(idDir, `${STAGING_PREFIX}${version}-${randomBytes(4).toString('hex')}`);
    await mkdir(staging, { recursive: true });
    try {
      const directories = new Set<string>([staging]);
      for (const file of bundleFiles(manifest)) {
        const source = await resolveBundleFile(sourceDir, file, 'bundle file');
        const destination = path.join(staging, ...file.split('/'));
        await mkdir(path.dirname(destination), { recursive: true });
        directories.add(path.dirname(destination));
        await writeFileDurably(destination, await readFile(source));
      }
      for (const dir of directories) await fsyncPath(dir);
      const verified = await loadBundle(staging);
      if (verified.manifest.releaseCounter !== releaseCounter) {
        throw new ModelBundleError('INSTALL_CONFLICT', `${id} ${version}: manifest changed while it was being installed`);
      }
      await rename(staging, target);
      await fsyncPath(idDir);
      return { ...(await this.readInstalled(id, version, false)), selfTest: verified.selfTest };
    } catch (e) {
      await rm(staging, { recursive: true, force: true });
      throw e;
    }
  }

  private async readPointer(id: string): Promise<ActivePointer | null> {
    const file = path.join(this.root, id, ACTIVE_FILE);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new ModelBundleError('ACTIVE_POINTER_INVALID', `${file} cannot be read: ${errorMessage(e)}`, { cause: e });
    }
    let parsed: ActivePointer;
    try {
      parsed = activePointerSchema.parse(JSON.parse(text));
    } catch (e) {
      throw new ModelBundleError('ACTIVE_POINTER_INVALID', `${file} is not a valid active-version pointer: ${errorMessage(e)}`, { cause: e });
    }
    if (parsed.id !== id) throw new ModelBundleError('ACTIVE_POINTER_INVALID', `${file} names model "${parsed.id}"`);
    return parsed;
  }

  private async readInstalled(id: string, version: string, active: boolean): Promise<InstalledBundle> {
    const dir = this.bundleDir(id, version);
    const manifest = await readBundleManifest(dir);
    this.checkPlacement(id, version, manifest);
    return { id, version, dir, manifest, active };
  }

  private checkPlacement(id: string, version: string, manifest: ModelManifest): void {
    if (manifest.id !== id || manifest.version !== version) {
      throw new ModelBundleError(
        'MANIFEST_INVALID',
        `installed as ${id}/${version} but its manifest says ${manifest.id} ${manifest.version}`,
      );
    }
  }

  private async checkReleaseCounter(manifest: ModelManifest): Promise<void> {
    const siblings = (await this.listInstalled()).filter((e) => e.ok && e.id === manifest.id);
    for (const other of siblings) {
      if (!other.ok) continue;
      const versionOrder = Math.sign(compareSemver(manifest.version, other.version));
      const counterOrder = Math.sign(manifest.releaseCounter - other.manifest.releaseCounter);
      if (versionOrder !== counterOrder) {
        throw new ModelBundleError(
          'INSTALL_CONFLICT',
          `${manifest.id} ${manifest.version} has releaseCounter ${manifest.releaseCounter}, but installed ` +
            `${other.version} has ${other.manifest.releaseCounter}: the counter must grow with the version`,
        );
      }
    }
  }
}
