import { SlideError } from '../errors.ts';

/** JPEG's largest SOF dimension; NDPI writes 0 there for larger levels and keeps the size in the TIFF tags. */
export const JPEG_MAX_DIMENSION = 65535;
/** How far into a strip the header (SOI ... SOS) may reach; NDPI headers are under 1 KB. */
export const MAX_HEADER_BYTES = 64 * 1024;

/** The part of an NDPI level's JPEG that every tile built from it shares. */
export interface JpegHeader {
  /** SOI through the end of the SOS segment: the entropy-coded data starts right after it. */
  bytes: Buffer;
  /** Position of the SOF marker in `bytes` (its height and width follow at +5 and +7). */
  sofAt: number;
  /** Size the SOF declares (0 where the level is too large for JPEG). */
  width: number;
  height: number;
  /** MCU size in pixels. */
  mcuWidth: number;
  mcuHeight: number;
  /** MCUs per restart interval (DRI), 0 when the stream has no restart markers. */
  restartInterval: number;
  /**
   * Sequential Huffman coding with every component in the one scan: the only streams whose restart
   * intervals can be cut out and decoded on their own.
   */
  cuttable: boolean;
}

/**
 * Parses the marker segments of a level's JPEG from its first bytes up to and including SOS.
 * `where` names the level in errors.
 */
export function parseJpegHeader(head: Buffer, where: string): JpegHeader {
  const fail = (why: string): never => {
    throw new SlideError('CORRUPT_STRUCTURE', `${where}: JPEG header ${why}`);
  };
  if (head.length < 4 || head[0] !== 0xff || head[1] !== 0xd8) fail('does not start with SOI');
  let at = 2;
  let sofAt = -1;
  let frame: ReturnType<typeof parseFrame> | null = null;
  let restartInterval = 0;
  while (at + 4 <= head.length) {
    if (head[at] !== 0xff) fail(`has no marker at byte ${at}`);
    const marker = head[at + 1];
    if (marker === 0xff) { at += 1; continue; }
    const length = head.readUInt16BE(at + 2);
    if (length < 2 || at + 2 + length > head.length) fail(`segment ${marker.toString(16)} at byte ${at} runs past the header`);
    const segment = head.subarray(at + 4, at + 2 + length);
    if (isStartOfFrame(marker)) {
      sofAt = at;
      frame = parseFrame(marker, segment, fail);
    } else if (marker === 0xdd) {
      if (segment.length < 2) fail('has a short DRI segment');
      restartInterval = segment.readUInt16BE(0);
    } else if (marker === 0xda) {
      if (!frame) return fail('reaches SOS without a frame header');
      const { components, sequential, ...size } = frame;
      const cuttable = sequential && segment[0] === components;
      return { bytes: Buffer.from(head.subarray(0, at + 2 + length)), sofAt, ...size, restartInterval, cuttable };
    }
    at += 2 + length;
  }
  return fail(`has no SOS within its first ${head.length} bytes`);
}

function isStartOfFrame(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
}

function parseFrame(marker: number, segment: Buffer, fail: (why: string) => never) {
  if (segment.length < 6) fail('has a short SOF segment');
  const components = segment[5];
  if (components < 1 || segment.length < 6 + 3 * components) fail(`declares ${components} components in a short SOF segment`);
  let maxH = 1;
  let maxV = 1;
  for (let i = 0; i < components; i++) {
    const sampling = segment[7 + 3 * i];
    maxH = Math.max(maxH, sampling >> 4);
    maxV = Math.max(maxV, sampling & 15);
  }
  // A single-component scan is not interleaved: its MCU is one 8x8 block whatever the sampling says.
  const interleaved = components > 1;
  return {
    height: segment.readUInt16BE(1),
    width: segment.readUInt16BE(3),
    mcuWidth: interleaved ? 8 * maxH : 8,
    mcuHeight: interleaved ? 8 * maxV : 8,
    components,
    sequential: marker === 0xc0 || marker === 0xc1,
  };
}

/**
 * A standalone JPEG of `width` x `height` pixels from whole restart intervals, each ending with the
 * 2-byte marker that closed it in the file. Those markers are renumbered RST0, RST1, ... as a decoder
 * expects from a fresh stream and the last becomes EOI; the SOF gets the tile's size.
 */
export function assembleJpeg(header: JpegHeader, width: number, height: number, intervals: Buffer[]): Buffer {
  if (width < 1 || height < 1 || width > JPEG_MAX_DIMENSION || height > JPEG_MAX_DIMENSION) {
    throw new SlideError('TOO_LARGE', `a ${width}x${height} JPEG tile exceeds JPEG's ${JPEG_MAX_DIMENSION}-pixel limit`);
  }
  let length = header.bytes.length;
  for (const interval of intervals) length += interval.length;
  const out = Buffer.allocUnsafe(length);
  header.bytes.copy(out, 0);
  out.writeUInt16BE(height, header.sofAt + 5);
  out.writeUInt16BE(width, header.sofAt + 7);
  let at = header.bytes.length;
  intervals.forEach((interval, i) => {
    at += interval.copy(out, at);
    out[at - 1] = i === intervals.length - 1 ? 0xd9 : 0xd0 + (i % 8);
  });
  return out;
}
