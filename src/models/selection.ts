/**
 * Hardware-aware choice of a model variant and of how to run it. A pure function of the probed hardware
 * and the model's variants: the same inputs always give the same choice, with every decision and every
 * rejected option explained in words a technician can act on (dashboard, `pathbox models select --explain`).
 */
import { canonicalCpuFlag, type CpuFlag, type HardwareProfile } from '../device/index.ts';

export type Precision = 'fp32' | 'fp16' | 'int8';

/** One file of a model. The model manifest's variants have this shape. */
export interface SelectableVariant {
  name: string;
  file: string;
  precision: Precision;
  /** onnxruntime provider names this file was validated with. */
  executionProviders: readonly string[];
  /** Memory the variant needs loaded and running at batch size 1. */
  minMemoryMB: number;
  /** Kernel flag names (/proc/cpuinfo spelling) the file's kernels need, e.g. avx512_vnni. */
  requiresCpuFlags?: readonly string[];
}

/** The part of a model manifest that selection reads; a whole manifest fits it. */
export interface SelectableModel {
  name: string;
  input: { size: { width: number; height: number }; dtype: 'float32' | 'uint8' };
  variants: readonly SelectableVariant[];
}

export interface SelectionOptions {
  /** From configuration: force a variant, a provider, or both. One that cannot be honoured is an error. */
  override?: { variant?: string; executionProvider?: string };
  /** Memory kept for everything but the model; default max(512 MB, 10% of total). */
  reserveMemoryMB?: number;
  /** Upper bound on the batch size; default 8 on CPU, 32 on a GPU or NPU. */
  maxBatchSize?: number;
}

export interface Selection {
  variant: SelectableVariant;
  executionProvider: string;
  intraOpThreads: number;
  interOpThreads: number;
  /** Tiles the analysis decodes at once: the cores the intra-op threads leave free. */
  decodeThreads: number;
  batchSize: number;
  reasons: string[];
  rejected: { variant: string; reason: string }[];
  rejectedProviders: { provider: string; reason: string }[];
}

export type ModelSelectionErrorCode =
  | 'NO_VARIANTS' // the model lists no variants at all
  | 'UNKNOWN_VARIANT' // configuration forces a variant name the model does not have
  | 'OVERRIDE_NOT_POSSIBLE' // a forced variant/provider exists but cannot run on this machine
  | 'NO_USABLE_VARIANT'; // nothing fits this machine (memory, CPU flags, providers)

export class ModelSelectionError extends Error {
  readonly code: ModelSelectionErrorCode;
  /** Every option that was turned down and why, for --explain. */
  readonly rejected: readonly { variant: string; reason: string }[];
  constructor(code: ModelSelectionErrorCode, message: string, rejected: readonly { variant: string; reason: string }[] = []) {
    super(message);
    this.name = 'ModelSelectionError';
    this.code = code;
    this.rejected = rejected;
  }
}

/** Accelerated providers, best first. CUDA before TensorRT: TensorRT first builds an engine, taking minutes. */
const PROVIDER_PREFERENCE = ['cuda', 'tensorrt', 'rocm', 'migraphx', 'coreml', 'dml', 'openvino', 'webgpu'] as const;
const CPU_BATCH_CAP = 8;
const ACCELERATOR_BATCH_CAP = 32;
/** Below this total memory the box is "low-memory": slides, tile cache and model compete for every MB. */
const LOW_MEMORY_TOTAL_MB = 4096;
const LOW_MEMORY_BATCH_CAP = 2;
/**
 * Working memory per sample, as a multiple of the float32 input tensor: CNN activations for a patch are a few
 * dozen times the input. An estimate, deliberately generous.
 */
const ACTIVATION_FACTOR = 32;
const RGB_CHANNELS = 3;

interface ProviderVerdicts {
  /** Usable providers, best first; 'cpu' last. */
  usable: { provider: string; because: string }[];
  rejected: { provider: string; reason: string }[];
  /** Facts about hardware that cannot be used, said once. */
  notes: string[];
  /** Why a provider is not usable, including those neither offered nor backed by hardware. */
  whyUnusable(provider: string): string;
}

export function selectVariant(hardware: HardwareProfile, model: SelectableModel, options: SelectionOptions = {}): Selection {
  if (model.variants.length === 0) throw new ModelSelectionError('NO_VARIANTS', `model "${model.name}" lists no variants`);
  const reasons: string[] = [];
  const totalMB = hardware.memory.totalMB;
  const reserveMB = options.reserveMemoryMB ?? Math.max(512, Math.round(totalMB * 0.1));
  const budgetMB = hardware.memory.availableMB - reserveMB;
  reasons.push(
    `${hardware.memory.availableMB} MB of ${totalMB} MB free; ${reserveMB} MB kept for the tile reader, database and web server, leaving ${Math.max(0, budgetMB)} MB for the model`,
  );

  const verdicts = judgeProviders(hardware, options.override?.executionProvider);
  reasons.push(...verdicts.notes);
  const fitness = new Map(model.variants.map((v) => [v.name, unfitBecause(v, hardware.cpu.flags, budgetMB)]));

  let candidates = model.variants;
  const forcedVariant = options.override?.variant;
  if (forcedVariant !== undefined) {
    const variant = model.variants.find((v) => v.name === forcedVariant);
    if (!variant) {
      throw new ModelSelectionError(
        'UNKNOWN_VARIANT',
        `configuration forces variant "${forcedVariant}", but model "${model.name}" has only ${model.variants.map((v) => `"${v.name}"`).join(', ')}`,
      );
    }
    const unfit = fitness.get(variant.name);
    if (unfit) throw new ModelSelectionError('OVERRIDE_NOT_POSSIBLE', `configuration forces variant "${variant.name}", but it ${unfit}`);
    reasons.push(`variant "${variant.name}" forced by configuration`);
    candidates = [variant];
  }

  for (const { provider, because } of verdicts.usable) {
    const eligible = candidates.filter((v) => v.executionProviders.includes(provider) && fitness.get(v.name) === null);
    if (eligible.length === 0) {
      if (provider !== 'cpu') reasons.push(`${provider} is usable (${because}), but no fitting variant of "${model.name}" targets it`);
      continue;
    }
    const ranking = precisionRanking(provider, hardware.cpu.flags);
    const [variant] = [...eligible].sort((a, b) => ranking.order.indexOf(a.precision) - ranking.order.indexOf(b.precision));
    reasons.push(`provider ${provider}: ${because}`);
    const preferred = ranking.order[0];
    reasons.push(
      variant.precision === preferred
        ? `variant "${variant.name}" (${variant.precision}): ${ranking.why}`
        : `variant "${variant.name}" (${variant.precision}): no fitting ${preferred} variant, which would be preferred because ${ranking.why}`,
    );
    const threads = chooseThreads(hardware);
    const batch = chooseBatchSize(hardware, model, variant, provider, budgetMB, options.maxBatchSize);
    reasons.push(threads.why, batch.why);
    return {
      variant,
      executionProvider: provider,
      intraOpThreads: threads.intraOp,
      interOpThreads: 1,
      decodeThreads: threads.decode,
      batchSize: batch.size,
      reasons: [...reasons, 'inter-op threads: 1, operators run one after another so every core serves the intra-op pool'],
      rejected: model.variants
        .filter((v) => v !== variant)
        .map((v) => ({ variant: v.name, reason: whyNotChosen(v, fitness.get(v.name) ?? null, { chosen: variant, provider, rankingWhy: ranking.why, verdicts, options }) })),
      rejectedProviders: verdicts.rejected,
    };
  }

  const forcedProvider = options.override?.executionProvider;
  const rejected = model.variants.map((v) => ({
    variant: v.name,
    reason:
      fitness.get(v.name) ??
      (forcedProvider !== undefined
        ? `does not target ${forcedProvider}, which configuration forces`
        : `targets ${v.executionProviders.join(', ')}, none of which is usable here`),
  }));
  const summary = rejected.map((r) => `"${r.variant}" ${r.reason}`).join('; ');
  if (options.override?.variant !== undefined || options.override?.executionProvider !== undefined) {
    throw new ModelSelectionError('OVERRIDE_NOT_POSSIBLE', `the configured override cannot be honoured for "${model.name}": ${summary}`, rejected);
  }
  throw new ModelSelectionError('NO_USABLE_VARIANT', `no variant of "${model.name}" can run on this machine: ${summary}`, rejected);
}

/** Why a variant cannot run here at all, whatever the provider; null when it can. */
function unfitBecause(variant: SelectableVariant, cpuFlags: readonly CpuFlag[], budgetMB: number): string | null {
  for (const required of variant.requiresCpuFlags ?? []) {
    const flag = canonicalCpuFlag(required);
    if (flag === null) return `requires CPU flag ${required}, which pathbox does not detect, so it cannot be confirmed`;
    if (!cpuFlags.includes(flag)) return `requires CPU flag ${required}, which this CPU lacks`;
  }
  if (variant.minMemoryMB > budgetMB) {
    return `needs ${variant.minMemoryMB} MB but only ${Math.max(0, budgetMB)} MB is free after the reserve`;
  }
  return null;
}

/**
 * A provider is usable when onnxruntime created a session with it AND the hardware it drives is present
 * (a software WebGPU adapter or a stray CUDA library is not a reason to leave the CPU).
 */
function judgeProviders(hardware: HardwareProfile, forced: string | undefined): ProviderVerdicts {
  const offered = new Set(hardware.executionProviders.available);
  const failure = (provider: string): string =>
    hardware.executionProviders.unavailable.find((u) => u.name === provider)?.reason ?? 'not part of this onnxruntime-node build';

  if (forced !== undefined) {
    if (!offered.has(forced)) {
      throw new ModelSelectionError('OVERRIDE_NOT_POSSIBLE', `configuration forces provider ${forced}, but onnxruntime cannot use it here: ${failure(forced)}`);
    }
    return {
      usable: [{ provider: forced, because: 'forced by configuration' }],
      rejected: [],
      notes: [],
      whyUnusable: (provider) => `configuration forces ${forced} instead of ${provider}`,
    };
  }

  const verdicts: ProviderVerdicts = {
    usable: [],
    rejected: [],
    notes: [],
    whyUnusable: (provider) =>
      verdicts.rejected.find((r) => r.provider === provider)?.reason ??
      `no hardware it drives was found${offered.has(provider) ? '' : `, and onnxruntime cannot use it (${failure(provider)})`}`,
  };
  for (const accelerator of hardware.accelerators) {
    const at = `${accelerator.name} (${accelerator.bus} ${accelerator.location})`;
    if (accelerator.executionProvider === null) {
      verdicts.notes.push(`${at} is present, but onnxruntime has no execution provider for it: skipped`);
    } else if (!offered.has(accelerator.executionProvider)) {
      verdicts.notes.push(`${at} is present, but needs onnxruntime provider ${accelerator.executionProvider}, which is not available (${failure(accelerator.executionProvider)}): skipped`);
    }
  }
  for (const provider of PROVIDER_PREFERENCE) {
    const hardwareFor = backingHardware(provider, hardware);
    if (offered.has(provider) && hardwareFor !== null) {
      verdicts.usable.push({ provider, because: `${hardwareFor.description} present and onnxruntime ran a session on it` });
    } else if (offered.has(provider)) {
      verdicts.rejected.push({ provider, reason: 'onnxruntime offers it, but none of the hardware it drives was found' });
    } else if (hardwareFor !== null && provider !== 'tensorrt' && provider !== 'webgpu') {
      // TensorRT and WebGPU are alternatives on hardware that has a primary provider; naming them too is noise.
      verdicts.rejected.push({ provider, reason: `${hardwareFor.description} is present, but onnxruntime cannot use it: ${failure(provider)}` });
    }
  }
  const known = new Set<string>([...PROVIDER_PREFERENCE, 'cpu']);
  for (const provider of hardware.executionProviders.available.filter((p) => !known.has(p))) {
    verdicts.rejected.push({ provider, reason: 'pathbox cannot tell which hardware it drives, so it is used only when configuration forces it' });
  }
  if (offered.has('cpu')) {
    const why = verdicts.usable.length === 0 ? 'no usable GPU or NPU, so the CPU runs the model' : 'fallback when no accelerated variant fits';
    verdicts.usable.push({ provider: 'cpu', because: why });
  } else {
    verdicts.rejected.push({ provider: 'cpu', reason: `onnxruntime could not run even on the CPU: ${failure('cpu')}` });
  }
  return verdicts;
}

interface Backing {
  description: string;
  /** Memory of the device the model will live in, when it is not the host's. */
  deviceMemoryMB: number | null;
}

/** The present hardware a provider drives, or null. */
function backingHardware(provider: string, hardware: HardwareProfile): Backing | null {
  const gpu = (vendors: readonly string[]): Backing | null => {
    const found = hardware.gpus.find((g) => vendors.includes(g.vendor));
    return found ? { description: `${found.vendorName} GPU "${found.model}"`, deviceMemoryMB: found.memoryMB } : null;
  };
  const accelerator = hardware.accelerators.find((a) => a.executionProvider === provider);
  if (accelerator) return { description: accelerator.name, deviceMemoryMB: null };
  switch (provider) {
    case 'cuda':
    case 'tensorrt':
      return gpu(['nvidia']);
    case 'rocm':
    case 'migraphx':
      return gpu(['amd']);
    case 'openvino':
      return gpu(['intel']);
    case 'coreml':
      return hardware.platform.os === 'darwin' ? { description: 'Apple Neural Engine / GPU', deviceMemoryMB: null } : null;
    case 'dml':
      return hardware.platform.os === 'win32' ? gpu(['nvidia', 'amd', 'intel']) : null;
    case 'webgpu':
      return gpu(['nvidia', 'amd', 'intel', 'apple']);
    default:
      return null;
  }
}

function precisionRanking(provider: string, flags: readonly CpuFlag[]): { order: Precision[]; why: string } {
  if (provider === 'openvino') {
    return { order: ['int8', 'fp16', 'fp32'], why: 'the OpenVINO device runs int8 fastest' };
  }
  if (provider !== 'cpu') {
    return { order: ['fp16', 'fp32', 'int8'], why: `${provider} runs fp16 natively, faster than fp32; its int8 support depends on the provider's kernels` };
  }
  const int8Units = flags.filter((f) => f === 'avx512_vnni' || f === 'avx_vnni' || f === 'amx');
  if (int8Units.length > 0) {
    return { order: ['int8', 'fp32', 'fp16'], why: `the CPU has ${int8Units.join(', ')} (int8 dot-product instructions), so int8 runs fastest` };
  }
  const wideVectors = flags.filter((f) => f === 'avx512f' || f === 'avx2');
  if (wideVectors.length > 0) {
    return { order: ['int8', 'fp32', 'fp16'], why: `the CPU has ${wideVectors.join(', ')} but no VNNI/AMX: int8 is still faster than fp32, by a smaller margin` };
  }
  const simd = flags.includes('neon') ? 'NEON only' : 'no AVX2, AVX-512, VNNI or AMX';
  return { order: ['fp32', 'int8', 'fp16'], why: `the CPU has ${simd}: int8 would gain little, so the more accurate fp32 is preferred` };
}

function chooseThreads(hardware: HardwareProfile): { intraOp: number; decode: number; why: string } {
  const cores = hardware.cpu.physicalCores;
  const intraOp = Math.max(1, cores - 1);
  const decode = Math.max(1, cores - intraOp);
  const why =
    cores > 1
      ? `intra-op threads: ${intraOp} = ${cores} physical cores minus ${decode} left for tile decoding, which is held to ${decode} thread(s) so inference never waits for a core`
      : `intra-op threads: 1 (only ${cores} physical core; tile decoding shares it, 1 thread)`;
  return { intraOp, decode, why };
}

function chooseBatchSize(
  hardware: HardwareProfile,
  model: SelectableModel,
  variant: SelectableVariant,
  provider: string,
  budgetMB: number,
  maxBatchSize: number | undefined,
): { size: number; why: string } {
  const { width, height } = model.input.size;
  const perSampleMB = (width * height * RGB_CHANNELS * 4 * ACTIVATION_FACTOR) / (1024 * 1024);
  let memoryMB = budgetMB - variant.minMemoryMB;
  let memoryWhere = 'free memory';
  const deviceMemoryMB = provider === 'cpu' ? null : (backingHardware(provider, hardware)?.deviceMemoryMB ?? null);
  if (deviceMemoryMB !== null && deviceMemoryMB - variant.minMemoryMB < memoryMB) {
    memoryMB = deviceMemoryMB - variant.minMemoryMB;
    memoryWhere = `device memory (${deviceMemoryMB} MB)`;
  }
  const byMemory = Math.max(1, Math.floor(memoryMB / perSampleMB));
  const estimate = `${width}x${height} input ≈ ${perSampleMB.toFixed(0)} MB per sample, ${Math.max(0, Math.floor(memoryMB))} MB of ${memoryWhere} left after the variant's ${variant.minMemoryMB} MB`;

  const caps: { cap: number; why: string }[] = [
    { cap: byMemory, why: `memory allows ${byMemory} (${estimate})` },
    provider === 'cpu'
      ? { cap: CPU_BATCH_CAP, why: `CPU batches are capped at ${CPU_BATCH_CAP}: the intra-op threads already use every core, larger batches only add latency` }
      : { cap: ACCELERATOR_BATCH_CAP, why: `accelerator batches are capped at ${ACCELERATOR_BATCH_CAP}` },
  ];
  if (hardware.memory.totalMB < LOW_MEMORY_TOTAL_MB) {
    caps.push({ cap: LOW_MEMORY_BATCH_CAP, why: `low-memory machine (${hardware.memory.totalMB} MB total): batch capped at ${LOW_MEMORY_BATCH_CAP}` });
  }
  if (maxBatchSize !== undefined) caps.push({ cap: Math.max(1, Math.floor(maxBatchSize)), why: `configured maximum batch size ${maxBatchSize}` });
  const binding = caps.reduce((lowest, c) => (c.cap < lowest.cap ? c : lowest));
  return { size: binding.cap, why: `batch size ${binding.cap}: ${binding.why}` };
}

interface ChoiceContext {
  chosen: SelectableVariant;
  provider: string;
  rankingWhy: string;
  verdicts: ProviderVerdicts;
  options: SelectionOptions;
}

function whyNotChosen(variant: SelectableVariant, unfit: string | null, context: ChoiceContext): string {
  const { chosen, provider, verdicts, options } = context;
  if (unfit !== null) return unfit;
  if (options.override?.variant !== undefined) return `configuration forces "${options.override.variant}"`;
  if (variant.executionProviders.includes(provider)) {
    if (variant.precision === chosen.precision) return `"${chosen.name}" comes first among equally suitable ${provider} variants`;
    return `${chosen.precision} is preferred over ${variant.precision} on ${provider}: ${context.rankingWhy}`;
  }
  if (options.override?.executionProvider !== undefined) return `it does not target ${provider}, which configuration forces`;
  const usable = variant.executionProviders.filter((p) => verdicts.usable.some((u) => u.provider === p));
  if (usable.length > 0) return `runs on ${usable.join(', ')}, but ${provider} comes first here`;
  const reasonsByProvider = variant.executionProviders.map((p) => `${p}: ${verdicts.whyUnusable(p)}`);
  return `targets only providers that cannot be used here (${reasonsByProvider.join('; ')})`;
}
