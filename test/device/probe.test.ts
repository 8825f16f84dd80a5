/**
 * The probe's logic on machines we do not have: every source is replaced. The real machine is covered by
 * real-probe.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadDeviceTable } from '../../src/device/device-table.ts';
import { HardwareProber, type ProbeSources } from '../../src/device/probe.ts';

const table = await loadDeviceTable();
const MB = 1024 * 1024;
const never = <T>(): Promise<T> => new Promise<T>(() => undefined);

/** A healthy 8-core box with an NVIDIA GPU, a Coral stick, a USB stick and a Hailo-8 card. */
function machine(overrides: Partial<ProbeSources> = {}): Partial<ProbeSources> {
  return {
    systemCpu: async () => ({ manufacturer: 'Intel', brand: 'Core i7-12700', cores: 16, physicalCores: 8, flags: 'sse4_2 avx2 fma avx_vnni' }),
    systemCpuFlags: async () => 'sse4_2 avx2 fma avx_vnni',
    systemMemory: async () => ({ total: 16384 * MB, available: 12000 * MB }),
    systemGraphics: async () => ({
      controllers: [
        { vendor: 'NVIDIA Corporation', vendorId: '10de', model: 'RTX A2000', vram: 6144, vramDynamic: false },
        { vendor: 'Intel Corporation', model: 'UHD Graphics 770', vram: 256, vramDynamic: true },
      ],
    }),
    procCpuinfo: async () => '',
    usbDevices: async () => [
      { vendorId: 0x18d1, productId: 0x9302, deviceClass: 0, interfaceClasses: [0xff], location: 'bus 1 port 2' },
      { vendorId: 0x0781, productId: 0x5581, deviceClass: 0, interfaceClasses: [0x08], location: 'bus 2 port 1' },
      { vendorId: 0x046d, productId: 0xc31c, deviceClass: 0, interfaceClasses: [0x03], location: 'bus 1 port 3' },
    ],
    pciDevices: async () => [
      { vendorId: 0x1e60, productId: 0x2864, location: '0000:03:00.0' },
      { vendorId: 0x8086, productId: 0x1237, location: '0000:00:00.0' },
    ],
    executionProviders: async () => ({ ok: true, profile: { available: ['cpu', 'cuda'], unavailable: [{ name: 'tensorrt', reason: 'no library' }] } }),
    deviceTable: async () => table,
    os: () => ({
      platform: 'linux',
      arch: 'x64',
      release: '6.1.0',
      cpuCount: 16,
      availableParallelism: 16,
      totalBytes: 16384 * MB,
      freeBytes: 11000 * MB,
      constrainedBytes: 0,
      processAvailableBytes: 12000 * MB,
    }),
    ...overrides,
  };
}

test('a healthy machine: CPU, memory, GPUs, recognised USB/PCI devices and providers', async () => {
  const profile = await new HardwareProber(machine()).probe();
  assert.deepEqual(profile.cpu, {
    vendor: 'Intel',
    model: 'Core i7-12700',
    arch: 'x64',
    physicalCores: 8,
    logicalCores: 16,
    flags: ['avx2', 'avx_vnni', 'sse4_2', 'fma'],
    source: 'systeminformation',
  });
  assert.deepEqual(profile.memory, { totalMB: 16384, availableMB: 12000, source: 'systeminformation' });
  assert.deepEqual(
    profile.gpus.map((g) => [g.vendor, g.model, g.memoryMB]),
    [
      ['nvidia', 'RTX A2000', 6144],
      ['intel', 'UHD Graphics 770', null],
    ],
  );
  assert.ok(profile.usb.available);
  assert.deepEqual(
    profile.usb.devices.map((d) => [d.vendorId, d.productId, d.kind]),
    [
      ['18d1', '9302', 'accelerator'],
      ['0781', '5581', 'storage'],
    ],
  );
  assert.deepEqual(
    profile.accelerators.map((a) => `${a.bus} ${a.vendorId}:${a.productId}`),
    ['usb 18d1:9302', 'pci 1e60:2864'],
  );
  assert.deepEqual(profile.executionProviders.available, ['cpu', 'cuda']);
  assert.deepEqual(profile.warnings, []);
});

test('a hung systeminformation falls back to /proc/cpuinfo and os figures, with warnings, within the deadline', async () => {
  const profile = await new HardwareProber(
    machine({
      systemCpu: never,
      systemMemory: never,
      systemGraphics: never,
      procCpuinfo: async () => 'processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC\ncore id\t: 0\nflags\t: avx2 fma\n',
    }),
    { systemMs: 50 },
  ).probe();
  assert.equal(profile.cpu.source, 'proc-cpuinfo');
  assert.equal(profile.cpu.vendor, 'AMD');
  assert.deepEqual(profile.cpu.flags, ['avx2', 'fma']);
  assert.equal(profile.memory.source, 'os');
  assert.equal(profile.memory.totalMB, 16384);
  assert.equal(profile.memory.availableMB, 11000);
  assert.deepEqual(profile.gpus, []);
  for (const source of ['systeminformation.cpu', 'systeminformation.mem', 'systeminformation.graphics']) {
    assert.ok(
      profile.warnings.some((w) => w.includes(source) && w.includes('did not answer within 50 ms')),
      `no timeout warning for ${source}: ${profile.warnings.join(' | ')}`,
    );
  }
});

test('with every CPU source failing, cores come from Node and the flags are declared unknown', async () => {
  const profile = await new HardwareProber(
    machine({ systemCpu: async () => Promise.reject(new Error('dmidecode exploded')), procCpuinfo: never }),
    { systemMs: 50 },
  ).probe();
  assert.equal(profile.cpu.source, 'os');
  assert.equal(profile.cpu.logicalCores, 16);
  assert.deepEqual(profile.cpu.flags, []);
  assert.ok(profile.warnings.some((w) => w.includes('dmidecode exploded')));
  assert.ok(profile.warnings.some((w) => w.includes('CPU flags unknown')));
});

test('no USB subsystem or no PCI sysfs is reported as unavailable with the reason, not thrown', async () => {
  const profile = await new HardwareProber(
    machine({
      usbDevices: async () => Promise.reject(new Error('getDevices error: /sys/bus/usb/devices/ not found')),
      pciDevices: never,
    }),
    { busMs: 50 },
  ).probe();
  assert.deepEqual(profile.usb, { available: false, reason: 'USB enumeration failed: getDevices error: /sys/bus/usb/devices/ not found' });
  assert.equal(profile.pci.available, false);
  assert.match(profile.pci.available ? '' : profile.pci.reason, /PCI enumeration did not answer within 50 ms/);
  assert.deepEqual(profile.accelerators, []);
});

test('a cgroup memory limit and the affinity mask cap what the probe reports', async () => {
  const profile = await new HardwareProber(
    machine({
      os: () => ({ ...machine().os!(), constrainedBytes: 2048 * MB, processAvailableBytes: 1500 * MB, availableParallelism: 4 }),
    }),
  ).probe();
  assert.equal(profile.memory.totalMB, 2048);
  assert.equal(profile.memory.availableMB, 1500);
  assert.equal(profile.cpu.logicalCores, 4);
  assert.equal(profile.cpu.physicalCores, 4);
});

test('a failed provider check leaves no providers and says why', async () => {
  const profile = await new HardwareProber(
    machine({ executionProviders: async () => ({ ok: false, reason: 'onnxruntime-node could not be loaded: no binding' }) }),
  ).probe();
  assert.deepEqual(profile.executionProviders, { available: [], unavailable: [] });
  assert.ok(profile.warnings.includes('onnxruntime-node could not be loaded: no binding'));
});

test('a broken device table disables USB and PCI matching with one warning', async () => {
  const profile = await new HardwareProber(machine({ deviceTable: async () => Promise.reject(new Error('device table x: kind invalid')) })).probe();
  assert.equal(profile.usb.available, false);
  assert.equal(profile.pci.available, false);
  assert.equal(profile.warnings.filter((w) => w.includes('kind invalid')).length, 1);
});

test('stable facts are probed once, memory on every call, USB again after invalidation', async () => {
  const calls = { cpu: 0, graphics: 0, providers: 0, memory: 0, usb: 0 };
  let available = 12000 * MB;
  const base = machine();
  const prober = new HardwareProber(
    machine({
      systemCpu: () => (calls.cpu++, base.systemCpu!()),
      systemGraphics: () => (calls.graphics++, base.systemGraphics!()),
      executionProviders: (ms) => (calls.providers++, base.executionProviders!(ms)),
      systemMemory: async () => (calls.memory++, { total: 16384 * MB, available }),
      usbDevices: () => (calls.usb++, base.usbDevices!()),
    }),
  );
  const first = await prober.probe();
  available = 9000 * MB;
  const second = await prober.probe();
  assert.deepEqual(calls, { cpu: 1, graphics: 1, providers: 1, memory: 2, usb: 1 });
  assert.equal(first.memory.availableMB, 12000);
  assert.equal(second.memory.availableMB, 9000);
  prober.invalidateUsb();
  await prober.probe();
  assert.equal(calls.usb, 2);
  assert.equal(calls.cpu, 1);
});
