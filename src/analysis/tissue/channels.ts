import type { RgbImage } from '../../slide/types.ts';

/** SATURATION[max * 256 + delta] = round(255 * delta / max): a table lookup instead of a division per pixel. */
const SATURATION = new Uint8Array(256 * 256);
for (let max = 1; max < 256; max++) {
  for (let delta = 0; delta <= max; delta++) SATURATION[max * 256 + delta] = Math.round((255 * delta) / max);
}

/** HSV saturation (0-255, max-min over max as OpenCV computes it) and Rec.601 grey level of each pixel. */
export function saturationAndGrey(image: RgbImage): { saturation: Uint8Array; grey: Uint8Array } {
  const pixels = image.width * image.height;
  const saturation = new Uint8Array(pixels);
  const grey = new Uint8Array(pixels);
  const data = image.data;
  for (let i = 0, o = 0; i < pixels; i++, o += 3) {
    const r = data[o];
    const g = data[o + 1];
    const b = data[o + 2];
    const max = r > g ? (r > b ? r : b) : g > b ? g : b;
    const min = r < g ? (r < b ? r : b) : g < b ? g : b;
    saturation[i] = SATURATION[(max << 8) + max - min];
    grey[i] = (19595 * r + 38470 * g + 7471 * b + 32768) >> 16; // 0.299, 0.587, 0.114 in 16-bit fixed point
  }
  return { saturation, grey };
}

/** Hue in degrees [0, 360) of a pixel whose max and min channel differ. */
function hueDegrees(r: number, g: number, b: number, max: number, delta: number): number {
  if (max === r) return (((g - b) / delta) * 60 + 360) % 360;
  if (max === g) return ((b - r) / delta) * 60 + 120;
  return ((r - g) / delta) * 60 + 240;
}

/** How sure a pixel's colour says marker ink: not at all, possibly (a stroke's pale rim), or surely. */
export type InkLikelihood = 0 | 1 | 2;
export const NOT_INK = 0;
const MAYBE_INK = 1;
export const SURE_INK = 2;

/**
 * Marker-ink colours that H&E (hues 260-340 degrees, pink to purple) and IHC (brown, grey-blue) do not
 * make, as HistoQC's pen_markings classes: vivid red, saturated green to cyan, vivid blue.
 * Red is the hard one: eosin reaches 345 degrees, and red blood cells share ink's hue and saturation but
 * are darker. So sure red ink is bright and more saturated than this slide's stain
 * (`sureRedSaturation`, 0..1); paler red is only maybe-ink, which counts next to sure ink (see penMask).
 */
export function inkLikelihood(r: number, g: number, b: number, sureRedSaturation: number): InkLikelihood {
  const max = r > g ? (r > b ? r : b) : g > b ? g : b;
  const min = r < g ? (r < b ? r : b) : g < b ? g : b;
  const delta = max - min;
  if (max === 0 || delta === 0) return NOT_INK;
  const saturation = delta / max;
  if (saturation < 0.15) return NOT_INK;
  const hue = hueDegrees(r, g, b, max, delta);
  const value = max / 255;
  if (hue >= 335 || hue <= 20) {
    if ((hue >= 340 || hue <= 20) && saturation >= sureRedSaturation && value >= 0.6) return SURE_INK;
    return saturation >= 0.3 && value >= 0.5 ? MAYBE_INK : NOT_INK;
  }
  if (hue >= 70 && hue <= 200) return saturation >= 0.25 ? SURE_INK : MAYBE_INK;
  if (hue > 200 && hue <= 235) return saturation >= 0.45 ? SURE_INK : saturation >= 0.3 ? MAYBE_INK : NOT_INK;
  return NOT_INK;
}

/** Each pixel's InkLikelihood. */
export function inkLikelihoodMap(image: RgbImage, sureRedSaturation: number): Uint8Array {
  const pixels = image.width * image.height;
  const ink = new Uint8Array(pixels);
  const data = image.data;
  for (let i = 0, o = 0; i < pixels; i++, o += 3) ink[i] = inkLikelihood(data[o], data[o + 1], data[o + 2], sureRedSaturation);
  return ink;
}
