/**
 * A release's files on the box, content-addressed:
 *   <ota>/partial/<sha256>.part (+ .part.json)   a download in progress (resumable, survives restarts)
 *   <ota>/objects/<sha256>                       a file verified against its signed target, read-only
 *   <ota>/staged/<manifest sha256>/<file>        the bundle assembled from objects (hard links) for the registry
 * Objects are verified with @tufjs/models' TargetFile.verify (length and every listed hash) and again before
 * staging, so nothing is installed that was not checked after it reached internal storage.
 */
import { createReadStream } from 'node:fs';
import { chmod, copyFile, link, mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { TargetFile } from '@tufjs/models';
import { bundleFiles, fsyncPath, type ModelManifest, parseManifestText } from '../models/index.ts';
import { isNoSpace, OtaError } from './errors.ts';
import { targetUrl, type TrustedRelease } from './metadata-view.ts';
import { downloadResumable, type TransferLimits, type WriteFault } from './transfer.ts';

export interface ReleaseFileDirs {
  objects: string;
  partial: string;
  staged: string;
}

export function releaseFileDirs(otaDir: string): ReleaseFileDirs {
  return { objects: path.join(otaDir, 'objects'), partial: path.join(otaDir, 'partial'), staged: path.join(otaDir, 'staged') };
}

/** TUF's own check of a file against its signed target; TARGET_MISMATCH when it fails. */
async function verifyTarget(file: string, target: TargetFile): Promise<void> {
  if (!target.hashes.sha256) throw new OtaError('TARGET_MISMATCH', `${target.path}: no sha256 among the signed hashes (${Object.keys(target.hashes).join(', ') || 'none'})`);
  try {
    await target.verify(createReadStream(file));
  } catch (e) {
    throw new OtaError('TARGET_MISMATCH', `${target.path}: ${(e as Error).message}`, { cause: e });
  }
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(() => true, () => false);
}

/** Bytes still to download for a release (files not yet verified objects). */
export async function missingBytes(release: TrustedRelease, dirs: ReleaseFileDirs): Promise<number> {
  let total = 0;
  for (const { target } of release.files) if (!(await exists(path.join(dirs.objects, target.hashes.sha256)))) total += target.length;
  return total;
}

export interface DownloadOptions {
  targetsUrl: string;
  consistentSnapshot: boolean;
  limits: TransferLimits;
  signal: AbortSignal;
  fault?: WriteFault;
  checkpoint?: (step: string) => void | Promise<void>;
}

/**
 * Makes every file of the release a verified object, resuming partial downloads. A file whose bytes fail
 * verification is discarded and downloaded again, within the attempt budget.
 */
export async function downloadRelease(release: TrustedRelease, dirs: ReleaseFileDirs, options: DownloadOptions): Promise<void> {
  await mkdir(dirs.objects, { recursive: true });
  await mkdir(dirs.partial, { recursive: true });
  for (const { target } of release.files) {
    const digest = target.hashes.sha256;
    if (!digest) throw new OtaError('TARGET_MISMATCH', `${target.path}: no sha256 among the signed hashes`);
    const object = path.join(dirs.objects, digest);
    if (await exists(object)) continue;
    const partial = path.join(dirs.partial, `${digest}.part`);
    const url = targetUrl(options.targetsUrl, target, options.consistentSnapshot);
    for (let attempt = 1; ; attempt++) {
      await downloadResumable(url, partial, target.length, options.limits, options.signal, options.fault);
      await options.checkpoint?.('download:file');
      try {
        await verifyTarget(partial, target);
        break;
      } catch (e) {
        await rm(partial, { force: true });
        await rm(`${partial}.json`, { force: true });
        if (attempt >= options.limits.maxAttempts) throw e;
      }
    }
    await chmod(partial, 0o444);
    await rename(partial, object);
    await rm(`${partial}.json`, { force: true });
    await fsyncPath(dirs.objects);
  }
}

/**
 * Verifies the objects again and lays the bundle out for the registry. The signed file list must be exactly
 * the bundle's files (nothing missing, nothing extra), and the manifest must say what the signed facts say.
 */
export async function assembleBundle(release: TrustedRelease, dirs: ReleaseFileDirs): Promise<string> {
  for (const { target } of release.files) await verifyTarget(path.join(dirs.objects, target.hashes.sha256), target);
  const { facts } = release;
  const manifestText = await readFile(path.join(dirs.objects, release.manifestSha256), 'utf8');
  let parsed: ModelManifest;
  try {
    parsed = parseManifestText(manifestText, 'manifest.json');
  } catch (e) {
    throw new OtaError('BUNDLE_INVALID', `${facts.modelId} ${facts.version}: ${(e as Error).message}`, { cause: e });
  }
  if (parsed.id !== facts.modelId || parsed.version !== facts.version || parsed.releaseCounter !== facts.releaseCounter) {
    throw new OtaError('BUNDLE_INVALID', `the manifest says ${parsed.id} ${parsed.version} (release ${parsed.releaseCounter}); the signed facts say ${facts.modelId} ${facts.version} (release ${facts.releaseCounter})`);
  }
  const listed = new Set(Object.keys(facts.files));
  const needed = new Set(bundleFiles(parsed));
  const missing = [...needed].filter((f) => !listed.has(f));
  const extra = [...listed].filter((f) => !needed.has(f));
  if (missing.length > 0 || extra.length > 0) {
    throw new OtaError('BUNDLE_INVALID', `${facts.modelId} ${facts.version}: ${[missing.length ? `missing ${missing.join(', ')}` : '', extra.length ? `not part of the bundle ${extra.join(', ')}` : ''].filter(Boolean).join('; ')}`);
  }
  const bundleDir = path.join(dirs.staged, release.manifestSha256);
  await rm(bundleDir, { recursive: true, force: true });
  try {
    for (const { file, target } of release.files) {
      const destination = path.join(bundleDir, ...file.split('/'));
      await mkdir(path.dirname(destination), { recursive: true });
      const object = path.join(dirs.objects, target.hashes.sha256);
      await link(object, destination).catch(() => copyFile(object, destination));
    }
  } catch (e) {
    if (isNoSpace(e)) throw new OtaError('NO_SPACE', `no space to stage ${facts.modelId} ${facts.version}`, { cause: e });
    throw e;
  }
  return bundleDir;
}

/** Removes every downloaded object, partial download and staged bundle (after a job, nothing needs them). */
export async function collectReleaseFiles(dirs: ReleaseFileDirs, checkpoint?: (step: string) => void | Promise<void>): Promise<void> {
  await rm(dirs.staged, { recursive: true, force: true });
  for (const dir of [dirs.objects, dirs.partial]) {
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      await rm(path.join(dir, name), { force: true });
      await checkpoint?.('gc:file');
    }
  }
}
