/**
 * A minimal ONNX protobuf encoder: just enough of ModelProto/GraphProto/NodeProto/TensorProto/ValueInfoProto
 * to write small hand-built graphs (the built-in bundles) without an ONNX or protobuf package.
 * Field numbers follow onnx/onnx.proto (proto2; repeated scalars written unpacked, which every parser reads).
 */

export type OnnxElementType = 'float32' | 'uint8' | 'int8' | 'int32' | 'int64' | 'bool';

const ELEMENT_TYPE_CODE: Record<OnnxElementType, number> = {
  float32: 1,
  uint8: 2,
  int8: 3,
  int32: 6,
  int64: 7,
  bool: 9,
};

/** IR version 8 is the one that goes with opset 17 (ONNX 1.12). */
const IR_VERSION = 8;

export type TensorData = Float32Array | Uint8Array | Int8Array | Int32Array | BigInt64Array;

export interface Initializer {
  name: string;
  type: OnnxElementType;
  dims: readonly number[];
  data: TensorData;
}

export type AttributeValue =
  | { kind: 'int'; value: number }
  | { kind: 'float'; value: number }
  | { kind: 'ints'; value: readonly number[] }
  | { kind: 'floats'; value: readonly number[] }
  | { kind: 'string'; value: string };

export const attr = {
  int: (value: number): AttributeValue => ({ kind: 'int', value }),
  float: (value: number): AttributeValue => ({ kind: 'float', value }),
  ints: (value: readonly number[]): AttributeValue => ({ kind: 'ints', value }),
  floats: (value: readonly number[]): AttributeValue => ({ kind: 'floats', value }),
  string: (value: string): AttributeValue => ({ kind: 'string', value }),
};

export interface GraphNode {
  opType: string;
  inputs: readonly string[];
  outputs: readonly string[];
  name?: string;
  attributes?: Readonly<Record<string, AttributeValue>>;
}

/** A graph input or output: a dimension is a fixed size (number) or a symbolic name such as 'N'. */
export interface ValueInfo {
  name: string;
  type: OnnxElementType;
  shape: readonly (number | string)[];
}

export interface OnnxModel {
  graphName: string;
  opsetVersion: number;
  producerName: string;
  producerVersion: string;
  docString?: string;
  metadata?: Readonly<Record<string, string>>;
  inputs: readonly ValueInfo[];
  outputs: readonly ValueInfo[];
  initializers: readonly Initializer[];
  nodes: readonly GraphNode[];
}

const WIRE_VARINT = 0;
const WIRE_FIXED32 = 5;
const WIRE_LENGTH_DELIMITED = 2;

const textEncoder = new TextEncoder();

/** Accumulates one protobuf message; nested messages are encoded first and embedded as bytes. */
class MessageWriter {
  private readonly chunks: Uint8Array[] = [];
  private length = 0;

  private push(chunk: Uint8Array): void {
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  private tag(field: number, wireType: number): void {
    this.push(encodeVarint(BigInt((field << 3) | wireType)));
  }

  varint(field: number, value: number | bigint): this {
    this.tag(field, WIRE_VARINT);
    this.push(encodeVarint(BigInt(value)));
    return this;
  }

  float32(field: number, value: number): this {
    this.tag(field, WIRE_FIXED32);
    const bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setFloat32(0, value, true);
    this.push(bytes);
    return this;
  }

  bytes(field: number, value: Uint8Array): this {
    this.tag(field, WIRE_LENGTH_DELIMITED);
    this.push(encodeVarint(BigInt(value.length)));
    this.push(value);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, textEncoder.encode(value));
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.length);
    let offset = 0;
    for (const chunk of this.chunks) {
      out.set(chunk, offset);
      offset += chunk.length;
    }
    return out;
  }
}

/** Base-128 varint; negative int64 values are written as their 64-bit two's complement (10 bytes). */
export function encodeVarint(value: bigint): Uint8Array {
  let remaining = BigInt.asUintN(64, value);
  const bytes: number[] = [];
  do {
    let byte = Number(remaining & 0x7fn);
    remaining >>= 7n;
    if (remaining !== 0n) byte |= 0x80;
    bytes.push(byte);
  } while (remaining !== 0n);
  return Uint8Array.from(bytes);
}

function encodeTensor(init: Initializer): Uint8Array {
  const expected = init.dims.reduce((a, b) => a * b, 1);
  if (init.data.length !== expected) {
    throw new Error(`initializer ${init.name}: ${init.data.length} values for dims [${init.dims.join(', ')}]`);
  }
  const w = new MessageWriter();
  for (const d of init.dims) w.varint(1, d);
  w.varint(2, ELEMENT_TYPE_CODE[init.type]);
  w.string(8, init.name);
  // raw_data is little-endian, which is the byte order of every typed array on the platforms we run on.
  w.bytes(9, new Uint8Array(init.data.buffer, init.data.byteOffset, init.data.byteLength));
  return w.finish();
}

const ATTRIBUTE_TYPE_CODE: Record<AttributeValue['kind'], number> = {
  float: 1,
  int: 2,
  string: 3,
  floats: 6,
  ints: 7,
};

function encodeAttribute(name: string, value: AttributeValue): Uint8Array {
  const w = new MessageWriter().string(1, name);
  switch (value.kind) {
    case 'float':
      w.float32(2, value.value);
      break;
    case 'int':
      w.varint(3, value.value);
      break;
    case 'string':
      w.string(4, value.value);
      break;
    case 'floats':
      for (const f of value.value) w.float32(7, f);
      break;
    case 'ints':
      for (const i of value.value) w.varint(8, i);
      break;
  }
  w.varint(20, ATTRIBUTE_TYPE_CODE[value.kind]);
  return w.finish();
}

function encodeNode(node: GraphNode, index: number): Uint8Array {
  const w = new MessageWriter();
  for (const input of node.inputs) w.string(1, input);
  for (const output of node.outputs) w.string(2, output);
  w.string(3, node.name ?? `${node.opType}_${index}`);
  w.string(4, node.opType);
  for (const [name, value] of Object.entries(node.attributes ?? {})) w.bytes(5, encodeAttribute(name, value));
  return w.finish();
}

function encodeValueInfo(info: ValueInfo): Uint8Array {
  const shape = new MessageWriter();
  for (const dim of info.shape) {
    const d = new MessageWriter();
    if (typeof dim === 'number') d.varint(1, dim);
    else d.string(2, dim);
    shape.bytes(1, d.finish());
  }
  const tensorType = new MessageWriter().varint(1, ELEMENT_TYPE_CODE[info.type]).bytes(2, shape.finish()).finish();
  const type = new MessageWriter().bytes(1, tensorType).finish();
  return new MessageWriter().string(1, info.name).bytes(2, type).finish();
}

function encodeGraph(model: OnnxModel): Uint8Array {
  const w = new MessageWriter();
  model.nodes.forEach((node, i) => w.bytes(1, encodeNode(node, i)));
  w.string(2, model.graphName);
  for (const init of model.initializers) w.bytes(5, encodeTensor(init));
  for (const input of model.inputs) w.bytes(11, encodeValueInfo(input));
  for (const output of model.outputs) w.bytes(12, encodeValueInfo(output));
  return w.finish();
}

/** Serialises a model to the bytes of an .onnx file (default ai.onnx domain only). */
export function encodeModel(model: OnnxModel): Uint8Array {
  const opset = new MessageWriter().string(1, '').varint(2, model.opsetVersion).finish();
  const w = new MessageWriter()
    .varint(1, IR_VERSION)
    .string(2, model.producerName)
    .string(3, model.producerVersion);
  if (model.docString) w.string(6, model.docString);
  w.bytes(7, encodeGraph(model));
  w.bytes(8, opset);
  for (const [key, value] of Object.entries(model.metadata ?? {})) {
    w.bytes(14, new MessageWriter().string(1, key).string(2, value).finish());
  }
  return w.finish();
}
