import { LIMITS, SlideError } from '../errors.ts';
import type { FileSource } from '../file-source.ts';
import type { PixelDataLocation } from './dataset.ts';

/** Reads the stored bytes of one frame, by its 0-based number within the instance. */
export interface FrameReader {
  readFrame(frame: number): Promise<Buffer>;
}

const ITEM = 0xe000;
const SEQUENCE_DELIMITER = 0xe0dd;
const ITEM_HEADER_BYTES = 8;
/** A frame's fragments: from its first item header to the end of its last item (NaN: up to the delimiter). */
interface FrameSpans { starts: Float64Array; ends: Float64Array }

/** Native (uncompressed) frames: fixed-size slices of the Pixel Data value, read where they lie. */
export function nativeFrames(source: FileSource, pixelData: PixelDataLocation, frameCount: number, frameBytes: number): FrameReader {
  const needed = frameCount * frameBytes;
  if (pixelData.length === null) throw new SlideError('CORRUPT_STRUCTURE', `${source.path}: native transfer syntax with encapsulated Pixel Data`);
  if (pixelData.length < needed) {
    throw new SlideError('CORRUPT_STRUCTURE', `${source.path}: Pixel Data holds ${pixelData.length} bytes, ${frameCount} frames need ${needed}`);
  }
  if (pixelData.offset + needed > source.size) {
    throw new SlideError('TRUNCATED', `${source.path}: truncated file: Pixel Data ends at ${pixelData.offset + needed}, the file at ${source.size}`);
  }
  return {
    readFrame: (frame) => source.read(pixelData.offset + frame * frameBytes, frameBytes, `frame ${frame + 1}`),
  };
}

/**
 * Encapsulated frames, located by the Basic Offset Table, else the Extended Offset Table, else by walking
 * the fragment items once (lazily, on the first read: it costs one read per fragment).
 */
export async function encapsulatedFrames(
  source: FileSource,
  pixelData: PixelDataLocation,
  frameCount: number,
  extendedOffsets: { offsets: number[]; lengths: number[] } | null,
): Promise<FrameReader> {
  const bot = await readItemHeader(source, pixelData.offset, 'Basic Offset Table');
  if (bot.tag !== ITEM) throw new SlideError('CORRUPT_STRUCTURE', `${source.path}: encapsulated Pixel Data does not start with an item`);
  const firstFragment = pixelData.offset + ITEM_HEADER_BYTES + bot.length;
  let spans: FrameSpans | null = null;
  if (bot.length === frameCount * 4) {
    // A table that does not increase has overflowed 32 bits (pixel data over 4 GB): walk the fragments.
    spans = spansFromOffsets(Array.from(await readUint32s(source, pixelData.offset + ITEM_HEADER_BYTES, bot.length)), firstFragment, null);
  } else if (bot.length === 0 && extendedOffsets) {
    if (extendedOffsets.offsets.length !== frameCount || extendedOffsets.lengths.length !== frameCount) {
      throw new SlideError('CORRUPT_STRUCTURE', `${source.path}: Extended Offset Table has ${extendedOffsets.offsets.length} entries for ${frameCount} frames`);
    }
    spans = spansFromOffsets(extendedOffsets.offsets, firstFragment, extendedOffsets.lengths);
    if (!spans) throw new SlideError('CORRUPT_STRUCTURE', `${source.path}: Extended Offset Table is not increasing`);
  }
  if (spans) {
    const lastStart = spans.starts[frameCount - 1];
    if (lastStart + ITEM_HEADER_BYTES > source.size) {
      throw new SlideError('TRUNCATED', `${source.path}: truncated file: frame ${frameCount} starts at ${lastStart}, past the end (${source.size} bytes)`);
    }
  }
  let scanned: Promise<FrameSpans> | null = null;
  const located = (): Promise<FrameSpans> => (spans ? Promise.resolve(spans) : (scanned ??= scanFragments(source, firstFragment, frameCount)));
  return {
    async readFrame(frame) {
      const { starts, ends } = await located();
      return readItems(source, starts[frame], ends[frame], frame);
    },
  };
}

/** Offsets (BOT or EOT) are relative to the first fragment's item header; null unless they increase. */
function spansFromOffsets(offsets: number[], firstFragment: number, lengths: number[] | null): FrameSpans | null {
  const starts = new Float64Array(offsets.length);
  const ends = new Float64Array(offsets.length);
  for (let i = 0; i < offsets.length; i++) {
    if (i > 0 && offsets[i] <= offsets[i - 1]) return null;
    starts[i] = firstFragment + offsets[i];
    if (lengths) ends[i] = starts[i] + ITEM_HEADER_BYTES + lengths[i];
    else if (i > 0) ends[i - 1] = starts[i];
  }
  if (!lengths) ends[offsets.length - 1] = Number.NaN;
  return { starts, ends };
}

/**
 * Walks every item header once. One fragment per frame is the rule for multi-frame WSI; otherwise a
 * frame starts at each fragment that begins with a codestream marker (JPEG SOI, J2K SOC, JP2 box).
 */
async function scanFragments(source: FileSource, firstFragment: number, frameCount: number): Promise<FrameSpans> {
  const fragments: { start: number; end: number; opensFrame: boolean }[] = [];
  let at = firstFragment;
  while (at < source.size) {
    const header = await readItemHeader(source, at, `fragment ${fragments.length + 1}`);
    if (header.tag === SEQUENCE_DELIMITER) break;
    if (header.tag !== ITEM) throw new SlideError('CORRUPT_STRUCTURE', `${source.path}: expected a fragment item at ${at}`);
    if (fragments.length >= LIMITS.maxTilesPerLevel) throw new SlideError('TOO_LARGE', `${source.path}: more than ${LIMITS.maxTilesPerLevel} fragments`);
    const end = at + ITEM_HEADER_BYTES + header.length;
    const opening = await source.readUpTo(at + ITEM_HEADER_BYTES, Math.min(4, header.length));
    fragments.push({ start: at, end, opensFrame: opensCodestream(opening) });
    at = end;
  }
  let groups: { start: number; end: number }[];
  if (fragments.length === frameCount) groups = fragments;
  else if (frameCount === 1 && fragments.length > 0) groups = [{ start: fragments[0].start, end: fragments[fragments.length - 1].end }];
  else {
    groups = [];
    for (const fragment of fragments) {
      if (fragment.opensFrame || groups.length === 0) groups.push({ start: fragment.start, end: fragment.end });
      else groups[groups.length - 1].end = fragment.end;
    }
  }
  if (groups.length !== frameCount) {
    throw new SlideError('CORRUPT_STRUCTURE', `${source.path}: found ${groups.length} frames in ${fragments.length} fragments, expected ${frameCount}`);
  }
  return { starts: Float64Array.from(groups, (g) => g.start), ends: Float64Array.from(groups, (g) => g.end) };
}

function opensCodestream(bytes: Buffer): boolean {
  if (bytes.length < 2) return false;
  if (bytes[0] === 0xff && (bytes[1] === 0xd8 || bytes[1] === 0x4f)) return true;
  return bytes.length >= 4 && bytes.readUInt32BE(0) === 0x0000000c;
}

/** The concatenated values of the items in [start, end); with end NaN, the items up to the delimiter. */
async function readItems(source: FileSource, start: number, end: number, frame: number): Promise<Buffer> {
  const what = `frame ${frame + 1}`;
  if (!Number.isNaN(end)) {
    const span = await source.read(start, end - start, what);
    const values: Buffer[] = [];
    for (let at = 0; at < span.length;) {
      const item = parseItemHeader(span, at, source, start + at);
      const valueEnd = at + ITEM_HEADER_BYTES + item.length;
      if (item.tag !== ITEM || valueEnd > span.length) throw new SlideError('CORRUPT_STRUCTURE', `${source.path}: ${what} is not a sequence of fragment items`);
      values.push(span.subarray(at + ITEM_HEADER_BYTES, valueEnd));
      at = valueEnd;
    }
    return values.length === 1 ? values[0] : Buffer.concat(values);
  }
  const values: Buffer[] = [];
  let bytes = 0;
  for (let at = start; at < source.size;) {
    const item = await readItemHeader(source, at, what);
    if (item.tag === SEQUENCE_DELIMITER) break;
    if (item.tag !== ITEM) throw new SlideError('CORRUPT_STRUCTURE', `${source.path}: ${what} is not a sequence of fragment items`);
    bytes += item.length;
    if (bytes > LIMITS.maxTileBytes) throw new SlideError('TOO_LARGE', `${source.path}: ${what} exceeds ${LIMITS.maxTileBytes} bytes`);
    values.push(await source.read(at + ITEM_HEADER_BYTES, item.length, what));
    at += ITEM_HEADER_BYTES + item.length;
  }
  if (values.length === 0) throw new SlideError('TRUNCATED', `${source.path}: ${what} has no data`);
  return values.length === 1 ? values[0] : Buffer.concat(values);
}

async function readItemHeader(source: FileSource, at: number, what: string): Promise<{ tag: number; length: number }> {
  return parseItemHeader(await source.read(at, ITEM_HEADER_BYTES, what), 0, source, at);
}

/** An item or delimiter header (FFFE,E000 / FFFE,E0DD + 32-bit length); anything else is not one. */
function parseItemHeader(bytes: Buffer, at: number, source: FileSource, fileOffset: number): { tag: number; length: number } {
  if (at + ITEM_HEADER_BYTES > bytes.length || bytes.readUInt16LE(at) !== 0xfffe) {
    throw new SlideError('CORRUPT_STRUCTURE', `${source.path}: no item header at offset ${fileOffset}`);
  }
  const length = bytes.readUInt32LE(at + 4);
  const tag = bytes.readUInt16LE(at + 2);
  if (tag === ITEM && length === 0xffffffff) throw new SlideError('CORRUPT_STRUCTURE', `${source.path}: fragment at ${fileOffset} has undefined length`);
  return { tag, length };
}

async function readUint32s(source: FileSource, at: number, length: number): Promise<Uint32Array> {
  const bytes = await source.read(at, length, 'Basic Offset Table');
  const out = new Uint32Array(length / 4);
  for (let i = 0; i < out.length; i++) out[i] = bytes.readUInt32LE(i * 4);
  return out;
}
