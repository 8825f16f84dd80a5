/**
 * The vendor's Ed25519 signing keys, one JSON file per key in a key directory (KEYDIR/<name>.key.json, mode
 * 0600). A key's name says what it is for: root-1..root-N (the offline root, a threshold of them signs),
 * targets, snapshot, timestamp, models (the delegated role of the model families).
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign as signBytes } from 'node:crypto';
import { chmod, mkdir, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { Key, Signature } from '@tufjs/models';
import { z } from 'zod';
import { writeFileDurably } from '../src/models/index.ts';
import { OtaToolError } from './errors.ts';

export const KEY_NAME_PATTERN = /^[a-z][a-z0-9-]{0,31}$/;
/** What `ota keygen` makes: a 2-of-3 root, and one key for each online role and for the model delegations. */
export const DEFAULT_KEY_NAMES = ['root-1', 'root-2', 'root-3', 'targets', 'snapshot', 'timestamp', 'models'] as const;

const KEY_SUFFIX = '.key.json';

const keyFileSchema = z.strictObject({
  name: z.string().regex(KEY_NAME_PATTERN),
  keytype: z.literal('ed25519'),
  scheme: z.literal('ed25519'),
  keyid: z.string().regex(/^[0-9a-f]{64}$/),
  public: z.string().regex(/^[0-9a-f]{64}$/),
  private: z.string().startsWith('-----BEGIN PRIVATE KEY-----'),
});

export interface SigningKey {
  name: string;
  keyId: string;
  /** The public half as TUF metadata lists it. */
  tufKey: Key;
  sign(data: Buffer): Signature;
}

/** The TUF key id: SHA-256 of the key's canonical JSON (sorted keys, no spaces; plain hex strings need no escaping). */
function tufKeyId(publicHex: string): string {
  return createHash('sha256').update(`{"keytype":"ed25519","keyval":{"public":"${publicHex}"},"scheme":"ed25519"}`).digest('hex');
}

function toSigningKey(file: z.infer<typeof keyFileSchema>): SigningKey {
  const privateKey = createPrivateKey(file.private);
  return {
    name: file.name,
    keyId: file.keyid,
    tufKey: new Key({ keyID: file.keyid, keyType: 'ed25519', scheme: 'ed25519', keyVal: { public: file.public } }),
    sign: (data) => new Signature({ keyID: file.keyid, sig: signBytes(null, data, privateKey).toString('hex') }),
  };
}

/** A fresh Ed25519 key (not written anywhere). */
export function generateSigningKey(name: string): { key: SigningKey; fileText: string } {
  if (!KEY_NAME_PATTERN.test(name)) throw new OtaToolError('BAD_KEY', `"${name}" is not a key name (lowercase letters, digits, "-")`);
  const { privateKey } = generateKeyPairSync('ed25519');
  const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  // The raw 32-byte public key is the end of its SPKI encoding.
  const publicHex = Buffer.from(spki.subarray(spki.length - 32)).toString('hex');
  const file = {
    name, keytype: 'ed25519' as const, scheme: 'ed25519' as const, keyid: tufKeyId(publicHex), public: publicHex,
    private: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
  };
  return { key: toSigningKey(file), fileText: `${JSON.stringify(file, null, 2)}\n` };
}

/** Writes new keys into `dir`; refuses to overwrite an existing key file. */
export async function writeNewKeys(dir: string, names: readonly string[]): Promise<SigningKey[]> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const keys: SigningKey[] = [];
  for (const name of names) {
    const { key, fileText } = generateSigningKey(name);
    const file = path.join(dir, `${name}${KEY_SUFFIX}`);
    try {
      await writeFileDurably(file, fileText);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new OtaToolError('BAD_KEY', `${file} exists; keys are never overwritten`);
      throw e;
    }
    await chmod(file, 0o600);
    keys.push(key);
  }
  return keys;
}

/** Every key in a key directory, by name. */
export async function loadKeys(dir: string): Promise<Map<string, SigningKey>> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith(KEY_SUFFIX)).sort();
  } catch (e) {
    throw new OtaToolError('BAD_KEY', `cannot read the key directory ${dir}: ${(e as Error).message}`);
  }
  const keys = new Map<string, SigningKey>();
  for (const name of names) {
    const file = path.join(dir, name);
    const parsed = keyFileSchema.safeParse(JSON.parse(await readFile(file, 'utf8')));
    if (!parsed.success) throw new OtaToolError('BAD_KEY', `${file} is not a pathbox signing key: ${parsed.error.issues[0].message}`);
    if (tufKeyId(parsed.data.public) !== parsed.data.keyid) throw new OtaToolError('BAD_KEY', `${file}: keyid does not match its public key`);
    keys.set(parsed.data.name, toSigningKey(parsed.data));
  }
  return keys;
}
