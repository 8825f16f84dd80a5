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

export function rgbToInputTensor(input: ManifestInput, rgb: Uint8Array, n: number): InputTensorData {
  const plane = input.size.width * input.size.height;
  const perPatch = plane * 3;
  if (!Number.isInteger(n) || n < 1 || rgb.length !== n * perPatch) {
    throw new ModelBundleError(
      'INPUT_INVALID',
      `expected ${n} RGB patch(es) of ${input.size.width}x${input.size.height} (${n * perPatch} bytes), got ${rgb.length} bytes`,
    );
  }
  const out = input.dtype === 'uint8' ? new Uint8Array(n * perPatch) : new Float32Array(n * perPatch);
  // Model channel c reads source channel sourceChannel[c] (BGR models read blue first).
  const sourceChannel = input.channelOrder === 'RGB' ? [0, 1, 2] : [2, 1, 0];
  const scale = input.scaling?.scale ?? 1;
  const mean = input.scaling?.mean ?? [0, 0, 0];
  const std = input.scaling?.std ?? [1, 1, 1];
  const channelStride = input.layout === 'NCHW' ? plane : 1;
  const pixelStride = input.layout === 'NCHW' ? 1 : 3;
  for (let b = 0; b < n; b++) {
    const base = b * perPatch;
    for (let c = 0; c < 3; c++) {
      const src = base + sourceChannel[c];
      const dst = base + c * channelStride;
      const m = mean[c];
      const s = std[c];
      // uint8 inputs have no scaling, so this writes the pixel unchanged.
      for (let p = 0; p < plane; p++) out[dst + p * pixelStride] = (rgb[src + p * 3] * scale - m) / s;
    }
  }
  return out;
}
