/**
 * Getting bytes from a repository, which is either an http(s):// URL or a file:// folder (a USB stick).
 * Every transfer is capped (never more than the signed or configured length; one byte over aborts), watched
 * (a request that averages less than a minimum throughput over a window is aborted) and bounded by the
 * caller's deadline signal. Downloads of targets resume with HTTP Range from a partial file whose sidecar
 * remembers the validator (ETag); anything inconsistent restarts from byte 0 instead of being trusted.
 */
import { createReadStream } from 'node:fs';
import { open, readFile, rm, stat } from 'node:fs/promises';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { replaceFileDurably } from '../models/index.ts';
import { isNoSpace, OtaError } from './errors.ts';

export interface TransferLimits {
  /** A request averaging less than this over one window is aborted as SLOW_RETRIEVAL. */
  minBytesPerSecond: number;
  throughputWindowMs: number;
  /** Time allowed from request to response headers. */
  headersTimeoutMs: number;
  /** Failed attempts allowed per file before giving up. */
  maxAttempts: number;
  backoffMs(attempt: number): number;
}

export const DEFAULT_TRANSFER_LIMITS: TransferLimits = {
  minBytesPerSecond: 4096,
  throughputWindowMs: 30_000,
  headersTimeoutMs: 30_000,
  maxAttempts: 8,
  backoffMs: (attempt) => Math.min(1000 * 2 ** attempt, 60_000),
};

/** Test seam for disk faults: called before each write with the bytes about to be written. */
export type WriteFault = (file: string, bytes: number) => void;

interface Sidecar {
  url: string;
  length: number;
  etag: string | null;
}

/** An HTTP status the repository answered with; 403/404/410 mean "not there" (the root walk stops on them). */
export class HttpStatusError extends OtaError {
  readonly status: number;
  constructor(url: string, status: number) {
    super('DOWNLOAD_FAILED', `${url}: HTTP ${status}`);
    this.status = status;
  }
}

/** The response was inconsistent with what we asked for; the partial file is discarded and the download restarts. */
class RestartFromZero extends Error {}

const isFileUrl = (url: string) => url.startsWith('file:');

function abortReason(signal: AbortSignal, url: string): OtaError {
  const reason = signal.reason;
  if (reason instanceof OtaError) return reason;
  return new OtaError('SLOW_RETRIEVAL', `${url}: the download deadline passed`);
}

function get(url: string, headers: Record<string, string>, limits: TransferLimits, signal: AbortSignal): Promise<IncomingMessage> {
  const client = url.startsWith('https:') ? https : url.startsWith('http:') ? http : null;
  if (!client) return Promise.reject(new OtaError('DOWNLOAD_FAILED', `${url}: only http, https and file URLs are supported`));
  return new Promise((resolve, reject) => {
    const request = client.get(url, { headers: { 'user-agent': 'pathbox-ota', ...headers }, signal }, (response) => {
      clearTimeout(timer);
      resolve(response);
    });
    const timer = setTimeout(() => request.destroy(new OtaError('SLOW_RETRIEVAL', `${url}: no response within ${limits.headersTimeoutMs} ms`)), limits.headersTimeoutMs);
    request.on('error', (e) => {
      clearTimeout(timer);
      reject(signal.aborted ? abortReason(signal, url) : e);
    });
  });
}

/**
 * Reads a response body chunk by chunk, aborting when the throughput over a window falls below the minimum or
 * when more than `maxBytes` arrive (at maxBytes + 1: the excess is never written anywhere).
 */
async function* watchedBody(response: IncomingMessage, url: string, maxBytes: number, limits: TransferLimits): AsyncGenerator<Buffer> {
  let windowBytes = 0;
  let total = 0;
  const needed = (limits.minBytesPerSecond * limits.throughputWindowMs) / 1000;
  const monitor = setInterval(() => {
    if (windowBytes < needed) {
      response.destroy(new OtaError('SLOW_RETRIEVAL', `${url}: ${windowBytes} bytes in ${limits.throughputWindowMs} ms, below the minimum of ${limits.minBytesPerSecond} bytes/s`));
    }
    windowBytes = 0;
  }, limits.throughputWindowMs);
  try {
    for await (const chunk of response as AsyncIterable<Buffer>) {
      windowBytes += chunk.length;
      total += chunk.length;
      if (total > maxBytes) {
        response.destroy();
        throw new OtaError('ENDLESS_DATA', `${url}: more than the expected ${maxBytes} bytes`);
      }
      yield chunk;
    }
  } finally {
    clearInterval(monitor);
  }
}

function retryable(e: unknown): boolean {
  if (e instanceof HttpStatusError) return e.status >= 500 || e.status === 408 || e.status === 429;
  if (e instanceof OtaError) return e.reason === 'SLOW_RETRIEVAL' || e.reason === 'DOWNLOAD_FAILED';
  return !isNoSpace(e);
}

/** Runs `attempt` until it succeeds, a non-retryable error occurs, the budget is spent or the deadline passes. */
async function withRetries<T>(url: string, limits: TransferLimits, signal: AbortSignal, attempt: (n: number) => Promise<T>): Promise<T> {
  let last: unknown;
  for (let n = 1; n <= limits.maxAttempts; n++) {
    if (signal.aborted) throw abortReason(signal, url);
    try {
      return await attempt(n);
    } catch (e) {
      if (signal.aborted) throw abortReason(signal, url);
      if (!retryable(e)) throw e;
      last = e;
      if (n < limits.maxAttempts) await sleep(limits.backoffMs(n), undefined, { signal }).catch(() => {});
    }
  }
  if (last instanceof OtaError) throw last;
  throw new OtaError('DOWNLOAD_FAILED', `${url}: ${(last as Error)?.message ?? 'failed'} (after ${limits.maxAttempts} attempts)`, { cause: last });
}

async function readFileCapped(url: string, maxLength: number): Promise<Buffer> {
  const file = fileURLToPath(url);
  let info;
  try {
    info = await stat(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new HttpStatusError(url, 404);
    throw new OtaError('DOWNLOAD_FAILED', `${file}: ${(e as Error).message}`, { cause: e });
  }
  if (!info.isFile()) throw new OtaError('DOWNLOAD_FAILED', `${file} is not a regular file`);
  if (info.size > maxLength) throw new OtaError('ENDLESS_DATA', `${file} has ${info.size} bytes, more than the expected ${maxLength}`);
  const bytes = await readFile(file);
  if (bytes.length > maxLength) throw new OtaError('ENDLESS_DATA', `${file} grew beyond ${maxLength} bytes while being read`);
  return bytes;
}

/** A whole small file (metadata), at most maxLength bytes. */
export async function fetchBytes(url: string, maxLength: number, limits: TransferLimits, signal: AbortSignal): Promise<Buffer> {
  if (isFileUrl(url)) return readFileCapped(url, maxLength);
  return withRetries(url, limits, signal, async () => {
    const response = await get(url, {}, limits, signal);
    if (response.statusCode !== 200) {
      response.resume();
      throw new HttpStatusError(url, response.statusCode ?? 0);
    }
    const declared = Number(response.headers['content-length']);
    if (Number.isFinite(declared) && declared > maxLength) {
      response.destroy();
      throw new OtaError('ENDLESS_DATA', `${url}: Content-Length ${declared} exceeds the limit of ${maxLength} bytes`);
    }
    const chunks: Buffer[] = [];
    for await (const chunk of watchedBody(response, url, maxLength, limits)) chunks.push(chunk);
    if (!response.complete) throw new OtaError('DOWNLOAD_FAILED', `${url}: the connection closed early`);
    return Buffer.concat(chunks);
  });
}

/** Strict `bytes start-end/total`; anything else (missing, several ranges, garbage, negative) is null. */
export function parseContentRange(header: string | string[] | undefined): { start: number; end: number; total: number } | null {
  if (typeof header !== 'string') return null;
  const m = /^bytes (\d{1,15})-(\d{1,15})\/(\d{1,15})$/.exec(header.trim());
  if (!m) return null;
  const [start, end, total] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return start <= end && end < total ? { start, end, total } : null;
}

async function readSidecar(file: string): Promise<Sidecar | null> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as Sidecar;
  } catch {
    return null;
  }
}

async function sizeOf(file: string): Promise<number> {
  return stat(file).then((s) => s.size, () => 0);
}

async function discard(partial: string): Promise<void> {
  await rm(partial, { force: true });
  await rm(`${partial}.json`, { force: true });
}

/** Appends a response body to the partial file from `offset`, fsyncing at the end; returns bytes written. */
async function appendBody(source: AsyncIterable<Buffer>, partial: string, offset: number, maxBytes: number, fault?: WriteFault): Promise<number> {
  const handle = await open(partial, offset === 0 ? 'w' : 'a');
  let written = 0;
  try {
    for await (const chunk of source) {
      if (written + chunk.length > maxBytes) throw new OtaError('ENDLESS_DATA', `${partial}: more than ${maxBytes} bytes`);
      fault?.(partial, chunk.length);
      await handle.write(chunk);
      written += chunk.length;
    }
    await handle.sync();
  } catch (e) {
    await handle.sync().catch(() => {});
    if (isNoSpace(e)) throw new OtaError('NO_SPACE', `no space left writing ${partial}`, { cause: e });
    throw e;
  } finally {
    await handle.close();
  }
  return written;
}

/**
 * Brings `partial` to exactly `length` bytes of `url`, resuming what a previous attempt (or a previous run
 * of the box) left. Verification of the content is the caller's job.
 */
export async function downloadResumable(url: string, partial: string, length: number, limits: TransferLimits, signal: AbortSignal, fault?: WriteFault): Promise<void> {
  const sidecarFile = `${partial}.json`;
  const saved = await readSidecar(sidecarFile);
  if (!saved || saved.url !== url || saved.length !== length) await discard(partial);
  try {
    await fillPartial(url, partial, length, limits, signal, fault);
  } catch (e) {
    // Bytes from a server that overran the signed length are not kept for a resume.
    if (e instanceof OtaError && e.reason === 'ENDLESS_DATA') await discard(partial);
    throw e;
  }
}

async function fillPartial(url: string, partial: string, length: number, limits: TransferLimits, signal: AbortSignal, fault?: WriteFault): Promise<void> {
  const sidecarFile = `${partial}.json`;
  await withRetries(url, limits, signal, async () => {
    for (;;) {
      const sidecar = await readSidecar(sidecarFile);
      let have = sidecar ? await sizeOf(partial) : 0;
      if (have > length) {
        await discard(partial);
        have = 0;
      }
      if (have === length) return;
      try {
        await (isFileUrl(url) ? copyFileRange(url, partial, have, length, fault) : requestRest(url, partial, have, length, sidecar, limits, signal, fault));
      } catch (e) {
        if (!(e instanceof RestartFromZero)) throw e;
        await discard(partial);
        throw new OtaError('DOWNLOAD_FAILED', `${url}: ${e.message}; restarting from the first byte`);
      }
    }
  });
}

async function copyFileRange(url: string, partial: string, have: number, length: number, fault?: WriteFault): Promise<void> {
  const file = fileURLToPath(url);
  const size = await stat(file).then((s) => s.size, () => -1);
  if (size < 0) throw new HttpStatusError(url, 404);
  if (size > length) throw new OtaError('ENDLESS_DATA', `${file} has ${size} bytes, the signed length is ${length}`);
  if (size < length) throw new OtaError('TARGET_MISMATCH', `${file} has ${size} bytes, the signed length is ${length}`);
  await replaceFileDurably(`${partial}.json`, JSON.stringify({ url, length, etag: null } satisfies Sidecar));
  await appendBody(createReadStream(file, { start: have }), partial, have, length - have, fault);
}

/** One HTTP request for the rest of the file; see the resume rules in the module comment. */
async function requestRest(url: string, partial: string, have: number, length: number, sidecar: Sidecar | null, limits: TransferLimits, signal: AbortSignal, fault?: WriteFault): Promise<void> {
  const headers: Record<string, string> = {};
  if (have > 0) {
    headers.range = `bytes=${have}-`;
    if (sidecar?.etag) headers['if-range'] = sidecar.etag;
  }
  const response = await get(url, headers, limits, signal);
  const etag = typeof response.headers.etag === 'string' ? response.headers.etag : null;
  let offset: number;
  let expected: number;
  if (response.statusCode === 200) {
    offset = 0;
    expected = length;
  } else if (response.statusCode === 206 && have > 0) {
    const range = parseContentRange(response.headers['content-range']);
    const refuse = (why: string): never => {
      response.destroy();
      throw new RestartFromZero(why);
    };
    if (!range) refuse(`unusable Content-Range "${String(response.headers['content-range'])}"`);
    if (range!.start !== have || range!.total !== length) refuse(`Content-Range ${range!.start}-${range!.end}/${range!.total} does not continue ${have}/${length}`);
    if (sidecar?.etag && etag && etag !== sidecar.etag) refuse(`the ETag changed from ${sidecar.etag} to ${etag}`);
    offset = have;
    expected = range!.end - range!.start + 1;
  } else if (response.statusCode === 416) {
    response.resume();
    throw new RestartFromZero('the server refused the range (416)');
  } else {
    response.resume();
    throw new HttpStatusError(url, response.statusCode ?? 0);
  }
  const declared = response.headers['content-length'] === undefined ? null : Number(response.headers['content-length']);
  if (declared !== null && declared > expected) {
    response.destroy();
    if (offset === 0) throw new OtaError('ENDLESS_DATA', `${url}: Content-Length ${declared}, the signed length is ${length}`);
    throw new RestartFromZero(`Content-Length ${declared} does not match the range of ${expected} bytes`);
  }
  await replaceFileDurably(`${partial}.json`, JSON.stringify({ url, length, etag } satisfies Sidecar));
  const written = await appendBody(watchedBody(response, url, expected, limits), partial, offset, expected, fault);
  if (written < expected && !response.complete) throw new OtaError('DOWNLOAD_FAILED', `${url}: the connection closed after ${offset + written} of ${length} bytes`);
  if (written < expected) throw new OtaError('DOWNLOAD_FAILED', `${url}: ${offset + written} of ${length} bytes`);
}
