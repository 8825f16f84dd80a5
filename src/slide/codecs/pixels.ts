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

/**
 * Averages scale x scale blocks, the size rounded up as libjpeg's DCT scaling rounds it (a partial block
 * at the right or bottom edge averages the pixels it has). What codecs without scaled decoding do instead.
 */
export function shrinkImage(image: RgbImage, scale: number): RgbImage {
  if (scale === 1) return image;
  const width = Math.ceil(image.width / scale);
  const height = Math.ceil(image.height / scale);
  const out = Buffer.allocUnsafe(width * height * 3);
  const rowBytes = image.width * 3;
  for (let y = 0; y < height; y++) {
    const y0 = y * scale;
    const y1 = Math.min(y0 + scale, image.height);
    for (let x = 0; x < width; x++) {
      const x0 = x * scale;
      const x1 = Math.min(x0 + scale, image.width);
      let r = 0;
      let g = 0;
      let b = 0;
      for (let sy = y0; sy < y1; sy++) {
        for (let at = sy * rowBytes + x0 * 3, end = sy * rowBytes + x1 * 3; at < end; at += 3) {
          r += image.data[at];
          g += image.data[at + 1];
          b += image.data[at + 2];
        }
      }
      const area = (y1 - y0) * (x1 - x0);
      const o = (y * width + x) * 3;
      out[o] = Math.round(r / area);
      out[o + 1] = Math.round(g / area);
      out[o + 2] = Math.round(b / area);
    }
  }
  return { width, height, channels: 3, data: out };
}
