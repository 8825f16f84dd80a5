import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { cellularityModel } from '../../models/build/cellularity-graph.ts';
import { syntheticPatch } from '../../models/build/cellularity-reference.ts';
import { encodeModel } from '../../models/build/onnx-writer.ts';
import {
  createSession,
  isModelBundleError,
  loadBundle,
  type ManifestInput,
  type ModelBundleErrorCode,
  type ModelSession,
  rgbToInputTensor,
  runBatch,
  runRgbBatch,
} from '../../src/models/index.ts';
import { sha256Hex } from '../../src/models/bundle-files.ts';
import { cellularityCopy, editManifest } from './bundle-fixtures.ts';

const PATCH_BYTES = 224 * 224 * 3;

async function rejects(action: Promise<unknown>, code: ModelBundleErrorCode): Promise<string> {
  try {
    await action;
  } catch (e) {
    assert.ok(isModelBundleError(e, code), `expected ${code}, got ${String(e)}`);
    return e.message;
  }
  assert.fail(`expected ${code}`);
}

async function withSession<T>(session: ModelSession, use: (s: ModelSession) => Promise<T>): Promise<T> {
  try {
    return await use(session);
  } finally {
    await session.release();
  }
}

test('RGB patches become NCHW or NHWC tensors with the channel order and scaling of the manifest', () => {
  const base: ManifestInput = {
    name: 'x', dtype: 'float32', layout: 'NCHW', size: { width: 2, height: 1 }, channelOrder: 'RGB',
    scaling: { scale: 1 / 255, mean: [0.5, 0, 0], std: [0.5, 1, 2] }, mpp: 0.5,
  };
  const rgb = Uint8Array.of(255, 0, 51, 0, 255, 102); // two pixels
  const close = (actual: ArrayLike<number>, expected: number[]) =>
    expected.forEach((v, i) => assert.ok(Math.abs(actual[i] - v) < 1e-6, `value ${i}: ${actual[i]} != ${v}`));
  // NCHW RGB: planes R, G, B; R = (p/255 - 0.5) / 0.5, G = p/255, B = p/255 / 2
  close(rgbToInputTensor(base, rgb, 1), [1, -1, 0, 1, 0.1, 0.2]);
  // NHWC BGR: per pixel B, G, R, with mean/std in the model's (BGR) order
  close(rgbToInputTensor({ ...base, layout: 'NHWC', channelOrder: 'BGR' }, rgb, 1), [(0.2 - 0.5) / 0.5, 0, 0.5, (0.4 - 0.5) / 0.5, 1, 0]);
  const raw = rgbToInputTensor({ ...base, dtype: 'uint8', scaling: undefined }, rgb, 1);
  assert.ok(raw instanceof Uint8Array);
  assert.deepEqual([...raw], [255, 0, 0, 255, 51, 102]);
  assert.throws(() => rgbToInputTensor(base, rgb, 2), (e: unknown) => isModelBundleError(e, 'INPUT_INVALID'));
});

test('runBatch refuses a batch of the wrong type or size', async () => {
  const bundle = await loadBundle(await cellularityCopy());
  await withSession(await createSession(bundle, 'fp32'), async (session) => {
    await rejects(runBatch(session, new Uint8Array(3 * 224 * 224), 1), 'INPUT_INVALID');
    await rejects(runBatch(session, new Float32Array(3 * 224 * 224 - 1), 1), 'INPUT_INVALID');
    await rejects(runBatch(session, new Float32Array(0), 0), 'INPUT_INVALID');
    await rejects(runRgbBatch(session, new Uint8Array(PATCH_BYTES), 2), 'INPUT_INVALID');
  });
});

test('a model with a fixed batch of 2 is fed 3 patches in padded chunks and gives the same scores as the dynamic one', async () => {
  const dir = await cellularityCopy();
  const model = cellularityModel('fp32');
  const fixed = encodeModel({
    ...model,
    inputs: [{ ...model.inputs[0], shape: [2, 3, 224, 224] }],
    outputs: [{ ...model.outputs[0], shape: [2, 1] }],
  });
  await writeFile(path.join(dir, 'fixed.onnx'), fixed);
  await editManifest(dir, (m) => {
    m.variants = [
      ...(m.variants as object[]),
      { name: 'fixed', file: 'fixed.onnx', sha256: sha256Hex(fixed), precision: 'fp32', executionProviders: ['cpu'], minMemoryMB: 64 },
    ];
  });
  const bundle = await loadBundle(dir);
  assert.equal(bundle.variants.find((v) => v.name === 'fixed')?.signature.fixedBatch, 2);

  const patches = [1, 2, 3].map((seed) => syntheticPatch({ seed, nuclei: seed * 15, radius: 8, eosin: 0.4 }));
  const rgb = new Uint8Array(PATCH_BYTES * 3);
  patches.forEach((p, i) => rgb.set(p, i * PATCH_BYTES));
  const scores = async (variant: string) =>
    withSession(await createSession(bundle, variant), async (s) => (await runRgbBatch(s, rgb, 3)).cellularity);
  const chunked = await scores('fixed');
  const dynamic = await scores('fp32');
  assert.deepEqual(chunked.dims, [3, 1]);
  assert.deepEqual([...chunked.data], [...dynamic.data]);
  assert.equal(new Set(dynamic.data).size, 3, 'the three patches score differently, so order matters');
});

test('createSession refuses an unknown variant, a file changed since loading, and a provider that is not there', async () => {
  const dir = await cellularityCopy();
  const bundle = await loadBundle(dir);
  assert.match(await rejects(createSession(bundle, 'fp16'), 'NOT_INSTALLED'), /has no variant "fp16" \(it has: fp32, int8\)/);
  // onnxruntime-node ships no Arm NN provider on any platform.
  assert.match(await rejects(createSession(bundle, 'fp32', { executionProvider: 'armnn' }), 'EXECUTION_PROVIDER_UNAVAILABLE'), /"armnn"/);

  const file = path.join(dir, 'cellularity-int8.onnx');
  const bytes = await readFile(file);
  bytes[bytes.length - 2] ^= 0x10;
  await writeFile(file, bytes);
  await rejects(createSession(bundle, 'int8'), 'DIGEST_MISMATCH');
});
