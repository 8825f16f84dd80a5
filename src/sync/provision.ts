import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

export class ProvisionError extends Error {
  override name = 'ProvisionError';
}

export interface ProvisionedIdentity {
  deviceId: string;
  key: string;
  csr: string;
  subject: string;
}

const run = promisify(execFile);

/**
 * The box's identity for the broker: a P-256 key made here (it never leaves the box, mode 0600) and a
 * certificate signing request whose common name is the device id. The vendor's CA signs the CSR; the
 * certificate goes where `mqtt.cert` points. An existing key is kept unless `force` is given.
 */
export async function provisionDevice(options: { dir: string; deviceId: string; force?: boolean }): Promise<ProvisionedIdentity> {
  const { dir, deviceId } = options;
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(deviceId)) throw new ProvisionError(`device id ${JSON.stringify(deviceId)} must be 1-64 letters, digits, dots, dashes or underscores`);
  const key = path.join(dir, 'device.key');
  const csr = path.join(dir, 'device.csr');
  if (existsSync(key) && !options.force) {
    throw new ProvisionError(`${key} already exists: the box already has an identity (--force replaces it, and its certificate must then be issued again)`);
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  await rm(key, { force: true });
  await writeFile(key, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
  const subject = `/O=pathbox/CN=${deviceId}`;
  try {
    await run('openssl', ['req', '-new', '-key', key, '-out', csr, '-subj', subject, '-sha256']);
  } catch (e) {
    const reason = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'the openssl command is not installed' : (e as { stderr?: string }).stderr?.trim() || (e as Error).message;
    throw new ProvisionError(`could not write the certificate signing request ${csr}: ${reason}`);
  }
  return { deviceId, key, csr, subject };
}
