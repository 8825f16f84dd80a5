import { createRequire } from 'node:module';
import { LIMITS, SlideError } from '../errors.ts';
import type { RgbImage } from '../types.ts';
import { toRgb, ycbcrToRgbInPlace } from './pixels.ts';

interface J2kFrameInfo { width: number; height: number; bitsPerSample: number; componentCount: number; isSigned: boolean }
interface J2kDecoder {
  getEncodedBuffer(length: number): Uint8Array;
  getDecodedBuffer(): Uint8Array;
  decode(): void;
  getFrameInfo(): J2kFrameInfo;
  delete(): void;
}
interface OpenJpegModule { J2KDecoder: new () => J2kDecoder }

const require = createRequire(import.meta.url);
let modulePromise: Promise<OpenJpegModule> | null = null;

function openjpeg(): Promise<OpenJpegModule> {
  // OpenJPEG compiled to WebAssembly (cornerstone's build): prebuilt sharp has no JPEG 2000.
  // print/printErr: OpenJPEG logs every tile header at INFO level, which must not reach our stdout.
  const factory = require('@cornerstonejs/codec-openjpeg/decodewasmjs') as (options: object) => Promise<OpenJpegModule>;
  modulePromise ??= factory({ print: () => {}, printErr: () => {} });
  return modulePromise;
}

/**
 * Decodes an Aperio JPEG 2000 tile (a raw J2K codestream). Aperio's 33003 stores YCbCr components
 * that the codestream does not flag, so the caller says which it is.
 */
export async function decodeJpeg2000(codestream: Buffer, ycbcr: boolean, maxPixels: number = LIMITS.maxTilePixels): Promise<RgbImage> {
  checkDeclaredSize(codestream, maxPixels);
  const lib = await openjpeg();
  const decoder = new lib.J2KDecoder();
  try {
    decoder.getEncodedBuffer(codestream.length).set(codestream);
    decoder.decode();
    const info = decoder.getFrameInfo();
    if (info.width < 1 || info.height < 1 || info.componentCount < 1) {
      throw new SlideError('CORRUPT_TILE', `JPEG 2000 decode produced no image (${info.width}x${info.height}, ${info.componentCount} components)`);
    }
    if (info.bitsPerSample > 8) throw new SlideError('UNSUPPORTED_COMPRESSION', `${info.bitsPerSample}-bit JPEG 2000 is not supported`);
    const decoded = Buffer.from(decoder.getDecodedBuffer());
    const image = toRgb(decoded, info.width, info.height, info.componentCount);
    if (ycbcr && info.componentCount === 3) ycbcrToRgbInPlace(image.data);
    return image;
  } catch (e) {
    if (e instanceof SlideError) throw e;
    throw new SlideError('CORRUPT_TILE', `JPEG 2000 decode failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  } finally {
    decoder.delete();
  }
}

/** Samples OpenJPEG may hold per pixel before we reject a codestream (RGBA). */
const MAX_COMPONENTS = 4;

/**
 * The image size from the SIZ segment, checked before decoding: OpenJPEG allocates from it, and the
 * WebAssembly memory it grows into is never given back, so one forged header would cost memory for
 * the life of the process. Streams without SOC+SIZ at the start are left to the decoder to reject.
 */
function checkDeclaredSize(codestream: Buffer, maxPixels: number): void {
  if (codestream.length < 42 || codestream.readUInt32BE(0) !== 0xff4fff51) return;
  const width = codestream.readUInt32BE(8) - codestream.readUInt32BE(16);
  const height = codestream.readUInt32BE(12) - codestream.readUInt32BE(20);
  const components = codestream.readUInt16BE(40);
  if (width < 1 || height < 1 || components < 1) {
    throw new SlideError('CORRUPT_TILE', `JPEG 2000 header declares an empty ${width}x${height} image with ${components} components`);
  }
  if (components > MAX_COMPONENTS) throw new SlideError('UNSUPPORTED_COMPRESSION', `JPEG 2000 with ${components} components is not supported`);
  if (width * height > maxPixels) {
    throw new SlideError('TOO_LARGE', `JPEG 2000 image ${width}x${height} exceeds the ${maxPixels} pixels allowed here`);
  }
}
