import { SlideError } from '../errors.ts';
import { completeJpeg, decodeJpeg, jpegDimensions } from '../codecs/jpeg.ts';
import { decodeJpeg2000 } from '../codecs/jpeg2000.ts';
import { decodeJpegLs, jpegLsDimensions } from '../codecs/jpeg-ls.ts';
import { shrinkImage, toRgb, ycbcrToRgbInPlace } from '../codecs/pixels.ts';
import type { RegionScale, RgbImage } from '../types.ts';

export type PixelEncoding = 'native' | 'jpeg' | 'jpeg-ls' | 'jpeg2000';

const ENCODINGS: Record<string, PixelEncoding> = {
  '1.2.840.10008.1.2': 'native', // implicit VR little endian
  '1.2.840.10008.1.2.1': 'native', // explicit VR little endian
  '1.2.840.10008.1.2.4.50': 'jpeg', // JPEG baseline
  '1.2.840.10008.1.2.4.80': 'jpeg-ls', // JPEG-LS lossless
  '1.2.840.10008.1.2.4.81': 'jpeg-ls', // JPEG-LS near-lossless
  '1.2.840.10008.1.2.4.90': 'jpeg2000', // JPEG 2000 lossless
  '1.2.840.10008.1.2.4.91': 'jpeg2000', // JPEG 2000
};

/** Photometric interpretations each encoding may carry, with the samples per pixel they imply. */
const PHOTOMETRICS: Record<PixelEncoding, Record<string, number>> = {
  native: { RGB: 3, YBR_FULL: 3, MONOCHROME2: 1 },
  jpeg: { RGB: 3, YBR_FULL_422: 3, YBR_FULL: 3, MONOCHROME2: 1 },
  'jpeg-ls': { RGB: 3, MONOCHROME2: 1 },
  jpeg2000: { RGB: 3, YBR_ICT: 3, YBR_RCT: 3, YBR_FULL: 3, MONOCHROME2: 1 },
};

/** How the frames of one instance are stored and must be decoded. */
export interface FrameFormat {
  encoding: PixelEncoding;
  photometric: string;
  samplesPerPixel: number;
  width: number;
  height: number;
}

/** Checks the transfer syntax and pixel description against what we decode; throws naming the misfit. */
export function frameFormat(
  transferSyntax: string,
  photometric: string,
  pixel: { samplesPerPixel?: number; bitsAllocated?: number; bitsStored?: number; pixelRepresentation?: number; planarConfiguration?: number },
  width: number,
  height: number,
): FrameFormat {
  const encoding = ENCODINGS[transferSyntax];
  if (!encoding) throw new SlideError('UNSUPPORTED_COMPRESSION', `unsupported DICOM transfer syntax ${transferSyntax || '(none)'}`);
  const samplesPerPixel = PHOTOMETRICS[encoding][photometric];
  if (samplesPerPixel === undefined) {
    throw new SlideError('UNSUPPORTED_COMPRESSION', `photometric interpretation ${photometric || '(none)'} is not supported with transfer syntax ${transferSyntax}`);
  }
  if (pixel.samplesPerPixel !== samplesPerPixel) {
    throw new SlideError('CORRUPT_STRUCTURE', `${photometric} needs ${samplesPerPixel} samples per pixel, the file says ${pixel.samplesPerPixel ?? 'nothing'}`);
  }
  if (pixel.bitsAllocated !== 8 || (pixel.bitsStored ?? 8) !== 8 || (pixel.pixelRepresentation ?? 0) !== 0) {
    throw new SlideError('UNSUPPORTED_COMPRESSION', `only unsigned 8-bit samples are supported (bits allocated ${pixel.bitsAllocated}, stored ${pixel.bitsStored})`);
  }
  if (samplesPerPixel > 1 && (pixel.planarConfiguration ?? 0) !== 0) {
    throw new SlideError('UNSUPPORTED_COMPRESSION', 'planar (colour-by-plane) pixel data is not supported');
  }
  return { encoding, photometric, samplesPerPixel, width, height };
}

/** Bytes of one native frame. */
export function nativeFrameBytes(format: FrameFormat): number {
  return format.width * format.height * format.samplesPerPixel;
}

/** Decodes one stored frame to RGB at 1/scale; a frame whose codestream declares another size is corrupt. */
export async function decodeFrame(format: FrameFormat, data: Buffer, scale: RegionScale = 1): Promise<RgbImage> {
  switch (format.encoding) {
    case 'native': {
      const image = toRgb(data, format.width, format.height, format.samplesPerPixel);
      if (format.photometric === 'YBR_FULL') {
        const rgb = Buffer.from(image.data);
        ycbcrToRgbInPlace(rgb);
        return shrinkImage({ ...image, data: rgb }, scale);
      }
      return shrinkImage(image, scale);
    }
    case 'jpeg':
      checkSize(format, jpegDimensions(data), 'JPEG');
      return decodeJpeg(standaloneJpeg(format, data), undefined, scale);
    case 'jpeg-ls':
      checkSize(format, jpegLsDimensions(data), 'JPEG-LS');
      return shrinkImage(await decodeJpegLs(data), scale);
    case 'jpeg2000':
      checkSize(format, jpeg2000Dimensions(data), 'JPEG 2000');
      // YBR_ICT/RCT frames carry the colour transform in the codestream, so the decoder returns RGB.
      return shrinkImage(await decodeJpeg2000(data, format.photometric === 'YBR_FULL'), scale);
  }
}

/** The frame as a complete JPEG that decodes to the right colours anywhere, or null for other encodings. */
export function rawJpeg(format: FrameFormat, data: Buffer): Buffer | null {
  if (format.encoding !== 'jpeg') return null;
  if (data[0] !== 0xff || data[1] !== 0xd8) throw new SlideError('CORRUPT_TILE', 'JPEG frame does not start with an SOI marker');
  checkSize(format, jpegDimensions(data), 'JPEG');
  return standaloneJpeg(format, data);
}

/**
 * DICOM RGB means the JPEG components are not YCbCr, but a JPEG without JFIF or Adobe markers decodes
 * as YCbCr: add an Adobe marker saying RGB, as OpenSlide forces JCS_RGB.
 */
function standaloneJpeg(format: FrameFormat, data: Buffer): Buffer {
  if (format.photometric !== 'RGB' || hasColourMarker(data)) return data;
  return completeJpeg(data, undefined, true);
}

function hasColourMarker(jpeg: Buffer): boolean {
  let at = 2;
  while (at + 4 <= jpeg.length && jpeg[at] === 0xff) {
    const marker = jpeg[at + 1];
    if (marker === 0xe0 || marker === 0xee) return true;
    if (marker === 0xda || (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xcc)) return false;
    at += 2 + jpeg.readUInt16BE(at + 2);
  }
  return false;
}

function checkSize(format: FrameFormat, size: { width: number; height: number } | null, codec: string): void {
  if (!size) throw new SlideError('CORRUPT_TILE', `${codec} frame has no readable header`);
  if (size.width !== format.width || size.height !== format.height) {
    throw new SlideError('CORRUPT_TILE', `${codec} frame is ${size.width}x${size.height}, the file declares ${format.width}x${format.height}`);
  }
}

/** Image size from a J2K codestream's SIZ marker (Xsiz - XOsiz, Ysiz - YOsiz); DICOM stores raw codestreams. */
function jpeg2000Dimensions(codestream: Buffer): { width: number; height: number } | null {
  if (codestream.length < 24 || codestream.readUInt32BE(0) !== 0xff4fff51) return null;
  return { width: codestream.readUInt32BE(8) - codestream.readUInt32BE(16), height: codestream.readUInt32BE(12) - codestream.readUInt32BE(20) };
}
