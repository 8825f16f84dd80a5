import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/**
 * Password hashing with scrypt (memory-hard, in node:crypto). N = 2^15, r = 8 takes 32 MiB and tens of
 * milliseconds per guess, which is what makes a stolen database slow to attack. The parameters travel
 * with each hash, so they can be raised later without breaking existing accounts.
 */
const COST_LOG2 = 15;
const BLOCK_SIZE = 8;
const PARALLELISM = 1;
const KEY_BYTES = 32;
const SALT_BYTES = 16;
export const MIN_PASSWORD_LENGTH = 10;
export const MAX_PASSWORD_LENGTH = 1024;

export class PasswordPolicyError extends Error {
  override name = 'PasswordPolicyError';
}

function derive(password: string, salt: Buffer, costLog2: number, blockSize: number, parallelism: number): Promise<Buffer> {
  const options: ScryptOptions = { N: 2 ** costLog2, r: blockSize, p: parallelism, maxmem: 256 * 2 ** costLog2 * blockSize };
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFC'), salt, KEY_BYTES, options, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

export function checkPasswordPolicy(password: string): void {
  if (password.length < MIN_PASSWORD_LENGTH) throw new PasswordPolicyError(`password must have at least ${MIN_PASSWORD_LENGTH} characters`);
  if (password.length > MAX_PASSWORD_LENGTH) throw new PasswordPolicyError(`password must have at most ${MAX_PASSWORD_LENGTH} characters`);
}

/** `scrypt$15$8$1$<salt>$<key>` (base64url). */
export async function hashPassword(password: string): Promise<string> {
  checkPasswordPolicy(password);
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, COST_LOG2, BLOCK_SIZE, PARALLELISM);
  return ['scrypt', COST_LOG2, BLOCK_SIZE, PARALLELISM, salt.toString('base64url'), key.toString('base64url')].join('$');
}

/** Constant-time comparison; a malformed stored hash never matches. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [costLog2, blockSize, parallelism] = parts.slice(1, 4).map(Number);
  if (![costLog2, blockSize, parallelism].every(Number.isInteger) || costLog2 < 10 || costLog2 > 20 || blockSize < 1 || blockSize > 32 || parallelism < 1 || parallelism > 4) return false;
  const expected = Buffer.from(parts[5], 'base64url');
  if (expected.length !== KEY_BYTES || password.length > MAX_PASSWORD_LENGTH) return false;
  const key = await derive(password, Buffer.from(parts[4], 'base64url'), costLog2, blockSize, parallelism);
  return timingSafeEqual(key, expected);
}

/** A hash of a random password: verifying against it costs the same as for a real account, so unknown names are not revealed by timing. */
let decoyHash: Promise<string> | null = null;
export function decoyPasswordHash(): Promise<string> {
  decoyHash ??= hashPassword(randomBytes(24).toString('base64url'));
  return decoyHash;
}

/** A password for generated accounts (the demo login): 18 characters from a set without look-alikes. */
export function generatePassword(length = 18): string {
  const alphabet = 'abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';
  const bytes = randomBytes(length * 2);
  let out = '';
  // Rejection sampling keeps every character equally likely (256 is not a multiple of the alphabet size).
  for (const byte of bytes) {
    if (byte < Math.floor(256 / alphabet.length) * alphabet.length) out += alphabet[byte % alphabet.length];
    if (out.length === length) return out;
  }
  return out + generatePassword(length - out.length);
}
