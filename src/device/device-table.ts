/**
 * The table of devices the box recognises (device/usb-ids.json, format in device/README.md) and the
 * matching of enumerated bus devices against it.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { DeviceError } from './errors.ts';
import type { AttachedDevice } from './types.ts';

export const DEVICE_TABLE_PATH = new URL('../../device/usb-ids.json', import.meta.url);

const hexId = z.string().regex(/^[0-9a-f]{4}$/, 'four lower-case hex digits, as lsusb prints them');
const deviceEntry = z.strictObject({
  vendorId: hexId,
  productId: hexId,
  kind: z.enum(['accelerator', 'scanner', 'storage']),
  name: z.string().min(1),
  executionProvider: z.string().min(1).nullable(),
  note: z.string().optional(),
});
const tableSchema = z.strictObject({
  schemaVersion: z.literal(1),
  usb: z.array(deviceEntry),
  usbInterfaceClasses: z.array(
    z.strictObject({
      interfaceClass: z.string().regex(/^[0-9a-f]{2}$/, 'two lower-case hex digits'),
      kind: z.enum(['accelerator', 'scanner', 'storage']),
      name: z.string().min(1),
    }),
  ),
  pci: z.array(deviceEntry.extend({ udevSubsystem: z.string().min(1).optional() })),
});

export type DeviceTable = z.infer<typeof tableSchema>;

export async function loadDeviceTable(path: URL | string = DEVICE_TABLE_PATH): Promise<DeviceTable> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new DeviceError('DEVICE_TABLE_INVALID', `cannot read device table ${String(path)}`, { cause: error });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new DeviceError('DEVICE_TABLE_INVALID', `device table ${String(path)} is not JSON`, { cause: error });
  }
  const parsed = tableSchema.safeParse(json);
  if (!parsed.success) {
    throw new DeviceError('DEVICE_TABLE_INVALID', `device table ${String(path)}: ${z.prettifyError(parsed.error)}`);
  }
  const duplicates = findDuplicateIds([...parsed.data.usb.map((e) => `usb ${e.vendorId}:${e.productId}`), ...parsed.data.pci.map((e) => `pci ${e.vendorId}:${e.productId}`)]);
  if (duplicates.length > 0) {
    throw new DeviceError('DEVICE_TABLE_INVALID', `device table ${String(path)} lists ${duplicates.join(', ')} more than once`);
  }
  return parsed.data;
}

function findDuplicateIds(ids: string[]): string[] {
  const seen = new Set<string>();
  return ids.filter((id) => seen.has(id) || !seen.add(id));
}

/** What the bus enumeration gives us about one USB device, independent of the usb package's classes. */
export interface RawUsbDevice {
  vendorId: number;
  productId: number;
  deviceClass: number;
  /** Classes of the active configuration's interfaces; storage is announced here, not in deviceClass. */
  interfaceClasses: number[];
  location: string;
}

export interface RawPciDevice {
  vendorId: number;
  productId: number;
  location: string;
}

export function hex4(id: number): string {
  return id.toString(16).padStart(4, '0');
}

/** Exact vendor:product entries win; otherwise a device is recognised by its (interface) class. */
export function matchUsbDevice(table: DeviceTable, device: RawUsbDevice): AttachedDevice | null {
  const vendorId = hex4(device.vendorId);
  const productId = hex4(device.productId);
  const entry = table.usb.find((e) => e.vendorId === vendorId && e.productId === productId);
  if (entry) {
    return { bus: 'usb', vendorId, productId, kind: entry.kind, name: entry.name, executionProvider: entry.executionProvider, location: device.location };
  }
  const classes = [device.deviceClass, ...device.interfaceClasses].map((c) => c.toString(16).padStart(2, '0'));
  const byClass = table.usbInterfaceClasses.find((c) => classes.includes(c.interfaceClass));
  if (byClass) {
    return { bus: 'usb', vendorId, productId, kind: byClass.kind, name: byClass.name, executionProvider: null, location: device.location };
  }
  return null;
}

export function matchPciDevice(table: DeviceTable, device: RawPciDevice): AttachedDevice | null {
  const vendorId = hex4(device.vendorId);
  const productId = hex4(device.productId);
  const entry = table.pci.find((e) => e.vendorId === vendorId && e.productId === productId);
  if (!entry) return null;
  return { bus: 'pci', vendorId, productId, kind: entry.kind, name: entry.name, executionProvider: entry.executionProvider, location: device.location };
}
