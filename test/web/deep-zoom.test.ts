/**
 * Deep Zoom: the geometry against OpenSlide's DeepZoomGenerator (levels, sizes, pixels), the raw-JPEG
 * fast path serving stored tile bytes untouched, and the pool that keeps a few slides open.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { openSlide, type Slide, type SlideMetadata } from '../../src/slide/index.ts';
import { writeSyntheticSlide } from '../../src/slide/synthetic/index.ts';
import { deepZoomPlan, planTile } from '../../src/web/tiles/deep-zoom.ts';
import { renderTile } from '../../src/web/tiles/render.ts';
import { SlidePool } from '../../src/web/tiles/slide-pool.ts';
import { projectRoot } from '../helpers/fixtures.ts';
import { openSlidePython, skipUnlessOpenSlide } from '../helpers/openslide.ts';

let file: string;
let slide: Slide;

before(async () => {
  file = path.join(await mkdtemp(path.join(tmpdir(), 'pathbox-dz-')), 'dz.svs');
  // Not a multiple of the tile size, so the last row and column are partial at every level.
  await writeSyntheticSlide(file, { width: 5000, height: 3300, seed: 5, mpp: 0.25 });
  slide = await openSlide(file);
});
after(() => slide.close());

test('the pyramid halves to 1x1; levels matching a slide level use its stored tiles', () => {
  const plan = deepZoomPlan(slide.metadata);
  assert.equal(plan.tileSize, 256);
  assert.equal(plan.levels.length, 14);
  assert.deepEqual(plan.levels.at(-1), { width: 5000, height: 3300, cols: 20, rows: 13, downsample: 1, nativeLevel: 0, readLevel: 0 });
  assert.deepEqual([plan.levels[0].width, plan.levels[0].height], [1, 1]);
  assert.deepEqual([plan.levels[12].width, plan.levels[12].height], [2500, 1650], 'halving rounds up');
  const ds4 = plan.levels[11];
  assert.equal(ds4.downsample, 4);
  assert.equal(ds4.nativeLevel, 1, "the slide's 4x level");
  assert.equal(plan.levels[12].nativeLevel, null, 'no stored 2x level: composed from level 0');
  assert.equal(plan.levels[12].readLevel, 0);
  assert.equal(plan.levels[10].readLevel, 1, '8x is read from the 4x level');
});

test('interior tiles of a native level are the stored JPEG bytes; edge tiles are cropped, not padded', async () => {
  const plan = deepZoomPlan(slide.metadata);
  const interior = planTile(plan, slide.metadata, 13, 3, 2);
  assert.deepEqual(interior.storedTile, { col: 3, row: 2 });
  const served = await renderTile(slide, interior);
  const stored = await slide.readRawJpegTile(0, 3, 2);
  assert.ok(stored && served.equals(stored.data), 'served without decode or re-encode');

  const edge = planTile(plan, slide.metadata, 13, 19, 12);
  assert.equal(edge.storedTile, null);
  assert.deepEqual([edge.width, edge.height], [5000 - 19 * 256, 3300 - 12 * 256]);
  const meta = await sharp(await renderTile(slide, edge)).metadata();
  assert.deepEqual([meta.width, meta.height, meta.format], [136, 228, 'jpeg']);

  assert.throws(() => planTile(plan, slide.metadata, 14, 0, 0), /level 14 does not exist/);
  assert.throws(() => planTile(plan, slide.metadata, 13, 20, 0), /outside/);
  assert.throws(() => planTile(plan, slide.metadata, 13, 0.5, 0), /outside/);
});

test('a slide whose tiles are not square gets 256-pixel Deep Zoom tiles and no fast path', () => {
  const meta: SlideMetadata = { ...slide.metadata, levels: slide.metadata.levels.map((l) => ({ ...l, tileWidth: 512, tileHeight: 128 })) };
  const plan = deepZoomPlan(meta);
  assert.equal(plan.tileSize, 256);
  assert.ok(plan.levels.every((l) => l.nativeLevel === null));
});

test('tiles match OpenSlide\'s DeepZoomGenerator in size and colour at every kind of level', { skip: skipUnlessOpenSlide() }, async () => {
  const plan = deepZoomPlan(slide.metadata);
  const tiles: [number, number, number][] = [[13, 3, 2], [13, 19, 12], [12, 4, 3], [12, 9, 6], [11, 2, 1], [11, 4, 3], [10, 1, 1], [9, 0, 0], [5, 0, 0], [0, 0, 0]];
  const run = spawnSync(openSlidePython()!, [path.join(projectRoot, 'bench', 'openslide-deepzoom.py')], {
    input: JSON.stringify({ file, tileSize: plan.tileSize, tiles, mode: 'stats', inFlight: 1 }), encoding: 'utf8',
  });
  assert.equal(run.status, 0, run.stderr);
  const reference = JSON.parse(run.stdout) as { levelCount: number; levelDimensions: [number, number][]; tiles: { size: [number, number]; mean: number[] }[] };
  assert.equal(reference.levelCount, plan.levels.length);
  assert.deepEqual(reference.levelDimensions, plan.levels.map((l) => [l.width, l.height]));
  for (const [i, [level, col, row]] of tiles.entries()) {
    const jpeg = await renderTile(slide, planTile(plan, slide.metadata, level, col, row));
    const { data, info } = await sharp(jpeg).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const expected = plan.levels[level];
    assert.deepEqual([info.width, info.height], [Math.min(256, expected.width - col * 256), Math.min(256, expected.height - row * 256)], `tile ${level}/${col}_${row} has its DZI size`);
    // OpenSlide's edge tiles can be a pixel short of its own DZI size (PIL's thumbnail keeps the aspect of a
    // region clipped by the level's rounded-down size); OpenSeadragon stretches them. Ours are exact.
    const [refWidth, refHeight] = reference.tiles[i].size;
    assert.ok(Math.abs(info.width - refWidth) <= 1 && Math.abs(info.height - refHeight) <= 1, `tile ${level}/${col}_${row}: ${info.width}x${info.height} vs OpenSlide ${refWidth}x${refHeight}`);
    const mean = [0, 1, 2].map((c) => {
      let sum = 0;
      for (let p = c; p < data.length; p += 3) sum += data[p];
      return sum / (data.length / 3);
    });
    const worst = Math.max(...mean.map((m, c) => Math.abs(m - reference.tiles[i].mean[c])));
    // JPEG re-encoding and resampling kernels differ a little (more on a tile of a few pixels, where one
    // pixel is the mean); a wrong region or scale is tens of levels off.
    assert.ok(worst < (info.width * info.height < 64 ? 8 : 3), `tile ${level}/${col}_${row}: mean ${mean.map((m) => m.toFixed(1))} vs OpenSlide ${reference.tiles[i].mean.map((m) => m.toFixed(1))}`);
  }
});

test('the slide pool keeps a few slides open and closes the least recently used once idle', async () => {
  const events: string[] = [];
  const fake = (p: string): Slide => ({ ...slide, path: p, close: async () => void events.push(`close ${p}`) });
  const pool = new SlidePool(2, async (p) => {
    events.push(`open ${p}`);
    return fake(p);
  });
  await pool.use(1, 'a', async () => {});
  await pool.use(2, 'b', async () => {});
  await pool.use(1, 'a', async () => {});
  let release!: () => void;
  const busy = pool.use(2, 'b', () => new Promise<void>((resolve) => (release = resolve)));
  await new Promise((r) => setImmediate(r));
  await pool.use(3, 'c', async () => {});
  await pool.use(1, 'a', async () => {});
  assert.deepEqual(events, ['open a', 'open b', 'open c', 'close a', 'open a'], 'b was in use: a (least recent and idle after b was touched) went');
  await pool.use(4, 'd', async () => {});
  assert.ok(!events.includes('close b'), 'a slide serving a request is not closed under it');
  release();
  await busy;
  await new Promise((r) => setImmediate(r));
  assert.ok(events.includes('close b'), 'closed once its last request finished');
  await pool.close();
  assert.equal(events.filter((e) => e.startsWith('open')).length, events.filter((e) => e.startsWith('close')).length, 'everything opened is closed');
  await assert.rejects(new SlidePool(1, async () => {
    throw new Error('gone');
  }).use(9, 'x', async () => {}), /gone/);
});
