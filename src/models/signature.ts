/**
 * Does the ONNX graph take and give what the manifest says? Compared against onnxruntime's own view of the
 * model (session.inputNames / inputMetadata / outputMetadata), so a manifest cannot describe a different model.
 */
import type { InferenceSession } from 'onnxruntime-node';
import { ModelBundleError } from './errors.ts';
import type { ManifestOutput, ModelManifest } from './manifest.ts';
import { inputShape } from './preprocess.ts';

export type Dimension = number | string;

export interface ModelSignature {
  /** The model's input shape as onnxruntime reports it: numbers are fixed, strings are symbolic (dynamic). */
  inputShape: readonly Dimension[];
  outputShapes: Readonly<Record<string, readonly Dimension[]>>;
  /** Set when the graph fixes the batch dimension; runBatch then feeds it in chunks of exactly this size. */
  fixedBatch?: number;
}

type SessionView = Pick<InferenceSession, 'inputNames' | 'outputNames' | 'inputMetadata' | 'outputMetadata'>;

function show(shape: readonly Dimension[]): string {
  return `[${shape.join(', ')}]`;
}

function tensorMetadata(list: readonly InferenceSession.ValueMetadata[], name: string, fail: (m: string) => never) {
  const meta = list.find((m) => m.name === name);
  if (!meta || !meta.isTensor) return fail(`"${name}" is not a tensor`);
  return meta;
}

/** Positions (after batch) that must hold the given sizes, per output kind; undefined where anything goes. */
function expectedOutputDims(output: ManifestOutput): { rank: number[]; fixed: Record<number, number> } {
  const classes = output.classNames.length;
  switch (output.kind) {
    case 'score':
      return { rank: [1, 2], fixed: { 1: 1 } };
    case 'class-scores':
      return { rank: [2], fixed: { 1: classes } };
    case 'probability-map':
      return { rank: [4], fixed: output.mapLayout === 'NCHW' ? { 1: classes } : { 3: classes } };
  }
}

export function checkSignature(manifest: ModelManifest, variantName: string, session: SessionView): ModelSignature {
  const fail = (message: string): never => {
    throw new ModelBundleError('SIGNATURE_MISMATCH', `variant "${variantName}": ${message}`);
  };
  const input = manifest.input;
  if (!session.inputNames.includes(input.name)) {
    fail(`the model has no input "${input.name}" (its inputs: ${session.inputNames.join(', ')})`);
  }
  if (session.inputNames.length !== 1) {
    fail(`the model has ${session.inputNames.length} inputs (${session.inputNames.join(', ')}); a bundle model takes exactly one`);
  }
  const inMeta = tensorMetadata(session.inputMetadata, input.name, fail);
  if (inMeta.type !== input.dtype) fail(`input "${input.name}" is ${inMeta.type} in the model, ${input.dtype} in the manifest`);
  const want = inputShape(input, 1);
  if (inMeta.shape.length !== 0) {
    const mismatch =
      inMeta.shape.length !== 4 || inMeta.shape.some((d, i) => i > 0 && typeof d === 'number' && d !== want[i]);
    if (mismatch) {
      fail(`input "${input.name}" has shape ${show(inMeta.shape)} in the model; the manifest (${input.layout}, ` +
        `${input.size.width}x${input.size.height}) needs ${show(['N', ...want.slice(1)])}`);
    }
  }

  const outputShapes: Record<string, readonly Dimension[]> = {};
  for (const output of manifest.outputs) {
    if (!session.outputNames.includes(output.name)) {
      fail(`the model has no output "${output.name}" (its outputs: ${session.outputNames.join(', ')})`);
    }
    const meta = tensorMetadata(session.outputMetadata, output.name, fail);
    if (meta.type !== 'float32') fail(`output "${output.name}" is ${meta.type}; bundle outputs must be float32`);
    const { rank, fixed } = expectedOutputDims(output);
    if (meta.shape.length !== 0) {
      if (!rank.includes(meta.shape.length)) {
        fail(`output "${output.name}" has rank ${meta.shape.length} ${show(meta.shape)}; a ${output.kind} output has rank ${rank.join(' or ')}`);
      }
      for (const [position, size] of Object.entries(fixed)) {
        const actual = meta.shape[Number(position)];
        if (actual !== undefined && typeof actual === 'number' && actual !== size) {
          fail(`output "${output.name}" has ${actual} at dimension ${position} ${show(meta.shape)}; ` +
            `the manifest's ${output.classNames.length} class name(s) need ${size}`);
        }
      }
    }
    outputShapes[output.name] = meta.shape;
  }
  const batchDim = inMeta.shape[0];
  return {
    inputShape: inMeta.shape,
    outputShapes,
    ...(typeof batchDim === 'number' && batchDim > 0 ? { fixedBatch: batchDim } : {}),
  };
}
