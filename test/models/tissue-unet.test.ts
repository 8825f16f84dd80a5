/**
 * A real third-party model (SuperFastTissueSegmentor's Keras U-Net, MIT) goes through the same bundle checks
 * as our own: manifest written here, file copied into a temporary bundle (symlinks out of a bundle are refused).
 */
import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import sharp from 'sharp';
import { createSession, loadBundle, runRgbBatch } from '../../src/models/index.ts';
import { sha256Hex } from '../../src/models/bundle-files.ts';
import { fixture, skipUnlessFixtures } from '../helpers/fixtures.ts';
import { tempDir } from './bundle-fixtures.ts';

const MODEL = 'models/tissue-unet/best_unet.onnx';
const TISSUE_TILE = 'tiles/tissue-level2-4640-4649-8736-8746.png';
const WHITE_TILE = 'tiles/almost-white-1.png';
const SIZE = 500;

async function rgbAt500(relative: string): Promise<Uint8Array> {
  const { data } = await sharp(fixture(relative)).removeAlpha().resize(SIZE, SIZE).raw().toBuffer({ resolveWithObject: true });
  return new Uint8Array(data);
}

/** The fixtures README's description of the model's input, computed here by hand as an independent check. */
function nhwcOverRange(rgb: Uint8Array): Float32Array {
  return Float32Array.from(rgb, (v) => v / 255);
}

async function writeUnetBundle(dir: string): Promise<void> {
  await mkdir(path.join(dir, 'selftest'), { recursive: true });
  await copyFile(fixture(MODEL), path.join(dir, 'best_unet.onnx'));
  const tissue = await rgbAt500(TISSUE_TILE);
  await sharp(tissue, { raw: { width: SIZE, height: SIZE, channels: 3 } }).png().toFile(path.join(dir, 'selftest', 'tissue.png'));

  const direct = await InferenceSession.create(fixture(MODEL), { intraOpNumThreads: 2 });
  const expected = (await direct.run({ input: new Tensor('float32', nhwcOverRange(tissue), [1, SIZE, SIZE, 3]) })).cropping2d_12;
  await direct.release();
  const values = expected.data as Float32Array;
  await writeFile(path.join(dir, 'selftest', 'tissue.expected.f32'), new Uint8Array(values.buffer, values.byteOffset, values.byteLength));

  const manifest = {
    schemaVersion: 1,
    id: 'tissue-unet',
    name: 'SuperFastTissueSegmentor U-Net',
    version: '1.0.0',
    releaseCounter: 1,
    task: 'tissue-segmentation',
    organs: ['any'],
    cancerTypes: [],
    intendedUse: 'Research use only: tissue versus background on low-magnification thumbnails. Marks dark pen ink as tissue.',
    licence: 'MIT',
    researchOnly: true,
    source: 'SoroushOskouei/SuperFastTissueSegmentor onnx_model/best_unet.onnx',
    input: {
      name: 'input',
      dtype: 'float32',
      layout: 'NHWC',
      size: { width: SIZE, height: SIZE },
      channelOrder: 'RGB',
      scaling: { scale: 1 / 255, mean: [0, 0, 0], std: [1, 1, 1] },
      mpp: 8,
    },
    outputs: [
      { name: 'cropping2d_12', kind: 'probability-map', mapLayout: 'NHWC', classNames: ['tissue'], activation: 'none', positiveClass: 'tissue', threshold: 0.6 },
    ],
    variants: [
      { name: 'fp32', file: 'best_unet.onnx', sha256: sha256Hex(await readFile(fixture(MODEL))), precision: 'fp32', executionProviders: ['cpu'], minMemoryMB: 512 },
    ],
    selfTest: {
      vectors: [
        {
          name: 'tissue tile',
          input: { format: 'png', file: 'selftest/tissue.png' },
          expected: [{ output: 'cropping2d_12', file: 'selftest/tissue.expected.f32' }],
          atol: 1e-4,
        },
      ],
    },
  };
  await writeFile(path.join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2));
}

test('the third-party tissue U-Net loads through loadBundle and separates tissue from background', {
  skip: skipUnlessFixtures(MODEL, TISSUE_TILE, WHITE_TILE),
}, async (t) => {
  const dir = path.join(await tempDir(), 'tissue-unet');
  await writeUnetBundle(dir);
  const bundle = await loadBundle(dir);
  const [variant] = bundle.variants;
  assert.deepEqual(variant.signature.inputShape.slice(1), [SIZE, SIZE, 3]);
  assert.equal(typeof variant.signature.inputShape[0], 'string', 'the batch dimension is dynamic');
  const [selfTest] = bundle.selfTest;
  assert.equal(selfTest.values, SIZE * SIZE);
  assert.ok(selfTest.maxAbsDiff <= selfTest.atol);
  t.diagnostic(`self-test through the manifest's preprocessing: max |difference| ${selfTest.maxAbsDiff.toExponential(2)} over ${selfTest.values} values`);

  const tiles = [await rgbAt500(TISSUE_TILE), await rgbAt500(WHITE_TILE)];
  const batch = new Uint8Array(tiles[0].length * 2);
  batch.set(tiles[0], 0);
  batch.set(tiles[1], tiles[0].length);
  const session = await createSession(bundle, 'fp32', { intraOpThreads: 2 });
  try {
    const map = (await runRgbBatch(session, batch, 2)).cropping2d_12;
    assert.deepEqual(map.dims, [2, SIZE, SIZE, 1]);
    const threshold = bundle.manifest.outputs[0].threshold;
    const tissueFraction = (i: number) => {
      const plane = map.data.subarray(i * SIZE * SIZE, (i + 1) * SIZE * SIZE);
      return plane.filter((p) => p >= threshold).length / plane.length;
    };
    t.diagnostic(`tissue fraction at ${threshold}: tissue tile ${tissueFraction(0).toFixed(3)}, almost-white tile ${tissueFraction(1).toFixed(3)}`);
    assert.ok(tissueFraction(0) > 0.5, 'most of a tissue tile is tissue');
    assert.ok(tissueFraction(1) < 0.05, 'an almost-white tile is background');
  } finally {
    await session.release();
  }
});
