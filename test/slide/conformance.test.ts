/**
 * Conformance with OpenSlide 3.4.1's answers (../shared/fixtures/expected/openslide-3.4.1.json) for every
 * fixture OpenSlide opens, and the agreed behaviour for the ones it cannot.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import sharp from 'sharp';
import { openSlide, SlideError } from '../../src/slide/index.ts';
import { fixture, skipUnlessFixtures } from '../helpers/fixtures.ts';

interface Expected {
  openable: boolean;
  error?: string;
  vendor?: string;
  dimensions?: [number, number];
  levels?: { width: number; height: number; downsample: number }[];
  mpp?: [number, number] | null;
  objectivePower?: number | null;
  region?: { level: number; x: number; y: number; width: number; height: number; meanRGB?: [number, number, number]; error?: string };
  associated?: Record<string, [number, number] | { error: string }>;
}

const EXPECTED = 'expected/openslide-3.4.1.json';
const skip = skipUnlessFixtures(EXPECTED);
const expected: Record<string, Expected> = skip ? {} : JSON.parse(readFileSync(fixture(EXPECTED), 'utf8'));

function meanRgb(data: Buffer): [number, number, number] {
  const sum = [0, 0, 0];
  for (let i = 0; i < data.length; i += 3) {
    sum[0] += data[i];
    sum[1] += data[i + 1];
    sum[2] += data[i + 2];
  }
  const n = data.length / 3;
  return [sum[0] / n, sum[1] / n, sum[2] / n];
}

for (const [file, want] of Object.entries(expected).filter(([, e]) => e.openable)) {
  test(`${file} matches OpenSlide's metadata and pixels`, async () => {
    const slide = await openSlide(fixture(`slides/${file}`));
    try {
      const m = slide.metadata;
      assert.equal(m.vendor, want.vendor);
      assert.deepEqual([m.width, m.height], want.dimensions);
      assert.equal(m.levels.length, want.levels!.length, 'level count');
      want.levels!.forEach((level, i) => {
        assert.equal(m.levels[i].width, level.width, `level ${i} width`);
        assert.equal(m.levels[i].height, level.height, `level ${i} height`);
        assert.ok(Math.abs(m.levels[i].downsample - level.downsample) <= 0.001, `level ${i} downsample ${m.levels[i].downsample} vs ${level.downsample}`);
      });
      if (want.mpp === null) assert.equal(m.mpp, null);
      else want.mpp!.forEach((v, i) => assert.ok(Math.abs(m.mpp![i] - v) < 1e-6, `mpp ${m.mpp} vs ${want.mpp}`));
      assert.equal(m.objectivePower, want.objectivePower);
      assert.deepEqual(Object.keys(m.associated).sort(), Object.keys(want.associated!).sort(), 'associated image names');
      for (const [name, size] of Object.entries(want.associated!)) {
        if (Array.isArray(size)) {
          assert.deepEqual(m.associated[name], size, `${name} size`);
          const image = await slide.readAssociated(name);
          assert.deepEqual([image.width, image.height], size);
        } else {
          await assert.rejects(slide.readAssociated(name), SlideError, `${name} should fail to decode like OpenSlide`);
        }
      }
      const r = want.region!;
      if (r.meanRGB) {
        const image = await slide.readRegion(r.level, r.x, r.y, r.width, r.height);
        assert.equal(image.data.length, r.width * r.height * 3);
        const mean = meanRgb(image.data);
        mean.forEach((v, i) => assert.ok(Math.abs(v - r.meanRGB![i]) <= 3, `mean RGB ${mean.map((x) => x.toFixed(2))} vs ${r.meanRGB}`));
      } else {
        await assert.rejects(slide.readRegion(r.level, r.x, r.y, r.width, r.height), (e: unknown) =>
          e instanceof SlideError && e.code === 'CORRUPT_TILE' && /corrupt tile at level 0 \(0,0\)/.test(e.message));
      }
    } finally {
      await slide.close();
    }
  });
}

test('files that are not slides are refused with their reason', { skip }, async () => {
  await assert.rejects(openSlide(fixture('slides/broken.svs')), (e: unknown) =>
    e instanceof SlideError && e.code === 'UNSUPPORTED_FORMAT' && /unsupported format/.test(e.message));
  await assert.rejects(openSlide(fixture('slides/unopenable.tiff')), (e: unknown) =>
    e instanceof SlideError && e.code === 'UNSUPPORTED_COMPRESSION' && e.message === 'unknown TIFF compression 52479');
});

test('a plain (non-pyramidal) TIFF opens as a single level with the pixels libtiff decodes', { skip: skipUnlessFixtures('slides/kidney-ihc-plain.tif') }, async () => {
  const file = fixture('slides/kidney-ihc-plain.tif');
  const slide = await openSlide(file);
  try {
    assert.equal(slide.metadata.vendor, 'plain-tiff');
    assert.equal(slide.metadata.levels.length, 1);
    assert.deepEqual([slide.metadata.width, slide.metadata.height], [1493, 901]);
    // The tissue fragment (histolab cut its tiles around x 310-390, y 480-550).
    const region = { x: 300, y: 510, width: 80, height: 45 };
    const ours = await slide.readRegion(0, region.x, region.y, region.width, region.height);
    const mean = meanRgb(ours.data);
    assert.ok(mean.every((v) => v < 200), `tissue expected there, mean ${mean}`);
    // sharp decodes the same TIFF with libtiff: an independent reference for every pixel.
    const reference = await sharp(file).extract({ left: region.x, top: region.y, width: region.width, height: region.height }).removeAlpha().raw().toBuffer();
    let worst = 0;
    for (let i = 0; i < reference.length; i++) worst = Math.max(worst, Math.abs(reference[i] - ours.data[i]));
    assert.ok(worst <= 1, `largest per-sample difference to libtiff: ${worst}`);
  } finally {
    await slide.close();
  }
});
