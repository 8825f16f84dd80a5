import type { SlideMetadata } from '../../slide/index.ts';

/**
 * Deep Zoom geometry (the DZI format OpenSeadragon reads, as OpenSlide's DeepZoomGenerator lays it out
 * with overlap 0 and limit_bounds off): level k of n is the slide halved (rounding up) n-1-k times, cut
 * into square tiles from the top left; the last row and column are smaller.
 */
export interface DeepZoomLevel {
  width: number;
  height: number;
  cols: number;
  rows: number;
  /** Level-0 pixels per pixel of this level: a power of two. */
  downsample: number;
  /** The slide level whose stored tiles are exactly this level's tiles (raw JPEG fast path), or null. */
  nativeLevel: number | null;
  /** The slide level to read from when tiles are composed (largest downsample not above ours). */
  readLevel: number;
}

export interface DeepZoomPlan {
  width: number;
  height: number;
  tileSize: number;
  levels: DeepZoomLevel[];
}

/** Where one Deep Zoom tile comes from: a region of a slide level scaled to the tile, or that level's stored tile. */
export interface TileSourcePlan {
  slideLevel: number;
  /** Level-0 origin, as readRegion takes it. */
  x: number;
  y: number;
  /** Pixels to read at slideLevel... */
  readWidth: number;
  readHeight: number;
  /** ...scaled to the tile's size. */
  width: number;
  height: number;
  /** The stored tile that is exactly this tile (raw JPEG fast path), or null. */
  storedTile: { col: number; row: number } | null;
}

export class DeepZoomError extends Error {
  override name = 'DeepZoomError';
}

/** Relative mismatch allowed between a slide level's downsample and a power of two (scanners round level sizes). */
const DOWNSAMPLE_TOLERANCE = 1e-3;

/** The slide's own tile size where it is square and sensible, so the fast path can apply; 256 otherwise. */
export function chooseTileSize(meta: SlideMetadata): number {
  const { tileWidth, tileHeight } = meta.levels[0];
  return tileWidth === tileHeight && tileWidth >= 128 && tileWidth <= 1024 ? tileWidth : 256;
}

export function deepZoomPlan(meta: SlideMetadata, tileSize = chooseTileSize(meta)): DeepZoomPlan {
  const sizes: [number, number][] = [[meta.width, meta.height]];
  while (sizes[0][0] > 1 || sizes[0][1] > 1) {
    const [w, h] = sizes[0];
    sizes.unshift([Math.max(1, Math.ceil(w / 2)), Math.max(1, Math.ceil(h / 2))]);
  }
  const levels = sizes.map(([width, height], index) => {
    const downsample = 2 ** (sizes.length - 1 - index);
    return {
      width, height, downsample,
      cols: Math.ceil(width / tileSize),
      rows: Math.ceil(height / tileSize),
      nativeLevel: nativeLevel(meta, width, height, downsample, tileSize),
      readLevel: bestLevelFor(meta, downsample),
    };
  });
  return { width: meta.width, height: meta.height, tileSize, levels };
}

function nativeLevel(meta: SlideMetadata, width: number, height: number, downsample: number, tileSize: number): number | null {
  const index = meta.levels.findIndex((l) =>
    Math.abs(l.downsample - downsample) / downsample < DOWNSAMPLE_TOLERANCE &&
    Math.abs(l.width - width) <= 1 && Math.abs(l.height - height) <= 1 &&
    l.tileWidth === tileSize && l.tileHeight === tileSize);
  return index === -1 ? null : index;
}

/** OpenSlide's get_best_level_for_downsample: the most reduced level that is not coarser than asked. */
function bestLevelFor(meta: SlideMetadata, downsample: number): number {
  let best = 0;
  meta.levels.forEach((l, i) => {
    if (l.downsample <= downsample * (1 + DOWNSAMPLE_TOLERANCE) && l.downsample > meta.levels[best].downsample) best = i;
  });
  return best;
}

/**
 * Which stored tile or which region makes Deep Zoom tile (col,row) of `level`. Interior tiles of a level
 * that matches a slide level are that level's stored tiles; edge tiles are cropped, so they are composed.
 */
export function planTile(plan: DeepZoomPlan, meta: SlideMetadata, level: number, col: number, row: number): TileSourcePlan {
  const z = plan.levels[level];
  if (!Number.isInteger(level) || !z) throw new DeepZoomError(`Deep Zoom level ${level} does not exist (levels 0-${plan.levels.length - 1})`);
  if (!Number.isInteger(col) || !Number.isInteger(row) || col < 0 || row < 0 || col >= z.cols || row >= z.rows) {
    throw new DeepZoomError(`tile ${col}_${row} is outside Deep Zoom level ${level} (${z.cols} x ${z.rows} tiles)`);
  }
  const T = plan.tileSize;
  const width = Math.min(T, z.width - col * T);
  const height = Math.min(T, z.height - row * T);
  const x = col * T * z.downsample;
  const y = row * T * z.downsample;
  if (z.nativeLevel !== null) {
    const native = meta.levels[z.nativeLevel];
    if ((col + 1) * T <= native.width && (row + 1) * T <= native.height && width === T && height === T) {
      return { slideLevel: z.nativeLevel, x, y, readWidth: T, readHeight: T, width, height, storedTile: { col, row } };
    }
  }
  const source = meta.levels[z.readLevel];
  const scale = z.downsample / source.downsample;
  const left = Math.floor(x / source.downsample);
  const top = Math.floor(y / source.downsample);
  return {
    slideLevel: z.readLevel, x, y, width, height, storedTile: null,
    readWidth: Math.max(1, Math.min(Math.ceil(width * scale), source.width - left)),
    readHeight: Math.max(1, Math.min(Math.ceil(height * scale), source.height - top)),
  };
}

/** The DZI descriptor. `Url` is OpenSeadragon's extension naming where the tiles are. */
export function dziXml(plan: DeepZoomPlan, tilesUrl: string): string {
  return '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Image xmlns="http://schemas.microsoft.com/deepzoom/2008" Format="jpeg" Overlap="0" TileSize="${plan.tileSize}" Url="${escapeXml(tilesUrl)}">` +
    `<Size Width="${plan.width}" Height="${plan.height}"/></Image>\n`;
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
