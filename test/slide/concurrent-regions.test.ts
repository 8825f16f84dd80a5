/**
 * Many readRegion calls in flight on one slide (overlapping, so they share tiles while those decode)
 * must give exactly the pixels of the same calls made one after another.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openSlide } from '../../src/slide/open.ts';
import { Rng } from '../../src/slide/synthetic/random.ts';
import type { RgbImage, SlideMetadata } from '../../src/slide/types.ts';
import { fixture, skipUnlessFixtures } from '../helpers/fixtures.ts';

const IN_FLIGHT = 32;

interface Region {
  level: number;
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Regions clustered around a few centres so that concurrent calls ask for the same tiles. */
function overlappingRegions(metadata: SlideMetadata, rng: Rng): Region[] {
  const centres = Array.from({ length: 3 }, () => [rng.int(metadata.width), rng.int(metadata.height)]);
  return Array.from({ length: IN_FLIGHT }, (_, i) => {
    const level = rng.int(metadata.levels.length);
    const [cx, cy] = centres[i % centres.length];
    const width = 64 + rng.int(320);
    const height = 64 + rng.int(320);
    const downsample = metadata.levels[level].downsample;
    const x = Math.max(0, Math.round(cx - (width / 2) * downsample + (rng.next() - 0.5) * 200));
    const y = Math.max(0, Math.round(cy - (height / 2) * downsample + (rng.next() - 0.5) * 200));
    return { level, x, y, width, height };
  });
}

for (const name of ['CMU-1-Small-Region.svs', 'tcga-jp2k-ts1.svs', 'boxes.tiff', 'boxes_0.dcm']) {
  test(`${IN_FLIGHT} concurrent readRegion calls on ${name} match sequential ones`, { skip: skipUnlessFixtures(`slides/${name}`) }, async () => {
    const sequential = await openSlide(fixture(`slides/${name}`));
    const concurrent = await openSlide(fixture(`slides/${name}`));
    try {
      const regions = overlappingRegions(sequential.metadata, new Rng(name.length));
      const expected: RgbImage[] = [];
      for (const r of regions) expected.push(await sequential.readRegion(r.level, r.x, r.y, r.width, r.height));
      const actual = await Promise.all(regions.map((r) => concurrent.readRegion(r.level, r.x, r.y, r.width, r.height)));
      regions.forEach((r, i) => {
        assert.equal(actual[i].width, r.width);
        assert.equal(actual[i].height, r.height);
        assert.ok(actual[i].data.equals(expected[i].data), `region ${i} (level ${r.level} at ${r.x},${r.y} ${r.width}x${r.height}) differs`);
      });
      // All-white regions would compare equal whatever the reader did.
      assert.ok(expected.some((image) => image.data.some((v) => v !== 255)), 'some region holds slide content');
    } finally {
      await sequential.close();
      await concurrent.close();
    }
  });
}
