import type { TissueMask } from './tissue/index.ts';
import type { SlideMetadata } from '../slide/index.ts';

/** How the slide is cut into model inputs. */
export interface TileGrid {
  /** Tile side in level-0 pixels (the model's field of view at the slide's resolution). */
  tileSize0: number;
  cols: number;
  rows: number;
  /** Level the tiles are read from, and the tile side at that level (resized to the model input). */
  level: number;
  readSize: number;
  /** Tiles with enough tissue, row-major. */
  tiles: GridTile[];
  /** Every grid cell's tissue fraction (0..1), row-major, for the heatmap's background mask. */
  tissue: Float32Array;
}

export interface GridTile {
  index: number;
  col: number;
  row: number;
  /** Level-0 origin. */
  x: number;
  y: number;
  tissueFraction: number;
}

/**
 * Plans the tile grid: a tile is the model's input size at the model's MPP, expressed in level-0
 * pixels; tiles are read from the coarsest level that is still at least as sharp as the model wants.
 * Cells whose tissue fraction (from the low-resolution mask) is below `minTissue` are skipped.
 */
export function planGrid(
  metadata: SlideMetadata,
  slideMpp: number,
  model: { mpp: number; inputSize: number },
  mask: TissueMask,
  minTissue: number,
): TileGrid {
  const tileSize0 = Math.max(1, Math.round((model.inputSize * model.mpp) / slideMpp));
  const wanted = tileSize0 / model.inputSize; // level-0 pixels per model pixel
  let level = 0;
  metadata.levels.forEach((l, i) => {
    if (l.downsample <= wanted * 1.01 && l.downsample > metadata.levels[level].downsample) level = i;
  });
  const readSize = Math.max(1, Math.round(tileSize0 / metadata.levels[level].downsample));
  const cols = Math.ceil(metadata.width / tileSize0);
  const rows = Math.ceil(metadata.height / tileSize0);
  const tissue = cellTissueFractions(mask, metadata.width, metadata.height, tileSize0, cols, rows);
  const tiles: GridTile[] = [];
  for (let row = 0; row < rows; row++) {
    for (let col = 0; col < cols; col++) {
      const index = row * cols + col;
      if (tissue[index] >= minTissue) tiles.push({ index, col, row, x: col * tileSize0, y: row * tileSize0, tissueFraction: tissue[index] });
    }
  }
  return { tileSize0, cols, rows, level, readSize, tiles, tissue };
}

/** Tissue share of each grid cell, from the mask through a summed-area table (one pass, any grid size). */
function cellTissueFractions(mask: TissueMask, width: number, height: number, tileSize0: number, cols: number, rows: number): Float32Array {
  const mw = mask.width;
  const mh = mask.height;
  const sums = new Float64Array((mw + 1) * (mh + 1));
  for (let y = 0; y < mh; y++) {
    let rowSum = 0;
    for (let x = 0; x < mw; x++) {
      rowSum += mask.data[y * mw + x] ? 1 : 0;
      sums[(y + 1) * (mw + 1) + x + 1] = sums[y * (mw + 1) + x + 1] + rowSum;
    }
  }
  const sx = mw / width;
  const sy = mh / height;
  const out = new Float32Array(cols * rows);
  for (let row = 0; row < rows; row++) {
    for (let col = 0; col < cols; col++) {
      const x0 = Math.min(mw, Math.floor(col * tileSize0 * sx));
      const y0 = Math.min(mh, Math.floor(row * tileSize0 * sy));
      const x1 = Math.min(mw, Math.max(x0 + 1, Math.ceil(Math.min(width, (col + 1) * tileSize0) * sx)));
      const y1 = Math.min(mh, Math.max(y0 + 1, Math.ceil(Math.min(height, (row + 1) * tileSize0) * sy)));
      const area = (x1 - x0) * (y1 - y0);
      if (area <= 0) continue;
      const inside = sums[y1 * (mw + 1) + x1] - sums[y0 * (mw + 1) + x1] - sums[y1 * (mw + 1) + x0] + sums[y0 * (mw + 1) + x0];
      out[row * cols + col] = inside / area;
    }
  }
  return out;
}
