/**
 * Status reports to the fleet (pathbox/v1/<deviceId>/ota/status), one per job transition, through the
 * store's outbox. Each is signed with the box's own Ed25519 key (<ota>/device-key.pem, created on first use)
 * over the exact bytes of its body, and carries a monotonic sequence number and a fresh nonce so the fleet
 * can detect a replayed or reordered report.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, randomBytes, sign } from 'node:crypto';
import { chmod, mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { writeFileDurably } from '../models/index.ts';
import type { OtaJobRow, OtaState, OutboxMessage } from '../store/index.ts';
import { topics } from '../sync/messages.ts';
import { type OtaReason, SUSPICIOUS_REASONS } from './errors.ts';

const KEY_FILE = 'device-key.pem';

export interface DeviceKey {
  /** SHA-256 of the public key (SPKI DER), hex: how the fleet names this key. */
  keyId: string;
  /** The raw Ed25519 public key, hex. */
  publicKey: string;
  sign(data: Buffer): string;
}

function deviceKeyFrom(privateKey: KeyObject): DeviceKey {
  const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  return {
    keyId: createHash('sha256').update(spki).digest('hex'),
    publicKey: Buffer.from(spki.subarray(spki.length - 32)).toString('hex'),
    sign: (data) => sign(null, data, privateKey).toString('hex'),
  };
}

/** The box's report-signing key, generated (mode 0600) the first time it is needed. */
export async function loadDeviceKey(otaDir: string): Promise<DeviceKey> {
  const file = path.join(otaDir, KEY_FILE);
  try {
    return deviceKeyFrom(createPrivateKey(await readFile(file, 'utf8')));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  await mkdir(otaDir, { recursive: true });
  const { privateKey } = generateKeyPairSync('ed25519');
  const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  try {
    await writeFileDurably(file, pem);
  } catch (e) {
    // Another process created it first: use theirs.
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return deviceKeyFrom(createPrivateKey(await readFile(file, 'utf8')));
    throw e;
  }
  await chmod(file, 0o600);
  return deviceKeyFrom(privateKey);
}

export interface StatusBody {
  type: 'ota-status';
  v: 1;
  deviceId: string;
  seq: number;
  nonce: string;
  at: string;
  jobId: number;
  trigger: string;
  from: OtaState | null;
  state: OtaState;
  reason: string | null;
  detail: string | null;
  model: { id: string; version: string | null; releaseCounter: number | null } | null;
  previousVersion: string | null;
  /** Trusted role versions when the job last refreshed (root, timestamp, snapshot, targets, ...). */
  metadata: Record<string, number> | null;
  attackSuspected: boolean;
}

/** The signed envelope: `body` is the JSON text that was signed, byte for byte. */
export interface SignedStatus {
  body: string;
  keyId: string;
  publicKey: string;
  sig: string;
}

export function statusMessage(deviceId: string, key: DeviceKey, transition: { seq: number; job: OtaJobRow; fromState: OtaState | null }): OutboxMessage {
  const { job, seq } = transition;
  const body: StatusBody = {
    type: 'ota-status', v: 1, deviceId, seq, nonce: randomBytes(12).toString('hex'), at: new Date().toISOString(),
    jobId: job.id, trigger: job.trigger, from: transition.fromState, state: job.state, reason: job.reason, detail: job.detail,
    model: job.modelId ? { id: job.modelId, version: job.version, releaseCounter: job.releaseCounter } : null,
    previousVersion: job.previousVersion, metadata: job.metadata,
    attackSuspected: SUSPICIOUS_REASONS.includes(job.reason as OtaReason),
  };
  const text = JSON.stringify(body);
  const envelope: SignedStatus = { body: text, keyId: key.keyId, publicKey: key.publicKey, sig: key.sign(Buffer.from(text)) };
  return { topic: topics(deviceId).otaStatus, payload: JSON.stringify(envelope), idempotencyKey: `ota-status:${job.id}:${seq}` };
}
