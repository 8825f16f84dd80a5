import { Worker } from 'node:worker_threads';

/** What ModelSession needs to run a batch, wherever the onnxruntime session lives. */
export interface RunBackend {
  run(data: Float32Array | Uint8Array, dims: number[], outputNames: string[]): Promise<Record<string, { type: string; dims: readonly number[]; data: unknown }>>;
  release(): Promise<void>;
}

interface Reply {
  id: number;
  outputs?: Record<string, { type: string; dims: number[]; data: unknown }>;
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
    async run(data, dims, outputNames) {
      if (failure) throw failure;
      const id = nextId++;
      const reply = await new Promise<Reply>((resolve, reject) => {
        pending.set(id, { resolve, reject });
        worker.postMessage({ id, data, dims, outputNames });
      });
      if (reply.error) throw new Error(reply.error);
      return reply.outputs!;
    },
    async release() {
      worker.removeAllListeners('exit');
      worker.postMessage({ release: true });
      await new Promise((resolve) => worker.once('exit', resolve));
    },
  };
}
