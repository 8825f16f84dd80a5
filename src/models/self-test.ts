/**
 * Self-test vectors: known inputs shipped in the bundle with the outputs the model must give, compared within an
 * absolute tolerance. Run at load time for every variant, so a model that computes something else is refused.
 */
import sharp from 'sharp';
import { readBundleFile } from './bundle-files.ts';
import { ModelBundleError } from './errors.ts';
import type { ModelManifest, SelfTestVector } from './manifest.ts';
import { type InputTensorData, rgbToInputTensor } from './preprocess.ts';
import { type ModelSession, runBatch } from './inference.ts';

export interface LoadedSelfTestVector {
  vector: SelfTestVector;
  input: InputTensorData;
  batch: number;
  expected: Map<string, Float32Array>;
}

export interface SelfTestResult {
  vector: string;
  variant: string;
  output: string;
  /** Largest |model - expected| over all values of the output. */
  maxAbsDiff: number;
  atol: number;
  values: number;
}

function invalid(vector: SelfTestVector, message: string): ModelBundleError {
  return new ModelBundleError('SELF_TEST_INVALID', `self-test "${vector.name}": ${message}`);
}

function float32FromBytes(bytes: Uint8Array): Float32Array {
  // Copy: a Buffer from readFile may start at an offset that is not a multiple of 4.
  const copy = new Uint8Array(bytes);
  return new Float32Array(copy.buffer, 0, copy.length / 4);
}

async function loadInput(dir: string, manifest: ModelManifest, vector: SelfTestVector): Promise<{ input: InputTensorData; batch: number }> {
  const spec = vector.input;
  const what = `self-test "${vector.name}" input`;
  const bytes = await readBundleFile(dir, spec.file, what);
  if (spec.format === 'png') {
    const { data, info } = await sharp(bytes).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
    const { width, height } = manifest.input.size;
    if (info.width !== width || info.height !== height || info.channels !== 3) {
      throw invalid(vector, `${spec.file} is ${info.width}x${info.height} with ${info.channels} channels; the model input is ${width}x${height} RGB`);
    }
    return { input: rgbToInputTensor(manifest.input, new Uint8Array(data), 1), batch: 1 };
  }
  const count = spec.shape.reduce((a, b) => a * b, 1);
  const bytesPerValue = spec.encoding === 'uint8' ? 1 : 4;
  if (bytes.length !== count * bytesPerValue) {
    throw invalid(vector, `${spec.file} has ${bytes.length} bytes; shape [${spec.shape.join(', ')}] of ${spec.encoding} needs ${count * bytesPerValue}`);
  }
  const batch = spec.shape[0];
  if (spec.encoding === 'float32-le') return { input: float32FromBytes(bytes), batch };
  // uint8 data for a float32 model is a compact way to store integer-valued floats (e.g. pixels 0..255).
  return { input: manifest.input.dtype === 'uint8' ? new Uint8Array(bytes) : Float32Array.from(bytes), batch };
}

export async function loadSelfTestVectors(dir: string, manifest: ModelManifest): Promise<LoadedSelfTestVector[]> {
  const loaded: LoadedSelfTestVector[] = [];
  for (const vector of manifest.selfTest.vectors) {
    const { input, batch } = await loadInput(dir, manifest, vector);
    const expected = new Map<string, Float32Array>();
    for (const e of vector.expected) {
      if (e.values) {
        expected.set(e.output, Float32Array.from(e.values));
        continue;
      }
      const bytes = await readBundleFile(dir, e.file ?? '', `self-test "${vector.name}" expected output`);
      if (bytes.length % 4 !== 0) throw invalid(vector, `${e.file} is not float32 data (${bytes.length} bytes)`);
      expected.set(e.output, float32FromBytes(bytes));
    }
    loaded.push({ vector, input, batch, expected });
  }
  return loaded;
}

function maxAbsDifference(actual: Float32Array, expected: Float32Array): { diff: number; index: number } {
  let diff = 0;
  let index = 0;
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    // NaN compares false with everything: treat it as an infinite difference.
    if (!(d <= diff)) {
      diff = Number.isNaN(d) ? Infinity : d;
      index = i;
    }
  }
  return { diff, index };
}

export async function runSelfTests(session: ModelSession, vectors: readonly LoadedSelfTestVector[]): Promise<SelfTestResult[]> {
  const variant = session.variant.name;
  const results: SelfTestResult[] = [];
  for (const { vector, input, batch, expected } of vectors) {
    const outputs = await runBatch(session, input, batch);
    const atol = vector.variantAtol?.[variant] ?? vector.atol;
    for (const [name, want] of expected) {
      const got = outputs[name].data;
      const where = `self-test "${vector.name}", variant "${variant}", output "${name}"`;
      if (got.length !== want.length) {
        throw new ModelBundleError('SELF_TEST_FAILED', `${where}: the model gave ${got.length} values, ${want.length} expected`);
      }
      const { diff, index } = maxAbsDifference(got, want);
      if (!(diff <= atol)) {
        throw new ModelBundleError(
          'SELF_TEST_FAILED',
          `${where}: value ${index} is ${got[index]}, expected ${want[index]} (difference ${diff} > tolerance ${atol})`,
        );
      }
      results.push({ vector: vector.name, variant, output: name, maxAbsDiff: diff, atol, values: got.length });
    }
  }
  return results;
}
