/**
 * Builds every built-in model bundle into models/<id>/. Run as `node models/build/build-models.ts`
 * (npm run build:models); src/models/built-in.ts runs it in-process when bundles are missing.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildCellularityBundle, CELLULARITY_ID } from './build-cellularity.ts';

/** models/ at the top of the repository: built-in bundles live in models/<id>/. */
export const MODELS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export const BUILT_IN_MODEL_IDS: readonly string[] = [CELLULARITY_ID];

/** Writes each built-in bundle into modelsDir/<id>/ and returns the bundle directories. */
export async function buildBuiltInModels(modelsDir: string = MODELS_DIR): Promise<string[]> {
  const dir = path.join(modelsDir, CELLULARITY_ID);
  await buildCellularityBundle(dir);
  return [dir];
}

if (import.meta.main) {
  for (const dir of await buildBuiltInModels()) console.log(`built ${path.relative(process.cwd(), dir) || dir}`);
}
