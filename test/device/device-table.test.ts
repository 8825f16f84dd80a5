import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { loadDeviceTable, matchPciDevice, matchUsbDevice, type RawUsbDevice } from '../../src/device/device-table.ts';
import { DeviceError } from '../../src/device/errors.ts';

const tmp = await mkdtemp(path.join(os.tmpdir(), 'pathbox-device-table-'));
after(() => rm(tmp, { recursive: true, force: true }));

const table = await loadDeviceTable();
const usb = (vendorId: number, productId: number, classes: Partial<Pick<RawUsbDevice, 'deviceClass' | 'interfaceClasses'>> = {}): RawUsbDevice => ({
  vendorId,
  productId,
  deviceClass: classes.deviceClass ?? 0,
  interfaceClasses: classes.interfaceClasses ?? [],
  location: 'bus 1 port 2',
});

test('the shipped table knows the Coral (both ids), the NCS2 and Hailo-8', () => {
  const coralBoot = matchUsbDevice(table, usb(0x1a6e, 0x089a));
  const coralReady = matchUsbDevice(table, usb(0x18d1, 0x9302));
  const ncs2 = matchUsbDevice(table, usb(0x03e7, 0x2485));
  const hailo = matchPciDevice(table, { vendorId: 0x1e60, productId: 0x2864, location: '0000:01:00.0' });
  assert.equal(coralBoot?.kind, 'accelerator');
  assert.equal(coralBoot?.executionProvider, null);
  assert.equal(coralReady?.kind, 'accelerator');
  assert.equal(ncs2?.executionProvider, 'openvino');
  assert.equal(hailo?.kind, 'accelerator');
  assert.equal(hailo?.bus, 'pci');
  assert.equal(hailo?.location, '0000:01:00.0');
  assert.match(hailo?.name ?? '', /Hailo-8/);
});

test('USB storage is recognised by interface class 08 even though its device class is 0', () => {
  const stick = matchUsbDevice(table, usb(0x0781, 0x5581, { interfaceClasses: [0x08] }));
  assert.equal(stick?.kind, 'storage');
  assert.equal(stick?.vendorId, '0781');
  assert.equal(stick?.productId, '5581');
});

test('unknown devices (a keyboard, a hub) are not reported', () => {
  assert.equal(matchUsbDevice(table, usb(0x046d, 0xc31c, { interfaceClasses: [0x03] })), null);
  assert.equal(matchUsbDevice(table, usb(0x1d6b, 0x0002, { deviceClass: 0x09 })), null);
  assert.equal(matchPciDevice(table, { vendorId: 0x8086, productId: 0x1237, location: '0000:00:00.0' }), null);
});

test('a broken table is refused with a message naming the file and the problem', async () => {
  const cases: [string, string, RegExp][] = [
    ['not-json.json', '{ "usb": [', /is not JSON/],
    ['upper-case.json', JSON.stringify({ ...table, usb: [{ ...table.usb[0], vendorId: '1A6E' }] }), /vendorId|hex/],
    ['bad-kind.json', JSON.stringify({ ...table, usb: [{ ...table.usb[0], kind: 'toaster' }] }), /kind/],
    ['duplicate.json', JSON.stringify({ ...table, usb: [table.usb[0], table.usb[0]] }), /usb 1a6e:089a more than once/],
  ];
  for (const [name, content, message] of cases) {
    const file = path.join(tmp, name);
    await writeFile(file, content);
    await assert.rejects(loadDeviceTable(file), (error: unknown) => {
      assert.ok(error instanceof DeviceError);
      assert.equal(error.code, 'DEVICE_TABLE_INVALID');
      assert.ok(error.message.includes(file), error.message);
      assert.match(error.message, message);
      return true;
    });
  }
  await assert.rejects(loadDeviceTable(path.join(tmp, 'absent.json')), /cannot read device table/);
});

test('the udev rules and the table list the same accelerators and scanners', async () => {
  const rules = (await readFile(new URL('../../device/99-pathbox-usb.rules', import.meta.url), 'utf8'))
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith('#'));
  const usbRuleIds = rules
    .map((line) => /ATTR\{idVendor\}=="([0-9a-f]{4})".*ATTR\{idProduct\}=="([0-9a-f]{4})"/.exec(line))
    .filter((m) => m !== null)
    .map((m) => `${m[1]}:${m[2]}`)
    .sort();
  const tableIds = table.usb
    .filter((e) => e.kind !== 'storage')
    .map((e) => `${e.vendorId}:${e.productId}`)
    .sort();
  assert.deepEqual(usbRuleIds, tableIds);
  for (const line of rules) assert.match(line, /GROUP="pathbox"/, `rule without the pathbox group: ${line}`);

  const ruleSubsystems = rules.map((line) => /^SUBSYSTEM=="([^"]+)"/.exec(line)?.[1]).filter((s) => s !== 'usb');
  assert.deepEqual(ruleSubsystems.sort(), table.pci.map((e) => e.udevSubsystem).sort());
});
