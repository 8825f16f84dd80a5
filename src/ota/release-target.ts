/**
 * How a model release appears in TUF targets metadata. Every file of the bundle is its own target at
 * `models/<id>/<version>/<file>`; the bundle's manifest.json target carries the release facts in its
 * `custom.pathbox` field (signed with the rest of the role):
 *
 *   { kind: "model-release", modelId, version, releaseCounter, hardware: { arch: ["x64", ...] | ["any"] },
 *     minDaemonVersion, files: { "<file>": { length, sha256 }, ... } }
 *
 * `files` lists the whole bundle, so a missing, extra or swapped file is caught before anything is installed.
 * The vendor tooling (ota/) writes this shape and the box reads it through the same schema.
 */
import { z } from 'zod';
import { isPlainBundlePath, MANIFEST_FILE, MODEL_ID_PATTERN, SEMVER_PATTERN } from '../models/index.ts';

export const CUSTOM_KEY = 'pathbox';
export const MODELS_PREFIX = 'models';

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, { error: 'must be 64 lowercase hexadecimal digits' });

export const releaseFactsSchema = z.strictObject({
  kind: z.literal('model-release'),
  modelId: z.string().regex(MODEL_ID_PATTERN),
  version: z.string().regex(SEMVER_PATTERN),
  releaseCounter: z.int().nonnegative(),
  hardware: z.strictObject({
    /** Node's process.arch values the release runs on, or ["any"]. */
    arch: z.array(z.string().regex(/^[a-z0-9_]+$/)).min(1),
  }),
  minDaemonVersion: z.string().regex(SEMVER_PATTERN),
  files: z
    .record(z.string().refine(isPlainBundlePath, { error: 'must be a plain relative path inside the bundle' }), z.strictObject({
      length: z.int().nonnegative(),
      sha256: sha256Hex,
    }))
    .refine((files) => MANIFEST_FILE in files, { error: `must list ${MANIFEST_FILE}` })
    .refine((files) => new Set(Object.keys(files).map((f) => f.toLowerCase())).size === Object.keys(files).length, {
      error: 'must not list two paths that differ only in case',
    }),
});

export type ReleaseFacts = z.infer<typeof releaseFactsSchema>;

/** The target path of one file of a release. */
export function releaseFilePath(modelId: string, version: string, file: string): string {
  return `${MODELS_PREFIX}/${modelId}/${version}/${file}`;
}

/**
 * Delegation path patterns covering every file of one model's releases. TUF patterns match segment by
 * segment, so one pattern is needed per depth (bundle paths are at most four segments deep).
 */
export function modelDelegationPaths(modelId: string): string[] {
  return [1, 2, 3, 4].map((depth) => `${MODELS_PREFIX}/${modelId}/*${'/*'.repeat(depth)}`);
}
