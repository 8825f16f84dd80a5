/** Helpers for the model tests: throw-away copies of the built-in bundle to damage in one way each. */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { builtInBundleDir, ensureBuiltInModels } from '../../src/models/index.ts';

type Json = Record<string, unknown>;

/** A fresh temporary directory, removed when the test file ends. */
export async function tempDir(prefix = 'pathbox-models-'): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A private copy of the built-in cellularity bundle (built first if needed). */
export async function cellularityCopy(): Promise<string> {
  await ensureBuiltInModels();
  const dir = path.join(await tempDir(), 'cellularity');
  await cp(builtInBundleDir('cellularity'), dir, { recursive: true });
  return dir;
}

export async function readManifestJson(dir: string): Promise<Json> {
  return JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')) as Json;
}

/** Rewrites a bundle's manifest.json through an edit function working on the parsed JSON. */
export async function editManifest(dir: string, edit: (manifest: Json) => void): Promise<void> {
  const manifest = await readManifestJson(dir);
  edit(manifest);
  await writeFile(path.join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2));
}

/** The object at a dotted path such as 'input.size' or 'variants.0' (test data only, so no checks). */
export function at(json: Json, dotted: string): Json {
  return dotted.split('.').reduce<Json>((node, key) => node[key] as Json, json);
}

/** A copy of the built-in cellularity bundle relabelled as another release. */
export async function cellularityRelease(version: string, releaseCounter: number): Promise<string> {
  const dir = await cellularityCopy();
  await editManifest(dir, (m) => Object.assign(m, { version, releaseCounter }));
  return dir;
}
