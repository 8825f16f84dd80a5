/**
 * Loading a model bundle (a directory with manifest.json, ONNX variants and self-test data) with every check
 * the box makes before a model may serve: schema, paths, digests, loadability, signature, self-test.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { resolveBundleFile, sha256Hex } from './bundle-files.ts';
import { ModelBundleError } from './errors.ts';
import { openModelSession } from './inference.ts';
import { bundleFiles, MANIFEST_FILE, type ManifestVariant, type ModelManifest, parseManifestText } from './manifest.ts';
import { type LoadedSelfTestVector, loadSelfTestVectors, runSelfTests, type SelfTestResult } from './self-test.ts';
import type { ModelSignature } from './signature.ts';

export interface LoadedVariant extends ManifestVariant {
  /** Absolute path of the ONNX file. */
  path: string;
  signature: ModelSignature;
}

export interface ModelBundle {
  dir: string;
  manifest: ModelManifest;
  variants: LoadedVariant[];
  /** One entry per variant, vector and output: how close each variant came to the expected values. */
  selfTest: SelfTestResult[];
}

/** Reads and validates manifest.json only (no file checks): cheap, for listings. */
export async function readBundleManifest(dir: string): Promise<ModelManifest> {
  let text: string;
  try {
    text = await readFile(path.join(dir, MANIFEST_FILE), 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ModelBundleError('FILE_MISSING', `${MANIFEST_FILE} ${code === 'ENOENT' ? 'is missing from' : 'cannot be read in'} ${dir}`, { cause: e });
  }
  return parseManifestText(text, path.join(dir, MANIFEST_FILE));
}

async function readVerifiedVariant(dir: string, variant: ManifestVariant): Promise<{ path: string; bytes: Buffer }> {
  const what = `variant "${variant.name}"`;
  const file = await resolveBundleFile(dir, variant.file, what);
  const bytes = await readFile(file);
  const digest = sha256Hex(bytes);
  if (digest !== variant.sha256) {
    throw new ModelBundleError('DIGEST_MISMATCH', `${what}: ${variant.file} has sha256 ${digest}, the manifest says ${variant.sha256}`);
  }
  return { path: file, bytes };
}

/**
 * Verifies a bundle completely and returns it; throws ModelBundleError (MANIFEST_INVALID, FILE_MISSING,
 * PATH_OUTSIDE_BUNDLE, DIGEST_MISMATCH, ONNX_INVALID, SIGNATURE_MISMATCH, SELF_TEST_INVALID, SELF_TEST_FAILED).
 * Every variant is opened on the CPU provider and must pass every self-test vector.
 */
export async function loadBundle(dir: string): Promise<ModelBundle> {
  const bundleDir = path.resolve(dir);
  const manifest = await readBundleManifest(bundleDir);
  // Every listed file must be present before anything heavier runs, so the first error is the most basic one.
  for (const file of bundleFiles(manifest)) await resolveBundleFile(bundleDir, file, 'bundle file');
  const verified = [];
  for (const variant of manifest.variants) verified.push({ variant, ...(await readVerifiedVariant(bundleDir, variant)) });

  // Vectors are read after the first signature check: data that does not fit a model that does not fit the
  // manifest would otherwise hide the more basic error.
  let vectors: LoadedSelfTestVector[] | undefined;
  const variants: LoadedVariant[] = [];
  const selfTest: SelfTestResult[] = [];
  for (const { variant, path: file, bytes } of verified) {
    const session = await openModelSession(manifest, variant, bytes);
    try {
      vectors ??= await loadSelfTestVectors(bundleDir, manifest);
      selfTest.push(...(await runSelfTests(session, vectors)));
      variants.push({ ...variant, path: file, signature: session.signature });
    } finally {
      await session.release();
    }
  }
  return { dir: bundleDir, manifest, variants, selfTest };
}
