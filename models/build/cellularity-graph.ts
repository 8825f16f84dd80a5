/**
 * The cellularity model as ONNX graphs (opset 17), fp32 and int8:
 *   image [N,3,224,224] RGB 0..255 -> clip -> OD = -ln((I+1)/256) -> colour deconvolution (1x1 Conv by the inverse
 *   stain matrix) -> hematoxylin channel -> fraction of pixels with H-OD > NUCLEAR_H_OD -> 1 - exp(-f / SATURATION)
 *   -> cellularity [N,1].
 * The int8 graph quantises the optical density to uint8 and does the deconvolution as a QLinearConv with int8
 * per-channel weights (integer multiply-accumulate), then dequantises the stain concentrations.
 */
import { attr, encodeModel, type GraphNode, type Initializer, type OnnxModel } from './onnx-writer.ts';
import { DECONVOLUTION, NUCLEAR_H_OD, PATCH_SIZE, SATURATION_FRACTION } from './cellularity-reference.ts';

export type CellularityPrecision = 'fp32' | 'int8';

export const INPUT_NAME = 'image';
export const OUTPUT_NAME = 'cellularity';

/** uint8 optical density: 0..ln(256) over 0..255. */
const OD_SCALE = Math.log(256) / 255;
/** uint8 stain concentrations: zero point 64 and step 1/64 cover -1..2.98, ample around NUCLEAR_H_OD. */
const STAIN_SCALE = 1 / 64;
const STAIN_ZERO_POINT = 64;

function scalar(name: string, value: number): Initializer {
  return { name, type: 'float32', dims: [], data: Float32Array.of(value) };
}

function int64s(name: string, values: readonly number[]): Initializer {
  return { name, type: 'int64', dims: [values.length], data: BigInt64Array.from(values.map(BigInt)) };
}

/** Conv weight [out=stain, in=RGB, 1, 1]: stain s of a pixel = sum over c of od[c] * DECONVOLUTION[c][s]. */
function deconvolutionWeights(): Float32Array {
  const w = new Float32Array(9);
  for (let s = 0; s < 3; s++) for (let c = 0; c < 3; c++) w[s * 3 + c] = DECONVOLUTION[c][s];
  return w;
}

function deconvolutionNodes(precision: CellularityPrecision): { nodes: GraphNode[]; initializers: Initializer[] } {
  const weights = deconvolutionWeights();
  if (precision === 'fp32') {
    return {
      initializers: [{ name: 'deconvolution', type: 'float32', dims: [3, 3, 1, 1], data: weights }],
      nodes: [{ opType: 'Conv', inputs: ['od', 'deconvolution'], outputs: ['stains'], attributes: { kernel_shape: attr.ints([1, 1]) } }],
    };
  }
  const weightScales = new Float32Array(3);
  const quantised = new Int8Array(9);
  for (let s = 0; s < 3; s++) {
    const row = weights.subarray(s * 3, s * 3 + 3);
    weightScales[s] = Math.max(...row.map(Math.abs)) / 127;
    for (let c = 0; c < 3; c++) quantised[s * 3 + c] = Math.round(row[c] / weightScales[s]);
  }
  return {
    initializers: [
      scalar('od_scale', OD_SCALE),
      { name: 'od_zero_point', type: 'uint8', dims: [], data: Uint8Array.of(0) },
      { name: 'deconvolution_q', type: 'int8', dims: [3, 3, 1, 1], data: quantised },
      { name: 'deconvolution_scale', type: 'float32', dims: [3], data: weightScales },
      { name: 'deconvolution_zero_point', type: 'int8', dims: [3], data: new Int8Array(3) },
      scalar('stains_scale', STAIN_SCALE),
      { name: 'stains_zero_point', type: 'uint8', dims: [], data: Uint8Array.of(STAIN_ZERO_POINT) },
    ],
    nodes: [
      { opType: 'QuantizeLinear', inputs: ['od', 'od_scale', 'od_zero_point'], outputs: ['od_q'] },
      {
        opType: 'QLinearConv',
        inputs: ['od_q', 'od_scale', 'od_zero_point', 'deconvolution_q', 'deconvolution_scale', 'deconvolution_zero_point', 'stains_scale', 'stains_zero_point'],
        outputs: ['stains_q'],
        attributes: { kernel_shape: attr.ints([1, 1]) },
      },
      { opType: 'DequantizeLinear', inputs: ['stains_q', 'stains_scale', 'stains_zero_point'], outputs: ['stains'] },
    ],
  };
}

export function cellularityModel(precision: CellularityPrecision): OnnxModel {
  const deconvolution = deconvolutionNodes(precision);
  const nodes: GraphNode[] = [
    { opType: 'Clip', inputs: [INPUT_NAME, 'zero', 'max_pixel'], outputs: ['pixels'] },
    { opType: 'Add', inputs: ['pixels', 'one'], outputs: ['pixels_plus_one'] },
    { opType: 'Mul', inputs: ['pixels_plus_one', 'inv_256'], outputs: ['transmittance'] },
    { opType: 'Log', inputs: ['transmittance'], outputs: ['log_transmittance'] },
    { opType: 'Neg', inputs: ['log_transmittance'], outputs: ['od'] },
    ...deconvolution.nodes,
    { opType: 'Slice', inputs: ['stains', 'h_start', 'h_end', 'channel_axis'], outputs: ['hematoxylin'] },
    { opType: 'Greater', inputs: ['hematoxylin', 'nuclear_h_od'], outputs: ['nuclear'] },
    { opType: 'Cast', inputs: ['nuclear'], outputs: ['nuclear_float'], attributes: { to: attr.int(1) } },
    {
      opType: 'ReduceMean',
      inputs: ['nuclear_float'],
      outputs: ['nuclear_fraction'],
      attributes: { axes: attr.ints([2, 3]), keepdims: attr.int(0) },
    },
    { opType: 'Mul', inputs: ['nuclear_fraction', 'neg_inv_saturation'], outputs: ['exponent'] },
    { opType: 'Exp', inputs: ['exponent'], outputs: ['unexplained'] },
    { opType: 'Sub', inputs: ['one', 'unexplained'], outputs: [OUTPUT_NAME] },
  ];
  return {
    graphName: `cellularity_${precision}`,
    opsetVersion: 17,
    producerName: 'pathbox models/build',
    producerVersion: '1',
    docString: `pathbox cellularity (${precision}): hematoxylin area fraction by Ruifrok-Johnston colour deconvolution. Research only; not a cancer classifier.`,
    metadata: { 'pathbox.model': 'cellularity', 'pathbox.precision': precision },
    inputs: [{ name: INPUT_NAME, type: 'float32', shape: ['N', 3, PATCH_SIZE, PATCH_SIZE] }],
    outputs: [{ name: OUTPUT_NAME, type: 'float32', shape: ['N', 1] }],
    initializers: [
      scalar('zero', 0),
      scalar('one', 1),
      scalar('max_pixel', 255),
      scalar('inv_256', 1 / 256),
      scalar('nuclear_h_od', NUCLEAR_H_OD),
      scalar('neg_inv_saturation', -1 / SATURATION_FRACTION),
      int64s('h_start', [0]),
      int64s('h_end', [1]),
      int64s('channel_axis', [1]),
      ...deconvolution.initializers,
    ],
    nodes,
  };
}

export function encodeCellularityModel(precision: CellularityPrecision): Uint8Array {
  return encodeModel(cellularityModel(precision));
}
