import { createRequire } from 'node:module';
import { SlideError } from '../errors.ts';
import type { RgbImage } from '../types.ts';
import { toRgb } from './pixels.ts';

interface JlsFrameInfo { width: number; height: number; bitsPerSample: number; componentCount: number }
interface JlsDecoder {
  getEncodedBuffer(length: number): Uint8Array;
  getDecodedBuffer(): Uint8Array;
  decode(): void;
  getFrameInfo(): JlsFrameInfo;
  /** 0: planar (all R, then all G...), 1 and 2: interleaved per pixel in the decoded buffer. */
  getInterleaveMode(): number;
  delete(): void;
}
interface CharlsModule { JpegLSDecoder: new () => JlsDecoder }

const require = createRequire(import.meta.url);
let modulePromise: Promise<CharlsModule> | null = null;

function charls(): Promise<CharlsModule> {
  // CharLS compiled to WebAssembly (cornerstone's build): neither sharp nor libvips read JPEG-LS.
  // print/printErr: keep the library's diagnostics off our stdout.
  const factory = require('@cornerstonejs/codec-charls/decodewasmjs') as (options: object) => Promise<CharlsModule>;
  modulePromise ??= factory({ print: () => {}, printErr: () => {} });
  return modulePromise;
}

const SOF55 = 0xf7;

/** Width and height from the JPEG-LS SOF55 marker, without decoding; null if the stream has none. */
export function jpegLsDimensions(stream: Buffer): { width: number; height: number } | null {
  if (stream.length < 4 || stream[0] !== 0xff || stream[1] !== 0xd8) return null;
  let at = 2;
  while (at + 9 <= stream.length) {
    if (stream[at] !== 0xff) return null;
    const marker = stream[at + 1];
    if (marker === 0xff) { at += 1; continue; }
    if (marker === SOF55) return { height: stream.readUInt16BE(at + 5), width: stream.readUInt16BE(at + 7) };
    if (marker === 0xda) return null;
    at += 2 + stream.readUInt16BE(at + 2);
  }
  return null;
}

/**
 * Decodes an 8-bit JPEG-LS stream (lossless or near-lossless) to RGB. The caller checks the declared
 * size first (jpegLsDimensions): the decoder allocates whatever the header claims.
 */
export async function decodeJpegLs(stream: Buffer): Promise<RgbImage> {
  const lib = await charls();
  const decoder = new lib.JpegLSDecoder();
  try {
    decoder.getEncodedBuffer(stream.length).set(stream);
    decoder.decode();
    const info = decoder.getFrameInfo();
    if (info.bitsPerSample > 8) throw new SlideError('UNSUPPORTED_COMPRESSION', `${info.bitsPerSample}-bit JPEG-LS is not supported`);
    const decoded = decoder.getDecodedBuffer();
    const interleaved = info.componentCount > 1 && decoder.getInterleaveMode() === 0
      ? interleavePlanes(decoded, info.width * info.height, info.componentCount)
      : Buffer.from(decoded);
    return toRgb(interleaved, info.width, info.height, info.componentCount);
  } catch (e) {
    if (e instanceof SlideError) throw e;
    // CharLS throws C++ exceptions, which reach JavaScript as bare numbers (pointers) without a message.
    const reason = e instanceof Error ? e.message : 'invalid JPEG-LS bitstream';
    throw new SlideError('CORRUPT_TILE', `JPEG-LS decode failed: ${reason}`, { cause: e });
  } finally {
    decoder.delete();
  }
}

function interleavePlanes(planar: Uint8Array, pixels: number, components: number): Buffer {
  const out = Buffer.allocUnsafe(pixels * components);
  for (let c = 0; c < components; c++) {
    const plane = c * pixels;
    for (let i = 0; i < pixels; i++) out[i * components + c] = planar[plane + i];
  }
  return out;
}
