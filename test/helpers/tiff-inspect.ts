/**
 * A deliberately tiny, independent TIFF/BigTIFF reader for tests: it lists IFDs and their tags so tests
 * can check files the project writes without trusting the project's own TIFF reader (src/slide/tiff).
 */
import { readFileSync } from 'node:fs';

export interface InspectedTag {
  tag: number;
  type: number;
  count: number;
  /** Numeric values (SHORT/LONG/LONG8/RATIONAL as numerator/denominator); empty for ASCII/UNDEFINED. */
  values: number[];
  /** Raw value bytes (ASCII text, UNDEFINED blobs such as JPEGTables). */
  bytes: Buffer;
}

export interface InspectedIfd {
  offset: number;
  tags: Map<number, InspectedTag>;
}

export interface InspectedTiff {
  bigTiff: boolean;
  littleEndian: boolean;
  ifds: InspectedIfd[];
  file: Buffer;
}

export const Tag = {
  NewSubfileType: 254,
  ImageWidth: 256,
  ImageLength: 257,
  BitsPerSample: 258,
  Compression: 259,
  Photometric: 262,
  ImageDescription: 270,
  StripOffsets: 273,
  SamplesPerPixel: 277,
  RowsPerStrip: 278,
  StripByteCounts: 279,
  PlanarConfig: 284,
  TileWidth: 322,
  TileLength: 323,
  TileOffsets: 324,
  TileByteCounts: 325,
  JpegTables: 347,
  YCbCrSubsampling: 530,
} as const;

const TYPE_SIZES: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 16: 8, 17: 8 };

export function inspectTiff(path: string): InspectedTiff {
  const file = readFileSync(path);
  const order = file.toString('latin1', 0, 2);
  if (order !== 'II' && order !== 'MM') throw new Error(`${path}: not a TIFF (byte order ${JSON.stringify(order)})`);
  const le = order === 'II';
  const u16 = (o: number) => (le ? file.readUInt16LE(o) : file.readUInt16BE(o));
  const u32 = (o: number) => (le ? file.readUInt32LE(o) : file.readUInt32BE(o));
  const u64 = (o: number) => Number(le ? file.readBigUInt64LE(o) : file.readBigUInt64BE(o));
  const magic = u16(2);
  if (magic !== 42 && magic !== 43) throw new Error(`${path}: bad TIFF magic ${magic}`);
  const big = magic === 43;
  const ifds: InspectedIfd[] = [];
  const seen = new Set<number>();
  let next = big ? u64(8) : u32(4);
  while (next !== 0) {
    if (seen.has(next) || next >= file.length) throw new Error(`${path}: bad IFD offset ${next}`);
    seen.add(next);
    const count = big ? u64(next) : u16(next);
    const entrySize = big ? 20 : 12;
    const first = next + (big ? 8 : 2);
    const tags = new Map<number, InspectedTag>();
    for (let i = 0; i < count; i++) {
      const e = first + i * entrySize;
      const tag = u16(e);
      const type = u16(e + 2);
      const n = big ? u64(e + 4) : u32(e + 4);
      const size = (TYPE_SIZES[type] ?? 1) * n;
      const inline = big ? size <= 8 : size <= 4;
      const at = inline ? e + (big ? 12 : 8) : big ? u64(e + 12) : u32(e + 8);
      const bytes = file.subarray(at, at + size);
      const values: number[] = [];
      for (let k = 0; k < n && type !== 2 && type !== 7; k++) {
        if (type === 3) values.push(u16(at + 2 * k));
        else if (type === 4) values.push(u32(at + 4 * k));
        else if (type === 16) values.push(u64(at + 8 * k));
        else if (type === 5) values.push(u32(at + 8 * k), u32(at + 8 * k + 4));
        else if (type === 1) values.push(file[at + k]);
      }
      tags.set(tag, { tag, type, count: n, values, bytes });
    }
    ifds.push({ offset: next, tags });
    const after = first + count * entrySize;
    next = big ? u64(after) : u32(after);
  }
  return { bigTiff: big, littleEndian: le, ifds, file };
}

export function tagValues(ifd: InspectedIfd, tag: number): number[] {
  const t = ifd.tags.get(tag);
  if (!t) throw new Error(`IFD at ${ifd.offset} has no tag ${tag}`);
  return t.values;
}

export function tagText(ifd: InspectedIfd, tag: number): string {
  const t = ifd.tags.get(tag);
  if (!t) throw new Error(`IFD at ${ifd.offset} has no tag ${tag}`);
  return t.bytes.toString('latin1').replace(/\0+$/, '');
}

/**
 * A standalone JPEG from an abbreviated TIFF tile: the tables' SOI..(DQT/DHT) without their EOI, then the
 * tile without its SOI. This is how TIFF JPEG (compression 7) readers combine JPEGTables with a tile.
 */
export function spliceJpegTables(tables: Buffer, tile: Buffer): Buffer {
  return Buffer.concat([tables.subarray(0, tables.length - 2), tile.subarray(2)]);
}

export function readTile(tiff: InspectedTiff, ifd: InspectedIfd, index: number): Buffer {
  const offset = tagValues(ifd, Tag.TileOffsets)[index];
  const length = tagValues(ifd, Tag.TileByteCounts)[index];
  return tiff.file.subarray(offset, offset + length);
}
