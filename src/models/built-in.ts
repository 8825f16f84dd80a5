/**
 * The bundles built from code and shipped with the box (models/<id>/). Their ONNX files are build outputs
 * (npm run build:models); ensureBuiltInModels() builds them in-process when they are missing or stale.
 */
import { access, readFile } from 'node:fs/promises';
import path from 'node:path';
import { BUILT_IN_MODEL_IDS, buildBuiltInModels, MODELS_DIR } from '../../models/build/build-models.ts';
import { readBundleManifest } from './bundle.ts';
import { sha256Hex } from './bundle-files.ts';
import { bundleFiles } from './manifest.ts';

export function builtInModelsDir(): string {
  return MODELS_DIR;
}

/** Directory of one built-in bundle, e.g. builtInBundleDir('cellularity'). */
export function builtInBundleDir(id: string): string {
  if (!BUILT_IN_MODEL_IDS.includes(id)) throw new Error(`no built-in model "${id}" (built-in: ${BUILT_IN_MODEL_IDS.join(', ')})`);
  return path.join(MODELS_DIR, id);
}

async function isComplete(dir: string): Promise<boolean> {
  try {
    const manifest = await readBundleManifest(dir);
    for (const file of bundleFiles(manifest)) await access(path.join(dir, file));
    for (const variant of manifest.variants) {
      if (sha256Hex(await readFile(path.join(dir, variant.file))) !== variant.sha256) return false;
    }
    return true;
  } catch {
    return false;
  }
}

/** Builds the built-in bundles unless every file is present and matches its manifest; returns their directories. */
export async function ensureBuiltInModels(): Promise<string[]> {
  const dirs = BUILT_IN_MODEL_IDS.map(builtInBundleDir);
  const complete = await Promise.all(dirs.map(isComplete));
  if (complete.every(Boolean)) return dirs;
  return buildBuiltInModels(MODELS_DIR);
}
