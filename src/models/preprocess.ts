/**
 * From RGB patches (what sharp hands out: interleaved 8-bit RGB, row-major) to a model's input tensor, following
 * the manifest's channel order, scaling and layout. Stain normalisation is not applied here: patches are expected
 * to be normalised already when the manifest asks for it.
 */
import { ModelBundleError } from './errors.ts';
import type { ManifestInput } from './manifest.ts';

export type InputTensorData = Float32Array | Uint8Array;

/** The tensor shape a batch of n patches takes, e.g. [n, 3, 224, 224] for NCHW. */
export function inputShape(input: ManifestInput, n: number): number[] {
  const { width, height } = input.size;
  return input.layout === 'NCHW' ? [n, 3, height, width] : [n, height, width, 3];
}

/** Values per patch in the input tensor. */
export function inputValuesPerPatch(input: ManifestInput): number {
  return input.size.width * input.size.height * 3;
}

/**
 * n interleaved RGB patches as the model's input tensor; written into `reuse` when it is a buffer of the
 * right type and length (a recycled batch), else into a new one.
 */
export function rgbToInputTensor(input: ManifestInput, rgb: Uint8Array, n: number, reuse?: InputTensorData): InputTensorData {
  const plane = input.size.width * input.size.height;
  const perPatch = plane * 3;
  if (!Number.isInteger(n) || n < 1 || rgb.length !== n * perPatch) {
    throw new ModelBundleError(
      'INPUT_INVALID',
      `expected ${n} RGB patch(es) of ${input.size.width}x${input.size.height} (${n * perPatch} bytes), got ${rgb.length} bytes`,
    );
  }
  // Model channel c reads source channel from[c] (BGR models read blue first).
  const from = input.channelOrder === 'RGB' ? [0, 1, 2] : [2, 1, 0];
  const channelStride = input.layout === 'NCHW' ? plane : 1;
  const pixelStride = input.layout === 'NCHW' ? 1 : 3;
  // Each channel's scaling as a table of its 256 values (uint8 inputs have no scaling: identity), and
  // one pass per patch that reads each pixel once: this runs on every patch of every slide.
  const scaling = input.dtype === 'uint8' ? undefined : input.scaling;
  const scale = scaling?.scale ?? 1;
  const mean = scaling?.mean ?? [0, 0, 0];
  const std = scaling?.std ?? [1, 1, 1];
  const ArrayType = input.dtype === 'uint8' ? Uint8Array : Float32Array;
  // Every value is written below, so a recycled buffer needs no clearing.
  const out = reuse instanceof ArrayType && reuse.length === n * perPatch ? reuse : new ArrayType(n * perPatch);
  const tables = [0, 1, 2].map((c) => {
    const table = new ArrayType(256);
    for (let v = 0; v < 256; v++) table[v] = (v * scale - mean[c]) / std[c];
    return table;
  });
  for (let b = 0; b < n; b++) scatterPatch(rgb, out, b * perPatch, plane, from, channelStride, pixelStride, tables);
  return out;
}

/** One patch from interleaved RGB to the model's layout through the channel tables, in one pass. */
function scatterPatch(rgb: Uint8Array, out: InputTensorData, base: number, plane: number, from: number[], channelStride: number, pixelStride: number, tables: InputTensorData[]): void {
  const [t0, t1, t2] = tables;
  const [f0, f1, f2] = from;
  const c2 = 2 * channelStride;
  for (let p = 0, src = base, dst = base; p < plane; p++, src += 3, dst += pixelStride) {
    out[dst] = t0[rgb[src + f0]];
    out[dst + channelStride] = t1[rgb[src + f1]];
    out[dst + c2] = t2[rgb[src + f2]];
  }
}
