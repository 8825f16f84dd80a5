/**
 * What the hardware probe reports. Selection (src/models/selection.ts), the dashboard and telemetry read
 * this shape; tests build it by hand to stand for machines we do not have.
 */

/** The instruction-set extensions that change which model variant runs fastest; everything else is dropped. */
export const CPU_FLAGS = ['avx2', 'avx512f', 'avx512_vnni', 'avx_vnni', 'amx', 'neon', 'sse4_2', 'fma'] as const;
export type CpuFlag = (typeof CPU_FLAGS)[number];

export interface CpuProfile {
  vendor: string;
  model: string;
  /** Node's process.arch: 'x64', 'arm64', ... */
  arch: string;
  physicalCores: number;
  logicalCores: number;
  flags: CpuFlag[];
  /** Where the facts came from, so a surprising answer can be traced. */
  source: 'systeminformation' | 'proc-cpuinfo' | 'os';
}

export interface MemoryProfile {
  totalMB: number;
  /** Memory this process could still allocate (MemAvailable, lowered by a cgroup limit if one applies). */
  availableMB: number;
  source: 'systeminformation' | 'os';
}

export type GpuVendor = 'nvidia' | 'amd' | 'intel' | 'apple' | 'other';

export interface GpuProfile {
  vendor: GpuVendor;
  /** The vendor string as the system reported it. */
  vendorName: string;
  model: string;
  /** Dedicated memory; null when unknown or shared with the CPU. */
  memoryMB: number | null;
}

export type AttachedDeviceKind = 'accelerator' | 'scanner' | 'storage';

/** A USB or PCI device that matched device/usb-ids.json. */
export interface AttachedDevice {
  bus: 'usb' | 'pci';
  /** Four lower-case hex digits, as lsusb/lspci print them. */
  vendorId: string;
  productId: string;
  kind: AttachedDeviceKind;
  name: string;
  /** The onnxruntime execution provider that drives it, or null when onnxruntime has none. */
  executionProvider: string | null;
  /** Where it sits: USB "bus 1 port 3.4", PCI "0000:01:00.0". */
  location: string;
}

/** A bus we could not enumerate (no USB subsystem, no permission, not Linux) is a normal state, not an error. */
export type BusStatus = { available: true; devices: AttachedDevice[] } | { available: false; reason: string };

export interface ExecutionProviderProfile {
  /** Providers with which a real onnxruntime session was created on this machine; 'cpu' whenever onnxruntime loads. */
  available: string[];
  /** Providers onnxruntime-node knows of but could not use here, with onnxruntime's own reason. */
  unavailable: { name: string; reason: string }[];
}

export interface HardwareProfile {
  probedAt: string;
  platform: { os: string; arch: string; release: string };
  cpu: CpuProfile;
  memory: MemoryProfile;
  gpus: GpuProfile[];
  usb: BusStatus;
  pci: BusStatus;
  /** The accelerator-kind devices of usb and pci together: what model selection looks at. */
  accelerators: AttachedDevice[];
  executionProviders: ExecutionProviderProfile;
  /** Parts of the probe that timed out or fell back to a weaker source. */
  warnings: string[];
}
