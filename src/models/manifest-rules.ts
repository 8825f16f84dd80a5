/**
 * Rules of a manifest that span several keys (a schema per key cannot state them). Each problem is reported
 * at the key that has to change.
 */
import type { z } from 'zod';
import type { manifestObjectSchema } from './manifest.ts';

type ManifestShape = z.infer<typeof manifestObjectSchema>;
type Problem = (path: readonly (string | number)[], message: string) => void;

export function checkManifestConsistency(m: ManifestShape, ctx: z.RefinementCtx<ManifestShape>): void {
  const problem: Problem = (path, message) => ctx.addIssue({ code: 'custom', path: [...path], message });
  checkInput(m, problem);
  checkOutputs(m, problem);
  checkAggregation(m, problem);
  checkVariants(m, problem);
  checkSelfTest(m, problem);
}

function duplicates(values: readonly string[]): Set<string> {
  const seen = new Set<string>();
  const repeated = new Set<string>();
  for (const v of values) (seen.has(v) ? repeated : seen).add(v);
  return repeated;
}

function checkInput(m: ManifestShape, problem: Problem): void {
  if (m.input.dtype === 'float32' && !m.input.scaling) {
    problem(['input', 'scaling'], 'is required when input.dtype is "float32"');
  }
  if (m.input.dtype === 'uint8' && m.input.scaling) {
    problem(['input', 'scaling'], 'must be absent when input.dtype is "uint8" (pixels are fed as they are)');
  }
}

function checkOutputs(m: ManifestShape, problem: Problem): void {
  const repeated = duplicates(m.outputs.map((o) => o.name));
  m.outputs.forEach((o, i) => {
    const at = (key: string) => ['outputs', i, key];
    if (repeated.has(o.name)) problem(at('name'), `"${o.name}" is declared more than once`);
    if (!o.classNames.includes(o.positiveClass)) {
      problem(at('positiveClass'), `"${o.positiveClass}" is not one of classNames`);
    }
    if (duplicates(o.classNames).size > 0) problem(at('classNames'), 'must not repeat a class name');
    if (o.kind === 'probability-map' && !o.mapLayout) problem(at('mapLayout'), 'is required for a probability-map output');
    if (o.kind !== 'probability-map' && o.mapLayout) problem(at('mapLayout'), 'is only allowed for a probability-map output');
    if (o.kind === 'score' && o.classNames.length !== 1) problem(at('classNames'), 'must name exactly one class for a score output');
    if (o.kind === 'class-scores' && o.classNames.length < 2) problem(at('classNames'), 'must name at least 2 classes for class-scores');
    if (o.activation === 'softmax' && o.classNames.length < 2) problem(at('activation'), 'softmax needs at least 2 classes');
  });
  if (m.task === 'tissue-segmentation' && !m.outputs.some((o) => o.kind === 'probability-map')) {
    problem(['outputs'], 'a tissue-segmentation model needs a probability-map output');
  }
}

function checkAggregation(m: ManifestShape, problem: Problem): void {
  if (!m.aggregation) {
    if (m.task !== 'tissue-segmentation') problem(['aggregation'], `is required for task "${m.task}"`);
    return;
  }
  const output = m.outputs.find((o) => o.name === m.aggregation?.output);
  if (!output) problem(['aggregation', 'output'], `"${m.aggregation.output}" is not one of the outputs`);
  else if (output.kind === 'probability-map') problem(['aggregation', 'output'], 'cannot aggregate a probability-map output');
}

function checkVariants(m: ManifestShape, problem: Problem): void {
  const repeatedNames = duplicates(m.variants.map((v) => v.name));
  const repeatedFiles = duplicates(m.variants.map((v) => v.file));
  m.variants.forEach((v, i) => {
    if (repeatedNames.has(v.name)) problem(['variants', i, 'name'], `"${v.name}" is used by more than one variant`);
    if (repeatedFiles.has(v.file)) problem(['variants', i, 'file'], `"${v.file}" is used by more than one variant`);
    if (duplicates(v.executionProviders).size > 0) problem(['variants', i, 'executionProviders'], 'must not repeat a provider');
  });
}

function expectedInputShape(m: ManifestShape, batch: number): number[] {
  const { width, height } = m.input.size;
  return m.input.layout === 'NCHW' ? [batch, 3, height, width] : [batch, height, width, 3];
}

function checkSelfTest(m: ManifestShape, problem: Problem): void {
  const variantFiles = new Set(m.variants.map((v) => v.file));
  const variantNames = new Set(m.variants.map((v) => v.name));
  const outputNames = new Set(m.outputs.map((o) => o.name));
  const repeated = duplicates(m.selfTest.vectors.map((v) => v.name));
  m.selfTest.vectors.forEach((vector, i) => {
    const at = (...keys: (string | number)[]) => ['selfTest', 'vectors', i, ...keys];
    if (repeated.has(vector.name)) problem(at('name'), `"${vector.name}" is used by more than one vector`);
    const { input } = vector;
    if (input.file === 'manifest.json' || variantFiles.has(input.file)) problem(at('input', 'file'), 'must be a data file of its own');
    if (input.format === 'raw') {
      const want = expectedInputShape(m, input.shape[0]);
      if (want.some((d, k) => d !== input.shape[k])) {
        problem(at('input', 'shape'), `must be [${want.join(', ')}] for a ${m.input.layout} input of ${m.input.size.width}x${m.input.size.height}`);
      }
      if (input.encoding === 'float32-le' && m.input.dtype === 'uint8') {
        problem(at('input', 'encoding'), 'must be "uint8" for a uint8 model input');
      }
    }
    if (duplicates(vector.expected.map((e) => e.output)).size > 0) problem(at('expected'), 'names an output more than once');
    vector.expected.forEach((e, k) => {
      if (!outputNames.has(e.output)) problem(at('expected', k, 'output'), `"${e.output}" is not one of the outputs`);
      if ((e.values === undefined) === (e.file === undefined)) problem(at('expected', k), 'needs exactly one of "values" or "file"');
    });
    for (const name of Object.keys(vector.variantAtol ?? {})) {
      if (!variantNames.has(name)) problem(at('variantAtol', name), `"${name}" is not one of the variants`);
    }
  });
}
