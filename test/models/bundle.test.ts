import assert from 'node:assert/strict';
import { readFile, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { encodeModel } from '../../models/build/onnx-writer.ts';
import { cellularityModel } from '../../models/build/cellularity-graph.ts';
import { isModelBundleError, loadBundle, type ModelBundleErrorCode } from '../../src/models/index.ts';
import { sha256Hex } from '../../src/models/bundle-files.ts';
import { at, cellularityCopy, editManifest, tempDir } from './bundle-fixtures.ts';

async function refusal(dir: string, code: ModelBundleErrorCode): Promise<string> {
  try {
    await loadBundle(dir);
  } catch (e) {
    assert.ok(isModelBundleError(e), `expected a ModelBundleError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return e.message;
  }
  assert.fail(`the bundle in ${dir} was accepted`);
}

/** Replaces a variant's file and records its new digest, so the check under test is the one that fires. */
async function replaceVariantFile(dir: string, variantIndex: number, bytes: Uint8Array): Promise<void> {
  let file = '';
  await editManifest(dir, (m) => {
    const variant = at(m, `variants.${variantIndex}`);
    file = variant.file as string;
    variant.sha256 = sha256Hex(bytes);
  });
  await writeFile(path.join(dir, file), bytes);
}

test('the built-in bundle loads: every variant passes every self-test vector', async () => {
  const bundle = await loadBundle(await cellularityCopy());
  assert.deepEqual(bundle.variants.map((v) => v.name), ['fp32', 'int8']);
  assert.deepEqual(bundle.variants[0].signature.inputShape, ['N', 3, 224, 224]);
  assert.equal(bundle.variants[0].signature.fixedBatch, undefined);
  const vectors = bundle.manifest.selfTest.vectors.length;
  assert.equal(bundle.selfTest.length, 2 * vectors);
  for (const r of bundle.selfTest) assert.ok(r.maxAbsDiff <= r.atol, `${r.variant} ${r.vector}: ${r.maxAbsDiff} > ${r.atol}`);
});

test('an invalid manifest is refused naming the file and the key', async () => {
  const dir = await cellularityCopy();
  await editManifest(dir, (m) => (at(m, 'input').layout = 'CHW'));
  const message = await refusal(dir, 'MANIFEST_INVALID');
  assert.equal(message, `${path.join(dir, 'manifest.json')}: input.layout must be "NCHW" or "NHWC"`);
});

test('a variant file whose digest differs from the manifest is refused', async () => {
  const dir = await cellularityCopy();
  const file = path.join(dir, 'cellularity-int8.onnx');
  const bytes = await readFile(file);
  bytes[bytes.length - 1] ^= 0x01;
  await writeFile(file, bytes);
  assert.match(await refusal(dir, 'DIGEST_MISMATCH'), /variant "int8": cellularity-int8\.onnx has sha256 [0-9a-f]{64}, the manifest says/);
});

test('a missing variant file, self-test file or manifest is refused', async () => {
  const dir = await cellularityCopy();
  await rm(path.join(dir, 'selftest', 'white.png'));
  assert.match(await refusal(dir, 'FILE_MISSING'), /selftest\/white\.png is missing/);
  await rm(path.join(dir, 'cellularity-fp32.onnx'));
  assert.match(await refusal(dir, 'FILE_MISSING'), /cellularity-fp32\.onnx is missing/);
  await rm(path.join(dir, 'manifest.json'));
  assert.match(await refusal(dir, 'FILE_MISSING'), /manifest\.json is missing/);
});

test('a truncated ONNX file is a clean ONNX_INVALID error', async () => {
  const dir = await cellularityCopy();
  const bytes = await readFile(path.join(dir, 'cellularity-fp32.onnx'));
  await replaceVariantFile(dir, 0, bytes.subarray(0, Math.floor(bytes.length / 2)));
  assert.match(await refusal(dir, 'ONNX_INVALID'), /variant "fp32": cellularity-fp32\.onnx is not a loadable ONNX model/);
});

test('a file that is not ONNX at all is ONNX_INVALID', async () => {
  const dir = await cellularityCopy();
  await replaceVariantFile(dir, 1, new TextEncoder().encode('this is not a model'));
  await refusal(dir, 'ONNX_INVALID');
});

test('a manifest naming the wrong input tensor does not match the model', async () => {
  const dir = await cellularityCopy();
  await editManifest(dir, (m) => (at(m, 'input').name = 'input_1'));
  assert.match(await refusal(dir, 'SIGNATURE_MISMATCH'), /the model has no input "input_1" \(its inputs: image\)/);
});

test('a manifest with another input size or layout does not match the model', async () => {
  const dir = await cellularityCopy();
  await editManifest(dir, (m) => {
    at(m, 'input.size').width = 256;
    delete m.selfTest; // keep the schema's own shape rule out of the way: the model check is under test
    m.selfTest = { vectors: [{ name: 'x', input: { format: 'png', file: 'selftest/white.png' }, expected: [{ output: 'cellularity', values: [0] }], atol: 0 }] };
  });
  assert.match(await refusal(dir, 'SIGNATURE_MISMATCH'), /input "image" has shape \[N, 3, 224, 224\] in the model; the manifest \(NCHW, 256x224\) needs \[N, 3, 224, 256\]/);

  await editManifest(dir, (m) => {
    at(m, 'input.size').width = 224;
    at(m, 'input').layout = 'NHWC';
  });
  await refusal(dir, 'SIGNATURE_MISMATCH');
});

test('a manifest declaring an output the model lacks, or of the wrong shape, does not match', async () => {
  const dir = await cellularityCopy();
  await editManifest(dir, (m) => {
    const outputs = m.outputs as Record<string, unknown>[];
    outputs.push({ ...outputs[0], name: 'heatmap' });
  });
  assert.match(await refusal(dir, 'SIGNATURE_MISMATCH'), /the model has no output "heatmap" \(its outputs: cellularity\)/);

  await editManifest(dir, (m) => {
    (m.outputs as unknown[]).pop();
    Object.assign(at(m, 'outputs.0'), { kind: 'class-scores', classNames: ['other', 'cellular'] });
  });
  assert.match(await refusal(dir, 'SIGNATURE_MISMATCH'), /output "cellularity" has 1 at dimension 1 \[N, 1\]; the manifest's 2 class name\(s\) need 2/);
});

test('a model with a second input is refused: bundles feed exactly one tensor', async () => {
  const dir = await cellularityCopy();
  const model = cellularityModel('fp32');
  const twoInputs = encodeModel({ ...model, inputs: [...model.inputs, { name: 'extra', type: 'float32', shape: [1] }] });
  await replaceVariantFile(dir, 0, twoInputs);
  assert.match(await refusal(dir, 'SIGNATURE_MISMATCH'), /the model has 2 inputs \(image, extra\)/);
});

test('a model that computes something else fails its self-test', async () => {
  const dir = await cellularityCopy();
  await editManifest(dir, (m) => {
    const expected = at(m, 'selfTest.vectors.1.expected.0');
    expected.values = (expected.values as number[]).map((v) => v + 0.01);
  });
  assert.match(
    await refusal(dir, 'SELF_TEST_FAILED'),
    /self-test "dense nuclei", variant "fp32", output "cellularity": value 0 is 0\.66\d+, expected 0\.67\d+ \(difference 0\.0100\d* > tolerance 0\.00001\)/,
  );
});

test('a self-test image of the wrong size is SELF_TEST_INVALID', async () => {
  const dir = await cellularityCopy();
  await sharp({ create: { width: 100, height: 80, channels: 3, background: '#ffffff' } }).png().toFile(path.join(dir, 'selftest', 'white.png'));
  assert.match(await refusal(dir, 'SELF_TEST_INVALID'), /selftest\/white\.png is 100x80 with 3 channels; the model input is 224x224 RGB/);
});

test('a raw self-test file of the wrong length is SELF_TEST_INVALID', async () => {
  const dir = await cellularityCopy();
  await truncate(path.join(dir, 'selftest', 'sparse-nuclei-and-stroma.u8'), 1000);
  assert.match(await refusal(dir, 'SELF_TEST_INVALID'), /has 1000 bytes; shape \[2, 3, 224, 224\] of uint8 needs 301056/);
});

test('a symlink leading out of the bundle is refused even when its target is a valid model', async () => {
  const dir = await cellularityCopy();
  const outside = path.join(await tempDir(), 'elsewhere.onnx');
  const bytes = await readFile(path.join(dir, 'cellularity-fp32.onnx'));
  await writeFile(outside, bytes);
  await rm(path.join(dir, 'cellularity-fp32.onnx'));
  await symlink(outside, path.join(dir, 'cellularity-fp32.onnx'));
  assert.match(await refusal(dir, 'PATH_OUTSIDE_BUNDLE'), /cellularity-fp32\.onnx leads outside the bundle/);
});
