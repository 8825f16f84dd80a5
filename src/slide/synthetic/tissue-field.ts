/**
 * Where the synthetic tissue is, defined once for every level: a smooth random field is sampled at the
 * corners of the level-0 tile grid and quantised to four values; inside a tile the tissue mask is the
 * bilinear interpolation of its corners, thresholded at zero. Because a tile's content then depends only
 * on its four quantised corners, level 0 can reuse a small pool of encoded tiles, and lower levels
 * (rendered from the same function) show the same tissue at the same place.
 */
import type { PaintSource } from './painter.ts';
import { fractalNoise, hash32 } from './random.ts';

/** Nuclear area fraction per density class, from sparse stroma to highly cellular tumour-like tissue. */
export const NUCLEAR_FRACTIONS = [0.04, 0.1, 0.18, 0.28, 0.4] as const;
export const DENSITY_CLASS_COUNT = NUCLEAR_FRACTIONS.length;
/** Tissue along island borders is drawn sparse, which also keeps the pool of border tiles small. */
export const BORDER_DENSITY_CLASS = 1;

/** Level-0 tile kinds. Border tiles mix tissue and background. */
export const TileKind = { Background: 0, Tissue: 1, Border: 2 } as const;
export type TileKind = (typeof TileKind)[keyof typeof TileKind];

/** Quantised corner values; the ±1 levels put a boundary at 1/4, 1/2 or 3/4 of a tile edge. */
const CORNER_LEVELS = [-3, -1, 1, 3] as const;

export interface TissueFieldParams {
  width: number;
  height: number;
  tileSize: number;
  seed: number;
  tissueFraction: number;
}

export class TissueField {
  readonly width: number;
  readonly height: number;
  readonly tileSize: number;
  readonly tilesAcross: number;
  readonly tilesDown: number;
  /** Index into CORNER_LEVELS per grid corner, (tilesAcross + 1) per row. */
  private readonly corners: Uint8Array;
  private readonly densityClasses: Uint8Array;

  constructor(params: TissueFieldParams) {
    this.width = params.width;
    this.height = params.height;
    this.tileSize = params.tileSize;
    this.tilesAcross = Math.ceil(params.width / params.tileSize);
    this.tilesDown = Math.ceil(params.height / params.tileSize);
    this.corners = quantiseCorners(this, params.seed, params.tissueFraction);
    this.densityClasses = classifyDensity(this, params.seed);
  }

  /** The quantised corner value at grid corner (i, j); corners outside the grid are background. */
  private corner(i: number, j: number): number {
    if (i < 0 || j < 0 || i > this.tilesAcross || j > this.tilesDown) return CORNER_LEVELS[0];
    return CORNER_LEVELS[this.corners[j * (this.tilesAcross + 1) + i]];
  }

  /** 8-bit code of a tile's four corners: what a border tile looks like, independent of its position. */
  cornerCode(tx: number, ty: number): number {
    const row = this.tilesAcross + 1;
    const c = this.corners;
    return c[ty * row + tx] | (c[ty * row + tx + 1] << 2) | (c[(ty + 1) * row + tx] << 4) | (c[(ty + 1) * row + tx + 1] << 6);
  }

  tileKind(tx: number, ty: number): TileKind {
    if (tx < 0 || ty < 0 || tx >= this.tilesAcross || ty >= this.tilesDown) return TileKind.Background;
    const a = this.corner(tx, ty);
    const b = this.corner(tx + 1, ty);
    const c = this.corner(tx, ty + 1);
    const d = this.corner(tx + 1, ty + 1);
    if (a > 0 && b > 0 && c > 0 && d > 0) return TileKind.Tissue;
    if (a < 0 && b < 0 && c < 0 && d < 0) return TileKind.Background;
    return TileKind.Border;
  }

  /** Density class of a tissue tile (border tiles use BORDER_DENSITY_CLASS). */
  densityClass(tx: number, ty: number): number {
    if (this.tileKind(tx, ty) === TileKind.Border) return BORDER_DENSITY_CLASS;
    return this.densityClasses[ty * this.tilesAcross + tx];
  }

  /** Nuclear area fraction of a level-0 tile's tissue. */
  private nuclearFractionOfTile(tx: number, ty: number): number {
    if (tx < 0 || ty < 0 || tx >= this.tilesAcross || ty >= this.tilesDown) return NUCLEAR_FRACTIONS[0];
    return NUCLEAR_FRACTIONS[this.densityClass(tx, ty)];
  }

  /**
   * What to paint for a region whose pixel (0, 0) starts at level-0 (originX, originY), each output pixel
   * covering scaleX x scaleY level-0 pixels; sampled at pixel centres, as OpenSlide maps levels.
   */
  regionSource(originX: number, originY: number, scaleX: number, scaleY: number): PaintSource {
    return (width, height) => {
      const tissue = new Uint8Array(width * height);
      const nuclearFraction = new Float64Array(width * height);
      const columns = new Int32Array(width);
      const columnFractions = new Float64Array(width);
      for (let x = 0; x < width; x++) {
        const gx = (originX + (x + 0.5) * scaleX) / this.tileSize;
        columns[x] = Math.floor(gx);
        columnFractions[x] = gx - columns[x];
      }
      for (let y = 0; y < height; y++) {
        const gy = (originY + (y + 0.5) * scaleY) / this.tileSize;
        const j = Math.floor(gy);
        const fy = gy - j;
        // Consecutive pixels mostly share a level-0 tile: look its corners up once per tile.
        let i = Number.NaN;
        let a = 0, b = 0, c = 0, d = 0, fraction = 0;
        for (let x = 0; x < width; x++) {
          if (columns[x] !== i) {
            i = columns[x];
            a = this.corner(i, j);
            b = this.corner(i + 1, j);
            c = this.corner(i, j + 1);
            d = this.corner(i + 1, j + 1);
            fraction = this.nuclearFractionOfTile(i, j);
          }
          const p = y * width + x;
          tissue[p] = bilinearCorners(a, b, c, d, columnFractions[x], fy) > 0 ? 1 : 0;
          nuclearFraction[p] = fraction;
        }
      }
      return { tissue, nuclearFraction };
    };
  }
}

/** Signed tissue value inside a tile whose corners are (top-left, top-right, bottom-left, bottom-right). */
export function bilinearCorners(a: number, b: number, c: number, d: number, fx: number, fy: number): number {
  const top = a + (b - a) * fx;
  const bottom = c + (d - c) * fx;
  return top + (bottom - top) * fy;
}

/** The corner values encoded by TissueField.cornerCode, in the order bilinearCorners takes them. */
export function decodeCornerCode(code: number): [number, number, number, number] {
  return [CORNER_LEVELS[code & 3], CORNER_LEVELS[(code >> 2) & 3], CORNER_LEVELS[(code >> 4) & 3], CORNER_LEVELS[(code >> 6) & 3]];
}

/**
 * The raw field at a level-0 position: fractal noise over the slide (isotropic, about four islands
 * across the long side) pushed down near the slide border so tissue stays on the glass, as in real scans.
 */
function rawField(seed: number, x: number, y: number, width: number, height: number): number {
  const long = Math.max(width, height);
  const value = fractalNoise(seed, (x / long) * 3.5, (y / long) * 3.5, 3);
  const margin = 0.08 * Math.min(width, height);
  const distance = Math.min(x, y, width - x, height - y);
  return distance < margin ? value - 0.6 * (1 - Math.max(0, distance) / margin) : value;
}

function quantiseCorners(field: TissueField, seed: number, tissueFraction: number): Uint8Array {
  const across = field.tilesAcross + 1;
  const down = field.tilesDown + 1;
  const raw = new Float64Array(across * down);
  for (let j = 0; j < down; j++) {
    for (let i = 0; i < across; i++) {
      const x = Math.min(i * field.tileSize, field.width);
      const y = Math.min(j * field.tileSize, field.height);
      raw[j * across + i] = rawField(seed, x, y, field.width, field.height);
    }
  }
  const threshold = quantileThreshold(raw, tissueFraction);
  // The field's typical change over one tile: corners closer than that to the threshold get the ±1
  // levels, so the boundary position inside a tile follows the field instead of always bisecting it.
  const steps: number[] = [];
  for (let j = 0; j < down; j++) {
    for (let i = 0; i + 1 < across; i++) steps.push(Math.abs(raw[j * across + i + 1] - raw[j * across + i]));
  }
  steps.sort((p, q) => p - q);
  const near = steps.length > 0 ? steps[steps.length >> 1] : 0;
  const corners = new Uint8Array(raw.length);
  for (let k = 0; k < raw.length; k++) {
    const g = raw[k] - threshold;
    corners[k] = g > 0 ? (g < near ? 2 : 3) : g > -near ? 1 : 0;
  }
  return corners;
}

/** The field value above which `fraction` of the samples lie (+Infinity for no tissue at all). */
function quantileThreshold(samples: Float64Array, fraction: number): number {
  if (fraction <= 0) return Number.POSITIVE_INFINITY;
  if (fraction >= 1) return Number.NEGATIVE_INFINITY;
  const sorted = Float64Array.from(samples).sort();
  const index = Math.min(sorted.length - 1, Math.floor((1 - fraction) * sorted.length));
  // Strictly above the threshold counts as tissue, so step just below the quantile sample.
  return index === 0 ? Number.NEGATIVE_INFINITY : (sorted[index - 1] + sorted[index]) / 2;
}

/** Density classes of equal count over the slide, so both sparse and cellular regions always exist. */
function classifyDensity(field: TissueField, seed: number): Uint8Array {
  const count = field.tilesAcross * field.tilesDown;
  const long = Math.max(field.width, field.height);
  const densitySeed = hash32(seed, 0x64656e73);
  const values = new Float64Array(count);
  for (let ty = 0; ty < field.tilesDown; ty++) {
    for (let tx = 0; tx < field.tilesAcross; tx++) {
      const u = ((tx + 0.5) * field.tileSize) / long;
      const v = ((ty + 0.5) * field.tileSize) / long;
      values[ty * field.tilesAcross + tx] = fractalNoise(densitySeed, u * 3, v * 3, 2);
    }
  }
  const sorted = Float64Array.from(values).sort();
  const bounds = Array.from({ length: DENSITY_CLASS_COUNT - 1 }, (_, k) => sorted[Math.floor(((k + 1) * count) / DENSITY_CLASS_COUNT)]);
  const classes = new Uint8Array(count);
  for (let k = 0; k < count; k++) {
    let cls = 0;
    while (cls < bounds.length && values[k] >= bounds[cls]) cls++;
    classes[k] = cls;
  }
  return classes;
}

/**
 * The tissue mask at a downsample: one byte per output pixel (1 = tissue), sampled at pixel centres,
 * the same function every level is rendered from. Cheap: no pixels are painted.
 */
export function tissueMask(field: TissueField, downsample: number): { width: number; height: number; data: Uint8Array } {
  const width = Math.max(1, Math.ceil(field.width / downsample));
  const height = Math.max(1, Math.ceil(field.height / downsample));
  return { width, height, data: field.regionSource(0, 0, downsample, downsample)(width, height).tissue };
}
