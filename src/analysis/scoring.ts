import type { BatchOutputs, ManifestAggregation, ManifestOutput, ModelManifest } from '../models/index.ts';

/** One number per patch from a model output, following the manifest's output description. */
export function patchScores(output: ManifestOutput, tensor: BatchOutputs[string], n: number): Float32Array {
  const scores = new Float32Array(n);
  const perPatch = tensor.data.length / n;
  const positive = Math.max(0, output.classNames.indexOf(output.positiveClass));
  for (let i = 0; i < n; i++) {
    const values = tensor.data.subarray(i * perPatch, (i + 1) * perPatch);
    switch (output.kind) {
      case 'score':
        scores[i] = activate(output.activation, values, 0, 1)[0];
        break;
      case 'class-scores':
        scores[i] = activate(output.activation, values, 0, values.length)[positive];
        break;
      case 'probability-map':
        scores[i] = positiveFraction(output, values, tensor.dims);
        break;
    }
  }
  return scores;
}

/** Share of map pixels whose positive-class probability reaches the output's threshold. */
function positiveFraction(output: ManifestOutput, values: Float32Array, dims: number[]): number {
  const channelsLast = (output.mapLayout ?? 'NHWC') === 'NHWC';
  const channels = channelsLast ? dims[dims.length - 1] : dims[1];
  const pixels = values.length / channels;
  const positive = channels === 1 ? 0 : Math.max(0, output.classNames.indexOf(output.positiveClass));
  let count = 0;
  const pixel = new Float32Array(channels);
  for (let p = 0; p < pixels; p++) {
    for (let c = 0; c < channels; c++) pixel[c] = channelsLast ? values[p * channels + c] : values[c * pixels + p];
    const activated = activate(output.activation, pixel, 0, channels);
    if (activated[positive] >= output.threshold) count++;
  }
  return pixels === 0 ? 0 : count / pixels;
}

function activate(activation: ManifestOutput['activation'], values: Float32Array, start: number, length: number): Float32Array {
  const out = values.slice(start, start + length);
  if (activation === 'sigmoid') for (let i = 0; i < out.length; i++) out[i] = 1 / (1 + Math.exp(-out[i]));
  else if (activation === 'softmax') {
    let max = -Infinity;
    for (const v of out) max = Math.max(max, v);
    let sum = 0;
    for (let i = 0; i < out.length; i++) sum += out[i] = Math.exp(out[i] - max);
    for (let i = 0; i < out.length; i++) out[i] /= sum;
  }
  return out;
}

export interface Finding {
  label: string;
  score: number;
  positive: boolean;
  method: string;
}

/** The slide-level finding from all patch scores, by the manifest's aggregation rule. */
export function aggregate(manifest: ModelManifest, scores: Float32Array): Finding {
  const rule: ManifestAggregation | undefined = manifest.aggregation;
  const sorted = Float32Array.from(scores).sort().reverse();
  const mean = (values: Float32Array) => (values.length === 0 ? 0 : values.reduce((a, b) => a + b, 0) / values.length);
  if (!rule) return { label: 'mean patch score', score: mean(sorted), positive: false, method: 'mean' };
  let score: number;
  switch (rule.method) {
    case 'top-k-mean':
      score = mean(sorted.subarray(0, Math.min(rule.k, sorted.length)));
      break;
    case 'mean':
      score = mean(sorted);
      break;
    case 'max':
      score = sorted.length ? sorted[0] : 0;
      break;
    case 'fraction-above':
      score = sorted.length ? sorted.filter((v) => v >= rule.patchThreshold).length / sorted.length : 0;
      break;
  }
  const positive = score >= rule.threshold;
  return { label: positive ? rule.positiveLabel : rule.negativeLabel, score, positive, method: rule.method };
}

/** The output a slide's finding and heatmap use: the aggregation's, else the first. */
export function primaryOutput(manifest: ModelManifest): ManifestOutput {
  const name = manifest.aggregation?.output;
  return manifest.outputs.find((o) => o.name === name) ?? manifest.outputs[0];
}
