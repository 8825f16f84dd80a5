/**
 * Every refusal of a model bundle, and every failure of the registry or of inference, is a ModelBundleError
 * with a stable code: the OTA updater and the analysis pipeline decide on the code, people read the message.
 */
export type ModelBundleErrorCode =
  | 'MANIFEST_INVALID' // manifest.json is not JSON or breaks the schema / a cross-field rule
  | 'PATH_OUTSIDE_BUNDLE' // a listed file resolves (via symlink) outside the bundle directory, or is not a regular file
  | 'FILE_MISSING' // manifest.json, a variant file or a self-test file is absent
  | 'DIGEST_MISMATCH' // a variant file's sha256 differs from the manifest
  | 'ONNX_INVALID' // onnxruntime cannot load the file (corrupt, truncated, unsupported operator)
  | 'SIGNATURE_MISMATCH' // the model's inputs/outputs (names, types, shapes) contradict the manifest
  | 'SELF_TEST_INVALID' // a self-test data file does not fit its declared shape / the model input
  | 'SELF_TEST_FAILED' // the model's output differs from the expected vector beyond the tolerance
  | 'INPUT_INVALID' // a caller passed a batch of the wrong type or size
  | 'EXECUTION_PROVIDER_UNAVAILABLE' // onnxruntime could not create a session with the requested provider
  | 'INFERENCE_FAILED' // onnxruntime failed while running a batch
  | 'NOT_INSTALLED' // the registry has no such id/version
  | 'ACTIVE_POINTER_INVALID' // the registry's active-version pointer file is unreadable
  | 'INSTALL_CONFLICT'; // the version is already installed, or its releaseCounter contradicts installed versions

export class ModelBundleError extends Error {
  readonly code: ModelBundleErrorCode;
  /** Every problem found, when there were several (manifest validation reports all of them). */
  readonly details: readonly string[];

  constructor(code: ModelBundleErrorCode, message: string, options?: { cause?: unknown; details?: readonly string[] }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ModelBundleError';
    this.code = code;
    this.details = options?.details ?? [message];
  }
}

export function isModelBundleError(e: unknown, code?: ModelBundleErrorCode): e is ModelBundleError {
  return e instanceof ModelBundleError && (code === undefined || e.code === code);
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
