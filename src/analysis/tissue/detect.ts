import type { RgbImage } from '../../slide/types.ts';
import { inkLikelihoodMap, NOT_INK, saturationAndGrey, SURE_INK } from './channels.ts';
import { TissueError } from './errors.ts';
import { medianFilteredHistogram, medianWhere, otsuThreshold } from './filters.ts';
import { maskFromData, type TissueMask } from './mask.ts';
import { close, dilate, fillSmallHoles, majority, open, removeSmallObjects } from './morphology.ts';
import { resolveTissueOptions, type ResolvedTissueOptions, type TissueDetectorOptions } from './options.ts';

/** Rows sampled for the saturation histogram: enough for a stable threshold, few enough to be cheap. */
const THRESHOLD_SAMPLE_ROWS = 256;

/**
 * Red ink is at least this much more saturated (0..1) than the slide's median tissue: a strongly stained
 * slide has eosin as saturated as a faint slide's ink.
 */
const RED_INK_SATURATION_MARGIN = 0.25;

/** Marker strokes are streaky at thumbnail scale: gaps up to this wide between ink streaks are bridged. */
const STREAK_GAP_PIXELS = 3;

function assertValidImage(image: RgbImage): void {
  const { width, height, channels, data } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new TissueError('INVALID_IMAGE', `tissue detection needs a non-empty image, got ${width}x${height}`);
  }
  if (channels !== 3) throw new TissueError('INVALID_IMAGE', `tissue detection needs 3-channel RGB, got ${channels} channels`);
  if (data.length !== width * height * 3) {
    throw new TissueError('INVALID_IMAGE', `RGB image of ${width}x${height} has ${data.length} bytes, expected ${width * height * 3}`);
  }
}

/** The saturation cut: the fixed one if asked for, else Otsu's on the median-filtered saturation, clamped. */
function saturationCut(saturation: Uint8Array, width: number, height: number, options: ResolvedTissueOptions): number {
  if (options.saturationThreshold !== null) return options.saturationThreshold;
  const rowStride = Math.max(1, Math.floor(height / THRESHOLD_SAMPLE_ROWS));
  const otsu = otsuThreshold(medianFilteredHistogram(saturation, width, height, options.medianKernel, rowStride));
  const [low, high] = options.saturationThresholdRange;
  return Math.min(high, Math.max(low, otsu));
}

/**
 * Pen strokes as a mask. Sure-ink pixels, closed across the gaps between a stroke's streaks, make the
 * stroke cores; regions smaller than a stroke are dropped (a few bright red blood cells). Maybe-ink
 * pixels (the pale parts of a stroke) count within a few pixels of a core only: eosin can be maybe-ink
 * over whole regions, and a stroke crossing tissue must not take that tissue with it. The result is
 * grown by a margin that takes the stroke's faint rim too.
 */
function penMask(image: RgbImage, stainSaturation: number, options: ResolvedTissueOptions): Uint8Array {
  const { width, height } = image;
  const sureRedSaturation = Math.min(0.9, Math.max(0.5, stainSaturation / 255 + RED_INK_SATURATION_MARGIN));
  const likelihood = inkLikelihoodMap(image, sureRedSaturation);
  const sure = new Uint8Array(likelihood.length);
  for (let i = 0; i < likelihood.length; i++) sure[i] = likelihood[i] === SURE_INK ? 1 : 0;
  const cores = close(sure, width, height, STREAK_GAP_PIXELS);
  removeSmallObjects(cores, width, height, Math.max(options.minPenPixels, Math.ceil(options.minPenFraction * width * height)));
  const reach = dilate(cores, width, height, STREAK_GAP_PIXELS);
  const strokes = new Uint8Array(likelihood.length);
  for (let i = 0; i < likelihood.length; i++) strokes[i] = cores[i] | (reach[i] & (likelihood[i] === NOT_INK ? 0 : 1));
  return dilate(strokes, width, height, options.penMarginPixels);
}

/**
 * The classic tissue detector (CLAM's segmentTissue with HistoQC's light/dark and pen rules) on a
 * low-resolution RGB image: median-filtered HSV saturation above an Otsu cut, neither bright glass nor a
 * dark artefact; closed, opened, small holes filled, pen ink removed, small objects dropped.
 * Pixel-sized defaults suit thumbnails and low levels (a few um per pixel); on level-0 tiles, blurred
 * ink halos wider than the pen margin stay in. Pale fat and large lumens open to the glass are not
 * tissue; dark specks enclosed by tissue are filled back in as holes.
 */
export function detectTissue(image: RgbImage, options?: TissueDetectorOptions): TissueMask {
  assertValidImage(image);
  const o = resolveTissueOptions(options);
  const { width, height } = image;
  const area = width * height;
  const { saturation, grey } = saturationAndGrey(image);
  const cut = saturationCut(saturation, width, height, o);
  // A pixel is a candidate when most of its median window is saturated, neither bright nor dark: the
  // median filter and threshold of CLAM as one majority vote, which costs a few running sums.
  const plausible = new Uint8Array(area);
  const { brightGrey, darkGrey } = o;
  for (let i = 0; i < area; i++) plausible[i] = saturation[i] > cut && grey[i] < brightGrey && grey[i] >= darkGrey ? 1 : 0;
  const candidates = majority(plausible, width, height, o.medianKernel >> 1);

  const tissue = open(close(candidates, width, height, o.closeRadius), width, height, o.openRadius);
  fillSmallHoles(tissue, width, height, Math.ceil(o.maxHoleFraction * area));
  // Ink goes after hole filling so that a stroke enclosed by tissue cannot be filled back in.
  if (o.penFilter) {
    const pen = penMask(image, medianWhere(saturation, candidates), o);
    for (let i = 0; i < area; i++) if (pen[i]) tissue[i] = 0;
  }
  removeSmallObjects(tissue, width, height, Math.max(o.minObjectPixels, Math.ceil(o.minObjectFraction * area)));
  return maskFromData(width, height, tissue);
}
