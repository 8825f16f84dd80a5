export { probeHardware, watchUsb, HardwareProber, type ProbeSources, type ProbeDeadlines } from './probe.ts';
export { deviceId } from './identity.ts';
export { canonicalCpuFlag } from './cpu.ts';
export { DeviceError, type DeviceErrorCode } from './errors.ts';
export type { UsbChange, UsbWatch } from './usb.ts';
export {
  CPU_FLAGS,
  type AttachedDevice,
  type AttachedDeviceKind,
  type BusStatus,
  type CpuFlag,
  type CpuProfile,
  type ExecutionProviderProfile,
  type GpuProfile,
  type GpuVendor,
  type HardwareProfile,
  type MemoryProfile,
} from './types.ts';
export { processAlive } from './process-alive.ts';
