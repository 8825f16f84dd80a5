/**
 * The only place that talks to onnxruntime: open a variant of a verified bundle and run batches of patches.
 * The analysis pipeline works with ModelSession, runBatch and runRgbBatch and never imports onnxruntime itself.
 */
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { readFile } from 'node:fs/promises';
import { sha256Hex } from './bundle-files.ts';
import { errorMessage, ModelBundleError } from './errors.ts';
import type { ExecutionProviderName, ManifestVariant, ModelManifest } from './manifest.ts';
import { type InputTensorData, inputShape, inputValuesPerPatch, rgbToInputTensor } from './preprocess.ts';
import { checkSignature, type ModelSignature } from './signature.ts';
import { startInferenceThread, type BackendOutputs, type RunBackend } from './inference-thread.ts';

export interface SessionOptions {
  /** One of the variant's preferred providers; 'cpu' when not given. */
  executionProvider?: ExecutionProviderName;
  /** Threads onnxruntime may use inside one operator; onnxruntime's default (all cores) when not given. */
  intraOpThreads?: number;
  /**
   * Run batches in a worker thread (the analysis pipeline does): session.run blocks its thread, which in
   * the main thread would stop tile reading while the model computes.
   */
  thread?: boolean;
}

export interface OutputTensor {
  dims: number[];
  data: Float32Array;
}

/** Output tensors by the manifest's output names. */
export type BatchOutputs = Record<string, OutputTensor>;

/** What createSession needs of a loaded bundle (see loadBundle). */
export interface VerifiedBundle {
  manifest: ModelManifest;
  variants: readonly (ManifestVariant & { path: string })[];
}

export class ModelSession {
  readonly manifest: ModelManifest;
  readonly variant: ManifestVariant;
  readonly executionProvider: ExecutionProviderName;
  readonly signature: ModelSignature;
  #backend: RunBackend;
  /** Input buffers a worker thread handed back, for the next batches to be written into. */
  #spareInputs: InputTensorData[] = [];

  constructor(manifest: ModelManifest, variant: ManifestVariant, executionProvider: ExecutionProviderName, session: InferenceSession) {
    this.manifest = manifest;
    this.variant = variant;
    this.executionProvider = executionProvider;
    this.signature = checkSignature(manifest, variant.name, session);
    const inputName = manifest.input.name;
    const dtype = manifest.input.dtype;
    this.#backend = {
      run: async (data, dims, outputNames) => ({ outputs: await session.run({ [inputName]: new Tensor(dtype, data, dims) }, outputNames) }),
      release: () => session.release(),
    };
  }

  /** Moves the model into a worker thread (the signature was checked here first); frees the in-thread copy. */
  async moveToThread(modelBytes: Uint8Array, intraOpThreads?: number): Promise<void> {
    const remote = await startInferenceThread({
      modelBytes, provider: this.executionProvider, intraOpThreads, inputName: this.manifest.input.name, dtype: this.manifest.input.dtype,
    });
    const local = this.#backend;
    this.#backend = remote;
    await local.release();
  }

  /** Runs one onnxruntime call; batch size and data length are checked by runBatch. */
  async run(data: InputTensorData, n: number, handOver = false): Promise<BatchOutputs> {
    const input = this.manifest.input;
    let results: BackendOutputs;
    try {
      // Fetch only the declared outputs: a graph's auxiliary outputs would otherwise be copied out too.
      const ran = await this.#backend.run(data, inputShape(input, n), this.manifest.outputs.map((o) => o.name), handOver);
      results = ran.outputs;
      if (ran.input && this.#spareInputs.length < MAX_SPARE_INPUTS) this.#spareInputs.push(ran.input);
    } catch (e) {
      throw new ModelBundleError('INFERENCE_FAILED', `variant "${this.variant.name}": onnxruntime failed: ${errorMessage(e)}`, { cause: e });
    }
    const outputs: BatchOutputs = {};
    for (const { name } of this.manifest.outputs) {
      const value = results[name];
      if (!value || value.type !== 'float32' || value.dims[0] !== n) {
        throw new ModelBundleError('INFERENCE_FAILED', `variant "${this.variant.name}": output "${name}" is missing, not float32 or not ${n} long in its first dimension`);
      }
      outputs[name] = { dims: [...value.dims], data: value.data as Float32Array };
    }
    return outputs;
  }

  /** A handed-back input buffer of exactly `length` values, if one is free (see runBatch's handOver). */
  takeSpareInput(length: number): InputTensorData | undefined {
    const index = this.#spareInputs.findIndex((buffer) => buffer.length === length);
    return index < 0 ? undefined : this.#spareInputs.splice(index, 1)[0];
  }

  async release(): Promise<void> {
    this.#spareInputs = [];
    await this.#backend.release();
  }
}

/** Batches in flight at once are few (one running, one being prepared): more spare buffers would idle. */
const MAX_SPARE_INPUTS = 2;

/**
 * Opens a model from bytes already checked against the manifest digest, and checks its signature.
 * Failing with the CPU provider means the file is not a usable ONNX model; with another provider, it means
 * that provider is not there (the bundle was verified on CPU when it was loaded).
 */
export async function openModelSession(
  manifest: ModelManifest,
  variant: ManifestVariant,
  modelBytes: Uint8Array,
  options: SessionOptions = {},
): Promise<ModelSession> {
  const provider = options.executionProvider ?? 'cpu';
  let session: InferenceSession;
  try {
    session = await InferenceSession.create(modelBytes, {
      executionProviders: [provider],
      logSeverityLevel: 3,
      ...(options.intraOpThreads ? { intraOpNumThreads: options.intraOpThreads } : {}),
    });
  } catch (e) {
    const message = errorMessage(e).split('\n')[0];
    if (provider === 'cpu') {
      throw new ModelBundleError('ONNX_INVALID', `variant "${variant.name}": ${variant.file} is not a loadable ONNX model: ${message}`, { cause: e });
    }
    throw new ModelBundleError('EXECUTION_PROVIDER_UNAVAILABLE', `variant "${variant.name}": cannot open with execution provider "${provider}": ${message}`, { cause: e });
  }
  try {
    return new ModelSession(manifest, variant, provider, session);
  } catch (e) {
    await session.release();
    throw e;
  }
}

/** Opens a variant of a loaded bundle; the file is hashed again so a file changed since loading is refused. */
export async function createSession(bundle: VerifiedBundle, variantName: string, options: SessionOptions = {}): Promise<ModelSession> {
  const variant = bundle.variants.find((v) => v.name === variantName);
  if (!variant) {
    throw new ModelBundleError('NOT_INSTALLED', `bundle ${bundle.manifest.id} ${bundle.manifest.version} has no variant "${variantName}" (it has: ${bundle.variants.map((v) => v.name).join(', ')})`);
  }
  const bytes = await readFile(variant.path);
  const digest = sha256Hex(bytes);
  if (digest !== variant.sha256) {
    throw new ModelBundleError('DIGEST_MISMATCH', `variant "${variant.name}": ${variant.file} changed since the bundle was loaded (sha256 ${digest}, manifest ${variant.sha256})`);
  }
  const session = await openModelSession(bundle.manifest, variant, bytes, options);
  if (options.thread) {
    try {
      await session.moveToThread(bytes, options.intraOpThreads);
    } catch (e) {
      await session.release().catch(() => {});
      throw new ModelBundleError('ONNX_INVALID', `variant "${variant.name}": cannot start its inference thread: ${errorMessage(e)}`, { cause: e });
    }
  }
  return session;
}

/** Joins chunk outputs along the batch dimension, dropping the rows of padding patches. */
function concatOutputs(parts: BatchOutputs[], n: number): BatchOutputs {
  if (parts.length === 1 && Object.values(parts[0]).every((o) => o.dims[0] === n)) return parts[0];
  const merged: BatchOutputs = {};
  for (const name of Object.keys(parts[0])) {
    const perPatch = parts[0][name].data.length / parts[0][name].dims[0];
    const data = new Float32Array(n * perPatch);
    let offset = 0;
    for (const part of parts) {
      const take = Math.min(part[name].data.length, data.length - offset);
      data.set(part[name].data.subarray(0, take), offset);
      offset += take;
    }
    merged[name] = { dims: [n, ...parts[0][name].dims.slice(1)], data };
  }
  return merged;
}

/**
 * Runs n patches already in the model's input form (layout, scaling, dtype as in the manifest). A model with a
 * fixed batch size is fed in chunks of that size, the last one padded with zeros and the padding dropped.
 * With handOver the caller gives `batch` up: a model in a worker thread takes its memory instead of a copy,
 * which leaves it detached (empty) here.
 */
export async function runBatch(session: ModelSession, batch: InputTensorData, n: number, options: { handOver?: boolean } = {}): Promise<BatchOutputs> {
  const input = session.manifest.input;
  const perPatch = inputValuesPerPatch(input);
  const expectedType = input.dtype === 'uint8' ? Uint8Array : Float32Array;
  if (!(batch instanceof expectedType)) {
    throw new ModelBundleError('INPUT_INVALID', `model input "${input.name}" is ${input.dtype}: pass a ${expectedType.name}`);
  }
  if (!Number.isInteger(n) || n < 1 || batch.length !== n * perPatch) {
    throw new ModelBundleError('INPUT_INVALID', `a batch of ${n} needs ${n * perPatch} values, got ${batch.length}`);
  }
  const chunk = session.signature.fixedBatch ?? n;
  const parts: BatchOutputs[] = [];
  for (let start = 0; start < n; start += chunk) {
    let data = batch.subarray(start * perPatch, Math.min(n, start + chunk) * perPatch);
    let ownData = options.handOver === true && chunk >= n;
    if (data.length < chunk * perPatch) {
      const padded = new expectedType(chunk * perPatch);
      padded.set(data);
      data = padded;
      ownData = true;
    }
    parts.push(await session.run(data, chunk, ownData));
  }
  return concatOutputs(parts, n);
}

/**
 * n RGB patches (interleaved 8-bit RGB, input size each) as the session's input tensor, preprocessed as the
 * manifest says, in a buffer the inference thread handed back when one is free. A pipeline makes the next
 * batch's tensor while the current one runs, then hands it over with runBatch(..., { handOver: true }).
 */
export function rgbBatchTensor(session: ModelSession, rgb: Uint8Array, n: number): InputTensorData {
  const input = session.manifest.input;
  return rgbToInputTensor(input, rgb, n, session.takeSpareInput(n * inputValuesPerPatch(input)));
}

/** Runs n RGB patches (interleaved 8-bit RGB, input size each), preprocessed as the manifest says. */
export async function runRgbBatch(session: ModelSession, rgb: Uint8Array, n: number): Promise<BatchOutputs> {
  return runBatch(session, rgbBatchTensor(session, rgb, n), n, { handOver: true });
}
