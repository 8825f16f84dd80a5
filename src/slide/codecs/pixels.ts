import { SlideError } from '../errors.ts';
import type { RgbImage } from '../types.ts';

/** Converts 1-4 interleaved 8-bit channels to RGB (grey is replicated, alpha dropped). */
export function toRgb(data: Buffer, width: number, height: number, channels: number): RgbImage {
  const pixels = width * height;
  if (data.length < pixels * channels) {
    throw new SlideError('CORRUPT_TILE', `decoded ${data.length} bytes, expected ${pixels * channels}`);
  }
  if (channels === 3) return { width, height, channels: 3, data: data.length === pixels * 3 ? data : data.subarray(0, pixels * 3) };
  const out = Buffer.allocUnsafe(pixels * 3);
  if (channels === 1 || channels === 2) {
    for (let i = 0, o = 0; i < pixels; i++, o += 3) {
      const v = data[i * channels];
      out[o] = v; out[o + 1] = v; out[o + 2] = v;
    }
  } else if (channels === 4) {
    for (let i = 0, o = 0, s = 0; i < pixels; i++, o += 3, s += 4) {
      out[o] = data[s]; out[o + 1] = data[s + 1]; out[o + 2] = data[s + 2];
    }
  } else {
    throw new SlideError('UNSUPPORTED_COMPRESSION', `${channels}-channel images are not supported`);
  }
  return { width, height, channels: 3, data: out };
}

/** A white RGB image: what the reader shows where a slide has no tile (sparse or outside the level). */
export function whiteImage(width: number, height: number): RgbImage {
  return { width, height, channels: 3, data: Buffer.alloc(width * height * 3, 255) };
}

/** ITU-R BT.601 YCbCr (JPEG/JFIF ranges) to RGB, in place on interleaved data. */
export function ycbcrToRgbInPlace(data: Buffer | Uint8Array): void {
  for (let i = 0; i + 2 < data.length; i += 3) {
    const y = data[i];
    const cb = data[i + 1] - 128;
    const cr = data[i + 2] - 128;
    data[i] = clamp(y + 1.402 * cr);
    data[i + 1] = clamp(y - 0.344136 * cb - 0.714136 * cr);
    data[i + 2] = clamp(y + 1.772 * cb);
  }
}

function clamp(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
}
