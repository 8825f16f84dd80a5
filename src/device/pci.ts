/**
 * PCI enumeration from sysfs. Hailo-8 and the Coral M.2 card are PCIe-only, so USB alone would miss them;
 * sysfs needs no privileges and no lspci binary.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { RawPciDevice } from './device-table.ts';

export async function listPciDevices(sysfsRoot = '/sys'): Promise<RawPciDevice[]> {
  const devicesDir = path.join(sysfsRoot, 'bus', 'pci', 'devices');
  const addresses = await readdir(devicesDir);
  const devices: RawPciDevice[] = [];
  for (const address of addresses.sort()) {
    const vendorId = await readHexFile(path.join(devicesDir, address, 'vendor'));
    const productId = await readHexFile(path.join(devicesDir, address, 'device'));
    if (vendorId !== null && productId !== null) devices.push({ vendorId, productId, location: address });
  }
  return devices;
}

/** sysfs id files hold "0x10de\n"; a device that vanishes mid-scan is skipped rather than failing the scan. */
export async function readHexFile(file: string): Promise<number | null> {
  try {
    const value = Number.parseInt((await readFile(file, 'utf8')).trim(), 16);
    return Number.isFinite(value) ? value : null;
  } catch {
    return null;
  }
}
