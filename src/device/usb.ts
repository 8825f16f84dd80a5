/**
 * USB enumeration and hotplug through the usb package (v3, node-usb-rs).
 *
 * We call its native layer (usb/index.js: nativeGetDevices, Emitter) rather than the WebUSB wrapper:
 * the wrapper's addEventListener rethrows a failed native call from a setTimeout and leaves a rejected
 * promise unhandled, which kills the process on a machine without /sys/bus/usb (seen on the CI machine).
 * Interface classes come from sysfs because the package reads them only by opening the device, which needs
 * write access to /dev/bus/usb and blocks the event loop.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { matchUsbDevice, type DeviceTable, type RawUsbDevice } from './device-table.ts';
import { readHexFile } from './pci.ts';
import { errorMessage } from './timeout.ts';
import type { AttachedDevice } from './types.ts';

type NativeUsb = typeof import('usb/index.js');
type NativeUsbDevice = InstanceType<NativeUsb['UsbDevice']>;

let nativeUsb: Promise<NativeUsb> | undefined;

/** The native binding is loaded on first use: a box whose binding is missing still starts, without USB. */
function loadNativeUsb(): Promise<NativeUsb> {
  nativeUsb ??= import('usb/index.js');
  return nativeUsb;
}

export async function listUsbDevices(sysfsRoot = '/sys'): Promise<RawUsbDevice[]> {
  const usb = await loadNativeUsb();
  const devices = await usb.nativeGetDevices();
  return Promise.all(devices.map((device) => describe(device, sysfsRoot)));
}

async function describe(device: NativeUsbDevice, sysfsRoot: string): Promise<RawUsbDevice> {
  return {
    vendorId: device.vendorId,
    productId: device.productId,
    deviceClass: device.deviceClass,
    interfaceClasses: await readInterfaceClasses(sysfsRoot, sysfsName(device)),
    location: `bus ${device.bus} port ${device.ports.join('.') || 'root'}`,
  };
}

/** Linux names a device's sysfs node "<bus>-<port chain>", e.g. "1-1.4"; root hubs have no port chain. */
function sysfsName(device: NativeUsbDevice): string | null {
  const bus = Number.parseInt(device.bus, 10);
  return Number.isFinite(bus) && device.ports.length > 0 ? `${bus}-${device.ports.join('.')}` : null;
}

/** Interfaces are the children "<name>:<config>.<interface>" of the device's sysfs node. */
export async function readInterfaceClasses(sysfsRoot: string, name: string | null): Promise<number[]> {
  if (name === null) return [];
  const deviceDir = path.join(sysfsRoot, 'bus', 'usb', 'devices', name);
  let entries: string[];
  try {
    entries = await readdir(deviceDir);
  } catch {
    return [];
  }
  const classes: number[] = [];
  for (const entry of entries.filter((e) => e.startsWith(`${name}:`)).sort()) {
    const interfaceClass = await readHexFile(path.join(deviceDir, entry, 'bInterfaceClass'));
    if (interfaceClass !== null) classes.push(interfaceClass);
  }
  return classes;
}

export interface UsbChange {
  type: 'attach' | 'detach';
  device: AttachedDevice;
}

export interface UsbWatch {
  /** False when hotplug could not be started; `reason` says why. Stopping is then a no-op. */
  active: boolean;
  reason?: string;
  stop(): Promise<void>;
}

/** The kernel adds a device's interfaces a moment after the device itself, so classes are re-read briefly. */
const INTERFACE_SETTLE_TRIES = 5;
const INTERFACE_SETTLE_DELAY_MS = 200;

/**
 * Report attach/detach of recognised devices (table entries and class matches). Unrecognised devices are
 * ignored. Never throws: without a USB subsystem it returns an inactive watch. `onChange` must handle its
 * own errors; one that throws surfaces as an uncaught exception, like any bug.
 */
export async function watchUsbDevices(
  table: DeviceTable,
  onChange: (change: UsbChange) => void,
  sysfsRoot = '/sys',
): Promise<UsbWatch> {
  let usb: NativeUsb;
  const known = new Map<string, AttachedDevice>();
  try {
    usb = await loadNativeUsb();
    for (const device of await usb.nativeGetDevices()) {
      const match = matchUsbDevice(table, await describe(device, sysfsRoot));
      if (match) known.set(device.handle, match);
    }
  } catch (error) {
    return inactive(`USB unavailable: ${errorMessage(error)}`);
  }

  const emitter = new usb.Emitter();
  let stopped = false;
  const onAttach = async (device: NativeUsbDevice): Promise<void> => {
    let raw = await describe(device, sysfsRoot);
    for (let tries = 1; !matchUsbDevice(table, raw) && tries < INTERFACE_SETTLE_TRIES; tries += 1) {
      await new Promise((resolve) => setTimeout(resolve, INTERFACE_SETTLE_DELAY_MS));
      raw = await describe(device, sysfsRoot);
    }
    const match = matchUsbDevice(table, raw);
    if (match && !stopped) {
      known.set(device.handle, match);
      onChange({ type: 'attach', device: match });
    }
  };
  const onDetach = (handle: string): void => {
    const match = known.get(handle);
    known.delete(handle);
    if (match && !stopped) onChange({ type: 'detach', device: match });
  };
  try {
    await emitter.addAttach((device) => void onAttach(device));
    await emitter.addDetach(onDetach);
  } catch (error) {
    await emitter.removeAttach().catch(() => undefined);
    return inactive(`USB hotplug unavailable: ${errorMessage(error)}`);
  }
  return {
    active: true,
    async stop() {
      stopped = true;
      await emitter.removeAttach().catch(() => undefined);
      await emitter.removeDetach().catch(() => undefined);
    },
  };
}

function inactive(reason: string): UsbWatch {
  return { active: false, reason, stop: async () => undefined };
}
