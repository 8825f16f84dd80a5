/**
 * Writes models/manifest.schema.json from the zod schema in src/models/manifest.ts, the single source of truth.
 * Run `node models/build/write-manifest-schema.ts` after changing the schema; a test fails while the file is stale.
 * Cross-key rules (class names, output names, shapes) live only in zod: the JSON Schema is for editors and tools.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { manifestObjectSchema } from '../../src/models/manifest.ts';
import { MODELS_DIR } from './build-models.ts';

export const MANIFEST_SCHEMA_PATH = path.join(MODELS_DIR, 'manifest.schema.json');

export function manifestJsonSchemaText(): string {
  const schema = z.toJSONSchema(manifestObjectSchema, { target: 'draft-2020-12', io: 'input' });
  const documented = {
    $schema: schema.$schema,
    $id: 'urn:pathbox:model-bundle-manifest:1',
    title: 'pathbox model bundle manifest (manifest.json)',
    description: 'Generated from src/models/manifest.ts by models/build/write-manifest-schema.ts; see docs/model-bundles.md.',
    ...schema,
  };
  return `${JSON.stringify(documented, null, 2)}\n`;
}

if (import.meta.main) {
  await writeFile(MANIFEST_SCHEMA_PATH, manifestJsonSchemaText());
  console.log(`wrote ${path.relative(process.cwd(), MANIFEST_SCHEMA_PATH)}`);
}
