/**
 * Seeded, structure-aware mutations of slide files for the reader's fuzz test. Every mutation is a pure
 * function of (seed file, Rng state), so a failing case replays from its seed and case index alone.
 * The TIFF and JPEG walkers here are deliberately independent of src/slide: they must keep going on the
 * very files the reader is expected to reject.
 */
import { hash32, Rng } from '../../src/slide/synthetic/random.ts';

/** Where a field of the file lives, so mutations can overwrite it with the file's own byte order. */
interface TiffEntryLayout {
  tag: number;
  type: number;
  count: number;
  /** File offsets of the entry's tag, type, count and value/offset fields. */
  at: number;
  countField: number;
  valueField: number;
  /** File offset of the value bytes (the value field itself when inline). */
  valueAt: number;
}

interface TiffIfdLayout {
  at: number;
  entries: TiffEntryLayout[];
  nextField: number;
}

export interface TiffLayout {
  littleEndian: boolean;
  bigTiff: boolean;
  ifds: TiffIfdLayout[];
  /** The tile/strip offset and byte-count arrays: where each element is and how wide it is. */
  pieceArrays: { tag: number; at: number; width: number; count: number }[];
}

/** A JPEG marker segment: where its marker and length fields are. */
interface JpegSegment {
  marker: number;
  at: number;
  length: number;
}

export interface SeedFile {
  name: string;
  bytes: Buffer;
  tiff: TiffLayout | null;
  /** Byte ranges where headers and directories live: bit flips are biased towards them. */
  hotspots: [number, number][];
  jpegs: JpegSegment[][];
  /** Offsets of JPEG 2000 SIZ marker segments (image and tile size fields). */
  j2kSizes: number[];
}

export interface Mutant {
  bytes: Buffer;
  /** What was done, for the failure report of a case. */
  steps: string[];
}

const TYPE_WIDTH: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8, 17: 8, 18: 8 };
const PIECE_TAGS = new Set([273, 279, 324, 325]);
/** Tags whose values decide sizes and decoders: mutating them reaches the reader's arithmetic. */
const SHAPE_TAGS = [254, 256, 257, 258, 259, 262, 277, 278, 284, 317, 322, 323, 330, 347, 530];
const HEADER_SPAN = 64 * 1024;
const MAX_STRUCTURES = 512;

/** Parses what the mutator needs from a seed; files that are not TIFF simply have no TIFF layout. */
export function prepareSeed(name: string, bytes: Buffer): SeedFile {
  const tiff = tiffLayout(bytes);
  const hotspots: [number, number][] = [[0, Math.min(bytes.length, HEADER_SPAN)]];
  for (const ifd of tiff?.ifds ?? []) {
    hotspots.push([ifd.at, ifd.nextField + 8]);
    for (const e of ifd.entries) {
      const width = TYPE_WIDTH[e.type] ?? 1;
      if (e.valueAt !== e.valueField) hotspots.push([e.valueAt, e.valueAt + Math.min(width * e.count, 4096)]);
    }
  }
  const jpegs = findJpegs(bytes);
  for (const segments of jpegs) hotspots.push([segments[0].at, segments[segments.length - 1].at + 4]);
  const j2kSizes = findAll(bytes, Buffer.from([0xff, 0x4f, 0xff, 0x51])).map((at) => at + 2);
  return { name, bytes, tiff, hotspots: hotspots.filter(([a, b]) => a < b && b <= bytes.length + 8), jpegs, j2kSizes };
}

/** Tolerant TIFF walk: bounded, never throws, records field locations rather than values. */
export function tiffLayout(bytes: Buffer): TiffLayout | null {
  if (bytes.length < 16) return null;
  const order = bytes.toString('latin1', 0, 2);
  if (order !== 'II' && order !== 'MM') return null;
  const le = order === 'II';
  const read = (at: number, size: number): number => readUint(bytes, at, size, le);
  const magic = read(2, 2);
  if (magic !== 42 && magic !== 43) return null;
  const big = magic === 43;
  const offsetSize = big ? 8 : 4;
  const entrySize = big ? 20 : 12;
  const layout: TiffLayout = { littleEndian: le, bigTiff: big, ifds: [], pieceArrays: [] };
  const seen = new Set<number>();
  let next = read(big ? 8 : 4, offsetSize);
  while (next > 0 && next + 8 < bytes.length && !seen.has(next) && layout.ifds.length < MAX_STRUCTURES) {
    seen.add(next);
    const count = read(next, big ? 8 : 2);
    const first = next + (big ? 8 : 2);
    const nextField = first + count * entrySize;
    if (count === 0 || nextField + offsetSize > bytes.length) break;
    const entries: TiffEntryLayout[] = [];
    for (let i = 0; i < count; i++) {
      const at = first + i * entrySize;
      const tag = read(at, 2);
      const type = read(at + 2, 2);
      const valueCount = read(at + 4, big ? 8 : 4);
      const valueField = at + (big ? 12 : 8);
      const inline = (TYPE_WIDTH[type] ?? 1) * valueCount <= offsetSize;
      const valueAt = inline ? valueField : read(valueField, offsetSize);
      entries.push({ tag, type, count: valueCount, at, countField: at + 4, valueField, valueAt });
      const width = TYPE_WIDTH[type];
      if (PIECE_TAGS.has(tag) && width && valueAt + width * valueCount <= bytes.length) {
        layout.pieceArrays.push({ tag, at: valueAt, width, count: valueCount });
      }
    }
    layout.ifds.push({ at: next, entries, nextField });
    next = read(nextField, offsetSize);
  }
  return layout.ifds.length > 0 ? layout : null;
}

/** The Rng of one case: a function of the run's seed, the seed file's name and the case index only. */
export function caseRng(runSeed: number, seedName: string, index: number): Rng {
  let nameHash = 0;
  for (const char of seedName) nameHash = hash32(nameHash, char.charCodeAt(0));
  return new Rng(hash32(runSeed, nameHash, index));
}

/** One mutant of a seed: one to three mutations; truncation, when drawn, comes last. */
export function mutate(seed: SeedFile, rng: Rng): Mutant {
  const bytes = Buffer.from(seed.bytes);
  const steps: string[] = [];
  const rounds = 1 + rng.int(3);
  for (let i = 0; i < rounds; i++) {
    const operator = pickWeighted(rng, operatorsFor(seed));
    steps.push(operator(seed, bytes, rng));
  }
  if (rng.next() < 0.12) {
    const at = rng.next() < 0.5 ? biasedPosition(seed, rng) : rng.int(bytes.length);
    steps.push(`truncate at ${at}`);
    return { bytes: bytes.subarray(0, at), steps };
  }
  return { bytes, steps };
}

type Operator = (seed: SeedFile, bytes: Buffer, rng: Rng) => string;

function operatorsFor(seed: SeedFile): [Operator, number][] {
  const list: [Operator, number][] = [[flipBits, 4], [fillRun, 2], [overwriteWord, 2]];
  if (seed.tiff) list.push([mutateEntry, 5], [mutateShapeTag, 4], [mutateIfdChain, 2], [mutatePieces, 4]);
  if (seed.jpegs.length > 0) list.push([mutateJpeg, 3]);
  if (seed.j2kSizes.length > 0) list.push([mutateJ2kSize, 2]);
  return list;
}

function flipBits(seed: SeedFile, bytes: Buffer, rng: Rng): string {
  const count = 1 + rng.int(rng.next() < 0.7 ? 4 : 64);
  const flipped: number[] = [];
  for (let i = 0; i < count; i++) {
    const at = biasedPosition(seed, rng);
    bytes[at] ^= 1 << rng.int(8);
    flipped.push(at);
  }
  return `flip ${count} bits at ${flipped.slice(0, 8).join(',')}${count > 8 ? ',...' : ''}`;
}

function fillRun(seed: SeedFile, bytes: Buffer, rng: Rng): string {
  const at = biasedPosition(seed, rng);
  const length = 1 + rng.int(rng.next() < 0.8 ? 64 : 8192);
  const value = rng.next() < 0.5 ? 0x00 : 0xff;
  bytes.fill(value, at, Math.min(bytes.length, at + length));
  return `fill ${length} bytes at ${at} with 0x${value.toString(16)}`;
}

/** A length or offset field of any format (DICOM element lengths included) set to a boundary value. */
function overwriteWord(seed: SeedFile, bytes: Buffer, rng: Rng): string {
  const at = biasedPosition(seed, rng);
  const size = rng.next() < 0.5 ? 2 : 4;
  const value = interestingValue(rng, bytes.length);
  writeUint(bytes, at, size, value, rng.next() < 0.5);
  return `word${size * 8} at ${at} = ${value}`;
}

function mutateEntry(seed: SeedFile, bytes: Buffer, rng: Rng): string {
  const layout = seed.tiff as TiffLayout;
  const entry = pick(rng, pick(rng, layout.ifds).entries);
  const offsetSize = layout.bigTiff ? 8 : 4;
  const le = layout.littleEndian;
  switch (rng.int(4)) {
    case 0: {
      const value = interestingValue(rng, bytes.length);
      writeUint(bytes, entry.countField, layout.bigTiff ? 8 : 4, value, le);
      return `tag ${entry.tag} count = ${value}`;
    }
    case 1: {
      const type = rng.next() < 0.8 ? rng.int(20) : 0xffff;
      writeUint(bytes, entry.at + 2, 2, type, le);
      return `tag ${entry.tag} type = ${type}`;
    }
    case 2: {
      const target = rng.next() < 0.3 ? pick(rng, layout.ifds).at : interestingValue(rng, bytes.length);
      writeUint(bytes, entry.valueField, offsetSize, target, le);
      return `tag ${entry.tag} value field = ${target}`;
    }
    default: {
      const tag = pick(rng, SHAPE_TAGS);
      writeUint(bytes, entry.at, 2, tag, le);
      return `tag ${entry.tag} renumbered to ${tag}`;
    }
  }
}

/** Sizes, tile shapes, sample layout and compression set to zero, one, odd or absurd values. */
function mutateShapeTag(seed: SeedFile, bytes: Buffer, rng: Rng): string {
  const layout = seed.tiff as TiffLayout;
  const candidates = layout.ifds.flatMap((ifd) => ifd.entries.filter((e) => SHAPE_TAGS.includes(e.tag) && e.valueAt === e.valueField));
  if (candidates.length === 0) return flipBits(seed, bytes, rng);
  const entry = pick(rng, candidates);
  const width = Math.min(TYPE_WIDTH[entry.type] ?? 4, 4);
  const small = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17, 33003, 33005, 52479, 255, 256];
  const value = rng.next() < 0.5 ? pick(rng, small) : interestingValue(rng, bytes.length);
  writeUint(bytes, entry.valueField, width, value, layout.littleEndian);
  return `tag ${entry.tag} = ${value}`;
}

function mutateIfdChain(seed: SeedFile, bytes: Buffer, rng: Rng): string {
  const layout = seed.tiff as TiffLayout;
  const offsetSize = layout.bigTiff ? 8 : 4;
  const le = layout.littleEndian;
  const index = rng.int(layout.ifds.length);
  const ifd = layout.ifds[index];
  switch (rng.int(4)) {
    case 0: {
      const earlier = layout.ifds[rng.int(index + 1)].at;
      writeUint(bytes, ifd.nextField, offsetSize, earlier, le);
      return `next IFD of directory ${index} = ${earlier} (loop)`;
    }
    case 1: {
      const count = pick(rng, [0, 1, ifd.entries.length - 1, ifd.entries.length + 1, 0xffff, rng.int(0x10000)]);
      writeUint(bytes, ifd.at, layout.bigTiff ? 8 : 2, count, le);
      return `directory ${index} entry count = ${count}`;
    }
    case 2: {
      const target = pick(rng, [ifd.at + 2, ifd.at + 1, bytes.length - 2, bytes.length, interestingValue(rng, bytes.length)]);
      writeUint(bytes, ifd.nextField, offsetSize, target, le);
      return `next IFD of directory ${index} = ${target}`;
    }
    default: {
      const target = pick(rng, [...layout.ifds.map((d) => d.at), 0, 1, bytes.length, interestingValue(rng, bytes.length)]);
      writeUint(bytes, layout.bigTiff ? 8 : 4, offsetSize, target, le);
      return `first IFD offset = ${target}`;
    }
  }
}

/** Tile/strip offsets and byte counts: zero, past the end, huge, or aimed at another piece. */
function mutatePieces(seed: SeedFile, bytes: Buffer, rng: Rng): string {
  const layout = seed.tiff as TiffLayout;
  if (layout.pieceArrays.length === 0) return mutateEntry(seed, bytes, rng);
  const array = pick(rng, layout.pieceArrays);
  const width = Math.min(array.width, 8);
  const changes = 1 + (rng.next() < 0.8 ? 0 : rng.int(array.count));
  const other = () => readUint(bytes, array.at + rng.int(array.count) * width, width, layout.littleEndian);
  let last = 0;
  for (let i = 0; i < changes; i++) {
    last = pick(rng, [0, 1, bytes.length, bytes.length - 1, other(), other() + 1, interestingValue(rng, bytes.length)]);
    writeUint(bytes, array.at + rng.int(array.count) * width, width, last, layout.littleEndian);
  }
  return `${changes} element(s) of tag ${array.tag} at ${array.at} changed (last = ${last})`;
}

/** Marker lengths, frame sizes and component counts inside a JPEG stream (a tile, strip or tables). */
function mutateJpeg(seed: SeedFile, bytes: Buffer, rng: Rng): string {
  const segment = pick(rng, pick(rng, seed.jpegs));
  const isFrame = segment.marker >= 0xc0 && segment.marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(segment.marker);
  if (isFrame && rng.next() < 0.2) {
    // Both dimensions at once: the decompression bomb (a few hundred bytes declaring gigapixels).
    const side = pick(rng, [0x3fff, 0x7fff, 0xffff]);
    writeUint(bytes, segment.at + 5, 2, side, false);
    writeUint(bytes, segment.at + 7, 2, side, false);
    return `JPEG SOF at ${segment.at}: ${side}x${side}`;
  }
  if (isFrame && rng.next() < 0.6) {
    const field = pick(rng, [{ name: 'height', at: 5, size: 2 }, { name: 'width', at: 7, size: 2 }, { name: 'components', at: 9, size: 1 }, { name: 'precision', at: 4, size: 1 }]);
    const value = pick(rng, [0, 1, 3, 4, 255, 0x7fff, 0xffff, rng.int(0x10000)]);
    writeUint(bytes, segment.at + field.at, field.size, value, false);
    return `JPEG SOF at ${segment.at}: ${field.name} = ${value}`;
  }
  const length = pick(rng, [0, 1, 2, 3, segment.length - 1, segment.length + 1, 0xffff, rng.int(0x10000)]);
  writeUint(bytes, segment.at + 2, 2, length, false);
  return `JPEG marker 0x${segment.marker.toString(16)} at ${segment.at}: length = ${length}`;
}

/** JPEG 2000 SIZ: image, tile and component fields, the sizes a decoder allocates from. */
function mutateJ2kSize(seed: SeedFile, bytes: Buffer, rng: Rng): string {
  const siz = pick(rng, seed.j2kSizes);
  if (rng.next() < 0.2) {
    const side = pick(rng, [0x4000, 0x10000, 0x7fffffff]);
    for (const at of [6, 10, 22, 26]) writeUint(bytes, siz + at, 4, side, false);
    return `J2K SIZ at ${siz}: image and tile ${side}x${side}`;
  }
  const field = pick(rng, [{ name: 'Xsiz', at: 6, size: 4 }, { name: 'Ysiz', at: 10, size: 4 }, { name: 'XTsiz', at: 22, size: 4 }, { name: 'YTsiz', at: 26, size: 4 }, { name: 'Csiz', at: 38, size: 2 }, { name: 'Ssiz', at: 40, size: 1 }, { name: 'Lsiz', at: 2, size: 2 }]);
  const value = pick(rng, [0, 1, 3, 0xff, 0xffff, 0x10000, 0x7fffffff, 0xffffffff, rng.int(0x100000)]);
  writeUint(bytes, siz + field.at, field.size, value, false);
  return `J2K SIZ at ${siz}: ${field.name} = ${value}`;
}

/** Segments of every JPEG stream (SOI then marker segments up to SOS) found anywhere in the file. */
function findJpegs(bytes: Buffer): JpegSegment[][] {
  const streams: JpegSegment[][] = [];
  for (const soi of findAll(bytes, Buffer.from([0xff, 0xd8, 0xff]))) {
    const segments: JpegSegment[] = [];
    let at = soi + 2;
    while (at + 4 <= bytes.length && bytes[at] === 0xff && segments.length < 32) {
      const marker = bytes[at + 1];
      const length = bytes.readUInt16BE(at + 2);
      segments.push({ marker, at, length });
      if (marker === 0xda || length < 2) break;
      at += 2 + length;
    }
    if (segments.length > 0) streams.push(segments);
    if (streams.length >= MAX_STRUCTURES) break;
  }
  return streams;
}

function findAll(bytes: Buffer, needle: Buffer): number[] {
  const found: number[] = [];
  for (let at = bytes.indexOf(needle); at >= 0 && found.length < MAX_STRUCTURES; at = bytes.indexOf(needle, at + 1)) found.push(at);
  return found;
}

/** A position in a hotspot most of the time, anywhere otherwise. */
function biasedPosition(seed: SeedFile, rng: Rng): number {
  const size = seed.bytes.length;
  if (rng.next() < 0.3 || seed.hotspots.length === 0) return rng.int(size);
  const [start, end] = pick(rng, seed.hotspots);
  return Math.min(size - 1, start + rng.int(end - start));
}

function interestingValue(rng: Rng, fileSize: number): number {
  return pick(rng, [
    0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff,
    fileSize - 1, fileSize, fileSize + 1, rng.int(fileSize), rng.int(0x100000000),
  ]);
}

function pick<T>(rng: Rng, list: readonly T[]): T {
  return list[rng.int(list.length)];
}

function pickWeighted<T>(rng: Rng, list: [T, number][]): T {
  let r = rng.next() * list.reduce((sum, [, w]) => sum + w, 0);
  for (const [item, weight] of list) {
    r -= weight;
    if (r < 0) return item;
  }
  return list[list.length - 1][0];
}

function readUint(bytes: Buffer, at: number, size: number, le: boolean): number {
  if (at < 0 || at + size > bytes.length) return 0;
  switch (size) {
    case 1: return bytes[at];
    case 2: return le ? bytes.readUInt16LE(at) : bytes.readUInt16BE(at);
    case 4: return le ? bytes.readUInt32LE(at) : bytes.readUInt32BE(at);
    default: return Number(le ? bytes.readBigUInt64LE(at) : bytes.readBigUInt64BE(at));
  }
}

/** Writes the low `size` bytes of a non-negative value; fields past the end of the file are left alone. */
export function writeUint(bytes: Buffer, at: number, size: number, value: number, le: boolean): void {
  if (at < 0 || at + size > bytes.length) return;
  const v = BigInt.asUintN(size * 8, BigInt(Math.max(0, Math.floor(value))));
  for (let i = 0; i < size; i++) {
    const byte = Number((v >> BigInt(8 * i)) & 0xffn);
    bytes[le ? at + i : at + size - 1 - i] = byte;
  }
}
