/**
 * One focused case per class of bad input the fuzz test found or that its bounds exist for: each builds
 * the bad file (a patched fixture or a hand-made TIFF) and checks the exact typed error.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { openSlide } from '../../src/slide/open.ts';
import { LIMITS, SlideError, type SlideErrorCode } from '../../src/slide/errors.ts';
import { decodeLzw } from '../../src/slide/codecs/lzw.ts';
import { Rng } from '../../src/slide/synthetic/random.ts';
import { fixture, skipUnlessFixtures } from '../helpers/fixtures.ts';
import { tiffLayout, writeUint, type TiffLayout } from '../helpers/slide-mutator.ts';

const workDir = mkdtempSync(path.join(tmpdir(), 'pathbox-bad-input-'));
after(() => rmSync(workDir, { recursive: true, force: true }));

let written = 0;
function writeCase(bytes: Buffer): string {
  const file = path.join(workDir, `case-${written++}.bin`);
  writeFileSync(file, bytes);
  return file;
}

/** A fixture with some fields overwritten, located through an independent TIFF walk. */
function patchedFixture(name: string, patch: (bytes: Buffer, layout: TiffLayout) => void): string {
  const bytes = readFileSync(fixture(`slides/${name}`));
  const layout = tiffLayout(bytes);
  assert.ok(layout, `${name} should be a TIFF`);
  patch(bytes, layout);
  return writeCase(bytes);
}

function entry(layout: TiffLayout, ifd: number, tag: number) {
  const found = layout.ifds[ifd].entries.find((e) => e.tag === tag);
  assert.ok(found, `directory ${ifd} has tag ${tag}`);
  return found;
}

/** Sets an inline SHORT or LONG value. */
function setValue(bytes: Buffer, layout: TiffLayout, ifd: number, tag: number, value: number): void {
  const e = entry(layout, ifd, tag);
  writeUint(bytes, e.valueField, e.type === 3 ? 2 : 4, value, layout.littleEndian);
}

async function rejectsWith(action: Promise<unknown>, code: SlideErrorCode, message?: RegExp): Promise<void> {
  await assert.rejects(action, (e: unknown) => {
    assert.ok(e instanceof SlideError, `expected a SlideError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (message) assert.match(e.message, message);
    return true;
  });
}

/** A classic little-endian TIFF whose IFDs are given as raw entry lists; values must be inline. */
function handMadeTiff(ifds: { tag: number; type: number; count: number; value: number }[][], trailer = 0): Buffer {
  const sizes = ifds.map((entries) => 2 + entries.length * 12 + 4);
  const bytes = Buffer.alloc(8 + sizes.reduce((a, b) => a + b, 0) + trailer);
  bytes.write('II', 0, 'latin1');
  bytes.writeUInt16LE(42, 2);
  let at = 8;
  bytes.writeUInt32LE(at, 4);
  ifds.forEach((entries, i) => {
    bytes.writeUInt16LE(entries.length, at);
    entries.forEach((e, k) => {
      const field = at + 2 + k * 12;
      bytes.writeUInt16LE(e.tag, field);
      bytes.writeUInt16LE(e.type, field + 2);
      bytes.writeUInt32LE(e.count, field + 4);
      bytes.writeUInt32LE(e.value, field + 8);
    });
    const next = at + sizes[i];
    bytes.writeUInt32LE(i + 1 < ifds.length ? next : 0, at + 2 + entries.length * 12);
    at = next;
  });
  return bytes;
}

describe('TIFF structure', { skip: skipUnlessFixtures('slides/small.svs') }, () => {
  test('a next-IFD offset pointing back to an earlier directory is a loop, not a hang', async () => {
    const file = patchedFixture('small.svs', (bytes, layout) => writeUint(bytes, layout.ifds[1].nextField, 4, layout.ifds[0].at, true));
    await rejectsWith(openSlide(file), 'CORRUPT_STRUCTURE', /loop/);
  });

  test('a file cut before its second directory is TRUNCATED', async () => {
    const bytes = readFileSync(fixture('slides/small.svs'));
    const layout = tiffLayout(bytes);
    assert.ok(layout && layout.ifds[1].at > 1000);
    await rejectsWith(openSlide(writeCase(bytes.subarray(0, 1000))), 'TRUNCATED', /past the end/);
  });

  test('a size stored as a fraction is corrupt, not a fractional level', async () => {
    const file = patchedFixture('small.svs', (bytes, layout) => {
      const length = entry(layout, 0, 257);
      writeUint(bytes, length.at + 2, 2, 11, true); // FLOAT
      bytes.writeFloatLE(16.5, length.valueField);
    });
    await rejectsWith(openSlide(file), 'CORRUPT_STRUCTURE', /tag 257 holds 16\.5/);
  });

  test('an absurd SamplesPerPixel is refused before any decoder sizes a buffer from it', async () => {
    const file = patchedFixture('small.svs', (bytes, layout) => setValue(bytes, layout, 0, 277, 65535));
    await rejectsWith(openSlide(file), 'UNSUPPORTED_COMPRESSION', /65535 samples per pixel/);
  });

  test('a tile offset past the end of the file fails that tile with a reason', async () => {
    const size = readFileSync(fixture('slides/small.svs')).length;
    const file = patchedFixture('small.svs', (bytes, layout) => setValue(bytes, layout, 0, 324, size + 100));
    const slide = await openSlide(file);
    try {
      await rejectsWith(slide.readRegion(0, 0, 0, 16, 16), 'CORRUPT_TILE', /past the end/);
    } finally {
      await slide.close();
    }
  });
});

describe('hand-made TIFFs that would exhaust memory', () => {
  test('thousands of entries aimed at the same megabyte stop at the tag-value budget', async () => {
    const entries = Array.from({ length: 4096 }, (_, i) => ({ tag: 1000 + i, type: 1, count: 1 << 20, value: 0 }));
    const file = writeCase(handMadeTiff([entries], 1 << 20));
    await rejectsWith(openSlide(file), 'TOO_LARGE', new RegExp(`exceed ${LIMITS.maxTiffValueBytes} bytes`));
  });

  test('a chain of full directories stops at the entry budget', async () => {
    const full = Array.from({ length: LIMITS.maxIfdEntries }, (_, i) => ({ tag: 1000 + i, type: 3, count: 1, value: 1 }));
    const directories = Math.ceil(LIMITS.maxTiffEntries / LIMITS.maxIfdEntries) + 1;
    const file = writeCase(handMadeTiff(Array.from({ length: directories }, () => full)));
    await rejectsWith(openSlide(file), 'TOO_LARGE', /entries/);
  });
});

describe('decompression bombs and absurd tile shapes', () => {
  test('a JPEG tile whose header claims 32767x32767 is refused before decoding', { skip: skipUnlessFixtures('slides/small.svs') }, async () => {
    const slide = await openSlide(smallSvsWithFrame(32767, 32767));
    try {
      await rejectsWith(slide.readRegion(0, 0, 0, 16, 16), 'TOO_LARGE', /32767x32767/);
    } finally {
      await slide.close();
    }
  });

  test('a JPEG 2000 tile whose SIZ claims 65536x65536 is refused before OpenJPEG grows its memory', { skip: skipUnlessFixtures('slides/tcga-jp2k-ts1.svs') }, async () => {
    const file = patchedFixture('tcga-jp2k-ts1.svs', (bytes, layout) => {
      const siz = entry(layout, 0, 324);
      const firstTile = readUint32(bytes, siz.valueAt, layout.littleEndian);
      assert.equal(bytes.readUInt32BE(firstTile), 0xff4fff51, 'first tile starts with SOC and SIZ');
      for (const field of [8, 12, 24, 28]) bytes.writeUInt32BE(0x10000, firstTile + field);
    });
    const slide = await openSlide(file);
    try {
      await rejectsWith(slide.readRegion(0, 0, 0, 16, 16), 'TOO_LARGE', /65536x65536/);
    } finally {
      await slide.close();
    }
  });

  test('one-pixel tiles cannot turn a region into tens of thousands of decodes', { skip: skipUnlessFixtures('slides/boxes.tiff') }, async () => {
    const file = patchedFixture('boxes.tiff', (bytes, layout) => {
      setValue(bytes, layout, 0, 322, 1);
      setValue(bytes, layout, 0, 323, 1);
    });
    const slide = await openSlide(file);
    try {
      await rejectsWith(slide.readRegion(0, 0, 0, 300, 250), 'TOO_LARGE', /75000 tiles/);
    } finally {
      await slide.close();
    }
  });

  test('Deflate data that inflates past its tile is a corrupt tile with a plain reason', { skip: skipUnlessFixtures('slides/boxes.tiff') }, async () => {
    const file = patchedFixture('boxes.tiff', (bytes, layout) => setValue(bytes, layout, 0, 277, 1));
    const slide = await openSlide(file);
    try {
      await rejectsWith(slide.readRegion(0, 0, 0, 16, 16), 'CORRUPT_TILE', /inflates to more than the 4096 bytes/);
    } finally {
      await slide.close();
    }
  });
});

describe('raw JPEG tiles', { skip: skipUnlessFixtures('slides/small.svs') }, () => {
  test('a frame of zero width is a corrupt tile, not a 0x64 image', async () => {
    const slide = await openSlide(smallSvsWithFrame(0, 64));
    try {
      await rejectsWith(slide.readRawJpegTile(0, 0, 0), 'CORRUPT_TILE', /frame header/);
    } finally {
      await slide.close();
    }
  });

  test('a frame that differs from the grid tile is not served raw', async () => {
    const slide = await openSlide(smallSvsWithFrame(32, 32));
    try {
      assert.equal(await slide.readRawJpegTile(0, 0, 0), null);
      const intact = await openSlide(fixture('slides/small.svs'));
      const tile = await intact.readRawJpegTile(0, 0, 0);
      await intact.close();
      assert.deepEqual(tile && [tile.width, tile.height], [64, 64]);
    } finally {
      await slide.close();
    }
  });
});

test('LZW garbage decodes to the expected length or fails as CORRUPT_TILE', () => {
  const rng = new Rng(7);
  const outcomes = new Set<string>();
  for (let i = 0; i < 2000; i++) {
    const garbage = Buffer.from(Array.from({ length: 1 + rng.int(600) }, () => rng.int(256)));
    const expected = 1 + rng.int(4096);
    try {
      assert.equal(decodeLzw(garbage, expected).length, expected);
      outcomes.add('decoded');
    } catch (e) {
      assert.ok(e instanceof SlideError && e.code === 'CORRUPT_TILE', `case ${i}: ${String(e)}`);
      outcomes.add('rejected');
    }
  }
  // Random bytes both hit undefined codes and happen to decode: both paths were exercised.
  assert.deepEqual([...outcomes].sort(), ['decoded', 'rejected']);
});

/** small.svs with the frame header (SOF0) of its only level-0 tile declaring another size. */
function smallSvsWithFrame(width: number, height: number): string {
  return patchedFixture('small.svs', (bytes, layout) => {
    const tile = readUint32(bytes, entry(layout, 0, 324).valueAt, layout.littleEndian);
    const sof = bytes.indexOf(Buffer.from([0xff, 0xc0]), tile);
    assert.ok(sof > tile && sof < tile + 64, 'SOF0 near the start of the tile');
    bytes.writeUInt16BE(height, sof + 5);
    bytes.writeUInt16BE(width, sof + 7);
  });
}

function readUint32(bytes: Buffer, at: number, le: boolean): number {
  return le ? bytes.readUInt32LE(at) : bytes.readUInt32BE(at);
}
