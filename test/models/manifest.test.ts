import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { MANIFEST_SCHEMA_PATH, manifestJsonSchemaText } from '../../models/build/write-manifest-schema.ts';
import {
  builtInBundleDir,
  compareSemver,
  ensureBuiltInModels,
  isModelBundleError,
  isPlainBundlePath,
  parseManifest,
  parseManifestText,
} from '../../src/models/index.ts';
import { at, readManifestJson } from './bundle-fixtures.ts';

type Json = Record<string, unknown>;

async function goodManifest(): Promise<Json> {
  await ensureBuiltInModels();
  return readManifestJson(builtInBundleDir('cellularity'));
}

/** Parses and returns the MANIFEST_INVALID message, failing the test when the manifest is accepted. */
function rejection(manifest: unknown): string {
  try {
    parseManifest(manifest);
  } catch (e) {
    assert.ok(isModelBundleError(e, 'MANIFEST_INVALID'), `expected MANIFEST_INVALID, got ${String(e)}`);
    return e.message;
  }
  assert.fail('the manifest was accepted');
}

test('the built-in cellularity manifest is valid', async () => {
  const manifest = parseManifest(await goodManifest());
  assert.equal(manifest.id, 'cellularity');
  assert.equal(manifest.researchOnly, true);
  assert.match(manifest.intendedUse, /NOT a cancer classifier/);
});

const badManifests: [string, (m: Json) => void, RegExp][] = [
  ['layout', (m) => (at(m, 'input').layout = 'NWHC'), /^manifest\.json: input\.layout must be "NCHW" or "NHWC"$/],
  ['version', (m) => (m.version = '1.0'), /manifest\.json: version must be a semantic version/],
  ['negative releaseCounter', (m) => (m.releaseCounter = -1), /releaseCounter must be at least 0/],
  ['fractional releaseCounter', (m) => (m.releaseCounter = 1.5), /releaseCounter must be an integer/],
  ['missing intendedUse', (m) => delete m.intendedUse, /intendedUse is missing/],
  ['misspelt key', (m) => (at(m, 'outputs.0').treshold = 0.5), /outputs\[0\] has unknown key "treshold"/],
  ['path escape', (m) => (at(m, 'variants.0').file = '../evil.onnx'), /variants\[0\]\.file must be a relative path inside the bundle/],
  ['absolute path', (m) => (at(m, 'variants.0').file = '/etc/evil.onnx'), /variants\[0\]\.file must be a relative path/],
  ['nested escape', (m) => (at(m, 'selfTest.vectors.0.input').file = 'selftest/../../x.png'), /selfTest\.vectors\[0\]\.input\.file must be a relative path/],
  ['variant file type', (m) => (at(m, 'variants.0').file = 'model.bin'), /variants\[0\]\.file must end in \.onnx/],
  ['digest', (m) => (at(m, 'variants.0').sha256 = 'abc'), /variants\[0\]\.sha256 must be 64 lowercase hexadecimal digits/],
  ['precision', (m) => (at(m, 'variants.1').precision = 'fp64'), /variants\[1\]\.precision must be one of "fp32", "fp16", "int8"/],
  ['provider', (m) => (at(m, 'variants.0').executionProviders = ['cpu', 'gpu']), /variants\[0\]\.executionProviders\[1\] must be one of "cpu"/],
  ['memory', (m) => (at(m, 'variants.0').minMemoryMB = 0), /variants\[0\]\.minMemoryMB must be greater than 0/],
  ['cpu flag', (m) => (at(m, 'variants.1').requiresCpuFlags = ['AVX512 VNNI']), /variants\[1\]\.requiresCpuFlags\[0\] must be a \/proc\/cpuinfo flag/],
  ['positive class', (m) => (at(m, 'outputs.0').positiveClass = 'tumour'), /outputs\[0\]\.positiveClass "tumour" is not one of classNames/],
  ['output kind', (m) => (at(m, 'outputs.0').kind = 'logits'), /outputs\[0\]\.kind must be one of "probability-map", "class-scores", "score"/],
  ['activation', (m) => (at(m, 'outputs.0').activation = 'relu'), /outputs\[0\]\.activation must be one of "none", "sigmoid", "softmax"/],
  ['map without layout', (m) => (at(m, 'outputs.0').kind = 'probability-map'), /outputs\[0\]\.mapLayout is required for a probability-map output/],
  ['aggregation method', (m) => (at(m, 'aggregation').method = 'median'), /aggregation\.method must be one of "top-k-mean", "mean", "max", "fraction-above"/],
  ['aggregation k', (m) => delete at(m, 'aggregation').k, /aggregation\.k is missing/],
  ['aggregation output', (m) => (at(m, 'aggregation').output = 'nope'), /aggregation\.output "nope" is not one of the outputs/],
  ['missing aggregation', (m) => delete m.aggregation, /aggregation is required for task "patch-regression"/],
  ['task', (m) => (m.task = 'diagnosis'), /task must be one of "tissue-segmentation", "patch-classification", "patch-regression"/],
  ['researchOnly', (m) => (m.researchOnly = 'yes'), /researchOnly must be of type boolean/],
  ['mpp', (m) => (at(m, 'input').mpp = 0), /input\.mpp must be greater than 0/],
  ['scaling', (m) => delete at(m, 'input').scaling, /input\.scaling is required when input\.dtype is "float32"/],
  ['mean', (m) => (at(m, 'input.scaling').mean = [0, 0]), /input\.scaling\.mean must have at least 3 items/],
  ['stain method', (m) => (at(m, 'input').stainNormalisation = { method: 'vahadane', target: {} }), /input\.stainNormalisation\.method must be "macenko" or "reinhard"/],
  ['duplicate variant', (m) => (at(m, 'variants.1').name = 'fp32'), /variants\[1\]\.name "fp32" is used by more than one variant/],
  ['raw shape', (m) => (at(m, 'selfTest.vectors.2.input').shape = [2, 3, 256, 256]), /selfTest\.vectors\[2\]\.input\.shape must be \[2, 3, 224, 224\]/],
  ['tolerance of unknown variant', (m) => (at(m, 'selfTest.vectors.0').variantAtol = { fp16: 0.1 }), /selfTest\.vectors\[0\]\.variantAtol\.fp16 "fp16" is not one of the variants/],
  ['values and file', (m) => (at(m, 'selfTest.vectors.0.expected.0').file = 'selftest/x.f32'), /selfTest\.vectors\[0\]\.expected\[0\] needs exactly one of "values" or "file"/],
  ['expected output', (m) => (at(m, 'selfTest.vectors.1.expected.0').output = 'score'), /selfTest\.vectors\[1\]\.expected\[0\]\.output "score" is not one of the outputs/],
  ['no vectors', (m) => (at(m, 'selfTest').vectors = []), /selfTest\.vectors must have at least 1 item/],
  ['schema version', (m) => (m.schemaVersion = 2), /schemaVersion must be 1/],
];

for (const [what, edit, message] of badManifests) {
  test(`a manifest with a bad ${what} is refused with a message naming the key`, async () => {
    const manifest = await goodManifest();
    edit(manifest);
    assert.match(rejection(manifest), message);
  });
}

test('every problem of a manifest is reported, not just the first', async () => {
  const manifest = await goodManifest();
  at(manifest, 'input').layout = 'CHW';
  at(manifest, 'variants.0').sha256 = 'xyz';
  try {
    parseManifest(manifest);
    assert.fail('accepted');
  } catch (e) {
    assert.ok(isModelBundleError(e, 'MANIFEST_INVALID'));
    assert.equal(e.details.length, 2);
    assert.match(e.message, /input\.layout/);
    assert.match(e.message, /variants\[0\]\.sha256/);
  }
});

test('text that is not JSON is MANIFEST_INVALID', () => {
  assert.throws(() => parseManifestText('{"id": '), (e: unknown) => isModelBundleError(e, 'MANIFEST_INVALID') && /not valid JSON/.test(e.message));
});

test('optional parts validate: stain normalisation targets, a uint8 input without scaling, a segmentation map', async () => {
  const manifest = await goodManifest();
  at(manifest, 'input').stainNormalisation = {
    method: 'macenko',
    target: { stainMatrix: [[0.5626, 0.7201, 0.4062], [0.2159, 0.8012, 0.5581]], maxConcentrations: [1.9705, 1.0308] },
  };
  assert.equal(parseManifest(manifest).input.stainNormalisation?.method, 'macenko');

  at(manifest, 'input').stainNormalisation = { method: 'reinhard', target: { mean: [72.9, 16.3, -9.9], std: [18.1, 8.6, 6.6] } };
  assert.equal(parseManifest(manifest).input.stainNormalisation?.method, 'reinhard');

  at(manifest, 'input').dtype = 'uint8';
  assert.match(rejection(manifest), /input\.scaling must be absent when input\.dtype is "uint8"/);
  delete at(manifest, 'input').scaling;
  assert.equal(parseManifest(manifest).input.dtype, 'uint8');

  manifest.task = 'tissue-segmentation';
  delete manifest.aggregation;
  Object.assign(at(manifest, 'outputs.0'), { kind: 'probability-map', mapLayout: 'NHWC', classNames: ['tissue'], positiveClass: 'tissue' });
  assert.equal(parseManifest(manifest).outputs[0].mapLayout, 'NHWC');
});

test('bundle paths are plain relative names inside the bundle', () => {
  for (const ok of ['model.onnx', 'selftest/white.png', 'a/b/c/d.bin', 'v1.2_model-int8.onnx']) assert.ok(isPlainBundlePath(ok), ok);
  for (const bad of ['', '.', '..', '../x', 'a/../b', '/abs', 'a\\b', '.hidden', 'a//b', 'a/', 'C:/x', 'a/b/c/d/e', 'x'.repeat(256)]) {
    assert.ok(!isPlainBundlePath(bad), bad);
  }
});

test('semantic versions order by semver precedence', () => {
  const ordered = ['1.0.0-alpha', '1.0.0-alpha.1', '1.0.0-alpha.beta', '1.0.0-beta', '1.0.0-beta.2', '1.0.0-beta.11', '1.0.0-rc.1', '1.0.0', '1.0.1', '1.1.0', '2.0.0', '10.0.0'];
  const shuffled = [...ordered].reverse();
  assert.deepEqual(shuffled.sort(compareSemver), ordered);
  assert.equal(compareSemver('1.0.0+build.5', '1.0.0'), 0);
  assert.throws(() => compareSemver('1.0', '1.0.0'), /not a semantic version/);
});

test('models/manifest.schema.json is generated from the current zod schema', async () => {
  const onDisk = await readFile(MANIFEST_SCHEMA_PATH, 'utf8');
  assert.equal(onDisk, manifestJsonSchemaText(), 'run: node models/build/write-manifest-schema.ts');
});
