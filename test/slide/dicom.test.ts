/**
 * The DICOM WSI driver against real files (expected numbers from the files' own headers, dumped with
 * pydicom) and against small series written here for what the fixtures lack (TILED_SPARSE, pyramids,
 * identifying attributes). Broken inputs must end in typed SlideErrors.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { isSlideError, type SlideErrorCode } from '../../src/slide/errors.ts';
import { openSlide } from '../../src/slide/open.ts';
import type { RgbImage, Slide } from '../../src/slide/types.ts';
import { fixture, fixturesDir, skipUnlessFixtures } from '../helpers/fixtures.ts';

const scratch = mkdtempSync(path.join(tmpdir(), 'pathbox-dicom-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
let folders = 0;
/** A fresh folder per case: the driver scans the opened file's folder for its series. */
function folder(): string {
  const dir = path.join(scratch, String(folders++));
  mkdirSync(dir);
  return dir;
}
function copyFixtures(names: string[]): string {
  const dir = folder();
  for (const name of names) copyFileSync(fixture(`slides/${name}`), path.join(dir, name));
  return dir;
}

async function withSlide<T>(file: string, use: (slide: Slide) => Promise<T>): Promise<T> {
  const slide = await openSlide(file);
  try {
    return await use(slide);
  } finally {
    await slide.close();
  }
}

function mean(image: RgbImage): number[] {
  const sum = [0, 0, 0];
  for (let i = 0; i < image.data.length; i += 3) for (let c = 0; c < 3; c++) sum[c] += image.data[i + c];
  return sum.map((s) => s / (image.width * image.height));
}

function pixel(image: RgbImage, x: number, y: number): number[] {
  const at = (y * image.width + x) * 3;
  return [...image.data.subarray(at, at + 3)];
}

async function openError(file: string): Promise<SlideErrorCode> {
  try {
    await (await openSlide(file)).close();
  } catch (e) {
    assert.ok(isSlideError(e), `expected a SlideError, got ${String(e)}`);
    return e.code;
  }
  assert.fail(`${file} opened`);
}

/** Opens and reads every level, associated image and first raw tile: 'ok' or the SlideError's code. */
async function readEverything(file: string): Promise<'ok' | SlideErrorCode> {
  let slide: Slide;
  try {
    slide = await openSlide(file);
  } catch (e) {
    assert.ok(isSlideError(e), `open threw a non-SlideError: ${String(e)}`);
    return e.code;
  }
  try {
    const { levels, associated } = slide.metadata;
    for (let level = 0; level < levels.length; level++) await slide.readRegion(level, 0, 0, levels[level].width, levels[level].height);
    for (const name of Object.keys(associated)) await slide.readAssociated(name);
    await slide.readRawJpegTile(0, 0, 0);
    return 'ok';
  } catch (e) {
    assert.ok(isSlideError(e), `read threw a non-SlideError: ${String(e)}`);
    return e.code;
  } finally {
    await slide.close();
  }
}

const IDENTITY = ['Test^Patient', 'AA01', '17890505', 'S19-1_A_1_1', 'Test^Physician', 'Jane^Doe', 'HOSP-42', 'General Hospital'];
function assertNoIdentity(properties: Record<string, string>): void {
  for (const [key, value] of Object.entries(properties)) {
    assert.doesNotMatch(key, /patient|accession|institution|physician|container|specimen|studyid/i, key);
    for (const secret of IDENTITY) assert.ok(!value.includes(secret), `${key} leaks ${secret}`);
  }
}

describe('real DICOM WSI fixtures', () => {
  const boxes = ['boxes_0.dcm', 'boxes_1.dcm'].map((n) => `slides/${n}`);
  const sm = ['dicom-sm-rgb.dcm', 'dicom-sm-jpegls.dcm'].map((n) => `slides/${n}`);

  test('boxes: one TILED_FULL JPEG level of 64-px tiles plus its thumbnail, as the headers say', { skip: skipUnlessFixtures(...boxes) }, async () => {
    // Headers: TotalPixelMatrix 16x16, Rows/Columns 64, PixelSpacing 0.000499\0.000499 mm, ObjectiveLensPower 20;
    // boxes_1.dcm is the same series' THUMBNAIL (16x16, native RGB).
    for (const opened of ['boxes_0.dcm', 'boxes_1.dcm']) {
      await withSlide(fixture(`slides/${opened}`), async (slide) => {
        const m = slide.metadata;
        assert.equal(m.vendor, 'dicom');
        assert.deepEqual(m.levels, [{ width: 16, height: 16, downsample: 1, tileWidth: 64, tileHeight: 64 }]);
        assert.deepEqual(m.mpp, [0.499, 0.499]);
        assert.equal(m.objectivePower, 20);
        assert.deepEqual(m.associated, { thumbnail: [16, 16] });
        assert.equal(m.properties['openslide.mpp-x'], '0.499');
        assert.equal(m.properties['dicom.Manufacturer'], 'Leica Biosystems');
        assert.equal(m.properties['dicom.ImageType[2]'], 'VOLUME');
        const thumbnail = await slide.readAssociated('thumbnail');
        assert.equal(thumbnail.width * thumbnail.height * 3, thumbnail.data.length);
        assert.deepEqual([thumbnail.width, thumbnail.height], [16, 16]);
      });
    }
  });

  test('boxes_0.dcm shows the same pixels as small.svs, the Aperio file it was converted from', { skip: skipUnlessFixtures(...boxes, 'slides/small.svs') }, async () => {
    // boxes.tiff is 300x250 and not this picture; small.svs is the 16x16 CMU-1 crop (OpenSlide's mean in expected/).
    const expected = JSON.parse(readFileSync(path.join(fixturesDir, 'expected/openslide-3.4.1.json'), 'utf8'))['small.svs'].region.meanRGB as number[];
    const dicom = await withSlide(fixture('slides/boxes_0.dcm'), (s) => s.readRegion(0, 0, 0, 16, 16));
    const svs = await withSlide(fixture('slides/small.svs'), (s) => s.readRegion(0, 0, 0, 16, 16));
    mean(dicom).forEach((v, c) => assert.ok(Math.abs(v - expected[c]) <= 3, `mean ${mean(dicom)} vs OpenSlide's ${expected}`));
    for (let i = 0; i < dicom.data.length; i++) assert.ok(Math.abs(dicom.data[i] - svs.data[i]) <= 3, `byte ${i}`);
    // Outside the 16x16 matrix the stored 64x64 tile is padding: the reader must show white there.
    const edge = await withSlide(fixture('slides/boxes_0.dcm'), (s) => s.readRegion(0, 8, 8, 16, 16));
    assert.deepEqual(pixel(edge, 12, 12), [255, 255, 255]);
    assert.deepEqual(pixel(edge, 0, 0), pixel(dicom, 8, 8));
  });

  test('boxes_0.dcm serves its JPEG tile as a standalone JPEG that decodes to the tile', { skip: skipUnlessFixtures(...boxes) }, async () => {
    const sharp = (await import('sharp')).default;
    await withSlide(fixture('slides/boxes_0.dcm'), async (slide) => {
      const raw = await slide.readRawJpegTile(0, 0, 0);
      assert.ok(raw);
      assert.deepEqual([raw.width, raw.height], [64, 64]);
      const decoded = await sharp(raw.data).raw().toBuffer();
      const region = await slide.readRegion(0, 0, 0, 16, 16);
      for (let y = 0; y < 16; y++) assert.deepEqual(decoded.subarray(y * 64 * 3, (y * 64 + 16) * 3), region.data.subarray(y * 48, (y + 1) * 48));
    });
  });

  test('an RGB JPEG frame without an Adobe marker still decodes as RGB, not YCbCr', { skip: skipUnlessFixtures(...boxes) }, async () => {
    const dir = copyFixtures(['boxes_0.dcm']);
    const file = path.join(dir, 'boxes_0.dcm');
    const bytes = readFileSync(file);
    const soi = bytes.indexOf(Buffer.from([0xff, 0xd8, 0xff, 0xee]));
    const stripped = Buffer.concat([bytes.subarray(0, soi + 2), bytes.subarray(soi + 18)]);
    stripped.writeUInt32LE(stripped.readUInt32LE(soi - 4) - 16, soi - 4); // the fragment item's length
    writeFileSync(file, stripped);
    const original = await withSlide(fixture('slides/boxes_0.dcm'), (s) => s.readRegion(0, 0, 0, 16, 16));
    await withSlide(file, async (slide) => {
      assert.ok((await slide.readRegion(0, 0, 0, 16, 16)).data.equals(original.data));
      const raw = await slide.readRawJpegTile(0, 0, 0);
      assert.ok(raw && raw.data.includes(Buffer.from('Adobe')), 'the served JPEG must say its components are RGB');
    });
  });

  test('raw RGB and JPEG-LS files: 50x50 of 10x10 frames, decoding to identical pixels', { skip: skipUnlessFixtures(...sm) }, async () => {
    const images: RgbImage[] = [];
    for (const name of ['dicom-sm-rgb.dcm', 'dicom-sm-jpegls.dcm']) {
      await withSlide(fixture(`slides/${name}`), async (slide) => {
        const m = slide.metadata;
        assert.deepEqual(m.levels, [{ width: 50, height: 50, downsample: 1, tileWidth: 10, tileHeight: 10 }]);
        assert.deepEqual(m.mpp, [0.499, 0.499]);
        assert.equal(m.objectivePower, null); // the optical path has no ObjectiveLensPower
        assert.deepEqual(m.associated, {});
        assertNoIdentity(m.properties); // these headers name a test patient, accession and physician
        assert.equal(await slide.readRawJpegTile(0, 4, 4), null);
        images.push(await slide.readRegion(0, 0, 0, 50, 50));
      });
    }
    assert.ok(images[0].data.equals(images[1].data), 'JPEG-LS lossless must equal the raw frames');
    const [r, g, b] = mean(images[0]);
    assert.ok(r > 200 && r < 250 && Math.abs(r - g) < 2 && Math.abs(r - b) < 2, `mean ${mean(images[0])}: a pale grey field`);
  });

  test('other DICOM objects are not slides', { skip: skipUnlessFixtures(...sm) }, async () => {
    const dir = copyFixtures(['dicom-sm-rgb.dcm']);
    const file = path.join(dir, 'dicom-sm-rgb.dcm');
    const bytes = readFileSync(file);
    const uid = Buffer.from('1.2.840.10008.5.1.4.1.1.77.1.6');
    bytes.set(Buffer.from('1.2.840.10008.5.1.4.1.1.77.1.4'), bytes.indexOf(uid)); // VL Photographic Image, same length
    writeFileSync(file, bytes);
    assert.equal(await openError(file), 'UNSUPPORTED_FORMAT');
  });

  test('truncated copies fail with typed errors at open or at read, never hang', { skip: skipUnlessFixtures(...boxes, ...sm), timeout: 60_000 }, async () => {
    const outcomes: string[] = [];
    for (const name of ['boxes_0.dcm', 'boxes_1.dcm', 'dicom-sm-rgb.dcm', 'dicom-sm-jpegls.dcm']) {
      const size = readFileSync(fixture(`slides/${name}`)).length;
      for (const cut of [0, 100, 140, 400, Math.floor(size / 2), size - 700, size - 9, size - 1]) {
        const dir = copyFixtures(name.startsWith('boxes') ? ['boxes_0.dcm', 'boxes_1.dcm'] : [name]);
        truncateSync(path.join(dir, name), cut);
        outcomes.push(`${name}@${cut}: ${await readEverything(path.join(dir, name.startsWith('boxes') ? 'boxes_0.dcm' : name))}`);
      }
    }
    const failed = outcomes.filter((o) => !o.endsWith(': ok'));
    // Native pixel data cut short is caught at open; a cut before the preamble is not DICOM at all.
    assert.ok(outcomes.includes(`dicom-sm-rgb.dcm@${readFileSync(fixture('slides/dicom-sm-rgb.dcm')).length - 700}: TRUNCATED`), outcomes.join('\n'));
    assert.ok(outcomes.includes('dicom-sm-jpegls.dcm@100: UNSUPPORTED_FORMAT'), outcomes.join('\n'));
    assert.ok(failed.length >= outcomes.length - 4, outcomes.join('\n'));
  });

  test('a corrupt frame is a CORRUPT_TILE, and the other frames still read', { skip: skipUnlessFixtures(...boxes, ...sm) }, async () => {
    const ls = copyFixtures(['dicom-sm-jpegls.dcm']);
    const lsFile = path.join(ls, 'dicom-sm-jpegls.dcm');
    const lsBytes = readFileSync(lsFile);
    const firstFrame = lsBytes.indexOf(Buffer.from([0xff, 0xd8, 0xff, 0xf7]));
    lsBytes.fill(0x13, firstFrame + 30, firstFrame + 60);
    writeFileSync(lsFile, lsBytes);
    await withSlide(lsFile, async (slide) => {
      await assert.rejects(slide.readRegion(0, 0, 0, 10, 10), { name: 'SlideError', code: 'CORRUPT_TILE' });
      assert.equal((await slide.readRegion(0, 10, 0, 10, 10)).width, 10);
    });

    const jpeg = copyFixtures(['boxes_0.dcm', 'boxes_1.dcm']);
    const jpegFile = path.join(jpeg, 'boxes_0.dcm');
    const jpegBytes = readFileSync(jpegFile);
    jpegBytes.fill(0, jpegBytes.indexOf(Buffer.from([0xff, 0xd8, 0xff])) + 2, jpegBytes.length - 100);
    writeFileSync(jpegFile, jpegBytes);
    await withSlide(jpegFile, (slide) => assert.rejects(slide.readRegion(0, 0, 0, 16, 16), { name: 'SlideError', code: 'CORRUPT_TILE' }));
  });
});

// ---- synthetic series: a minimal explicit-VR-little-endian Part 10 writer ----

type Value = string | number[] | Buffer | Buffer[] | Element[][];
const PIXEL_DATA = 0x7fe00010;
type Element = [tag: number, vr: string, value: Value];
const LONG_LENGTH_VRS = new Set(['OB', 'OW', 'SQ', 'UT', 'UN', 'OV']);

function encode(elements: Element[]): Buffer {
  const parts: Buffer[] = [];
  for (const [tag, vr, value] of [...elements].sort((a, b) => a[0] - b[0])) {
    const head = Buffer.alloc(LONG_LENGTH_VRS.has(vr) ? 12 : 8);
    head.writeUInt16LE(tag >>> 16, 0);
    head.writeUInt16LE(tag & 0xffff, 2);
    head.write(vr, 4, 'latin1');
    if (tag === PIXEL_DATA && Array.isArray(value)) {
      // Encapsulated: an undefined-length OB of items (offset table, then fragments) and a delimiter.
      head.writeUInt32LE(0xffffffff, 8);
      parts.push(head, ...(value as unknown as Buffer[]).map((item) => Buffer.concat([itemTag(0xe000, item.length), item])), itemTag(0xe0dd, 0));
      continue;
    }
    let body: Buffer;
    if (vr === 'SQ') {
      const items = (value as Element[][]).map((item) => Buffer.concat([itemTag(0xe000, 0xffffffff), encode(item), itemTag(0xe00d, 0)]));
      body = Buffer.concat([...items, itemTag(0xe0dd, 0)]);
    } else if (Buffer.isBuffer(value)) body = value;
    else if (typeof value === 'string') body = Buffer.from(value.length % 2 ? value + (vr === 'UI' ? '\0' : ' ') : value, 'latin1');
    else body = Buffer.concat((value as number[]).map((n) => numberBytes(vr, n)));
    if (LONG_LENGTH_VRS.has(vr)) head.writeUInt32LE(vr === 'SQ' ? 0xffffffff : body.length, 8);
    else head.writeUInt16LE(body.length, 6);
    parts.push(head, body);
  }
  return Buffer.concat(parts);
}
function itemTag(element: number, length: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt16LE(0xfffe, 0);
  b.writeUInt16LE(element, 2);
  b.writeUInt32LE(length, 4);
  return b;
}
function numberBytes(vr: string, n: number): Buffer {
  const b = Buffer.alloc(vr === 'US' ? 2 : 4);
  if (vr === 'US') b.writeUInt16LE(n);
  else if (vr === 'SL') b.writeInt32LE(n);
  else b.writeUInt32LE(n);
  return b;
}

interface SyntheticInstance {
  series: string;
  sop: string;
  flavor: string;
  size: [number, number];
  tile: number;
  /** One RGB colour per frame (the frame is filled with it). */
  colours: number[][];
  /** 1-based pixel positions per frame, for TILED_SPARSE; z per frame for a second focal plane. */
  positions?: [number, number][];
  z?: number[];
  /** Frames as lossless JPEG 2000 (YBR_RCT), located by a basic, extended or no offset table, split in fragments. */
  jpeg2000?: Encapsulation;
}

const require = createRequire(import.meta.url);
interface J2kEncoder { getDecodedBuffer(info: object): Uint8Array; setDecompositions(n: number): void; encode(): void; getEncodedBuffer(): Uint8Array; delete(): void }
const openjpeg = (require('@cornerstonejs/codec-openjpeg/wasmjs') as (o: object) => Promise<{ J2KEncoder: new () => J2kEncoder }>)({ print() {}, printErr() {} });

async function encodeJpeg2000(rgb: Buffer, size: number): Promise<Buffer> {
  const encoder = new (await openjpeg).J2KEncoder();
  try {
    encoder.getDecodedBuffer({ width: size, height: size, bitsPerSample: 8, componentCount: 3, isSigned: false }).set(rgb);
    encoder.setDecompositions(1);
    encoder.encode();
    return Buffer.from(encoder.getEncodedBuffer());
  } finally {
    encoder.delete();
  }
}

interface Encapsulation { table: 'basic' | 'extended' | 'none'; fragmentsPerFrame: number }

/** Pixel Data items (the basic offset table first, then each frame cut into fragments) and the extended table. */
async function encapsulate(frames: Buffer[], size: number, options: Encapsulation): Promise<{ items: Buffer[]; extended: Element[] }> {
  const fragments: Buffer[][] = [];
  for (const frame of frames) {
    const stream = await encodeJpeg2000(frame, size);
    const cut = Math.ceil(stream.length / options.fragmentsPerFrame / 2) * 2;
    fragments.push(Array.from({ length: options.fragmentsPerFrame }, (_, i) => stream.subarray(i * cut, (i + 1) * cut)));
  }
  const basic = Buffer.alloc(options.table === 'basic' ? frames.length * 4 : 0);
  const offsets = Buffer.alloc(frames.length * 8);
  const lengths = Buffer.alloc(frames.length * 8);
  let at = 0;
  fragments.forEach((parts, i) => {
    if (options.table === 'basic') basic.writeUInt32LE(at, i * 4);
    offsets.writeBigUInt64LE(BigInt(at), i * 8);
    lengths.writeBigUInt64LE(BigInt(parts[0].length), i * 8);
    for (const part of parts) at += 8 + part.length;
  });
  const extended: Element[] = options.table === 'extended' ? [[0x7fe00001, 'OV', offsets], [0x7fe00002, 'OV', lengths]] : [];
  return { items: [basic, ...fragments.flat()], extended };
}

async function wsiInstance(spec: SyntheticInstance): Promise<Buffer> {
  const frames = spec.colours.map((c) => Buffer.from(Array.from({ length: spec.tile * spec.tile * 3 }, (_, i) => c[i % 3])));
  const meta = encode([
    [0x00020001, 'OB', Buffer.from([0, 1])],
    [0x00020002, 'UI', '1.2.840.10008.5.1.4.1.1.77.1.6'],
    [0x00020003, 'UI', spec.sop],
    [0x00020010, 'UI', spec.jpeg2000 ? '1.2.840.10008.1.2.4.90' : '1.2.840.10008.1.2.1'],
  ]);
  const dataset: Element[] = [
    [0x00080008, 'CS', `DERIVED\\PRIMARY\\${spec.flavor}\\NONE`],
    [0x00080018, 'UI', spec.sop],
    [0x00080050, 'SH', 'HOSP-42'],
    [0x00080080, 'LO', 'General Hospital'],
    [0x00100010, 'PN', 'Jane^Doe'],
    [0x0020000e, 'UI', spec.series],
    [0x00209311, 'CS', spec.positions ? 'TILED_SPARSE' : 'TILED_FULL'],
    [0x00280002, 'US', [3]],
    [0x00280004, 'CS', spec.jpeg2000 ? 'YBR_RCT' : 'RGB'],
    [0x00280006, 'US', [0]],
    [0x00280008, 'IS', String(frames.length)],
    [0x00280010, 'US', [spec.tile]],
    [0x00280011, 'US', [spec.tile]],
    [0x00280100, 'US', [8]],
    [0x00280101, 'US', [8]],
    [0x00280103, 'US', [0]],
    [0x00480006, 'UL', [spec.size[0]]],
    [0x00480007, 'UL', [spec.size[1]]],
    [0x52009229, 'SQ', [[[0x00289110, 'SQ', [[[0x00280030, 'DS', '0.00025\\0.0005']]]]]]],
  ];
  if (spec.jpeg2000) {
    const { items, extended } = await encapsulate(frames, spec.tile, spec.jpeg2000);
    dataset.push(...extended, [PIXEL_DATA, 'OB', items]);
  } else dataset.push([PIXEL_DATA, 'OB', Buffer.concat(frames)]);
  if (spec.positions) {
    dataset.push([0x52009230, 'SQ', spec.positions.map(([x, y], i): Element[] => [[0x0048021a, 'SQ', [[
      [0x0040074a, 'DS', String(spec.z?.[i] ?? 0)],
      [0x0048021e, 'SL', [x]],
      [0x0048021f, 'SL', [y]],
    ]]]])]);
  }
  const group = Buffer.alloc(12);
  group.writeUInt32LE(0x00000002, 0);
  group.write('UL', 4, 'latin1');
  group.writeUInt16LE(4, 6);
  group.writeUInt32LE(meta.length, 8);
  return Buffer.concat([Buffer.alloc(128), Buffer.from('DICM'), group, meta, encode(dataset)]);
}

describe('synthetic DICOM WSI series', () => {
  const red = [200, 30, 30];
  const blue = [30, 30, 200];
  const green = [30, 200, 30];

  test('a TILED_SPARSE pyramid across files: levels, missing tiles white, second focal plane ignored, label, other series apart', async () => {
    const dir = folder();
    const series = '1.2.3.4';
    // Level 0: 20x16 with 8-px tiles = 3x2 tiles; frames at (col,row) (0,0) red, (2,1) blue, plus a
    // second focal plane's frame at (1,0) that must not show; every other tile is missing.
    writeFileSync(path.join(dir, 'level0.dcm'), await wsiInstance({
      series, sop: '1.2.3.4.1', flavor: 'VOLUME', size: [20, 16], tile: 8,
      colours: [red, blue, green], positions: [[1, 1], [17, 9], [9, 1]], z: [0, 0, 5],
    }));
    writeFileSync(path.join(dir, 'level1'), await wsiInstance({ series, sop: '1.2.3.4.2', flavor: 'VOLUME', size: [10, 8], tile: 8, colours: [green, green] }));
    writeFileSync(path.join(dir, 'label.dcm'), await wsiInstance({ series, sop: '1.2.3.4.3', flavor: 'LABEL', size: [8, 8], tile: 8, colours: [blue] }));
    writeFileSync(path.join(dir, 'zz-label-copy.dcm'), await wsiInstance({ series, sop: '1.2.3.4.3', flavor: 'LABEL', size: [8, 8], tile: 8, colours: [red] }));
    writeFileSync(path.join(dir, 'other-slide.dcm'), await wsiInstance({ series: '9.9', sop: '9.9.1', flavor: 'VOLUME', size: [40, 40], tile: 8, colours: Array(25).fill(red) }));
    writeFileSync(path.join(dir, 'notes.txt'), 'not a slide');

    await withSlide(path.join(dir, 'level1'), async (slide) => {
      const m = slide.metadata;
      assert.deepEqual(m.levels.map((l) => [l.width, l.height, l.downsample]), [[20, 16, 1], [10, 8, 2]]);
      assert.deepEqual(m.mpp, [0.5, 0.25]); // PixelSpacing is row\column in mm: 0.00025 mm rows, 0.0005 mm columns
      assert.deepEqual(m.associated, { label: [8, 8] });
      assertNoIdentity(m.properties);
      const region = await slide.readRegion(0, 0, 0, 20, 16);
      assert.deepEqual(pixel(region, 3, 3), red);
      assert.deepEqual(pixel(region, 19, 15), blue);
      assert.deepEqual(pixel(region, 10, 3), [255, 255, 255], 'the other focal plane must not show');
      assert.deepEqual(pixel(region, 3, 12), [255, 255, 255], 'a missing tile reads white');
      assert.deepEqual(pixel(await slide.readRegion(1, 0, 0, 10, 8), 9, 7), green);
      assert.deepEqual(pixel(await slide.readAssociated('label'), 0, 0), blue, 'a duplicate SOP instance in a later file is ignored');
    });
  });

  test('encapsulated JPEG 2000 frames found by offset table or by walking fragments, one or several per frame', async () => {
    const colours = [red, blue, green, [120, 120, 120]];
    const layouts: Encapsulation[] = [
      { table: 'basic', fragmentsPerFrame: 1 },
      { table: 'extended', fragmentsPerFrame: 1 },
      { table: 'none', fragmentsPerFrame: 1 },
      { table: 'none', fragmentsPerFrame: 3 },
      { table: 'basic', fragmentsPerFrame: 2 },
    ];
    for (const layout of layouts) {
      const dir = folder();
      const file = path.join(dir, 'j2k.dcm');
      writeFileSync(file, await wsiInstance({ series: '7', sop: '7.1', flavor: 'VOLUME', size: [16, 16], tile: 8, colours, jpeg2000: layout }));
      await withSlide(file, async (slide) => {
        const region = await slide.readRegion(0, 0, 0, 16, 16);
        const seen = [pixel(region, 1, 1), pixel(region, 9, 1), pixel(region, 1, 9), pixel(region, 15, 15)];
        assert.deepEqual(seen, colours, JSON.stringify(layout));
        assert.equal(await slide.readRawJpegTile(0, 1, 1), null);
      });
    }
  });

  test('sparse frames off the tile grid and series without a VOLUME image are rejected', async () => {
    const offGrid = folder();
    writeFileSync(path.join(offGrid, 'a.dcm'), await wsiInstance({ series: '5', sop: '5.1', flavor: 'VOLUME', size: [16, 16], tile: 8, colours: [red], positions: [[4, 1]] }));
    assert.equal(await openError(path.join(offGrid, 'a.dcm')), 'CORRUPT_STRUCTURE');
    const labelOnly = folder();
    writeFileSync(path.join(labelOnly, 'b.dcm'), await wsiInstance({ series: '6', sop: '6.1', flavor: 'LABEL', size: [8, 8], tile: 8, colours: [red] }));
    assert.equal(await openError(path.join(labelOnly, 'b.dcm')), 'CORRUPT_STRUCTURE');
  });
});
