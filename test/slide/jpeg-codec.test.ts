/**
 * The native libjpeg-turbo codec (native/jpeg) and region reads at 1/2, 1/4 and 1/8 scale: what they
 * return must be what the full-size read averaged down would be, whichever codec a tile is stored in, and
 * the same whether a tile was decoded in part (first request) or whole (from the cache).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { decodeJpeg, encodeJpeg, jpegCodec } from '../../src/slide/codecs/jpeg.ts';
import { shrinkImage } from '../../src/slide/codecs/pixels.ts';
import { SlideError } from '../../src/slide/errors.ts';
import { openSlide } from '../../src/slide/open.ts';
import { Rng } from '../../src/slide/synthetic/random.ts';
import type { RegionScale, RgbImage } from '../../src/slide/types.ts';
import { fixture, projectRoot, requireExternal, skipUnlessFixtures } from '../helpers/fixtures.ts';

const run = promisify(execFile);

test('the native JPEG codec is built and loaded (npm install builds it against libjpeg62-turbo-dev)', { skip: requireExternal() ? false : jpegCodec === 'libjpeg-turbo' ? false : 'native/jpeg is not built here: tiles decode through sharp' }, () => {
  assert.equal(jpegCodec, 'libjpeg-turbo');
});

function meanAbsDiff(a: RgbImage, b: RgbImage): number {
  assert.equal(a.width, b.width);
  assert.equal(a.height, b.height);
  let sum = 0;
  for (let i = 0; i < a.data.length; i++) sum += Math.abs(a.data[i] - b.data[i]);
  return sum / a.data.length;
}

function psnr(a: RgbImage, b: RgbImage): number {
  let squared = 0;
  for (let i = 0; i < a.data.length; i++) squared += (a.data[i] - b.data[i]) ** 2;
  return 10 * Math.log10((255 * 255) / (squared / a.data.length));
}

test('encodeJpeg writes a JPEG that decodes to the same picture at 1/1 and to its average at 1/2', async () => {
  const width = 200;
  const height = 136;
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) data.set([(x * 255) / width, (y * 255) / height, ((x + y) * 2) & 255], (y * width + x) * 3);
  }
  const image: RgbImage = { width, height, channels: 3, data };
  const jpeg = await encodeJpeg(image, 90);
  const meta = await sharp(jpeg).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height], ['jpeg', width, height]);
  const full = await decodeJpeg(jpeg);
  assert.ok(psnr(image, full) > 30, `PSNR ${psnr(image, full).toFixed(1)} dB`);
  const half = await decodeJpeg(jpeg, undefined, 2);
  assert.deepEqual([half.width, half.height], [100, 68]);
  assert.ok(meanAbsDiff(half, shrinkImage(full, 2)) < 2);
});

test('decodeJpeg refuses a forged frame size and garbage with typed errors', async () => {
  const jpeg = await encodeJpeg({ width: 64, height: 64, channels: 3, data: Buffer.alloc(64 * 64 * 3, 128) }, 80);
  await assert.rejects(decodeJpeg(jpeg, 1000), (e: unknown) => e instanceof SlideError && e.code === 'TOO_LARGE');
  await assert.rejects(decodeJpeg(Buffer.from('not a jpeg at all')), (e: unknown) => e instanceof SlideError && e.code === 'CORRUPT_TILE');
  await assert.rejects(decodeJpeg(jpeg.subarray(0, 120)), (e: unknown) => e instanceof SlideError && e.code === 'CORRUPT_TILE');
});

test('shrinkImage rounds the size up and averages the partial blocks at the edges', () => {
  const image: RgbImage = { width: 3, height: 1, channels: 3, data: Buffer.from([0, 0, 0, 100, 100, 100, 50, 60, 70]) };
  assert.deepEqual(shrinkImage(image, 2), { width: 2, height: 1, channels: 3, data: Buffer.from([50, 50, 50, 50, 60, 70]) });
});

// One per codec the reader decodes: JPEG (SVS, NDPI, DICOM), JPEG 2000, LZW TIFF, DICOM JPEG-LS.
const SLIDES = ['CMU-1-Small-Region.svs', 'fluorescence-dapi.ndpi', 'tcga-jp2k-ts1.svs', 'boxes.tiff', 'boxes_0.dcm', 'dicom-sm-jpegls.dcm'];

for (const name of SLIDES) {
  test(`scaled regions of ${name} are the full-size regions averaged down`, { skip: skipUnlessFixtures(`slides/${name}`) }, async () => {
    const slide = await openSlide(fixture(`slides/${name}`));
    const rng = new Rng(7);
    let compared = 0;
    try {
      for (const scale of [2, 4, 8] as RegionScale[]) {
        for (let i = 0; i < 4; i++) {
          const level = rng.int(slide.metadata.levels.length);
          const { width: levelWidth, height: levelHeight, downsample } = slide.metadata.levels[level];
          // Whole blocks inside the level, on the scale's grid: both reads then average the same pixels
          // (at a level's edge a scaled tile also averages the stored tile's padding).
          const fit = (side: number) => Math.floor(side / scale) * scale;
          const width = fit(Math.min(fit(levelWidth), 64 + rng.int(448)));
          const height = fit(Math.min(fit(levelHeight), 64 + rng.int(448)));
          if (width === 0 || height === 0) continue;
          const levelX = rng.int(fit(levelWidth) - width + 1) & ~(scale - 1);
          const levelY = rng.int(fit(levelHeight) - height + 1) & ~(scale - 1);
          const x = Math.ceil(levelX * downsample);
          const y = Math.ceil(levelY * downsample);
          if (Math.floor(x / downsample) !== levelX || Math.floor(y / downsample) !== levelY) continue;
          const scaled = await slide.readRegion(level, x, y, width, height, { scale });
          // The first read decodes only the parts of the tiles it needs; the second decodes them whole into
          // the tile cache (a tile's second request admits it): both must give the same pixels.
          assert.deepEqual(await slide.readRegion(level, x, y, width, height, { scale }), scaled);
          const averaged = shrinkImage(await slide.readRegion(level, x, y, width, height), scale);
          assert.deepEqual([scaled.width, scaled.height], [Math.ceil(width / scale), Math.ceil(height / scale)]);
          const diff = meanAbsDiff(scaled, averaged);
          assert.ok(diff < 3, `level ${level} (${x},${y}) ${width}x${height} at 1/${scale}: mean difference ${diff.toFixed(2)}`);
          compared++;
        }
      }
      assert.ok(compared >= 6, `only ${compared} regions fitted the slide`);
    } finally {
      await slide.close();
    }
  });
}

test('a region read into a caller\'s buffer fills exactly that buffer, and a buffer of the wrong size is refused', { skip: skipUnlessFixtures('slides/CMU-1-Small-Region.svs') }, async () => {
  const slide = await openSlide(fixture('slides/CMU-1-Small-Region.svs'));
  try {
    const into = Buffer.alloc(150 * 100 * 3, 7);
    const image = await slide.readRegion(0, 480, 960, 300, 200, { scale: 2, into });
    assert.equal(image.data, into);
    assert.deepEqual(image.data, (await slide.readRegion(0, 480, 960, 300, 200, { scale: 2 })).data);
    await assert.rejects(slide.readRegion(0, 480, 960, 300, 200, { scale: 2, into: Buffer.alloc(10) }), (e: unknown) => e instanceof SlideError && e.code === 'OUT_OF_BOUNDS');
  } finally {
    await slide.close();
  }
});

test('the sharp fallback (no native codec) reads the same pixels as the native codec', { skip: skipUnlessFixtures('slides/CMU-1-Small-Region.svs') }, async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'pathbox-codec-'));
  try {
    const region = async (codec: string): Promise<Buffer> => {
      const out = path.join(dir, `${codec}.png`);
      await run(path.join(projectRoot, 'bin', 'pathbox'), ['slide', 'region', fixture('slides/CMU-1-Small-Region.svs'), '--level', '0', '--x', '300', '--y', '200', '--width', '700', '--height', '500', '--out', out], {
        env: { ...process.env, PATHBOX_JPEG_CODEC: codec },
      });
      return sharp(await readFile(out)).raw().toBuffer();
    };
    const [native, fallback] = [await region('native'), await region('sharp')];
    assert.equal(native.length, 700 * 500 * 3);
    let worst = 0;
    for (let i = 0; i < native.length; i++) worst = Math.max(worst, Math.abs(native[i] - fallback[i]));
    assert.ok(worst <= 1, `largest difference ${worst}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
