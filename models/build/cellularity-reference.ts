/**
 * The cellularity model's definition in plain arithmetic: constants shared with the ONNX graph, a float64
 * reference implementation (the self-test expectations come from here, not from onnxruntime, so the vectors
 * check the encoded graph against an independent computation), and synthetic H&E patches for the vectors.
 */

/**
 * Ruifrok & Johnston's optical-density vectors (RGB) for hematoxylin, eosin and DAB, one per row
 * ("Quantification of histochemical staining by color deconvolution", Anal Quant Cytol Histol 2001).
 */
export const STAIN_VECTORS: readonly (readonly [number, number, number])[] = [
  [0.65, 0.7, 0.29],
  [0.07, 0.99, 0.11],
  [0.27, 0.57, 0.78],
];

/** A pixel counts as nuclear when its hematoxylin optical density (natural log) exceeds this. */
export const NUCLEAR_H_OD = 0.5;
/** cellularity = 1 - exp(-nuclearFraction / SATURATION): a patch a quarter nuclear scores 0.63. */
export const SATURATION_FRACTION = 0.25;
export const PATCH_SIZE = 224;
export const PATCH_MPP = 0.5;

function invert3x3(m: readonly (readonly number[])[]): number[][] {
  const [[a, b, c], [d, e, f], [g, h, i]] = m;
  const cofactors = [
    [e * i - f * h, -(d * i - f * g), d * h - e * g],
    [-(b * i - c * h), a * i - c * g, -(a * h - b * g)],
    [b * f - c * e, -(a * f - c * d), a * e - b * d],
  ];
  const det = a * cofactors[0][0] + b * cofactors[0][1] + c * cofactors[0][2];
  // inverse = transpose(cofactors) / det
  return [0, 1, 2].map((r) => [0, 1, 2].map((col) => cofactors[col][r] / det));
}

/** stains (H, E, DAB) = od (R, G, B) x DECONVOLUTION, with od as a row vector. */
export const DECONVOLUTION: readonly (readonly number[])[] = invert3x3(STAIN_VECTORS);

export function opticalDensity(pixel: number): number {
  const clipped = Math.min(255, Math.max(0, pixel));
  return -Math.log((clipped + 1) / 256);
}

export function hematoxylinOD(r: number, g: number, b: number): number {
  return opticalDensity(r) * DECONVOLUTION[0][0] + opticalDensity(g) * DECONVOLUTION[1][0] + opticalDensity(b) * DECONVOLUTION[2][0];
}

export function cellularityFromFraction(nuclearFraction: number): number {
  return 1 - Math.exp(-nuclearFraction / SATURATION_FRACTION);
}

/** Reference cellularity of n NCHW RGB patches with values 0..255. */
export function referenceCellularity(nchw: ArrayLike<number>, n: number, size: number = PATCH_SIZE): number[] {
  const plane = size * size;
  const scores: number[] = [];
  for (let b = 0; b < n; b++) {
    const base = b * 3 * plane;
    let nuclear = 0;
    for (let p = 0; p < plane; p++) {
      if (hematoxylinOD(nchw[base + p], nchw[base + plane + p], nchw[base + 2 * plane + p]) > NUCLEAR_H_OD) nuclear++;
    }
    scores.push(cellularityFromFraction(nuclear / plane));
  }
  return scores;
}

/** Deterministic pseudo-random numbers (mulberry32), so the generated vectors are the same on every build. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface SyntheticPatchSpec {
  seed: number;
  nuclei: number;
  radius: number;
  /** Eosin concentration of the background (stroma / cytoplasm). */
  eosin: number;
}

/**
 * An H&E-like patch made by Beer-Lambert mixing of the stain vectors: round hematoxylin-dense nuclei on an
 * eosin background, with some texture. Interleaved 8-bit RGB, PATCH_SIZE square.
 */
export function syntheticPatch(spec: SyntheticPatchSpec): Uint8Array {
  const next = random(spec.seed);
  const h = new Float64Array(PATCH_SIZE * PATCH_SIZE);
  const e = new Float64Array(PATCH_SIZE * PATCH_SIZE);
  for (let p = 0; p < h.length; p++) {
    h[p] = 0.05 * next();
    e[p] = spec.eosin * (0.85 + 0.3 * next());
  }
  for (let k = 0; k < spec.nuclei; k++) {
    const cx = next() * PATCH_SIZE;
    const cy = next() * PATCH_SIZE;
    const r = spec.radius * (0.75 + 0.5 * next());
    for (let y = Math.max(0, Math.floor(cy - r)); y < Math.min(PATCH_SIZE, Math.ceil(cy + r)); y++) {
      for (let x = Math.max(0, Math.floor(cx - r)); x < Math.min(PATCH_SIZE, Math.ceil(cx + r)); x++) {
        if ((x - cx) ** 2 + (y - cy) ** 2 > r * r) continue;
        h[y * PATCH_SIZE + x] = 1.0 + 0.3 * next();
        e[y * PATCH_SIZE + x] = 0.15;
      }
    }
  }
  const rgb = new Uint8Array(PATCH_SIZE * PATCH_SIZE * 3);
  for (let p = 0; p < h.length; p++) {
    for (let c = 0; c < 3; c++) {
      const od = h[p] * STAIN_VECTORS[0][c] + e[p] * STAIN_VECTORS[1][c];
      rgb[p * 3 + c] = Math.min(255, Math.max(0, Math.round(256 * Math.exp(-od) - 1)));
    }
  }
  return rgb;
}

/**
 * Hematoxylin rising linearly from 0 (left) to maxH (right) over a constant eosin background: the fraction of
 * nuclear pixels then measures where the model puts the threshold, so it checks H calibration, not only sides.
 */
export function hematoxylinRamp(maxH: number, eosin: number): Uint8Array {
  const rgb = new Uint8Array(PATCH_SIZE * PATCH_SIZE * 3);
  for (let y = 0; y < PATCH_SIZE; y++) {
    for (let x = 0; x < PATCH_SIZE; x++) {
      const h = (maxH * x) / (PATCH_SIZE - 1);
      for (let c = 0; c < 3; c++) {
        const od = h * STAIN_VECTORS[0][c] + eosin * STAIN_VECTORS[1][c];
        rgb[(y * PATCH_SIZE + x) * 3 + c] = Math.min(255, Math.max(0, Math.round(256 * Math.exp(-od) - 1)));
      }
    }
  }
  return rgb;
}

/** Interleaved RGB (HWC) to planar NCHW, one patch. */
export function interleavedToPlanar(rgb: Uint8Array, size: number = PATCH_SIZE): Uint8Array {
  const plane = size * size;
  const out = new Uint8Array(3 * plane);
  for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) out[c * plane + p] = rgb[p * 3 + c];
  return out;
}

/** Smallest |H-OD - threshold| over a patch: vectors keep away from the threshold so rounding cannot flip a pixel. */
export function thresholdMargin(rgb: Uint8Array): number {
  let margin = Infinity;
  for (let p = 0; p < rgb.length; p += 3) {
    margin = Math.min(margin, Math.abs(hematoxylinOD(rgb[p], rgb[p + 1], rgb[p + 2]) - NUCLEAR_H_OD));
  }
  return margin;
}
