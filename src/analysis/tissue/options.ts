import { TissueError } from './errors.ts';

/**
 * Knobs of the classic detector. Pixel-valued options are at the resolution of the image handed in
 * (a low-resolution slide level or thumbnail, typically 1-10 um per pixel); area options are fractions of
 * the image so the same defaults hold for a 500-px and a 4000-px thumbnail.
 */
export interface TissueDetectorOptions {
  /** Side of the median filter over saturation and grey level, in pixels (odd). CLAM uses 7. */
  medianKernel?: number;
  /**
   * Otsu's threshold on the blurred saturation (0-255) is clamped into [low, high]: the floor keeps
   * glass noise out when there is no tissue at all, the ceiling keeps pale tissue in when there is no
   * glass at all (Otsu then splits tissue from tissue).
   */
  saturationThresholdRange?: readonly [number, number];
  /** A fixed saturation threshold (0-255) instead of Otsu's, as CLAM's `sthresh` without `use_otsu`. */
  saturationThreshold?: number;
  /** Blurred grey level (0-255) from which a pixel counts as bright background whatever its colour. */
  brightGrey?: number;
  /** Blurred grey level (0-255) below which a pixel is a dark artefact (dirt, coverslip edge, ink). */
  darkGrey?: number;
  /** Radius in pixels of the square closing that joins tissue split by pale gaps (0: none). */
  closeRadius?: number;
  /** Radius in pixels of the square opening that removes threads and specks (0: none). */
  openRadius?: number;
  /** Holes smaller than this fraction of the image are filled (lumens, fat cells); larger ones stay. */
  maxHoleFraction?: number;
  /** Objects smaller than max(minObjectFraction x image area, minObjectPixels) are dropped. */
  minObjectFraction?: number;
  minObjectPixels?: number;
  /** Remove red, green, blue and black marker ink from the mask (HistoQC's pen_markings). */
  penFilter?: boolean;
  /** Ink regions are grown by this many pixels so the faint rim of a stroke goes with it. */
  penMarginPixels?: number;
  /**
   * Ink-coloured regions smaller than max(minPenFraction x image area, minPenPixels) are not ink: small
   * clusters of red blood cells have the colour of red ink, pen strokes are long and wide.
   */
  minPenFraction?: number;
  /** Floor of the stroke size in pixels, for small images where the fraction is a pixel or two. */
  minPenPixels?: number;
}

export type ResolvedTissueOptions = Required<Omit<TissueDetectorOptions, 'saturationThreshold'>> & {
  saturationThreshold: number | null;
};

export const DEFAULT_TISSUE_OPTIONS: ResolvedTissueOptions = {
  medianKernel: 7,
  // Around CLAM's fixed sthresh of 20: glass sits below 15 once median-filtered, pale IHC tissue
  // (haematoxylin-only kidney) at 25-50, H&E well above.
  saturationThresholdRange: [15, 30],
  saturationThreshold: null,
  brightGrey: 235,
  // HistoQC's dark-tissue cut (0.15 of full scale): coverslip edges, dirt, black ink.
  darkGrey: 40,
  closeRadius: 2,
  openRadius: 2,
  maxHoleFraction: 0.01,
  minObjectFraction: 0.0005,
  minObjectPixels: 16,
  penFilter: true,
  penMarginPixels: 2,
  minPenFraction: 0.0002,
  minPenPixels: 64,
};

function check(ok: boolean, name: string, rule: string, value: unknown): void {
  if (!ok) throw new TissueError('INVALID_OPTIONS', `tissue option ${name} must be ${rule}, got ${JSON.stringify(value)}`);
}

const isInt = (v: number, min: number, max: number): boolean => Number.isInteger(v) && v >= min && v <= max;
const isFraction = (v: number): boolean => Number.isFinite(v) && v >= 0 && v <= 1;

export function resolveTissueOptions(options: TissueDetectorOptions = {}): ResolvedTissueOptions {
  const o: ResolvedTissueOptions = { ...DEFAULT_TISSUE_OPTIONS };
  for (const [key, value] of Object.entries(options)) {
    // A misspelt option silently left at its default would change a medical result unnoticed.
    if (!Object.hasOwn(DEFAULT_TISSUE_OPTIONS, key)) throw new TissueError('INVALID_OPTIONS', `unknown tissue option ${JSON.stringify(key)}`);
    if (value !== undefined) (o as Record<string, unknown>)[key] = value;
  }
  check(isInt(o.medianKernel, 1, 255) && o.medianKernel % 2 === 1, 'medianKernel', 'an odd integer in 1..255', o.medianKernel);
  const range = o.saturationThresholdRange;
  const [low, high] = Array.isArray(range) && range.length === 2 ? range : [NaN, NaN];
  check(isInt(low, 0, 255) && isInt(high, low, 255), 'saturationThresholdRange', 'integers 0 <= low <= high <= 255', o.saturationThresholdRange);
  check(o.saturationThreshold === null || isInt(o.saturationThreshold, 0, 255), 'saturationThreshold', 'an integer in 0..255', o.saturationThreshold);
  check(isInt(o.brightGrey, 1, 256), 'brightGrey', 'an integer in 1..256', o.brightGrey);
  check(isInt(o.darkGrey, 0, o.brightGrey - 1), 'darkGrey', `an integer in 0..${o.brightGrey - 1} (below brightGrey)`, o.darkGrey);
  check(isInt(o.closeRadius, 0, 64), 'closeRadius', 'an integer in 0..64', o.closeRadius);
  check(isInt(o.openRadius, 0, 64), 'openRadius', 'an integer in 0..64', o.openRadius);
  check(isFraction(o.maxHoleFraction), 'maxHoleFraction', 'a fraction in 0..1', o.maxHoleFraction);
  check(isFraction(o.minObjectFraction), 'minObjectFraction', 'a fraction in 0..1', o.minObjectFraction);
  check(isInt(o.minObjectPixels, 0, Number.MAX_SAFE_INTEGER), 'minObjectPixels', 'a non-negative integer', o.minObjectPixels);
  check(typeof o.penFilter === 'boolean', 'penFilter', 'a boolean', o.penFilter);
  check(isInt(o.penMarginPixels, 0, 64), 'penMarginPixels', 'an integer in 0..64', o.penMarginPixels);
  check(isFraction(o.minPenFraction), 'minPenFraction', 'a fraction in 0..1', o.minPenFraction);
  check(isInt(o.minPenPixels, 0, Number.MAX_SAFE_INTEGER), 'minPenPixels', 'a non-negative integer', o.minPenPixels);
  return o;
}
