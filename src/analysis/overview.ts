import sharp from 'sharp';
import type { RgbImage, Slide } from '../slide/index.ts';

/** Side of the squares an overview is read in, at the chosen level (keeps each read's buffer small). */
const CHUNK = 2048;

export interface Overview {
  image: RgbImage;
  /** Level-0 pixels per overview pixel, per axis. */
  scaleX: number;
  scaleY: number;
}

/**
 * The whole slide at most `maxSide` pixels on its long side, for tissue detection and heatmap backdrops.
 * Reads the smallest level that is still at least that large, in chunks, each shrunk as it arrives, so
 * memory stays bounded even for a single-level 100k-pixel slide.
 */
export async function readOverview(slide: Slide, maxSide: number): Promise<Overview> {
  const { width, height, levels } = slide.metadata;
  const factor = Math.max(1, Math.max(width, height) / maxSide);
  const outWidth = Math.max(1, Math.round(width / factor));
  const outHeight = Math.max(1, Math.round(height / factor));
  let level = 0;
  levels.forEach((l, i) => {
    if (l.downsample <= factor && l.downsample > levels[level].downsample) level = i;
  });
  const { width: lw, height: lh, downsample } = levels[level];
  const out = Buffer.alloc(outWidth * outHeight * 3, 255);
  const sx = outWidth / lw;
  const sy = outHeight / lh;
  for (let y = 0; y < lh; y += CHUNK) {
    for (let x = 0; x < lw; x += CHUNK) {
      const w = Math.min(CHUNK, lw - x);
      const h = Math.min(CHUNK, lh - y);
      // Output rectangle this chunk covers; integer edges so neighbouring chunks meet without gaps.
      const ox0 = Math.round(x * sx), ox1 = Math.round((x + w) * sx);
      const oy0 = Math.round(y * sy), oy1 = Math.round((y + h) * sy);
      if (ox1 <= ox0 || oy1 <= oy0) continue;
      const chunk = await slide.readRegion(level, Math.round(x * downsample), Math.round(y * downsample), w, h);
      const small = await sharp(chunk.data, { raw: { width: w, height: h, channels: 3 } })
        .resize(ox1 - ox0, oy1 - oy0, { fit: 'fill', kernel: 'linear' })
        .raw()
        .toBuffer();
      for (let r = 0; r < oy1 - oy0; r++) small.copy(out, ((oy0 + r) * outWidth + ox0) * 3, r * (ox1 - ox0) * 3, (r + 1) * (ox1 - ox0) * 3);
    }
  }
  return { image: { width: outWidth, height: outHeight, channels: 3, data: out }, scaleX: width / outWidth, scaleY: height / outHeight };
}
