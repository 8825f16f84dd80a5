import sharp from 'sharp';
import type { TileGrid } from './grid.ts';

/** The raw heatmap: one score per grid cell (null where no tissue was analysed), in level-0 geometry. */
export interface HeatmapGrid {
  cols: number;
  rows: number;
  /** Cell side in level-0 pixels. */
  tileSize: number;
  slideWidth: number;
  slideHeight: number;
  scores: (number | null)[];
}

export function heatmapGrid(grid: TileGrid, cellScores: Float32Array, slideWidth: number, slideHeight: number): HeatmapGrid {
  return {
    cols: grid.cols,
    rows: grid.rows,
    tileSize: grid.tileSize0,
    slideWidth,
    slideHeight,
    scores: Array.from(cellScores, (v) => (Number.isNaN(v) ? null : Math.round(v * 1e4) / 1e4)),
  };
}

/** Blue (low) through green and yellow to red (high): the ramp pathology viewers use for AI scores. */
const RAMP: [number, number, number][] = [[49, 54, 149], [69, 117, 180], [116, 173, 209], [171, 217, 233], [254, 224, 144], [253, 174, 97], [244, 109, 67], [215, 48, 39], [165, 0, 38]];

export function rampColour(score: number): [number, number, number] {
  const t = Math.min(1, Math.max(0, score)) * (RAMP.length - 1);
  const i = Math.min(RAMP.length - 2, Math.floor(t));
  const f = t - i;
  const a = RAMP[i];
  const b = RAMP[i + 1];
  return [Math.round(a[0] + (b[0] - a[0]) * f), Math.round(a[1] + (b[1] - a[1]) * f), Math.round(a[2] + (b[2] - a[2]) * f)];
}

/**
 * An RGBA PNG covering exactly the slide (same aspect ratio), at most `maxSide` pixels on its long side,
 * transparent where nothing was analysed; a viewer stretches it over the slide's full extent.
 */
export async function renderHeatmapPng(heatmap: HeatmapGrid, maxSide = 1024): Promise<Buffer> {
  const scale = Math.max(heatmap.slideWidth, heatmap.slideHeight) / maxSide;
  const factor = Math.max(scale, 1e-9);
  const width = Math.max(1, Math.round(heatmap.slideWidth / factor));
  const height = Math.max(1, Math.round(heatmap.slideHeight / factor));
  const sx = heatmap.slideWidth / width;
  const sy = heatmap.slideHeight / height;
  const pixels = Buffer.alloc(width * height * 4);
  for (let y = 0; y < height; y++) {
    const row = Math.min(heatmap.rows - 1, Math.floor(((y + 0.5) * sy) / heatmap.tileSize));
    for (let x = 0; x < width; x++) {
      const col = Math.min(heatmap.cols - 1, Math.floor(((x + 0.5) * sx) / heatmap.tileSize));
      const score = heatmap.scores[row * heatmap.cols + col];
      if (score === null) continue;
      const [r, g, b] = rampColour(score);
      const o = (y * width + x) * 4;
      pixels[o] = r;
      pixels[o + 1] = g;
      pixels[o + 2] = b;
      pixels[o + 3] = 255;
    }
  }
  return sharp(pixels, { raw: { width, height, channels: 4 } }).png({ compressionLevel: 6 }).toBuffer();
}
