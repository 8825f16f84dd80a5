/**
 * Child process run by providers.ts: for each execution provider this onnxruntime-node build knows of,
 * create a real session on a one-node model and run it. Prints JSON lines as it goes, first
 * `{"backends":["cpu","cuda"]}`, then one `{"name":"cpu","ok":true}` or `{"name":"cuda","ok":false,"reason":"..."}`
 * per provider, so that when one provider hangs the parent still has the answers that came before it.
 *
 * It is a separate process because provider start-up runs synchronously in native code: a GPU driver that
 * hangs or crashes must take down this child, not the daemon.
 */
import * as ort from 'onnxruntime-node';

/** Protocol-buffer encoding of an ONNX model y = Identity(x), x and y float32[1], opset 13. */
function identityModel(): Uint8Array {
  const varint = (n: number): number[] => {
    const out: number[] = [];
    for (; n > 0x7f; n >>>= 7) out.push((n & 0x7f) | 0x80);
    out.push(n);
    return out;
  };
  const bytesField = (field: number, payload: number[] | string): number[] => {
    const bytes = typeof payload === 'string' ? [...Buffer.from(payload, 'utf8')] : payload;
    return [...varint((field << 3) | 2), ...varint(bytes.length), ...bytes];
  };
  const intField = (field: number, value: number): number[] => [...varint(field << 3), ...varint(value)];

  const FLOAT = 1;
  // TypeProto.tensor_type { elem_type, shape { dim { dim_value: 1 } } }
  const tensorType = bytesField(1, [...intField(1, FLOAT), ...bytesField(2, bytesField(1, intField(1, 1)))]);
  const valueInfo = (name: string): number[] => [...bytesField(1, name), ...bytesField(2, tensorType)];
  // NodeProto { input, output, op_type }
  const node = [...bytesField(1, 'x'), ...bytesField(2, 'y'), ...bytesField(4, 'Identity')];
  // GraphProto { node, name, input, output }
  const graph = [...bytesField(1, node), ...bytesField(2, 'provider-check'), ...bytesField(11, valueInfo('x')), ...bytesField(12, valueInfo('y'))];
  // ModelProto { ir_version: 8, graph, opset_import { version: 13 } }
  return new Uint8Array([...intField(1, 8), ...bytesField(7, graph), ...bytesField(8, intField(2, 13))]);
}

async function check(name: string, model: Uint8Array): Promise<{ name: string; ok: boolean; reason?: string }> {
  try {
    // Severity 4 = fatal only: a provider that fails to load is an expected answer, not something to log.
    const session = await ort.InferenceSession.create(model, { executionProviders: [name], logSeverityLevel: 4 });
    try {
      const input = new ort.Tensor('float32', Float32Array.of(42), [1]);
      const output = await session.run({ x: input });
      if (output.y?.data[0] !== 42) return { name, ok: false, reason: 'the test session returned a wrong result' };
    } finally {
      await session.release();
    }
    return { name, ok: true };
  } catch (error) {
    return { name, ok: false, reason: error instanceof Error ? error.message : String(error) };
  }
}

const model = identityModel();
const backends = ort.listSupportedBackends().map((backend) => backend.name);
process.stdout.write(`${JSON.stringify({ backends })}\n`);
for (const name of backends) process.stdout.write(`${JSON.stringify(await check(name, model))}\n`);
