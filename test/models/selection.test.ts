/** Model-variant selection on injected hardware profiles standing for the machines the box may run on. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AttachedDevice, HardwareProfile } from '../../src/device/index.ts';
import { ModelSelectionError, selectVariant, type SelectableModel, type SelectableVariant } from '../../src/models/selection.ts';

function machine(parts: {
  cores: number;
  flags: HardwareProfile['cpu']['flags'];
  totalMB: number;
  availableMB: number;
  arch?: string;
  gpus?: HardwareProfile['gpus'];
  accelerators?: AttachedDevice[];
  providers?: string[];
  unavailable?: HardwareProfile['executionProviders']['unavailable'];
}): HardwareProfile {
  const arch = parts.arch ?? 'x64';
  return {
    probedAt: '2026-01-01T00:00:00.000Z',
    platform: { os: 'linux', arch, release: '6.1.0' },
    cpu: { vendor: 'test', model: 'test CPU', arch, physicalCores: parts.cores, logicalCores: parts.cores * 2, flags: parts.flags, source: 'systeminformation' },
    memory: { totalMB: parts.totalMB, availableMB: parts.availableMB, source: 'systeminformation' },
    gpus: parts.gpus ?? [],
    usb: { available: true, devices: (parts.accelerators ?? []).filter((a) => a.bus === 'usb') },
    pci: { available: true, devices: [] },
    accelerators: parts.accelerators ?? [],
    executionProviders: { available: parts.providers ?? ['cpu'], unavailable: parts.unavailable ?? [] },
    warnings: [],
  };
}

const variant = (name: string, precision: SelectableVariant['precision'], providers: string[], minMemoryMB: number, requiresCpuFlags?: string[]): SelectableVariant => ({
  name,
  file: `${name}.onnx`,
  precision,
  executionProviders: providers,
  minMemoryMB,
  ...(requiresCpuFlags ? { requiresCpuFlags } : {}),
});

const model: SelectableModel = {
  name: 'tumour-classifier',
  input: { size: { width: 512, height: 512 }, dtype: 'float32' },
  variants: [
    variant('fp32', 'fp32', ['cpu'], 400),
    variant('int8', 'int8', ['cpu'], 200),
    variant('int8-amx', 'int8', ['cpu'], 200, ['amx_int8']),
    variant('fp16-gpu', 'fp16', ['cuda', 'tensorrt'], 1500),
    variant('fp32-large', 'fp32', ['cpu', 'cuda'], 3000),
  ],
};

const reasonOf = (rejected: { variant: string; reason: string }[], name: string): string => rejected.find((r) => r.variant === name)?.reason ?? '';
const NVIDIA_GPU = { vendor: 'nvidia' as const, vendorName: 'NVIDIA Corporation', model: 'RTX A2000', memoryMB: 4096 };
const CORAL: AttachedDevice = { bus: 'usb', vendorId: '18d1', productId: '9302', kind: 'accelerator', name: 'Google Coral USB Accelerator', executionProvider: null, location: 'bus 1 port 2' };
const NCS2: AttachedDevice = { bus: 'usb', vendorId: '03e7', productId: '2485', kind: 'accelerator', name: 'Intel Neural Compute Stick 2', executionProvider: 'openvino', location: 'bus 1 port 3' };

test('low-memory 2-core box without AVX2: fp32 on CPU, 1 thread, batch at most 2, big variant refused for memory', () => {
  const choice = selectVariant(machine({ cores: 2, flags: ['sse4_2'], totalMB: 2048, availableMB: 1400 }), model);
  assert.equal(choice.executionProvider, 'cpu');
  assert.equal(choice.variant.name, 'fp32');
  assert.equal(choice.intraOpThreads, 1);
  assert.equal(choice.intraOpThreads + choice.decodeThreads, Math.max(2, choice.intraOpThreads + 1), 'tile decoding gets the cores inference leaves');
  assert.equal(choice.interOpThreads, 1);
  assert.ok(choice.batchSize >= 1 && choice.batchSize <= 2, `batch ${choice.batchSize}`);
  assert.ok(choice.reasons.some((r) => /low-memory machine \(2048 MB total\)/.test(r)), choice.reasons.join('\n'));
  assert.ok(choice.reasons.some((r) => /2 physical cores minus 1/.test(r)));
  assert.ok(choice.reasons.some((r) => /no AVX2, AVX-512, VNNI or AMX/.test(r)));
  // 1400 free - 512 reserve = 888 MB for the model
  assert.match(reasonOf(choice.rejected, 'fp32-large'), /needs 3000 MB but only 888 MB is free/);
  assert.match(reasonOf(choice.rejected, 'int8'), /fp32 is preferred over int8 on cpu/);
  assert.match(reasonOf(choice.rejected, 'int8-amx'), /requires CPU flag amx_int8, which this CPU lacks/);
});

test('AVX-512 VNNI server: int8 on CPU, cores-1 threads, CPU batch cap', () => {
  const choice = selectVariant(machine({ cores: 32, flags: ['avx2', 'avx512f', 'avx512_vnni', 'sse4_2', 'fma'], totalMB: 65536, availableMB: 60000 }), model);
  assert.equal(choice.executionProvider, 'cpu');
  assert.equal(choice.variant.name, 'int8');
  assert.equal(choice.intraOpThreads, 31);
  assert.equal(choice.intraOpThreads + choice.decodeThreads, Math.max(2, choice.intraOpThreads + 1), 'tile decoding gets the cores inference leaves');
  assert.equal(choice.batchSize, 8);
  assert.ok(choice.reasons.some((r) => /avx512_vnni \(int8 dot-product instructions\)/.test(r)), choice.reasons.join('\n'));
  assert.ok(choice.reasons.some((r) => /batch size 8: CPU batches are capped/.test(r)));
  assert.match(reasonOf(choice.rejected, 'fp32'), /int8 is preferred over fp32/);
  assert.match(reasonOf(choice.rejected, 'fp16-gpu'), /cuda: no hardware it drives was found, and onnxruntime cannot use it \(not part of this onnxruntime-node build\)/);
});

test('AVX2 without VNNI still prefers int8, and says the gain is smaller', () => {
  const choice = selectVariant(machine({ cores: 4, flags: ['avx2', 'fma'], totalMB: 16384, availableMB: 12000 }), model);
  assert.equal(choice.variant.name, 'int8');
  assert.ok(choice.reasons.some((r) => /avx2 but no VNNI\/AMX: int8 is still faster than fp32, by a smaller margin/.test(r)));
});

test('AMX CPU can take the AMX-only variant', () => {
  const choice = selectVariant(machine({ cores: 8, flags: ['avx2', 'avx512f', 'avx512_vnni', 'amx'], totalMB: 32768, availableMB: 30000 }), {
    ...model,
    variants: [variant('int8-amx', 'int8', ['cpu'], 200, ['amx_int8']), variant('fp32', 'fp32', ['cpu'], 400)],
  });
  assert.equal(choice.variant.name, 'int8-amx');
});

test('NVIDIA GPU with the cuda provider: fp16 on cuda, batch bounded by GPU memory', () => {
  const choice = selectVariant(
    machine({ cores: 8, flags: ['avx2'], totalMB: 32768, availableMB: 28000, gpus: [NVIDIA_GPU], providers: ['cpu', 'cuda'], unavailable: [{ name: 'tensorrt', reason: 'Failed to load shared library' }] }),
    model,
  );
  assert.equal(choice.executionProvider, 'cuda');
  assert.equal(choice.variant.name, 'fp16-gpu');
  assert.equal(choice.intraOpThreads, 7);
  assert.equal(choice.intraOpThreads + choice.decodeThreads, Math.max(2, choice.intraOpThreads + 1), 'tile decoding gets the cores inference leaves');
  // (4096 - 1500) MB of GPU memory / 96 MB per 512x512 sample = 27
  assert.equal(choice.batchSize, 27);
  assert.ok(choice.reasons.some((r) => /provider cuda: NVIDIA Corporation GPU "RTX A2000" present/.test(r)), choice.reasons.join('\n'));
  assert.ok(choice.reasons.some((r) => /device memory \(4096 MB\)/.test(r)));
  assert.match(reasonOf(choice.rejected, 'int8'), /runs on cpu, but cuda comes first/);
});

test('NVIDIA GPU whose cuda provider is missing: CPU, and the reason names the GPU and the failure', () => {
  const hardware = machine({
    cores: 8,
    flags: ['avx2', 'avx_vnni'],
    totalMB: 32768,
    availableMB: 28000,
    gpus: [NVIDIA_GPU],
    providers: ['cpu'],
    unavailable: [
      { name: 'cuda', reason: 'OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library' },
      { name: 'tensorrt', reason: 'OrtSessionOptionsAppendExecutionProvider_TensorRT: Failed to load shared library' },
    ],
  });
  const choice = selectVariant(hardware, model);
  assert.equal(choice.executionProvider, 'cpu');
  assert.equal(choice.variant.name, 'int8');
  const cuda = choice.rejectedProviders.find((p) => p.provider === 'cuda');
  assert.match(cuda?.reason ?? '', /RTX A2000" is present, but onnxruntime cannot use it: .*Cuda: Failed to load shared library/);
  assert.match(reasonOf(choice.rejected, 'fp16-gpu'), /cuda: .*Failed to load shared library/);
});

test('a Coral (no onnxruntime provider) and an NCS2 (provider missing) are reported and skipped', () => {
  const choice = selectVariant(
    machine({ cores: 4, flags: ['avx2'], totalMB: 8192, availableMB: 6000, accelerators: [CORAL, NCS2], unavailable: [{ name: 'openvino', reason: 'not built in' }] }),
    { ...model, variants: [...model.variants, variant('int8-openvino', 'int8', ['openvino'], 200)] },
  );
  assert.equal(choice.executionProvider, 'cpu');
  assert.ok(choice.reasons.some((r) => /Google Coral USB Accelerator \(usb bus 1 port 2\) is present, but onnxruntime has no execution provider for it: skipped/.test(r)), choice.reasons.join('\n'));
  assert.ok(choice.reasons.some((r) => /Intel Neural Compute Stick 2 .* needs onnxruntime provider openvino, which is not available \(not built in\)/.test(r)));
  assert.match(reasonOf(choice.rejected, 'int8-openvino'), /openvino: Intel Neural Compute Stick 2 is present, but onnxruntime cannot use it/);
});

test('an NCS2 whose openvino provider works is preferred over the CPU, with int8', () => {
  const choice = selectVariant(machine({ cores: 4, flags: ['avx2'], totalMB: 8192, availableMB: 6000, accelerators: [NCS2], providers: ['cpu', 'openvino'] }), {
    ...model,
    variants: [...model.variants, variant('int8-openvino', 'int8', ['openvino'], 200), variant('fp16-openvino', 'fp16', ['openvino'], 300)],
  });
  assert.equal(choice.executionProvider, 'openvino');
  assert.equal(choice.variant.name, 'int8-openvino');
  assert.ok(choice.reasons.some((r) => /provider openvino: Intel Neural Compute Stick 2 present/.test(r)));
});

test('ARM box with NEON: fp32 on CPU, and the reason says why int8 is not preferred', () => {
  const choice = selectVariant(machine({ cores: 4, flags: ['neon'], arch: 'arm64', totalMB: 8192, availableMB: 7000 }), model);
  assert.equal(choice.executionProvider, 'cpu');
  assert.equal(choice.variant.name, 'fp32');
  assert.equal(choice.intraOpThreads, 3);
  assert.equal(choice.intraOpThreads + choice.decodeThreads, Math.max(2, choice.intraOpThreads + 1), 'tile decoding gets the cores inference leaves');
  assert.ok(choice.reasons.some((r) => /NEON only/.test(r)), choice.reasons.join('\n'));
});

test('a WebGPU provider without a real GPU is not used', () => {
  const choice = selectVariant(machine({ cores: 4, flags: ['avx2'], totalMB: 8192, availableMB: 6000, providers: ['cpu', 'webgpu'] }), {
    ...model,
    variants: [variant('fp16-webgpu', 'fp16', ['webgpu'], 300), variant('fp32', 'fp32', ['cpu'], 300)],
  });
  assert.equal(choice.executionProvider, 'cpu');
  assert.match(choice.rejectedProviders.find((p) => p.provider === 'webgpu')?.reason ?? '', /none of the hardware it drives was found/);
});

test('a single-core box still gets one intra-op thread', () => {
  const choice = selectVariant(machine({ cores: 1, flags: [], totalMB: 4096, availableMB: 3000 }), model);
  assert.equal(choice.intraOpThreads, 1);
  assert.ok(choice.reasons.some((r) => /only 1 physical core/.test(r)));
});

test('overrides: a forced variant is honoured and said so', () => {
  const choice = selectVariant(machine({ cores: 4, flags: ['sse4_2'], totalMB: 8192, availableMB: 6000 }), model, { override: { variant: 'int8' } });
  assert.equal(choice.variant.name, 'int8');
  assert.ok(choice.reasons.includes('variant "int8" forced by configuration'));
  assert.match(reasonOf(choice.rejected, 'fp32'), /configuration forces "int8"/);
});

test('overrides that cannot be honoured are clear errors', () => {
  const small = machine({ cores: 4, flags: ['avx2'], totalMB: 4096, availableMB: 2500, unavailable: [{ name: 'cuda', reason: 'Failed to load shared library' }] });
  const expectError = (options: Parameters<typeof selectVariant>[2], code: string, message: RegExp) =>
    assert.throws(
      () => selectVariant(small, model, options),
      (error: unknown) => error instanceof ModelSelectionError && error.code === code && message.test(error.message),
    );
  expectError({ override: { variant: 'fp64' } }, 'UNKNOWN_VARIANT', /forces variant "fp64", but model "tumour-classifier" has only "fp32", "int8"/);
  expectError({ override: { variant: 'fp32-large' } }, 'OVERRIDE_NOT_POSSIBLE', /forces variant "fp32-large", but it needs 3000 MB/);
  expectError({ override: { executionProvider: 'cuda' } }, 'OVERRIDE_NOT_POSSIBLE', /forces provider cuda, but onnxruntime cannot use it here: Failed to load shared library/);
  const withCuda = { ...small, executionProviders: { available: ['cpu', 'cuda'], unavailable: [] } };
  assert.throws(
    () => selectVariant(withCuda, model, { override: { variant: 'int8', executionProvider: 'cuda' } }),
    (error: unknown) => error instanceof ModelSelectionError && error.code === 'OVERRIDE_NOT_POSSIBLE' && /"int8" does not target cuda/.test(error.message),
  );
});

test('nothing fits: NO_USABLE_VARIANT listing each variant with its reason', () => {
  assert.throws(
    () => selectVariant(machine({ cores: 2, flags: [], totalMB: 1024, availableMB: 600 }), model),
    (error: unknown) => {
      assert.ok(error instanceof ModelSelectionError);
      assert.equal(error.code, 'NO_USABLE_VARIANT');
      assert.equal(error.rejected.length, model.variants.length);
      assert.match(reasonOf([...error.rejected], 'int8'), /needs 200 MB but only 88 MB is free/);
      return true;
    },
  );
  assert.throws(() => selectVariant(machine({ cores: 2, flags: [], totalMB: 1024, availableMB: 600 }), { ...model, variants: [] }), /lists no variants/);
});

test('selection is pure: same answer twice, inputs untouched', () => {
  const hardware = machine({ cores: 8, flags: ['avx2'], totalMB: 16384, availableMB: 12000, gpus: [NVIDIA_GPU], accelerators: [CORAL] });
  const before = structuredClone({ hardware, model });
  assert.deepEqual(selectVariant(hardware, model), selectVariant(hardware, model));
  assert.deepEqual({ hardware, model }, before);
});

test('when the preferred precision has no fitting variant, the reason says so instead of praising it', () => {
  const choice = selectVariant(machine({ cores: 4, flags: ['avx512_vnni'], totalMB: 8192, availableMB: 6000 }), {
    ...model,
    variants: [variant('fp32', 'fp32', ['cpu'], 300)],
  });
  assert.equal(choice.variant.name, 'fp32');
  assert.ok(choice.reasons.some((r) => /variant "fp32" \(fp32\): no fitting int8 variant, which would be preferred/.test(r)), choice.reasons.join('\n'));
});
