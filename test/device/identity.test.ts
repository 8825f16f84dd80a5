import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { DeviceError, deviceId } from '../../src/device/index.ts';

const tmp = await mkdtemp(path.join(os.tmpdir(), 'pathbox-identity-'));
after(() => rm(tmp, { recursive: true, force: true }));

async function machineIdFile(name: string, content: string): Promise<string> {
  const file = path.join(tmp, name);
  await writeFile(file, content);
  return file;
}

test('the id is derived from the machine id: stable, 32 hex digits, not the machine id itself', async () => {
  const machineId = '3d1219c7c4c5404aaa1f6d2a48adfda4';
  const file = await machineIdFile('a', `${machineId}\n`);
  const first = await deviceId({ machineIdFiles: [file] });
  assert.match(first, /^[0-9a-f]{32}$/);
  assert.notEqual(first, machineId);
  assert.equal(await deviceId({ machineIdFiles: [file] }), first);
  const other = await machineIdFile('b', '0123456789abcdef0123456789abcdef\n');
  assert.notEqual(await deviceId({ machineIdFiles: [other] }), first);
});

test('an uninitialised machine id is skipped in favour of the next file', async () => {
  const uninitialised = await machineIdFile('uninit', 'uninitialized\n');
  const dbus = await machineIdFile('dbus', '0123456789abcdef0123456789abcdef\n');
  assert.equal(await deviceId({ machineIdFiles: [uninitialised, dbus] }), await deviceId({ machineIdFiles: [dbus] }));
});

test('a configured id wins; a malformed one is refused by name', async () => {
  assert.equal(await deviceId({ configured: 'county-hospital-box-2' }), 'county-hospital-box-2');
  await assert.rejects(deviceId({ configured: 'Box #2/../x' }), (error: unknown) => {
    assert.ok(error instanceof DeviceError);
    assert.equal(error.code, 'INVALID_DEVICE_ID');
    assert.match(error.message, /"Box #2\/\.\.\/x"/);
    return true;
  });
});

test('no configured id and no machine id is an error naming the files tried', async () => {
  const missing = path.join(tmp, 'missing');
  await assert.rejects(deviceId({ machineIdFiles: [missing] }), (error: unknown) => {
    assert.ok(error instanceof DeviceError);
    assert.equal(error.code, 'NO_MACHINE_ID');
    assert.ok(error.message.includes(missing));
    return true;
  });
});
