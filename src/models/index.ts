/**
 * Model bundles: manifest validation, verified loading, the on-disk registry of installed/active versions,
 * and the inference helpers the analysis pipeline uses (it never imports onnxruntime itself).
 */
export { ModelBundleError, isModelBundleError, type ModelBundleErrorCode } from './errors.ts';
export {
  bundleFiles,
  EXECUTION_PROVIDERS,
  isPlainBundlePath,
  MANIFEST_FILE,
  manifestSchema,
  MODEL_ID_PATTERN,
  SEMVER_PATTERN,
  parseManifest,
  parseManifestText,
  type ExecutionProviderName,
  type ManifestAggregation,
  type ManifestInput,
  type ManifestOutput,
  type ManifestVariant,
  type ModelManifest,
  type ModelTask,
  type Precision,
  type SelfTestVector,
} from './manifest.ts';
export { loadBundle, readBundleManifest, type LoadedVariant, type ModelBundle } from './bundle.ts';
export type { SelfTestResult } from './self-test.ts';
export type { ModelSignature } from './signature.ts';
export {
  createSession,
  runBatch,
  runRgbBatch,
  rgbBatchTensor,
  type BatchOutputs,
  type ModelSession,
  type OutputTensor,
  type SessionOptions,
} from './inference.ts';
export { inputShape, rgbToInputTensor, type InputTensorData } from './preprocess.ts';
export { ModelRegistry, type ActivePointer, type InstalledBundle, type InstalledEntry } from './registry.ts';
export { fsyncPath, replaceFileDurably, writeFileDurably } from './durable-files.ts';
export { builtInBundleDir, builtInModelsDir, ensureBuiltInModels } from './built-in.ts';
export { compareSemver } from './semver.ts';
export { openModel, type ModelRuntime } from './runtime.ts';
export { selectVariant, ModelSelectionError, type Selection, type SelectionOptions } from './selection.ts';
