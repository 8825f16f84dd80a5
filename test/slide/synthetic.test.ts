import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import sharp from 'sharp';
import { syntheticTissueMask, writeSyntheticSlide, type SyntheticSlideOptions, type TissueMask } from '../../src/slide/synthetic/index.ts';
import { openSlideReports, skipUnlessOpenSlide, type RegionRequest } from '../helpers/openslide.ts';
import { inspectTiff, readTile, spliceJpegTables, Tag, tagText, tagValues, type InspectedIfd } from '../helpers/tiff-inspect.ts';

const workDir = await mkdtemp(path.join(tmpdir(), 'pathbox-synthetic-'));
after(() => rm(workDir, { recursive: true, force: true }));

const SMALL: SyntheticSlideOptions = { width: 5000, height: 3800, seed: 7 };
const LARGE: SyntheticSlideOptions = { width: 100_000, height: 80_000 };

let fileCounter = 0;
async function write(options: SyntheticSlideOptions) {
  const file = path.join(workDir, `slide-${fileCounter++}.svs`);
  return { file, result: await writeSyntheticSlide(file, options) };
}

/** The large slide is written once and shared by the tests that need it. */
let largeSlide: ReturnType<typeof write> | undefined;
const writeLarge = () => (largeSlide ??= write(LARGE));

function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/** Top-left (in mask pixels) of a block x block square that is all tissue or all background. */
function findBlock(mask: TissueMask, block: number, tissue: boolean): { x: number; y: number } {
  for (let y = 0; y + block <= mask.height; y += block) {
    for (let x = 0; x + block <= mask.width; x += block) {
      let uniform = true;
      for (let j = 0; j < block && uniform; j++) {
        for (let i = 0; i < block && uniform; i++) uniform = mask.data[(y + j) * mask.width + x + i] === (tissue ? 1 : 0);
      }
      if (uniform) return { x, y };
    }
  }
  throw new Error(`no ${block}x${block} ${tissue ? 'tissue' : 'background'} block in the ${mask.width}x${mask.height} mask`);
}

function isHematoxylinEosin([r, g, b]: number[]): boolean {
  return r - g > 40 && b - g > 20 && g < 200;
}

function isBackground(rgb: number[]): boolean {
  return rgb.every((c) => c > 225) && Math.max(...rgb) - Math.min(...rgb) < 10;
}

async function decodedMean(jpeg: Buffer): Promise<{ width: number; height: number; mean: number[] }> {
  const { data, info } = await sharp(jpeg).raw().toBuffer({ resolveWithObject: true });
  const mean = [0, 0, 0];
  for (let i = 0; i < data.length; i += info.channels) for (let c = 0; c < 3; c++) mean[c] += data[i + c];
  return { width: info.width, height: info.height, mean: mean.map((sum) => sum / (info.width * info.height)) };
}

function subfileDescriptionName(ifd: InspectedIfd): string {
  return tagText(ifd, Tag.ImageDescription).split(/\r?\n/)[1]?.split(' ')[0] ?? '';
}

test('the same seed gives a byte-identical file and another seed a different one', async () => {
  const first = await write(SMALL);
  const again = await write(SMALL);
  const other = await write({ ...SMALL, seed: 8 });
  assert.equal(sha256(again.file), sha256(first.file));
  assert.notEqual(sha256(other.file), sha256(first.file));
});

test('writes the Aperio SVS layout: tiled level 0, stripped thumbnail, reduced levels, label, macro', async () => {
  const { file, result } = await write(SMALL);
  const tiff = inspectTiff(file);
  assert.equal(tiff.bigTiff, false);
  assert.deepEqual(result.levels.map((l) => [l.width, l.height]), [[5000, 3800], [1250, 950]]);
  assert.equal(tiff.ifds.length, result.levels.length + 3);

  const description = tagText(tiff.ifds[0], Tag.ImageDescription);
  assert.match(description, /^Aperio Image Library v[\d.]+\r\n5000x3800 \[0,0 5000x3800\] \(256x256\) JPEG\/RGB Q=80\|AppMag = 40\|/);
  assert.match(description, /\|MPP = 0\.2500\|/);

  const tiled = [tiff.ifds[0], ...tiff.ifds.slice(2, 2 + result.levels.length - 1)];
  tiled.forEach((ifd, level) => {
    const { width, height } = result.levels[level];
    assert.deepEqual([tagValues(ifd, Tag.ImageWidth)[0], tagValues(ifd, Tag.ImageLength)[0]], [width, height]);
    assert.equal(tagValues(ifd, Tag.TileWidth)[0], 256);
    assert.equal(tagValues(ifd, Tag.TileOffsets).length, Math.ceil(width / 256) * Math.ceil(height / 256));
    assert.equal(tagValues(ifd, Tag.TileByteCounts).length, tagValues(ifd, Tag.TileOffsets).length);
    assert.equal(tagValues(ifd, Tag.Compression)[0], 7);
    assert.equal(tagValues(ifd, Tag.Photometric)[0], 6, 'YCbCr-coded JPEG must be declared YCbCr');
    assert.deepEqual(tagValues(ifd, Tag.YCbCrSubsampling), [2, 2]);
    const tables = ifd.tags.get(Tag.JpegTables)?.bytes;
    assert.ok(tables, `level ${level} has no JPEGTables`);
    assert.equal(tables.subarray(0, 4).toString('hex'), 'ffd8ffdb');
    assert.equal(tables.subarray(-2).toString('hex'), 'ffd9');
    tagValues(ifd, Tag.TileOffsets).forEach((offset, i) => {
      const length = tagValues(ifd, Tag.TileByteCounts)[i];
      assert.ok(length > 0 && offset + length <= tiff.file.length, `level ${level} tile ${i} out of the file`);
      assert.equal(tiff.file.readUInt16BE(offset), 0xffd8);
    });
  });

  const thumbnail = tiff.ifds[1];
  assert.equal(thumbnail.tags.has(Tag.TileWidth), false, 'the thumbnail is stripped');
  assert.equal(Math.max(tagValues(thumbnail, Tag.ImageWidth)[0], tagValues(thumbnail, Tag.ImageLength)[0]), 768);
  const [label, macro] = tiff.ifds.slice(-2);
  assert.equal(tagValues(label, Tag.NewSubfileType)[0], 1);
  assert.equal(subfileDescriptionName(label), 'label');
  assert.equal(tagValues(label, Tag.Compression)[0], 5);
  assert.equal(tagValues(macro, Tag.NewSubfileType)[0], 9);
  assert.equal(subfileDescriptionName(macro), 'macro');
});

test('sharp decodes a tile after splicing in JPEGTables (tissue H&E-coloured, background near white) and the label', async () => {
  const { file } = await write(SMALL);
  const tiff = inspectTiff(file);
  const level0 = tiff.ifds[0];
  const tables = level0.tags.get(Tag.JpegTables)!.bytes;
  const tilesAcross = Math.ceil(5000 / 256);
  // A tile that the mask says is all tissue (or all background): 16x16 mask pixels at downsample 16.
  const mask = syntheticTissueMask(SMALL, 16);
  const tileAt = ({ x, y }: { x: number; y: number }) => (y / 16) * tilesAcross + x / 16;
  const tissue = await decodedMean(spliceJpegTables(tables, readTile(tiff, level0, tileAt(findBlock(mask, 16, true)))));
  const background = await decodedMean(spliceJpegTables(tables, readTile(tiff, level0, tileAt(findBlock(mask, 16, false)))));
  assert.deepEqual([tissue.width, tissue.height], [256, 256]);
  assert.ok(isHematoxylinEosin(tissue.mean), `tissue tile mean ${tissue.mean.map(Math.round)}`);
  assert.ok(isBackground(background.mean), `background tile mean ${background.mean.map(Math.round)}`);

  // The LZW label decodes with libtiff (through sharp) and shows dark ink on light paper.
  const label = await sharp(file, { page: tiff.ifds.length - 2 }).raw().toBuffer({ resolveWithObject: true });
  assert.deepEqual([label.info.width, label.info.height], [387, 463]);
  let ink = 0;
  for (let i = 0; i < label.data.length; i += label.info.channels) if (label.data[i] < 80) ink++;
  const inkFraction = ink / (label.info.width * label.info.height);
  assert.ok(inkFraction > 0.05 && inkFraction < 0.5, `label ink fraction ${inkFraction.toFixed(3)}`);
});

test('tissueFraction and mpp are honoured', async () => {
  for (const tissueFraction of [0.2, 0.6]) {
    const mask = syntheticTissueMask({ ...SMALL, width: 40_000, height: 30_000, tissueFraction }, 64);
    const covered = mask.data.reduce((sum, v) => sum + v, 0) / mask.data.length;
    assert.ok(Math.abs(covered - tissueFraction) < 0.08, `tissueFraction ${tissueFraction} covered ${covered.toFixed(3)}`);
  }
  const { file } = await write({ width: 1200, height: 900, mpp: 0.5 });
  const description = tagText(inspectTiff(file).ifds[0], Tag.ImageDescription);
  assert.match(description, /\|AppMag = 20\|/);
  assert.match(description, /\|MPP = 0\.5000\|/);
});

test('bad options are rejected with a message naming the option', async () => {
  await assert.rejects(write({ width: 0, height: 10 }), /option width/);
  await assert.rejects(write({ width: 100, height: 100, tileSize: 250 }), /tileSize must be a multiple of 16/);
  await assert.rejects(write({ width: 100, height: 100, tissueFraction: 1.5 }), /tissueFraction/);
  assert.throws(() => syntheticTissueMask(LARGE, 1), /use a larger downsample/);
});

test('a 100000 x 80000 slide is written far below its raw size, its level-0 tiles sharing a small pool', async () => {
  const { file, result } = await writeLarge();
  const raw = LARGE.width * LARGE.height * 3;
  assert.ok(result.bytes < raw / 200, `${result.bytes} bytes for ${raw} raw`);
  assert.deepEqual(result.levels.map((l) => [l.width, l.height]), [[100_000, 80_000], [25_000, 20_000], [6250, 5000], [1562, 1250]]);
  const tiff = inspectTiff(file);
  const offsets = tagValues(tiff.ifds[0], Tag.TileOffsets);
  assert.equal(offsets.length, 391 * 313);
  assert.ok(new Set(offsets).size < 1000, `${new Set(offsets).size} distinct level-0 tiles`);
});

test('OpenSlide opens the slides as Aperio with the right levels, metadata, associated images and colours', { skip: skipUnlessOpenSlide() }, async () => {
  const options: SyntheticSlideOptions = { width: 12_000, height: 9000, mpp: 0.5, seed: 3 };
  const { file, result } = await write(options);
  const big = await write({ width: 3000, height: 2000, bigTiff: true });
  assert.equal(inspectTiff(big.file).bigTiff, true);
  const large = await writeLarge();

  // Blocks of 256 level-0 pixels (4 mask pixels at downsample 64) that are all tissue / all background.
  const mask = syntheticTissueMask(options, 64);
  const tissueAt = findBlock(mask, 4, true);
  const backgroundAt = findBlock(mask, 4, false);
  const last = result.levels.length - 1;
  const regions: RegionRequest[] = [
    [0, tissueAt.x * 64, tissueAt.y * 64, 256, 256],
    [0, backgroundAt.x * 64, backgroundAt.y * 64, 256, 256],
    [last, tissueAt.x * 64, tissueAt.y * 64, Math.floor(256 / result.levels[last].downsample), Math.floor(256 / result.levels[last].downsample)],
  ];
  const largeMask = syntheticTissueMask(LARGE, 256);
  const largeTissue = findBlock(largeMask, 2, true);
  const [report, bigReport, largeReport] = openSlideReports([
    { path: file, regions },
    { path: big.file, regions: [] },
    { path: large.file, regions: [[3, largeTissue.x * 256, largeTissue.y * 256, 8, 8]] },
  ]);

  assert.equal(report.vendor, 'aperio');
  assert.deepEqual(report.dimensions, [12_000, 9000]);
  assert.deepEqual(report.levelDimensions, result.levels.map((l) => [l.width, l.height]));
  report.levelDownsamples.forEach((d, i) => assert.ok(Math.abs(d - result.levels[i].downsample) < 1e-6, `downsample ${d}`));
  assert.equal(Number(report.properties['openslide.mpp-x']), 0.5);
  assert.equal(Number(report.properties['openslide.mpp-y']), 0.5);
  assert.equal(report.properties['openslide.objective-power'], '20');
  assert.deepEqual(Object.keys(report.associated).sort(), ['label', 'macro', 'thumbnail']);
  assert.deepEqual(report.associated.label, [387, 463]);
  assert.deepEqual(report.associated.macro, [1280, 431]);
  assert.deepEqual(report.associated.thumbnail, [768, 576]);

  const [tissue, background, lowLevelTissue] = report.regionMeans;
  assert.ok(isHematoxylinEosin(tissue), `level-0 tissue mean ${tissue.map(Math.round)}`);
  assert.ok(isBackground(background), `level-0 background mean ${background.map(Math.round)}`);
  assert.ok(isHematoxylinEosin(lowLevelTissue), `level-${last} mean over the same tissue ${lowLevelTissue.map(Math.round)}`);

  // OpenSlide (libtiff) decodes the very tile sharp decodes to the same colours: the Photometric and
  // YCbCr tags match the JPEG data. The tissue region is tile-aligned (a multiple of 256 px).
  const tiff = inspectTiff(file);
  const tileIndex = (tissueAt.y / 4) * Math.ceil(options.width / 256) + tissueAt.x / 4;
  const sharpTile = await decodedMean(spliceJpegTables(tiff.ifds[0].tags.get(Tag.JpegTables)!.bytes, readTile(tiff, tiff.ifds[0], tileIndex)));
  tissue.forEach((c, i) => assert.ok(Math.abs(c - sharpTile.mean[i]) < 3, `OpenSlide ${tissue} vs sharp ${sharpTile.mean}`));

  assert.equal(bigReport.vendor, 'aperio');
  assert.deepEqual(bigReport.dimensions, [3000, 2000]);
  assert.deepEqual(Object.keys(bigReport.associated).sort(), ['label', 'macro', 'thumbnail']);

  assert.equal(largeReport.vendor, 'aperio');
  assert.deepEqual(largeReport.levelDimensions, large.result.levels.map((l) => [l.width, l.height]));
  assert.ok(isHematoxylinEosin(largeReport.regionMeans[0]), `large slide level-3 tissue mean ${largeReport.regionMeans[0].map(Math.round)}`);
});
