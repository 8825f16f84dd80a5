import { access } from 'node:fs/promises';
import path from 'node:path';
import type { HardwareProfile } from '../device/index.ts';
import { builtInBundleDir, ensureBuiltInModels } from './built-in.ts';
import { loadBundle, type ModelBundle } from './bundle.ts';
import { ModelBundleError } from './errors.ts';
import { createSession, type ModelSession } from './inference.ts';
import { MANIFEST_FILE } from './manifest.ts';
import type { ModelRegistry } from './registry.ts';
import { selectVariant, type Selection, type SelectionOptions } from './selection.ts';

/** A model ready to serve: its verified bundle, the variant chosen for this hardware, and an open session. */
export interface ModelRuntime {
  bundle: ModelBundle;
  selection: Selection;
  session: ModelSession;
  /** Where the bundle came from: an installed version, a built-in bundle, or a directory named by the user. */
  origin: 'installed' | 'built-in' | 'directory';
}

/**
 * Resolves a model reference (a bundle directory, or an id: the registry's active version first, then
 * the built-in bundle), verifies it completely, picks the variant for this hardware and opens it.
 */
export async function openModel(
  ref: string,
  hardware: HardwareProfile,
  options: { registry?: ModelRegistry; selection?: SelectionOptions } = {},
): Promise<ModelRuntime> {
  const { dir, origin } = await locateBundle(ref, options.registry);
  const bundle = await loadBundle(dir);
  const selection = selectVariant(hardware, { name: bundle.manifest.id, input: bundle.manifest.input, variants: bundle.manifest.variants }, options.selection);
  const session = await createSession(bundle, selection.variant.name, {
    executionProvider: selection.executionProvider as ModelSession['executionProvider'],
    intraOpThreads: selection.intraOpThreads,
    thread: true,
  });
  return { bundle, selection, session, origin };
}

async function locateBundle(ref: string, registry?: ModelRegistry): Promise<{ dir: string; origin: ModelRuntime['origin'] }> {
  if (ref.includes('/') || ref.startsWith('.')) {
    const dir = path.resolve(ref);
    try {
      await access(path.join(dir, MANIFEST_FILE));
    } catch {
      throw new ModelBundleError('FILE_MISSING', `${dir} is not a model bundle (no ${MANIFEST_FILE})`);
    }
    return { dir, origin: 'directory' };
  }
  const installed = await registry?.getActive(ref);
  if (installed) return { dir: installed.dir, origin: 'installed' };
  await ensureBuiltInModels();
  try {
    return { dir: builtInBundleDir(ref), origin: 'built-in' };
  } catch {
    throw new ModelBundleError('NOT_INSTALLED', `no model "${ref}": not installed${registry ? ` in ${registry.root}` : ''} and not built in`);
  }
}
