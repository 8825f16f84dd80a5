import sharp from 'sharp';
import { LIMITS, SlideError } from '../errors.ts';
import type { RgbImage } from '../types.ts';
import { toRgb } from './pixels.ts';

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

/**
 * Decodes a complete JPEG to RGB with libjpeg-turbo (via sharp) off the main thread. `maxPixels` bounds
 * the frame the header may declare: libjpeg fills whatever the data lacks, so a few hundred forged bytes
 * claiming 32767x32767 would otherwise cost gigabytes and minutes.
 */
export async function decodeJpeg(jpeg: Buffer, maxPixels: number = LIMITS.maxTilePixels): Promise<RgbImage> {
  const size = jpegDimensions(jpeg);
  if (size && size.width * size.height > maxPixels) {
    throw new SlideError('TOO_LARGE', `JPEG frame ${size.width}x${size.height} exceeds the ${maxPixels} pixels allowed here`);
  }
  try {
    // limitInputPixels repeats the bound on libjpeg's own reading of the header, which also finds
    // frames that the quick marker walk above gives up on.
    const { data, info } = await sharp(jpeg, { failOn: 'error', limitInputPixels: maxPixels, sequentialRead: true })
      .raw()
      .toBuffer({ resolveWithObject: true });
    return toRgb(data, info.width, info.height, info.channels);
  } catch (e) {
    // libvips repeats the libjpeg message once per line: keep the first.
    const reason = (e as Error).message.split('\n')[0];
    throw new SlideError('CORRUPT_TILE', `JPEG decode failed: ${reason}`, { cause: e });
  }
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
