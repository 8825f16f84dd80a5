/**
 * The model bundle manifest (manifest.json): zod schema, TypeScript types and validation with messages that
 * name the bad key. models/manifest.schema.json is generated from this schema (models/build/write-manifest-schema.ts).
 */
import { z } from 'zod';
import { ModelBundleError } from './errors.ts';
import { checkManifestConsistency } from './manifest-rules.ts';

export const MANIFEST_FILE = 'manifest.json';

/** Semantic Versioning 2.0.0, from semver.org. */
export const SEMVER_PATTERN =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;

/** A model id doubles as a directory name in the registry. */
export const MODEL_ID_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/** Names of letters, digits, ".", "_", "-" (not starting with "."), at most 4 deep, joined by "/". */
const BUNDLE_PATH_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9._-]*(?:\/[A-Za-z0-9_][A-Za-z0-9._-]*){0,3}$/;

/**
 * A file name inside the bundle: no "..", no leading "/", no backslash, no hidden files. The OTA updater relies
 * on this to keep a hostile manifest from reading or writing outside the bundle.
 */
export function isPlainBundlePath(p: string): boolean {
  return p.length <= 255 && BUNDLE_PATH_PATTERN.test(p);
}

const bundlePath = z
  .string()
  .max(255)
  .regex(BUNDLE_PATH_PATTERN, {
    error: 'must be a relative path inside the bundle (names of letters, digits, ".", "_", "-" joined by "/"; no "..", no leading "/")',
  });
const text = z.string().trim().min(1, { error: 'must not be empty' });
// zod 4 numbers are finite: Infinity and NaN are refused.
const finite = z.number();
const positive = z.number().positive();
const positiveInt = z.int().positive();
const triple = z.tuple([finite, finite, finite]);
const positiveTriple = z.tuple([positive, positive, positive]);
const tensorName = text.meta({ description: 'tensor name exactly as in the ONNX graph' });

const TASKS = ['tissue-segmentation', 'patch-classification', 'patch-regression'] as const;
const LAYOUTS = ['NCHW', 'NHWC'] as const;
const OUTPUT_KINDS = ['probability-map', 'class-scores', 'score'] as const;
const PRECISIONS = ['fp32', 'fp16', 'int8'] as const;
/** onnxruntime execution provider names (what onnxruntime-node and ORT builds call them). */
export const EXECUTION_PROVIDERS = [
  'cpu', 'cuda', 'tensorrt', 'rocm', 'migraphx', 'dnnl', 'openvino', 'coreml', 'dml', 'webgpu', 'qnn', 'xnnpack', 'acl', 'armnn',
] as const;

const scalingSchema = z
  .strictObject({
    scale: positive.meta({ description: 'pixel (0..255) is multiplied by this first, e.g. 1/255' }),
    mean: triple.meta({ description: 'subtracted per channel after scaling, in the model channel order' }),
    std: positiveTriple.meta({ description: 'divided per channel last, in the model channel order' }),
  })
  .meta({ description: 'tensor = (pixel * scale - mean[c]) / std[c]' });

const stainNormalisationSchema = z.discriminatedUnion('method', [
  z.strictObject({
    method: z.literal('macenko'),
    target: z.strictObject({
      stainMatrix: z.tuple([triple, triple]).meta({ description: 'target H and E optical-density vectors (RGB), one per row' }),
      maxConcentrations: z.tuple([positive, positive]).meta({ description: 'target 99th-percentile H and E concentrations' }),
    }),
  }),
  z.strictObject({
    method: z.literal('reinhard'),
    target: z.strictObject({
      mean: triple.meta({ description: 'target mean per LAB channel' }),
      std: positiveTriple.meta({ description: 'target standard deviation per LAB channel' }),
    }),
  }),
]);

const inputSchema = z.strictObject({
  name: tensorName,
  dtype: z.enum(['float32', 'uint8']),
  layout: z.enum(LAYOUTS),
  size: z.strictObject({ width: positiveInt, height: positiveInt }),
  channelOrder: z.enum(['RGB', 'BGR']),
  scaling: scalingSchema.optional().meta({ description: 'required for float32 inputs, absent for uint8 inputs' }),
  mpp: positive.meta({ description: 'microns per pixel the model expects its patches at' }),
  stainNormalisation: stainNormalisationSchema.optional(),
});

const outputSchema = z.strictObject({
  name: tensorName,
  kind: z.enum(OUTPUT_KINDS),
  mapLayout: z.enum(LAYOUTS).optional().meta({ description: 'channel position of a probability-map output (required for maps)' }),
  classNames: z.array(text).min(1),
  activation: z
    .enum(['none', 'sigmoid', 'softmax'])
    .meta({ description: 'what the pipeline applies to the raw output; "none" when the graph already ends in one' }),
  positiveClass: text.meta({ description: 'one of classNames' }),
  threshold: finite.meta({ description: 'a patch (or map pixel) is positive when its activated value is >= threshold' }),
});

const aggregationCommon = {
  output: tensorName.meta({ description: 'the output aggregated over all patches of a slide' }),
  threshold: finite.meta({ description: 'the slide is positive when the aggregate is >= threshold' }),
  positiveLabel: text,
  negativeLabel: text,
};

const aggregationSchema = z.discriminatedUnion('method', [
  z.strictObject({ method: z.literal('top-k-mean'), k: positiveInt, ...aggregationCommon }),
  z.strictObject({ method: z.literal('mean'), ...aggregationCommon }),
  z.strictObject({ method: z.literal('max'), ...aggregationCommon }),
  z.strictObject({
    method: z.literal('fraction-above'),
    patchThreshold: finite.meta({ description: 'patches scoring >= this are counted' }),
    ...aggregationCommon,
  }),
]);

const variantSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/, { error: 'must be lowercase letters, digits and "-"' }),
  file: bundlePath.regex(/\.onnx$/, { error: 'must end in .onnx' }),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, { error: 'must be 64 lowercase hexadecimal digits' }),
  precision: z.enum(PRECISIONS),
  executionProviders: z.array(z.enum(EXECUTION_PROVIDERS)).min(1).meta({ description: 'preferred providers, best first' }),
  minMemoryMB: positiveInt,
  requiresCpuFlags: z
    .array(z.string().regex(/^[a-z0-9_]+$/, { error: 'must be a /proc/cpuinfo flag name such as avx512_vnni' }))
    .optional(),
});

const selfTestInputSchema = z.discriminatedUnion('format', [
  z.strictObject({
    format: z.literal('png').meta({ description: 'an RGB image of exactly the input size, preprocessed like a patch' }),
    file: bundlePath,
  }),
  z.strictObject({
    format: z.literal('raw').meta({ description: 'the input tensor itself, little-endian, batch first' }),
    file: bundlePath,
    encoding: z.enum(['uint8', 'float32-le']),
    shape: z.array(positiveInt).length(4),
  }),
]);

const expectedOutputSchema = z.strictObject({
  output: tensorName,
  values: z.array(finite).min(1).optional().meta({ description: 'the expected output values, flattened' }),
  file: bundlePath.optional().meta({ description: 'the expected output as raw little-endian float32' }),
});

const selfTestVectorSchema = z.strictObject({
  name: text,
  input: selfTestInputSchema,
  expected: z.array(expectedOutputSchema).min(1),
  atol: z.number().nonnegative().meta({ description: 'largest absolute difference allowed per value' }),
  variantAtol: z
    .record(z.string(), z.number().nonnegative())
    .optional()
    .meta({ description: 'a different tolerance for named variants, e.g. int8' }),
});

export const manifestObjectSchema = z.strictObject({
  $schema: z.string().optional(),
  schemaVersion: z.literal(1),
  id: z.string().regex(MODEL_ID_PATTERN, {
    error: 'must start with a lowercase letter or digit and hold only lowercase letters, digits, ".", "_", "-"',
  }),
  name: text,
  version: z.string().regex(SEMVER_PATTERN, { error: 'must be a semantic version such as 1.2.0' }),
  releaseCounter: z.int().nonnegative().meta({ description: 'monotonic integer that grows with every release of this id (the updater refuses a lower one)' }),
  task: z.enum(TASKS),
  organs: z.array(text).min(1).meta({ description: 'organs the model was validated on; "any" for organ-agnostic' }),
  cancerTypes: z.array(text),
  intendedUse: text,
  licence: text.meta({ description: 'SPDX identifier of the weights licence, or "proprietary"' }),
  researchOnly: z.boolean(),
  source: text.optional().meta({ description: 'where the weights come from' }),
  input: inputSchema,
  outputs: z.array(outputSchema).min(1),
  aggregation: aggregationSchema.optional().meta({ description: 'required except for tissue-segmentation' }),
  variants: z.array(variantSchema).min(1),
  selfTest: z.strictObject({ vectors: z.array(selfTestVectorSchema).min(1) }),
});

/** The schema plus the rules that tie its parts together (class names, output names, variant names, shapes). */
export const manifestSchema = manifestObjectSchema.superRefine(checkManifestConsistency);

export type ModelManifest = z.infer<typeof manifestSchema>;
export type ManifestInput = ModelManifest['input'];
export type ManifestOutput = ModelManifest['outputs'][number];
export type ManifestVariant = ModelManifest['variants'][number];
export type ManifestAggregation = NonNullable<ModelManifest['aggregation']>;
export type SelfTestVector = ModelManifest['selfTest']['vectors'][number];
export type ModelTask = ModelManifest['task'];
export type Precision = ManifestVariant['precision'];
export type ExecutionProviderName = ManifestVariant['executionProviders'][number];

/** Validates parsed JSON; throws MANIFEST_INVALID listing every problem as `manifest.json: <key> <problem>`. */
export function parseManifest(json: unknown, source: string = MANIFEST_FILE): ModelManifest {
  const result = manifestSchema.safeParse(json);
  if (result.success) return result.data;
  const details = result.error.issues.map((issue) => `${source}: ${describeIssue(issue, json)}`);
  throw new ModelBundleError('MANIFEST_INVALID', details.join('; '), { details });
}

/** Parses the text of a manifest.json (JSON syntax errors are MANIFEST_INVALID too). */
export function parseManifestText(jsonText: string, source: string = MANIFEST_FILE): ModelManifest {
  let json: unknown;
  try {
    json = JSON.parse(jsonText);
  } catch (e) {
    throw new ModelBundleError('MANIFEST_INVALID', `${source}: not valid JSON (${(e as Error).message})`, { cause: e });
  }
  return parseManifest(json, source);
}

/** Every file a bundle consists of, manifest.json first: what the registry copies and the updater downloads. */
export function bundleFiles(manifest: ModelManifest): string[] {
  const files = new Set<string>([MANIFEST_FILE]);
  for (const v of manifest.variants) files.add(v.file);
  for (const vector of manifest.selfTest.vectors) {
    files.add(vector.input.file);
    for (const e of vector.expected) if (e.file) files.add(e.file);
  }
  return [...files];
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out;
}

function quoteList(values: readonly unknown[]): string {
  const quoted = values.map((v) => JSON.stringify(v));
  if (quoted.length === 1) return quoted[0];
  if (quoted.length === 2) return `${quoted[0]} or ${quoted[1]}`;
  return `one of ${quoted.join(', ')}`;
}

/** The value at an issue's path in the original JSON (zod issues do not carry their input). */
function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let node = root;
  for (const key of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return node;
}

function describeIssue(issue: z.core.$ZodIssue, root: unknown): string {
  const key = formatPath(issue.path);
  const subject = key === '' ? 'the manifest' : key;
  switch (issue.code) {
    case 'invalid_type':
      if (valueAt(root, issue.path) === undefined) return `${subject} is missing`;
      return `${subject} must be ${issue.expected === 'int' ? 'an integer' : `of type ${issue.expected}`}`;
    case 'invalid_value':
      return `${subject} must be ${quoteList(issue.values)}`;
    case 'invalid_union':
      if ('options' in issue && issue.options) return `${subject} must be ${quoteList(issue.options)}`;
      return `${subject} matches none of the allowed forms`;
    case 'unrecognized_keys':
      return `${subject} has unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
    case 'too_small':
      if (issue.origin === 'array' && issue.exact) return `${subject} must have exactly ${issue.minimum} items`;
      if (issue.origin === 'array') return `${subject} must have at least ${issue.minimum} item${issue.minimum === 1 ? '' : 's'}`;
      if (issue.origin === 'string') return `${subject} must not be empty`;
      return `${subject} must be ${issue.inclusive ? 'at least' : 'greater than'} ${issue.minimum}`;
    case 'too_big':
      if (issue.origin === 'array' && issue.exact) return `${subject} must have exactly ${issue.maximum} items`;
      if (issue.origin === 'array') return `${subject} must have at most ${issue.maximum} items`;
      if (issue.origin === 'string') return `${subject} must be at most ${issue.maximum} characters long`;
      return `${subject} must be ${issue.inclusive ? 'at most' : 'less than'} ${issue.maximum}`;
    default:
      return `${subject} ${issue.message}`;
  }
}
