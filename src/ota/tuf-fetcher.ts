/**
 * tuf-js's Fetcher over our transfer code: capped, throughput-watched, deadline-bound, and able to read a
 * USB folder (file:// URLs). It also refuses, before tuf-js counts any signature, metadata that lists one
 * public key under two key ids: @tufjs/models counts signatures per key id, so such a root or delegation
 * would let one key meet a threshold of two.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Fetcher } from 'tuf-js';
import { DownloadHTTPError } from 'tuf-js/dist/error.js';
import { OtaError } from './errors.ts';
import { fetchBytes, HttpStatusError, type TransferLimits } from './transfer.ts';

interface KeyJson {
  keytype?: unknown;
  keyval?: { public?: unknown };
}

/** Throws INVALID_METADATA when one key appears under two ids in a root's keys or a delegation's keys. */
export function checkDistinctKeys(json: unknown, what: string): void {
  const signed = (json as { signed?: { _type?: unknown; keys?: unknown; delegations?: { keys?: unknown } } } | null)?.signed;
  const keys = signed?._type === 'root' ? signed.keys : signed?.delegations?.keys;
  if (!keys || typeof keys !== 'object') return;
  const seen = new Map<string, string>();
  for (const [keyId, key] of Object.entries(keys as Record<string, KeyJson>)) {
    const identity = `${String(key?.keytype)}:${String(key?.keyval?.public)}`;
    const other = seen.get(identity);
    if (other) throw new OtaError('INVALID_METADATA', `${what} lists one ${String(key?.keytype)} key under two key ids (${other}, ${keyId})`);
    seen.set(identity, keyId);
  }
}

export class BoxFetcher implements Fetcher {
  private readonly limits: TransferLimits;
  private readonly signal: AbortSignal;
  private readonly tempDir: string;
  /** The last error of our own making; tuf-js wraps snapshot and targets errors into plain strings. */
  lastFailure: OtaError | null = null;
  /** Names of the metadata files fetched, in order. */
  readonly fetched: string[] = [];

  constructor(limits: TransferLimits, signal: AbortSignal, tempDir: string) {
    this.limits = limits;
    this.signal = signal;
    this.tempDir = tempDir;
  }

  async downloadBytes(url: string, maxLength: number): Promise<Buffer> {
    try {
      const bytes = await fetchBytes(url, maxLength, this.limits, this.signal);
      const name = decodeURIComponent(url.slice(url.lastIndexOf('/') + 1));
      let json: unknown;
      try {
        json = JSON.parse(bytes.toString('utf8'));
      } catch {
        throw new OtaError('INVALID_METADATA', `${name} is not JSON`);
      }
      checkDistinctKeys(json, name);
      this.fetched.push(name);
      return bytes;
    } catch (e) {
      if (e instanceof HttpStatusError && [403, 404, 410].includes(e.status)) throw new DownloadHTTPError(e.message, e.status === 410 ? 404 : e.status);
      if (e instanceof OtaError) this.lastFailure = e;
      throw e;
    }
  }

  async downloadFile<T>(url: string, maxLength: number, handler: (file: string) => Promise<T>): Promise<T> {
    const bytes = await this.downloadBytes(url, maxLength);
    const dir = await mkdtemp(path.join(this.tempDir, 'fetch-'));
    try {
      const file = path.join(dir, 'download');
      await writeFile(file, bytes);
      return await handler(file);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}
