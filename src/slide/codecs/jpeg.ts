import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { LIMITS, SlideError } from '../errors.ts';
import type { ImagePart } from '../tiled-slide.ts';
import type { RegionScale, RgbImage } from '../types.ts';
import { shrinkImage, toRgb } from './pixels.ts';

// libvips' operation cache holds decoded images; the reader has its own bounded tile cache instead.
sharp.cache(false);

const SOI = Buffer.from([0xff, 0xd8]);
/** Adobe APP14 with transform 0: tells the decoder the three components are RGB, not YCbCr. */
const ADOBE_RGB_MARKER = Buffer.from([0xff, 0xee, 0x00, 0x0e, 0x41, 0x64, 0x6f, 0x62, 0x65, 0x00, 0x64, 0x00, 0x00, 0x00, 0x00, 0x00]);

/**
 * Builds a standalone JPEG from TIFF JPEGTables (SOI, DQT/DHT, EOI) and an abbreviated tile stream
 * (SOI, SOF, SOS, data, EOI), adding an Adobe marker when the stored components are RGB.
 */
export function completeJpeg(tile: Buffer, tables: Buffer | undefined, rgbComponents: boolean): Buffer {
  if (tile.length < 4 || tile[0] !== 0xff || tile[1] !== 0xd8) {
    throw new SlideError('CORRUPT_TILE', 'JPEG data does not start with an SOI marker');
  }
  const parts: Buffer[] = [SOI];
  if (rgbComponents) parts.push(ADOBE_RGB_MARKER);
  if (tables && tables.length > 4) {
    const end = tables[tables.length - 2] === 0xff && tables[tables.length - 1] === 0xd9 ? tables.length - 2 : tables.length;
    parts.push(tables.subarray(2, end));
  }
  parts.push(tile.subarray(2));
  return parts.length === 2 && !rgbComponents ? tile : Buffer.concat(parts);
}

interface NativeJpegCodec {
  decode(jpeg: Buffer, scale: RegionScale, maxPixels: number, target?: Buffer): Promise<{ width: number; height: number; data: Buffer }>;
  decodeParts(jpegs: Buffer[], params: Int32Array, maxPixels: number, target: Buffer, targetWidth: number): Promise<void>;
  encode(rgb: Buffer, width: number, height: number, quality: number): Promise<Buffer>;
}

const NATIVE_ADDON = fileURLToPath(new URL('../../../native/jpeg/build/Release/pathbox_jpeg.node', import.meta.url));

/**
 * pathbox's own libjpeg-turbo binding (native/jpeg, built by `npm install` when Debian's libjpeg headers
 * are there) decodes a tile in a third of sharp's time; without it sharp does the same work, slower.
 */
function loadNativeCodec(): NativeJpegCodec | null {
  if (process.env.PATHBOX_JPEG_CODEC === 'sharp') return null;
  try {
    return createRequire(import.meta.url)(NATIVE_ADDON) as NativeJpegCodec;
  } catch {
    return null;
  }
}

const native = loadNativeCodec();

/** The addon's errors carry code TOO_LARGE (the frame exceeds the bound) or CORRUPT (libjpeg gave up). */
function nativeError(e: unknown): SlideError {
  const message = (e as Error).message;
  if ((e as { code?: string }).code === 'TOO_LARGE') return new SlideError('TOO_LARGE', message, { cause: e });
  return new SlideError('CORRUPT_TILE', `JPEG decode failed: ${message}`, { cause: e });
}

/** Which JPEG codec this process decodes tiles with, for `pathbox hw` and the benchmarks. */
export const jpegCodec: 'libjpeg-turbo' | 'sharp' = native ? 'libjpeg-turbo' : 'sharp';

/**
 * Decodes a complete JPEG to RGB off the main thread, at 1/scale of its size (rounded up): libjpeg
 * scales in the DCT domain, far cheaper than decoding whole and resizing. `maxPixels` bounds the frame
 * the header may declare: libjpeg fills whatever the data lacks, so a few hundred forged bytes claiming
 * 32767x32767 would otherwise cost gigabytes and minutes.
 */
export async function decodeJpeg(jpeg: Buffer, maxPixels: number = LIMITS.maxTilePixels, scale: RegionScale = 1): Promise<RgbImage> {
  const size = jpegDimensions(jpeg);
  if (size && size.width * size.height > maxPixels) {
    throw new SlideError('TOO_LARGE', `JPEG frame ${size.width}x${size.height} exceeds the ${maxPixels} pixels allowed here`);
  }
  if (native) {
    try {
      // Into a buffer allocated here when the header tells the size: V8 accounts for its own buffers far
      // more cheaply than for ones the addon creates, which cost a garbage collection every few regions.
      const target = size ? Buffer.allocUnsafe(Math.ceil(size.width / scale) * Math.ceil(size.height / scale) * 3) : undefined;
      const { width, height, data } = await native.decode(jpeg, scale, maxPixels, target);
      return { width, height, channels: 3, data };
    } catch (e) {
      throw nativeError(e);
    }
  }
  try {
    // limitInputPixels repeats the bound on libjpeg's own reading of the header, which also finds
    // frames that the quick marker walk above gives up on.
    const { data, info } = await sharp(jpeg, { failOn: 'error', limitInputPixels: maxPixels, sequentialRead: true })
      .raw()
      .toBuffer({ resolveWithObject: true });
    return shrinkImage(toRgb(data, info.width, info.height, info.channels), scale);
  } catch (e) {
    // libvips repeats the libjpeg message once per line: keep the first.
    const reason = (e as Error).message.split('\n')[0];
    throw new SlideError('CORRUPT_TILE', `JPEG decode failed: ${reason}`, { cause: e });
  }
}

/** Whether decodeJpegParts is available (it needs the native codec). */
export const canDecodeJpegParts = native !== null;

/** One JPEG of a decodeJpegParts call: the part of it (at 1/scale) to decode, and where it goes. */
export interface JpegPart {
  jpeg: Buffer;
  scale: RegionScale;
  part: ImagePart;
}

/** The failure of one JPEG of a decodeJpegParts call; `index` says which. */
export class JpegPartError extends SlideError {
  readonly index: number;
  constructor(index: number, error: SlideError) {
    super(error.code, error.message, { cause: error.cause });
    this.index = index;
  }
}

/**
 * Decodes only a part of each JPEG, at its scale, straight into a region image they all share, in one
 * job of the thread pool: no tile buffers, no copies, one hand-over for all of them, and the columns and
 * rows outside each part cost little or nothing to decode.
 */
export async function decodeJpegParts(parts: JpegPart[], maxPixels: number): Promise<void> {
  if (!native) throw new Error('decodeJpegParts needs the native JPEG codec (canDecodeJpegParts)');
  const into = parts[0].part.into;
  const params = new Int32Array(parts.length * 7);
  parts.forEach(({ scale, part }, i) => {
    if (part.into !== into) throw new Error('decodeJpegParts: every part must go into the same image');
    params.set([scale, part.x, part.y, part.width, part.height, part.atX, part.atY], i * 7);
  });
  try {
    await native.decodeParts(parts.map((p) => p.jpeg), params, maxPixels, into.data, into.width);
  } catch (e) {
    throw new JpegPartError((e as { part?: number }).part ?? 0, nativeError(e));
  }
}

/** Encodes RGB as a baseline JPEG (4:2:0), for tiles that are composed rather than stored. */
export async function encodeJpeg(image: RgbImage, quality: number): Promise<Buffer> {
  if (native) return native.encode(image.data, image.width, image.height, quality);
  // Huffman optimisation saves a few percent of bytes for a tenth more CPU: not worth it on a LAN.
  return sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } }).jpeg({ quality, optimiseCoding: false }).toBuffer();
}

/** Width and height from the SOF marker of a JPEG stream, without decoding. */
export function jpegDimensions(jpeg: Buffer): { width: number; height: number } | null {
  let at = 2;
  while (at + 9 < jpeg.length) {
    if (jpeg[at] !== 0xff) return null;
    const marker = jpeg[at + 1];
    if (marker === 0xff) { at += 1; continue; }
    const length = jpeg.readUInt16BE(at + 2);
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return { height: jpeg.readUInt16BE(at + 5), width: jpeg.readUInt16BE(at + 7) };
    }
    at += 2 + length;
  }
  return null;
}
