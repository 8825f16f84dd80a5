/** PCI and USB-interface enumeration read sysfs; a fake sysfs tree stands in for hardware we do not have. */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { listPciDevices } from '../../src/device/pci.ts';
import { readInterfaceClasses } from '../../src/device/usb.ts';

const sysfs = await mkdtemp(path.join(os.tmpdir(), 'pathbox-sysfs-'));
after(() => rm(sysfs, { recursive: true, force: true }));

async function put(relative: string, content: string): Promise<void> {
  const file = path.join(sysfs, relative);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, content);
}

test('PCI devices are read from sysfs vendor/device files; incomplete entries are skipped', async () => {
  await put('bus/pci/devices/0000:03:00.0/vendor', '0x1e60\n');
  await put('bus/pci/devices/0000:03:00.0/device', '0x2864\n');
  await put('bus/pci/devices/0000:00:00.0/vendor', '0x8086\n');
  await put('bus/pci/devices/0000:00:00.0/device', '0x1237\n');
  await put('bus/pci/devices/0000:04:00.0/vendor', '0x10de\n'); // device file vanished mid-scan
  assert.deepEqual(await listPciDevices(sysfs), [
    { vendorId: 0x8086, productId: 0x1237, location: '0000:00:00.0' },
    { vendorId: 0x1e60, productId: 0x2864, location: '0000:03:00.0' },
  ]);
});

test('without PCI in sysfs the listing fails (the probe turns that into available:false)', async () => {
  await assert.rejects(listPciDevices(path.join(sysfs, 'nothing-here')), /ENOENT/);
});

test("a USB device's interface classes come from its '<name>:<config>.<n>' children", async () => {
  await put('bus/usb/devices/2-1.4/2-1.4:1.0/bInterfaceClass', '08\n');
  await put('bus/usb/devices/2-1.4/2-1.4:1.1/bInterfaceClass', 'ff\n');
  await put('bus/usb/devices/2-1.4/power/control', 'auto\n');
  assert.deepEqual(await readInterfaceClasses(sysfs, '2-1.4'), [0x08, 0xff]);
  assert.deepEqual(await readInterfaceClasses(sysfs, '9-9'), []);
  assert.deepEqual(await readInterfaceClasses(sysfs, null), []);
});
