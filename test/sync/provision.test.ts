import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { provisionDevice, ProvisionError } from '../../src/sync/index.ts';
import { pathbox, tempDir } from './harness.ts';

const openssl = (...args: string[]) => execFileSync('openssl', args, { encoding: 'utf8' });

test('provisioning makes a private key only the box can read and a CSR naming the device', async () => {
  const dir = path.join(tempDir('provision'), 'identity');
  const identity = await provisionDevice({ dir, deviceId: 'box-0042' });
  assert.equal(statSync(identity.key).mode & 0o777, 0o600);
  assert.match(openssl('req', '-in', identity.csr, '-noout', '-subject'), /CN\s*=\s*box-0042/);
  const verify = spawnSync('openssl', ['req', '-in', identity.csr, '-noout', '-verify'], { encoding: 'utf8' });
  assert.equal(verify.status, 0);
  assert.match(verify.stdout + verify.stderr, /verify OK/, 'the CSR is signed by its own key');
  const fromKey = createPublicKey(createPrivateKey(readFileSync(identity.key))).export({ type: 'spki', format: 'pem' });
  assert.equal(openssl('req', '-in', identity.csr, '-noout', '-pubkey').trim(), String(fromKey).trim(), 'the CSR carries the key made here');

  const key = readFileSync(identity.key, 'utf8');
  await assert.rejects(provisionDevice({ dir, deviceId: 'box-0042' }), ProvisionError, 'an existing identity is kept');
  assert.equal(readFileSync(identity.key, 'utf8'), key);
  await provisionDevice({ dir, deviceId: 'box-0042', force: true });
  assert.notEqual(readFileSync(identity.key, 'utf8'), key, '--force replaces it');
  await assert.rejects(provisionDevice({ dir, deviceId: 'bad id/../x' }), /device id/);
});

test('pathbox device provision writes the identity and tells what to configure', async () => {
  const dir = tempDir('provision-cli');
  const out = JSON.parse(await pathbox(['device', 'provision', '--device-id', 'box-cli', '--data-dir', path.join(dir, 'data'), '--json'])) as { key: string; csr: string; subject: string };
  assert.equal(out.key, path.join(dir, 'data', 'identity', 'device.key'));
  assert.equal(out.subject, '/O=pathbox/CN=box-cli');
  assert.match(await pathbox(['device', 'provision', '--device-id', 'box-cli', '--data-dir', path.join(dir, 'data'), '--out', path.join(dir, 'other')]), /mqtt:\n\s+deviceId: box-cli/);
});
