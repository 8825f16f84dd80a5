/**
 * A real third-party model (SuperFastTissueSegmentor's Keras U-Net, MIT) goes through the same bundle checks
 * as our own: manifest written here, file copied into a temporary bundle (symlinks out of a bundle are refused).
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { createSession, loadBundle, runRgbBatch } from '../../src/models/index.ts';
import { skipUnlessFixtures } from '../helpers/fixtures.ts';
import { MODEL, rgbAt500, SIZE, TISSUE_TILE, WHITE_TILE, writeUnetBundle } from '../helpers/unet-bundle.ts';
import { tempDir } from './bundle-fixtures.ts';

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
