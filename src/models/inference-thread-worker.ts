/**
 * Runs one model in a worker thread: onnxruntime-node's session.run blocks the thread that calls it, so
 * in the main thread it would stall tile reading (and the web server) for the whole of every batch.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { InferenceSession, Tensor } from 'onnxruntime-node';

interface Setup {
  modelBytes: Uint8Array;
  provider: string;
  intraOpThreads?: number;
  inputName: string;
  dtype: 'float32' | 'uint8';
}

interface RunRequest {
  id: number;
  data: Float32Array | Uint8Array;
  dims: number[];
  outputNames: string[];
}

const setup = workerData as Setup;
const port = parentPort!;
const session = await InferenceSession.create(setup.modelBytes, {
  executionProviders: [setup.provider],
  logSeverityLevel: 3,
  ...(setup.intraOpThreads ? { intraOpNumThreads: setup.intraOpThreads } : {}),
});
port.postMessage({ ready: true });

port.on('message', async (message: RunRequest | { release: true }) => {
  if ('release' in message) {
    await session.release();
    port.close();
    return;
  }
  try {
    const results = await session.run({ [setup.inputName]: new Tensor(setup.dtype, message.data, message.dims) }, message.outputNames);
    const outputs: Record<string, { type: string; dims: number[]; data: unknown }> = {};
    const transfer: ArrayBuffer[] = [];
    for (const name of message.outputNames) {
      const value = results[name];
      if (!value) continue;
      const data = (value.data as Float32Array).slice();
      outputs[name] = { type: value.type, dims: [...value.dims], data };
      transfer.push(data.buffer);
    }
    // The input goes back too, so the next batch is written into it instead of a new allocation.
    port.postMessage({ id: message.id, outputs, input: message.data }, [...transfer, message.data.buffer as ArrayBuffer]);
  } catch (e) {
    port.postMessage({ id: message.id, error: e instanceof Error ? e.message : String(e) });
  }
});
