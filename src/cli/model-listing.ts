import { ensureBuiltInModels, readBundleManifest, type ModelRegistry } from '../models/index.ts';

export interface ModelListing {
  id: string;
  version: string;
  releaseCounter: number | null;
  task: string | null;
  origin: 'installed' | 'built-in';
  active: boolean;
  dir: string;
  researchOnly: boolean | null;
  variants: { name: string; precision: string; executionProviders: string[]; minMemoryMB: number }[];
  error?: string;
}

/** Installed bundles (with the active one marked) and the built-in bundles. */
export async function listModels(registry?: ModelRegistry): Promise<ModelListing[]> {
  const out: ModelListing[] = [];
  for (const entry of registry ? await registry.listInstalled() : []) {
    if (!entry.ok) {
      out.push({ id: entry.id, version: entry.version, releaseCounter: null, task: null, origin: 'installed', active: entry.active, dir: entry.dir, researchOnly: null, variants: [], error: entry.error.message });
      continue;
    }
    const m = entry.manifest;
    out.push({ id: m.id, version: m.version, releaseCounter: m.releaseCounter, task: m.task, origin: 'installed', active: entry.active, dir: entry.dir, researchOnly: m.researchOnly, variants: m.variants.map(variantListing) });
  }
  for (const dir of await ensureBuiltInModels()) {
    const m = await readBundleManifest(dir);
    const shadowed = out.some((e) => e.id === m.id && e.active);
    out.push({ id: m.id, version: m.version, releaseCounter: m.releaseCounter, task: m.task, origin: 'built-in', active: !shadowed, dir, researchOnly: m.researchOnly, variants: m.variants.map(variantListing) });
  }
  return out;
}

function variantListing(v: { name: string; precision: string; executionProviders: readonly string[]; minMemoryMB: number }) {
  return { name: v.name, precision: v.precision, executionProviders: [...v.executionProviders], minMemoryMB: v.minMemoryMB };
}
