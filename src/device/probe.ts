/**
 * The hardware probe. Every source runs under a deadline and falls back to a weaker one; what cannot be
 * learned is reported (warnings, `available: false`), never thrown. Results that do not change while the
 * box runs (CPU, GPUs, PCI, onnxruntime providers) are cached; USB is cached until a hotplug event;
 * free memory is read on every call because it is what selection budgets against.
 */
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import si from 'systeminformation';
import { normaliseCpuFlags, parseProcCpuinfo } from './cpu.ts';
import { loadDeviceTable, matchPciDevice, matchUsbDevice, type DeviceTable, type RawPciDevice, type RawUsbDevice } from './device-table.ts';
import { listPciDevices } from './pci.ts';
import { probeExecutionProviders, type ProviderProbe } from './providers.ts';
import { errorMessage, withDeadline } from './timeout.ts';
import type { AttachedDevice, BusStatus, CpuProfile, ExecutionProviderProfile, GpuProfile, GpuVendor, HardwareProfile, MemoryProfile } from './types.ts';
import { listUsbDevices, watchUsbDevices, type UsbChange, type UsbWatch } from './usb.ts';

/** What the probe reads; tests replace any of these to stand for other machines or for a hung source. */
export interface ProbeSources {
  systemCpu(): Promise<{ manufacturer: string; brand: string; cores: number; physicalCores: number; flags: string }>;
  systemCpuFlags(): Promise<string>;
  systemMemory(): Promise<{ total: number; available: number }>;
  systemGraphics(): Promise<{ controllers: { vendor: string; vendorId?: string; model: string; vram: number | null; vramDynamic: boolean }[] }>;
  procCpuinfo(): Promise<string>;
  usbDevices(): Promise<RawUsbDevice[]>;
  pciDevices(): Promise<RawPciDevice[]>;
  executionProviders(timeoutMs: number): Promise<ProviderProbe>;
  deviceTable(): Promise<DeviceTable>;
  /** Facts Node itself knows; also the last-resort source for CPU and memory. */
  os(): { platform: string; arch: string; release: string; cpuCount: number; availableParallelism: number; totalBytes: number; freeBytes: number; constrainedBytes: number; processAvailableBytes: number };
}

export interface ProbeDeadlines {
  /** Each systeminformation call and /proc read. */
  systemMs: number;
  /** USB and PCI enumeration. */
  busMs: number;
  /** The whole onnxruntime provider check (loading onnxruntime and starting every provider). */
  providersMs: number;
}

export const DEFAULT_DEADLINES: ProbeDeadlines = { systemMs: 5_000, busMs: 3_000, providersMs: 20_000 };

export const systemSources: ProbeSources = {
  systemCpu: () => si.cpu(),
  systemCpuFlags: () => si.cpuFlags(),
  systemMemory: () => si.mem(),
  systemGraphics: () => si.graphics(),
  procCpuinfo: () => readFile('/proc/cpuinfo', 'utf8'),
  usbDevices: () => listUsbDevices(),
  pciDevices: () => listPciDevices(),
  executionProviders: (timeoutMs) => probeExecutionProviders(timeoutMs),
  deviceTable: () => loadDeviceTable(),
  os: () => ({
    platform: process.platform,
    arch: process.arch,
    release: os.release(),
    cpuCount: os.cpus().length,
    availableParallelism: os.availableParallelism(),
    totalBytes: os.totalmem(),
    freeBytes: os.freemem(),
    constrainedBytes: process.constrainedMemory(),
    processAvailableBytes: process.availableMemory(),
  }),
};

interface StableFacts {
  cpu: CpuProfile;
  gpus: GpuProfile[];
  pci: BusStatus;
  executionProviders: ExecutionProviderProfile;
  warnings: string[];
}

const MB = 1024 * 1024;

export class HardwareProber {
  readonly #sources: ProbeSources;
  readonly #deadlines: ProbeDeadlines;
  #stable: Promise<StableFacts> | undefined;
  #usb: Promise<{ status: BusStatus; warnings: string[] }> | undefined;
  #table: Promise<DeviceTable> | undefined;

  constructor(sources: Partial<ProbeSources> = {}, deadlines: Partial<ProbeDeadlines> = {}) {
    this.#sources = { ...systemSources, ...sources };
    this.#deadlines = { ...DEFAULT_DEADLINES, ...deadlines };
  }

  async probe(): Promise<HardwareProfile> {
    this.#stable ??= this.#probeStable();
    this.#usb ??= this.#probeUsb();
    const memoryWarnings: string[] = [];
    const [stable, usb, memory] = await Promise.all([this.#stable, this.#usb, this.#probeMemory(memoryWarnings)]);
    const osFacts = this.#sources.os();
    return {
      probedAt: new Date().toISOString(),
      platform: { os: osFacts.platform, arch: osFacts.arch, release: osFacts.release },
      cpu: stable.cpu,
      memory,
      gpus: stable.gpus,
      usb: usb.status,
      pci: stable.pci,
      accelerators: [usb.status, stable.pci].flatMap((bus) => (bus.available ? bus.devices.filter((d) => d.kind === 'accelerator') : [])),
      executionProviders: stable.executionProviders,
      // USB and PCI both report a broken device table; say it once.
      warnings: [...new Set([...stable.warnings, ...usb.warnings, ...memoryWarnings])],
    };
  }

  /** Forget the USB answer; the next probe() enumerates again. Hotplug calls this. */
  invalidateUsb(): void {
    this.#usb = undefined;
  }

  /** Hotplug of recognised USB devices; each change also invalidates the cached USB answer. */
  async watchUsb(onChange: (change: UsbChange) => void): Promise<UsbWatch> {
    let table: DeviceTable;
    try {
      table = await this.#deviceTable();
    } catch (error) {
      return { active: false, reason: errorMessage(error), stop: async () => undefined };
    }
    return watchUsbDevices(table, (change) => {
      this.invalidateUsb();
      onChange(change);
    });
  }

  #deviceTable(): Promise<DeviceTable> {
    this.#table ??= this.#sources.deviceTable();
    return this.#table;
  }

  async #probeStable(): Promise<StableFacts> {
    const warnings: string[] = [];
    const { providersMs } = this.#deadlines;
    const [cpu, gpus, pci, providers] = await Promise.all([
      this.#probeCpu(warnings),
      this.#probeGpus(warnings),
      this.#probeBus('PCI enumeration', () => this.#sources.pciDevices(), matchPciDevice, warnings),
      // The checker kills itself at providersMs; the outer deadline only guards against a stuck spawn.
      withDeadline('onnxruntime provider check', providersMs + 2_000, () => this.#sources.executionProviders(providersMs)),
    ]);
    let executionProviders: ExecutionProviderProfile = { available: [], unavailable: [] };
    const outcome = providers.ok ? providers.value : providers;
    if (outcome.ok) executionProviders = outcome.profile;
    else warnings.push(outcome.reason);
    return { cpu, gpus, pci, executionProviders, warnings };
  }

  async #probeUsb(): Promise<{ status: BusStatus; warnings: string[] }> {
    const warnings: string[] = [];
    const status = await this.#probeBus('USB enumeration', () => this.#sources.usbDevices(), matchUsbDevice, warnings);
    return { status, warnings };
  }

  async #probeBus<Raw>(
    label: string,
    list: () => Promise<Raw[]>,
    match: (table: DeviceTable, device: Raw) => AttachedDevice | null,
    warnings: string[],
  ): Promise<BusStatus> {
    const table = await withDeadline('device table', this.#deadlines.systemMs, () => this.#deviceTable());
    if (!table.ok) {
      warnings.push(table.reason);
      return { available: false, reason: table.reason };
    }
    const devices = await withDeadline(label, this.#deadlines.busMs, list);
    if (!devices.ok) return { available: false, reason: devices.reason };
    return { available: true, devices: devices.value.flatMap((d) => match(table.value, d) ?? []) };
  }

  async #probeCpu(warnings: string[]): Promise<CpuProfile> {
    const { systemMs } = this.#deadlines;
    const osFacts = this.#sources.os();
    const arch = osFacts.arch;
    // Threads beyond our CPU affinity mask would only contend with each other.
    const usable = (cores: number): number => Math.max(1, Math.min(cores, osFacts.availableParallelism));

    const fromSystem = await withDeadline('systeminformation.cpu', systemMs, () => this.#sources.systemCpu());
    if (fromSystem.ok && fromSystem.value.cores > 0) {
      const cpu = fromSystem.value;
      let rawFlags = cpu.flags;
      if (rawFlags.trim() === '') {
        const flags = await withDeadline('systeminformation.cpuFlags', systemMs, () => this.#sources.systemCpuFlags());
        if (flags.ok) rawFlags = flags.value;
        else warnings.push(flags.reason);
      }
      const logicalCores = usable(cpu.cores);
      return {
        vendor: cpu.manufacturer,
        model: cpu.brand,
        arch,
        physicalCores: Math.min(usable(cpu.physicalCores || cpu.cores), logicalCores),
        logicalCores,
        flags: normaliseCpuFlags(rawFlags, arch),
        source: 'systeminformation',
      };
    }
    warnings.push(fromSystem.ok ? 'systeminformation.cpu reported no cores' : fromSystem.reason);

    const fromProc = await withDeadline('/proc/cpuinfo', systemMs, () => this.#sources.procCpuinfo());
    if (fromProc.ok) {
      const facts = parseProcCpuinfo(fromProc.value);
      if (facts.logicalCores > 0) {
        const logicalCores = usable(facts.logicalCores);
        return {
          vendor: facts.vendor,
          model: facts.model,
          arch,
          physicalCores: Math.min(usable(facts.physicalCores ?? facts.logicalCores), logicalCores),
          logicalCores,
          flags: normaliseCpuFlags(facts.rawFlags, arch),
          source: 'proc-cpuinfo',
        };
      }
    } else {
      warnings.push(fromProc.reason);
    }
    warnings.push('CPU flags unknown: model selection assumes a plain CPU');
    const cores = usable(osFacts.cpuCount);
    return { vendor: 'unknown', model: 'unknown', arch, physicalCores: cores, logicalCores: cores, flags: normaliseCpuFlags('', arch), source: 'os' };
  }

  async #probeMemory(warnings: string[]): Promise<MemoryProfile> {
    const osFacts = this.#sources.os();
    const fromSystem = await withDeadline('systeminformation.mem', this.#deadlines.systemMs, () => this.#sources.systemMemory());
    if (!fromSystem.ok) warnings.push(`${fromSystem.reason}; using Node's os figures`);
    let total = fromSystem.ok ? fromSystem.value.total : osFacts.totalBytes;
    let available = fromSystem.ok ? fromSystem.value.available : osFacts.freeBytes;
    // A cgroup limit (systemd MemoryMax=, a container) caps us below what the machine has.
    if (osFacts.constrainedBytes > 0 && osFacts.constrainedBytes < total) total = osFacts.constrainedBytes;
    if (osFacts.processAvailableBytes > 0) available = Math.min(available, osFacts.processAvailableBytes);
    return { totalMB: Math.floor(total / MB), availableMB: Math.floor(Math.min(available, total) / MB), source: fromSystem.ok ? 'systeminformation' : 'os' };
  }

  async #probeGpus(warnings: string[]): Promise<GpuProfile[]> {
    const graphics = await withDeadline('systeminformation.graphics', this.#deadlines.systemMs, () => this.#sources.systemGraphics());
    if (!graphics.ok) {
      warnings.push(`${graphics.reason}; GPUs unknown`);
      return [];
    }
    return graphics.value.controllers.map((controller) => ({
      vendor: gpuVendor(controller.vendor, controller.vendorId),
      vendorName: controller.vendor,
      model: controller.model,
      memoryMB: controller.vram !== null && controller.vram > 0 && !controller.vramDynamic ? controller.vram : null,
    }));
  }
}

const GPU_VENDORS: { vendor: GpuVendor; names: RegExp; pciId: string }[] = [
  { vendor: 'nvidia', names: /nvidia/i, pciId: '10de' },
  { vendor: 'amd', names: /\bamd\b|advanced micro devices|\bati\b/i, pciId: '1002' },
  { vendor: 'intel', names: /intel/i, pciId: '8086' },
  { vendor: 'apple', names: /apple/i, pciId: '106b' },
];

function gpuVendor(name: string, pciId: string | undefined): GpuVendor {
  const id = pciId?.toLowerCase().replace(/^0x/, '');
  return GPU_VENDORS.find((v) => v.names.test(name) || v.pciId === id)?.vendor ?? 'other';
}

const defaultProber = new HardwareProber();

/** The hardware of this machine. The first call takes up to about DEFAULT_DEADLINES.providersMs; later calls are quick. */
export function probeHardware(): Promise<HardwareProfile> {
  return defaultProber.probe();
}

/** Attach/detach of recognised USB devices (accelerators, scanners, storage). Inactive, never failing, without USB. */
export function watchUsb(onChange: (change: UsbChange) => void): Promise<UsbWatch> {
  return defaultProber.watchUsb(onChange);
}
