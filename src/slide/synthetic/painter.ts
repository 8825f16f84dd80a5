/**
 * Paints H&E-like pixels: eosin-pink stroma with fibre texture, hematoxylin-purple nuclei, and a near-white
 * background with slight noise. Where a nucleus would be smaller than a pixel (low levels, thumbnails)
 * the stroma is blended with the mean nuclear colour by the local nuclear fraction instead, so the mean
 * colour of a region is about the same at every level.
 */
import { LatticeTexture, Rng } from './random.ts';

/** What is where in a region being painted, per output pixel, row-major. */
export interface RegionContent {
  /** 1 where the pixel is tissue. */
  tissue: Uint8Array;
  /** Fraction of the tissue area covered by nuclei around each pixel (0..1), or one value for all. */
  nuclearFraction: Float64Array | number;
}

/** Computes a region's content at a pixel size, in one call rather than per pixel (a hot path). */
export type PaintSource = (width: number, height: number) => RegionContent;

export interface PaintRequest {
  width: number;
  height: number;
  /** Microns per output pixel (level-0 MPP times the level's downsample). */
  micronsPerPixel: number;
  source: PaintSource;
  seed: number;
}

type Rgb = readonly [number, number, number];

const BACKGROUND: Rgb = [242, 241, 239];
const STROMA_LIGHT: Rgb = [240, 182, 212];
const STROMA_DENSE: Rgb = [214, 128, 178];
const NUCLEUS_CORE: Rgb = [78, 48, 132];
const NUCLEUS_RIM: Rgb = [122, 82, 166];
const NUCLEUS_MEAN: Rgb = [98, 64, 148];
/** Nuclear semi-axes in microns (a lymphocyte to an enlarged tumour nucleus). */
const NUCLEUS_MICRONS = { min: 2.8, max: 5.2 } as const;
const MEAN_NUCLEUS_AREA = Math.PI * 4 * 3.2;
/** Below this radius in pixels nuclei are blended, not drawn. */
const SMALLEST_DRAWN_RADIUS = 1.5;
/** Highest nuclear fraction a region may ask for: nucleus candidates are drawn at this density, then thinned. */
const MAX_NUCLEAR_FRACTION = 0.4;

/** Interleaved RGB pixels of the region, deterministic for a given request. */
export function paintRegion(request: PaintRequest): Buffer {
  const { width, height, micronsPerPixel } = request;
  const { tissue, nuclearFraction } = request.source(width, height);
  const rng = new Rng(request.seed);
  const pixels = Buffer.allocUnsafe(width * height * 3);
  // A clamped view rounds and saturates on assignment, so colour arithmetic needs no clamping calls.
  const out = new Uint8ClampedArray(pixels.buffer, pixels.byteOffset, pixels.length);
  // Stroma tone: fibre-scale and staining-scale unevenness, sized in microns so levels look alike.
  const tone = new Float32Array(width * height);
  new LatticeTexture(rng, width, height, 6 / micronsPerPixel).addTo(tone, 0.65);
  new LatticeTexture(rng, width, height, 60 / micronsPerPixel).addTo(tone, 0.35);
  const blendNuclei = NUCLEUS_MICRONS.min / micronsPerPixel < SMALLEST_DRAWN_RADIUS;
  for (let p = 0; p < width * height; p++) {
    const o = p * 3;
    if (!tissue[p]) {
      const grain = (rng.next() - 0.5) * 5;
      out[o] = BACKGROUND[0] + grain;
      out[o + 1] = BACKGROUND[1] + grain;
      out[o + 2] = BACKGROUND[2] + grain;
      continue;
    }
    const t = tone[p];
    const nuclear = !blendNuclei ? 0 : typeof nuclearFraction === 'number' ? nuclearFraction : nuclearFraction[p];
    const grain = (rng.next() - 0.5) * 10;
    const r = STROMA_LIGHT[0] + (STROMA_DENSE[0] - STROMA_LIGHT[0]) * t;
    const g = STROMA_LIGHT[1] + (STROMA_DENSE[1] - STROMA_LIGHT[1]) * t;
    const b = STROMA_LIGHT[2] + (STROMA_DENSE[2] - STROMA_LIGHT[2]) * t;
    out[o] = r + (NUCLEUS_MEAN[0] - r) * nuclear + grain;
    out[o + 1] = g + (NUCLEUS_MEAN[1] - g) * nuclear + grain;
    out[o + 2] = b + (NUCLEUS_MEAN[2] - b) * nuclear + grain;
  }
  if (!blendNuclei) drawNuclei(out, tissue, nuclearFraction, request, rng);
  return pixels;
}

/**
 * Scatters nuclei by thinning: candidates are drawn at the highest density and each is kept with
 * probability local fraction / highest fraction, so density can vary inside one region.
 */
function drawNuclei(out: Uint8ClampedArray, isTissue: Uint8Array, nuclearFraction: Float64Array | number, request: PaintRequest, rng: Rng): void {
  const { width, height, micronsPerPixel } = request;
  const pad = NUCLEUS_MICRONS.max / micronsPerPixel;
  const areaMicrons = (width + 2 * pad) * (height + 2 * pad) * micronsPerPixel * micronsPerPixel;
  const candidates = Math.round((MAX_NUCLEAR_FRACTION * areaMicrons) / MEAN_NUCLEUS_AREA);
  for (let n = 0; n < candidates; n++) {
    const cx = rng.range(-pad, width + pad);
    const cy = rng.range(-pad, height + pad);
    const semiMajor = rng.range(NUCLEUS_MICRONS.min, NUCLEUS_MICRONS.max) / micronsPerPixel;
    const semiMinor = semiMajor * rng.range(0.6, 0.95);
    const angle = rng.range(0, Math.PI);
    const keep = rng.next();
    const sx = Math.min(width - 1, Math.max(0, Math.floor(cx)));
    const sy = Math.min(height - 1, Math.max(0, Math.floor(cy)));
    const p = sy * width + sx;
    const fraction = typeof nuclearFraction === 'number' ? nuclearFraction : nuclearFraction[p];
    if (!isTissue[p] || keep * MAX_NUCLEAR_FRACTION >= fraction) continue;
    drawNucleus(out, isTissue, width, height, rng, cx, cy, semiMajor, semiMinor, angle);
  }
}

function drawNucleus(
  out: Uint8ClampedArray,
  isTissue: Uint8Array,
  width: number,
  height: number,
  rng: Rng,
  cx: number,
  cy: number,
  semiMajor: number,
  semiMinor: number,
  angle: number,
): void {
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  const x0 = Math.max(0, Math.floor(cx - semiMajor));
  const x1 = Math.min(width - 1, Math.ceil(cx + semiMajor));
  const y0 = Math.max(0, Math.floor(cy - semiMajor));
  const y1 = Math.min(height - 1, Math.ceil(cy + semiMajor));
  const darkness = rng.range(-18, 18);
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const dx = x + 0.5 - cx;
      const dy = y + 0.5 - cy;
      const u = (dx * cos + dy * sin) / semiMajor;
      const v = (dy * cos - dx * sin) / semiMinor;
      const r2 = u * u + v * v;
      if (r2 >= 1 || !isTissue[y * width + x]) continue;
      // Soft rim so nuclei are not cut-out discs; chromatin speckle inside.
      const alpha = r2 < 0.7 ? 0.95 : 0.95 * (1 - (r2 - 0.7) / 0.3);
      const chromatin = (rng.next() - 0.5) * 30 + darkness;
      const o = (y * width + x) * 3;
      for (let c = 0; c < 3; c++) {
        const nucleus = NUCLEUS_CORE[c] + (NUCLEUS_RIM[c] - NUCLEUS_CORE[c]) * r2 + chromatin;
        out[o + c] = out[o + c] + (nucleus - out[o + c]) * alpha;
      }
    }
  }
}

/** A region that is all tissue at one nuclear fraction (pool tiles). */
export function uniformTissue(nuclearFraction: number): PaintSource {
  return (width, height) => ({ tissue: new Uint8Array(width * height).fill(1), nuclearFraction });
}

/** A region with no tissue. */
export const NO_TISSUE: PaintSource = (width, height) => ({ tissue: new Uint8Array(width * height), nuclearFraction: 0 });
