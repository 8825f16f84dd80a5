/**
 * The Hamamatsu NDPI driver against a real NDPI (fluorescence-dapi.ndpi) and OpenSlide 3.4.1's answers
 * for it. Pixel references come from sharp decoding each level's whole JPEG strip (found with the
 * independent test TIFF reader), so region reads cut along restart intervals are checked against a
 * decoder that never saw them cut. Damaged copies (written to a temporary folder) must end in typed
 * SlideErrors, and a copy shifted past 4 GB must read like the original. A synthetic NDPI covers what
 * the fixture lacks: several restart intervals per MCU row, 16x16 (4:2:0) MCUs, partial edge MCUs.
 */
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import sharp from 'sharp';
import { openNdpi } from '../../src/slide/drivers/ndpi.ts';
import { SlideError, type SlideErrorCode } from '../../src/slide/errors.ts';
import { FileSource } from '../../src/slide/file-source.ts';
import { openSlide } from '../../src/slide/open.ts';
import { TiffFile } from '../../src/slide/tiff/tiff-file.ts';
import type { RgbImage, Slide } from '../../src/slide/types.ts';
import { splitJpeg } from '../../src/slide/synthetic/jpeg.ts';
import { TiffStreamWriter, type TagSpec } from '../../src/slide/synthetic/tiff-writer.ts';
import { fixture, skipUnlessFixtures } from '../helpers/fixtures.ts';
import { inspectTiff, tagValues, type InspectedIfd, type InspectedTiff } from '../helpers/tiff-inspect.ts';

const NDPI = 'slides/fluorescence-dapi.ndpi';
const EXPECTED = 'expected/openslide-3.4.1.json';
const skip = skipUnlessFixtures(NDPI, EXPECTED);
/** Generous per-test limit: a reader that loops on bad data fails here instead of hanging the suite. */
const timeout = 30_000;

const NDPI_MCU_STARTS = 65426;
const STRIP_BYTE_COUNTS = 279;

const scratch = mkdtempSync(path.join(tmpdir(), 'pathbox-ndpi-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
let copies = 0;

/** A copy of the fixture changed by `edit` (which works on the file's bytes through the TIFF layout). */
function damagedCopy(edit: (tiff: InspectedTiff) => void): string {
  const tiff = inspectTiff(fixture(NDPI));
  edit(tiff);
  const file = path.join(scratch, `copy-${copies++}.ndpi`);
  writeFileSync(file, tiff.file);
  return file;
}

/** File offset of a tag's 12-byte entry in a classic little-endian TIFF directory. */
function entryAt(tiff: InspectedTiff, ifd: InspectedIfd, tag: number): number {
  const count = tiff.file.readUInt16LE(ifd.offset);
  for (let i = 0; i < count; i++) {
    const at = ifd.offset + 2 + 12 * i;
    if (tiff.file.readUInt16LE(at) === tag) return at;
  }
  throw new Error(`no tag ${tag} in the directory at ${ifd.offset}`);
}

/** Hides NdpiMcuStarts from a reader by renumbering the entry to an unused private tag. */
function hideMcuStarts(tiff: InspectedTiff, ifd: InspectedIfd): void {
  tiff.file.writeUInt16LE(65000, entryAt(tiff, ifd, NDPI_MCU_STARTS));
}

async function withSlide<T>(file: string, use: (slide: Slide) => Promise<T>): Promise<T> {
  const slide = await openSlide(file);
  try {
    return await use(slide);
  } finally {
    await slide.close();
  }
}

/** A whole level's JPEG strip decoded in one go by sharp: the reference for every region of it. */
async function wholeLevel(tiff: InspectedTiff, directory: number): Promise<RgbImage> {
  const ifd = tiff.ifds[directory];
  const [offset] = tagValues(ifd, 273);
  const [length] = tagValues(ifd, STRIP_BYTE_COUNTS);
  const { data, info } = await sharp(tiff.file.subarray(offset, offset + length), { limitInputPixels: false }).raw().toBuffer({ resolveWithObject: true });
  assert.equal(info.channels, 3);
  return { width: info.width, height: info.height, channels: 3, data };
}

/** Largest per-sample difference between a region read and the same rectangle of a whole image. */
function worstDifference(whole: RgbImage, region: RgbImage, left: number, top: number): number {
  let worst = 0;
  for (let y = 0; y < region.height; y++) {
    for (let x = 0; x < region.width * 3; x++) {
      const d = Math.abs(region.data[y * region.width * 3 + x] - whole.data[((top + y) * whole.width + left) * 3 + x]);
      if (d > worst) worst = d;
    }
  }
  return worst;
}

function meanRgb(image: RgbImage): number[] {
  const sum = [0, 0, 0];
  for (let i = 0; i < image.data.length; i += 3) for (let c = 0; c < 3; c++) sum[c] += image.data[i + c];
  return sum.map((s) => s / (image.width * image.height));
}

function seededRandom(seed: number): () => number {
  let state = seed;
  return () => (state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
}

function slideError(code: SlideErrorCode, message: RegExp): (e: unknown) => boolean {
  return (e) => {
    assert.ok(e instanceof SlideError, `expected a SlideError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, message);
    return true;
  };
}

interface Expected {
  vendor: string;
  dimensions: [number, number];
  levels: { width: number; height: number; downsample: number }[];
  mpp: [number, number];
  objectivePower: number;
  region: { level: number; x: number; y: number; width: number; height: number; meanRGB: [number, number, number] };
  associated: Record<string, [number, number]>;
}
const expected = (): Expected => JSON.parse(readFileSync(fixture(EXPECTED), 'utf8'))['fluorescence-dapi.ndpi'];

test('opens as OpenSlide does: vendor, size, levels, MPP, objective power, macro, hamamatsu.* properties', { skip, timeout }, async () => {
  const want = expected();
  const tiff = inspectTiff(fixture(NDPI));
  await withSlide(fixture(NDPI), async (slide) => {
    const m = slide.metadata;
    assert.equal(m.vendor, want.vendor);
    assert.deepEqual([m.width, m.height], want.dimensions);
    assert.deepEqual(m.levels.map((l) => [l.width, l.height]), want.levels.map((l) => [l.width, l.height]));
    m.levels.forEach((level, i) => assert.ok(Math.abs(level.downsample - want.levels[i].downsample) <= 0.001, `level ${i} downsample ${level.downsample}`));
    m.mpp!.forEach((v, i) => assert.ok(Math.abs(v - want.mpp[i]) < 1e-9, `mpp ${m.mpp}`));
    assert.equal(m.objectivePower, want.objectivePower);
    assert.deepEqual(m.associated, want.associated);
    const macro = await slide.readAssociated('macro');
    assert.deepEqual([macro.width, macro.height], want.associated.macro);
    // Properties as OpenSlide names them, checked against the raw tags.
    assert.equal(m.properties['openslide.objective-power'], String(want.objectivePower));
    assert.equal(m.properties['hamamatsu.SourceLens'], String(want.objectivePower));
    const map = tiff.ifds[0].tags.get(65449)!.bytes.toString('latin1').split('\r\n').filter((line) => /^[^=]+=./.test(line));
    assert.ok(map.length > 10, 'the fixture carries a property map');
    for (const line of map) {
      const [key, value] = [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)];
      assert.equal(m.properties[`hamamatsu.${key}`], value.replace(/\0+$/, ''), key);
    }
  });
});

test("the central level-0 region has OpenSlide's mean colour", { skip, timeout }, async () => {
  const r = expected().region;
  await withSlide(fixture(NDPI), async (slide) => {
    const mean = meanRgb(await slide.readRegion(r.level, r.x, r.y, r.width, r.height));
    mean.forEach((v, i) => assert.ok(Math.abs(v - r.meanRGB[i]) <= 3, `mean ${mean.map((x) => x.toFixed(2))} vs ${r.meanRGB}`));
  });
});

test('regions across restart-interval and tile boundaries equal a whole-level decode (levels 0 and 2)', { skip, timeout }, async () => {
  const tiff = inspectTiff(fixture(NDPI));
  const random = seededRandom(11);
  await withSlide(fixture(NDPI), async (slide) => {
    for (const level of [0, 2]) {
      const whole = await wholeLevel(tiff, level);
      const { width, height, downsample, tileHeight } = slide.metadata.levels[level];
      assert.deepEqual([whole.width, whole.height], [width, height]);
      // One rectangle straddling a virtual-tile edge mid-interval, then random ones.
      const rectangles = [[17, tileHeight - 5, 300, 23]];
      for (let i = 0; i < 6; i++) {
        const w = 16 + Math.floor(random() * 300);
        const h = 16 + Math.floor(random() * 300);
        rectangles.push([Math.floor(random() * (width - w)), Math.floor(random() * (height - h)), w, h]);
      }
      for (const [x, y, w, h] of rectangles) {
        const region = await slide.readRegion(level, x * downsample, y * downsample, w, h);
        const worst = worstDifference(whole, region, x, y);
        assert.ok(worst <= 2, `level ${level} region ${x},${y} ${w}x${h}: largest difference ${worst}`);
      }
    }
  });
});

test("reduced levels (OpenSlide's scaled decodes) show what level 0 shows over the same area", { skip, timeout }, async () => {
  await withSlide(fixture(NDPI), async (slide) => {
    const levels = slide.metadata.levels;
    for (const level of [4, 6]) {
      const { width, height, downsample } = levels[level];
      const [x, y, w, h] = [Math.floor(width / 4), Math.floor(height / 4), Math.floor(width / 2), Math.floor(height / 2)];
      const reduced = meanRgb(await slide.readRegion(level, x * downsample, y * downsample, w, h));
      const full = meanRgb(await slide.readRegion(0, x * downsample, y * downsample, w * downsample, h * downsample));
      reduced.forEach((v, i) => assert.ok(Math.abs(v - full[i]) <= 3, `level ${level} mean ${reduced} vs level 0 ${full}`));
    }
  });
});

test('a small region decodes only the restart intervals under it', { skip, timeout }, async () => {
  const file = fixture(NDPI);
  const source = await FileSource.open(file);
  const { slide, levels } = await openNdpi({ path: file, source, size: source.size, head: await source.readUpTo(0, 4096), tiff: await TiffFile.parse(source) });
  try {
    const [stripLength] = tagValues(inspectTiff(file).ifds[0], STRIP_BYTE_COUNTS);
    await slide.readRegion(0, 1000, 1000, 64, 64);
    const reads = levels[0].reads;
    // This file's MCUs are 8 pixels high with one restart interval per MCU row (DRI = the row's 496 MCUs):
    // 64 rows need 8 intervals, 16 at most when they straddle two virtual tiles.
    assert.ok(reads.tiles >= 1 && reads.tiles <= 2, `${reads.tiles} decodes`);
    assert.ok(reads.intervals >= 8 && reads.intervals <= 16, `${reads.intervals} of 608 restart intervals`);
    assert.ok(reads.bytes < stripLength / 20, `read ${reads.bytes} of the level's ${stripLength} bytes`);
    for (const other of levels.slice(1)) assert.equal(other.reads.tiles, 0, 'other levels untouched');
  } finally {
    await slide.close();
  }
});

test('without NdpiMcuStarts the restart markers are found by scanning, with the same pixels', { skip, timeout }, async () => {
  const original = inspectTiff(fixture(NDPI));
  const file = damagedCopy((tiff) => tiff.ifds.slice(0, 4).forEach((ifd) => hideMcuStarts(tiff, ifd)));
  assert.equal(inspectTiff(file).ifds[0].tags.has(NDPI_MCU_STARTS), false);
  await withSlide(file, async (slide) => {
    for (const level of [0, 2]) {
      const whole = await wholeLevel(original, level);
      const { width, height, downsample } = slide.metadata.levels[level];
      // The bottom rows first: the scan must walk the whole level to reach them.
      for (const [x, y, w, h] of [[width - 200, height - 150, 200, 150], [5, 3, 250, 90]]) {
        const worst = worstDifference(whole, await slide.readRegion(level, x * downsample, y * downsample, w, h), x, y);
        assert.ok(worst <= 2, `level ${level} region ${x},${y}: largest difference ${worst}`);
      }
    }
  });
});

test('a wrong NdpiMcuStarts entry is a SlideError naming the level; regions before it still read', { skip, timeout }, async () => {
  const shifted = damagedCopy((tiff) => {
    const starts = tiff.ifds[0].tags.get(NDPI_MCU_STARTS)!.bytes;
    starts.writeUInt32LE(starts.readUInt32LE(400) + 37, 400); // entry 100, still increasing
  });
  await withSlide(shifted, async (slide) => {
    await slide.readRegion(0, 0, 0, 512, 64);
    await assert.rejects(slide.readRegion(0, 0, 100 * 8, 64, 8), slideError('CORRUPT_TILE', /NDPI directory 0: expected marker FF D3 closing interval 99/));
  });
  const backwards = damagedCopy((tiff) => tiff.ifds[0].tags.get(NDPI_MCU_STARTS)!.bytes.writeUInt32LE(5, 400));
  await withSlide(backwards, async (slide) => {
    await assert.rejects(slide.readRegion(0, 0, 0, 64, 64), slideError('CORRUPT_STRUCTURE', /NDPI directory 0: NdpiMcuStarts entry 100 \(5\) does not follow/));
  });
});

test('truncated entropy data or a truncated file is a SlideError, never a hang', { skip, timeout }, async () => {
  const halve = (tiff: InspectedTiff): void => {
    const count = tiff.ifds[0].tags.get(STRIP_BYTE_COUNTS)!.bytes;
    count.writeUInt32LE(Math.floor(count.readUInt32LE(0) / 2), 0);
  };
  // Scanning runs out of data: the top of the level reads, the bottom cannot.
  await withSlide(damagedCopy((tiff) => { halve(tiff); hideMcuStarts(tiff, tiff.ifds[0]); }), async (slide) => {
    await slide.readRegion(0, 0, 0, 256, 256);
    await assert.rejects(slide.readRegion(0, 0, 4600, 256, 256), slideError('CORRUPT_TILE', /entropy-coded data ends before restart interval/));
  });
  // The table points past the shortened strip.
  await withSlide(damagedCopy(halve), async (slide) => {
    await assert.rejects(slide.readRegion(0, 0, 0, 64, 64), slideError('CORRUPT_STRUCTURE', /NdpiMcuStarts .* past the strip/));
  });
  const cut = path.join(scratch, 'cut.ndpi');
  const bytes = readFileSync(fixture(NDPI));
  writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
  await assert.rejects(openSlide(cut), slideError('TRUNCATED', /truncated file/));
});

test('an NDPI over 4 GB (offsets with implied high bits, 64-bit directory links) reads like the original', { skip, timeout }, async () => {
  // Every byte moves up by exactly 4 GiB (a sparse file): the stored low 32 bits stay valid and only
  // the high words NDPI keeps beyond the classic TIFF structures change.
  const shift = 2 ** 32;
  const tiff = inspectTiff(fixture(NDPI));
  const file = path.join(scratch, 'over-4gb.ndpi');
  const fd = openSync(file, 'w');
  try {
    writeSync(fd, tiff.file, 0, tiff.file.length, shift);
    const header = Buffer.from(tiff.file.subarray(0, 12));
    header.writeUInt32LE(1, 8); // high word of the first directory's offset
    writeSync(fd, header, 0, header.length, 0);
    for (const ifd of tiff.ifds) {
      const link = ifd.offset + 2 + 12 * tiff.file.readUInt16LE(ifd.offset);
      if (tiff.file.readUInt32LE(link) !== 0) writeSync(fd, Buffer.from([1, 0, 0, 0]), 0, 4, shift + link + 4);
    }
  } finally {
    closeSync(fd);
  }
  await withSlide(fixture(NDPI), (original) => withSlide(file, async (moved) => {
    assert.deepEqual(moved.metadata.levels, original.metadata.levels);
    assert.deepEqual(moved.metadata.properties, original.metadata.properties);
    for (const [level, x, y] of [[0, 1800, 4700], [2, 400, 200], [5, 0, 0]]) {
      const a = await original.readRegion(level, x, y, 100, 100);
      const b = await moved.readRegion(level, x, y, 100, 100);
      assert.ok(a.data.equals(b.data), `level ${level} region ${x},${y} differs`);
    }
    assert.ok((await moved.readAssociated('macro')).data.equals((await original.readAssociated('macro')).data));
  }));
});

/**
 * A JPEG with restart markers, built as an encoder would: every restart interval (one MCU row high,
 * `mcusPerInterval` MCUs wide) is encoded on its own with the same tables, which is exactly what a
 * restart does (DC prediction reset, byte-aligned end), and the pieces are joined with RST0..RST7.
 * Returns the stream and the NdpiMcuStarts of its intervals.
 */
async function restartMarkedJpeg(rgb: Buffer, width: number, height: number, mcusPerInterval: number): Promise<{ jpeg: Buffer; starts: number[] }> {
  const mcu = 16; // 4:2:0
  const intervalWidth = mcusPerInterval * mcu;
  const pieces: Buffer[] = [];
  let first: { tables: Buffer; frame: Buffer; scan: Buffer } | null = null;
  for (let y0 = 0; y0 < height; y0 += mcu) {
    for (let x0 = 0; x0 < width; x0 += intervalWidth) {
      const [w, h] = [Math.min(intervalWidth, width - x0), Math.min(mcu, height - y0)];
      const part = Buffer.alloc(w * h * 3);
      for (let y = 0; y < h; y++) rgb.copy(part, y * w * 3, ((y0 + y) * width + x0) * 3, ((y0 + y) * width + x0 + w) * 3);
      const encoded = await sharp(part, { raw: { width: w, height: h, channels: 3 } })
        .jpeg({ quality: 90, optimiseCoding: false, mozjpeg: false, chromaSubsampling: '4:2:0' }).toBuffer();
      const { tables, abbreviated } = splitJpeg(encoded); // abbreviated: SOI SOF SOS data EOI
      const sofEnd = 4 + abbreviated.readUInt16BE(4);
      const sosEnd = sofEnd + 2 + abbreviated.readUInt16BE(sofEnd + 2);
      first ??= { tables, frame: Buffer.from(abbreviated.subarray(2, sofEnd)), scan: abbreviated.subarray(sofEnd, sosEnd) };
      assert.ok(tables.equals(first.tables), 'every interval must be encoded with the same tables');
      pieces.push(abbreviated.subarray(sosEnd, abbreviated.length - 2));
    }
  }
  const { tables, frame, scan } = first!;
  frame.writeUInt16BE(height, 5);
  frame.writeUInt16BE(width, 7);
  const restartInterval = Buffer.from([0xff, 0xdd, 0, 4, mcusPerInterval >> 8, mcusPerInterval & 255]);
  const parts = [tables.subarray(0, tables.length - 2), frame, restartInterval, scan];
  let at = parts.reduce((sum, b) => sum + b.length, 0);
  const starts: number[] = [];
  pieces.forEach((piece, i) => {
    starts.push(at);
    parts.push(piece, Buffer.from([0xff, i === pieces.length - 1 ? 0xd9 : 0xd0 + (i % 8)]));
    at += piece.length + 2;
  });
  return { jpeg: Buffer.concat(parts), starts };
}

/** A one-level NDPI holding `jpeg` (with NdpiMcuStarts when `starts` is given). */
async function writeNdpi(file: string, jpeg: Buffer, width: number, height: number, starts: number[] | null): Promise<void> {
  const writer = await TiffStreamWriter.create(file);
  const offset = await writer.append(jpeg);
  const tags: TagSpec[] = [
    { tag: 256, type: 'LONG', value: [width] }, { tag: 257, type: 'LONG', value: [height] },
    { tag: 259, type: 'SHORT', value: [7] }, { tag: 262, type: 'SHORT', value: [6] },
    { tag: 273, type: 'LONG', value: [offset] }, { tag: 277, type: 'SHORT', value: [3] },
    { tag: 278, type: 'LONG', value: [height] }, { tag: 279, type: 'LONG', value: [jpeg.length] },
    { tag: 65420, type: 'LONG', value: [1] }, { tag: 65421, type: 'LONG', value: [20] }, { tag: 65424, type: 'LONG', value: [0] },
  ];
  if (starts) tags.push({ tag: NDPI_MCU_STARTS, type: 'LONG', value: starts });
  await writer.finish([tags], false);
}

test('several restart intervals per MCU row, 4:2:0 MCUs and partial edge MCUs: exact away from tile seams', { timeout }, async () => {
  // 32 intervals of 2 MCUs per row, 40 MCU rows; the right and bottom MCUs are partly outside the image.
  const [width, height] = [1019, 637];
  const rgb = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      rgb[o] = (x * 255) / width;
      rgb[o + 1] = 128 + 100 * Math.sin(x / 9 + y / 13);
      rgb[o + 2] = (y * 255) / height;
    }
  }
  const { jpeg, starts } = await restartMarkedJpeg(rgb, width, height, 2);
  const whole = await sharp(jpeg).raw().toBuffer();
  const withTable = path.join(scratch, 'synthetic-table.ndpi');
  const scanned = path.join(scratch, 'synthetic-scan.ndpi');
  await writeNdpi(withTable, jpeg, width, height, starts);
  await writeNdpi(scanned, jpeg, width, height, null);
  for (const file of [withTable, scanned]) {
    await withSlide(file, async (slide) => {
      const { tileWidth, tileHeight } = slide.metadata.levels[0];
      assert.ok(tileWidth < width, `virtual tiles ${tileWidth} wide must cut rows into several runs of intervals`);
      const region = await slide.readRegion(0, 0, 0, width, height);
      let inside = 0;
      let seams = 0;
      for (let y = 0; y < height; y++) {
        // Decoding a tile alone upsamples its outermost chroma samples without their neighbours.
        const seamRow = Math.abs(((y + 2) % tileHeight) - 2) <= 2;
        for (let x = 0; x < width * 3; x++) {
          const d = Math.abs(region.data[y * width * 3 + x] - whole[y * width * 3 + x]);
          if (seamRow || Math.abs(((Math.floor(x / 3) + 2) % tileWidth) - 2) <= 2) seams = Math.max(seams, d);
          else inside = Math.max(inside, d);
        }
      }
      assert.equal(inside, 0, `${path.basename(file)}: pixels away from tile seams must be exact`);
      assert.ok(seams <= 8, `${path.basename(file)}: seam pixels differ by up to ${seams}`);
    });
  }
});
