import { Worker } from 'node:worker_threads';

export type BackendOutputs = Record<string, { type: string; dims: readonly number[]; data: unknown }>;

/** What ModelSession needs to run a batch, wherever the onnxruntime session lives. */
export interface RunBackend {
  /**
   * With handOver the caller gives up `data`: a worker thread takes its memory instead of a copy, and
   * hands it back as `input` once the batch has run, free for the next one.
   */
  run(data: Float32Array | Uint8Array, dims: number[], outputNames: string[], handOver?: boolean): Promise<{ outputs: BackendOutputs; input?: Float32Array | Uint8Array }>;
  release(): Promise<void>;
}

interface Reply {
  id: number;
  outputs?: BackendOutputs;
  input?: Float32Array | Uint8Array;
  error?: string;
}

/** Opens the model in a worker thread; batches are sent there and their outputs transferred back. */
export async function startInferenceThread(setup: { modelBytes: Uint8Array; provider: string; intraOpThreads?: number; inputName: string; dtype: 'float32' | 'uint8' }): Promise<RunBackend> {
  const worker = new Worker(new URL('./inference-thread-worker.ts', import.meta.url), { workerData: setup });
  const pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  let failure: Error | null = null;
  const failAll = (error: Error) => {
    failure = error;
    for (const { reject } of pending.values()) reject(error);
    pending.clear();
  };
  worker.on('error', (e) => failAll(e instanceof Error ? e : new Error(String(e))));
  worker.on('exit', (code) => failAll(new Error(`inference thread exited (code ${code})`)));
  await new Promise<void>((resolve, reject) => {
    worker.once('message', () => resolve());
    worker.once('error', reject);
  });
  worker.on('message', (reply: Reply) => {
    const waiting = pending.get(reply.id);
    pending.delete(reply.id);
    waiting?.resolve(reply);
  });
  return {
    async run(data, dims, outputNames, handOver) {
      if (failure) throw failure;
      const id = nextId++;
      // Only a view of a whole buffer can move: transferring part of one would take the rest from its owner.
      const movable = handOver === true && data.byteOffset === 0 && data.byteLength === data.buffer.byteLength && data.buffer instanceof ArrayBuffer;
      const reply = await new Promise<Reply>((resolve, reject) => {
        pending.set(id, { resolve, reject });
        worker.postMessage({ id, data, dims, outputNames }, movable ? [data.buffer as ArrayBuffer] : []);
      });
      if (reply.error) throw new Error(reply.error);
      return { outputs: reply.outputs!, input: movable ? reply.input : undefined };
    },
    async release() {
      worker.removeAllListeners('exit');
      worker.postMessage({ release: true });
      await new Promise((resolve) => worker.once('exit', resolve));
    },
  };
}
