/**
 * Transport faults (../shared/OTA-THREATS.md 4.2, threats 20, 22-24): a real HTTP server on loopback that
 * misbehaves on demand, and the box's resumable download. Every download must end with exactly the served
 * file's bytes, or with a clear reason.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { isOtaError, type OtaReason, type TransferLimits } from '../../src/ota/index.ts';
import { downloadResumable, fetchBytes, parseContentRange } from '../../src/ota/transfer.ts';
import { tempDir } from '../models/bundle-fixtures.ts';
import { FAST_LIMITS } from './helpers/box.ts';
import { RepoServer } from './helpers/repo-server.ts';

const SIZE = 1 << 20;

async function setup(): Promise<{ server: RepoServer; file: Buffer; url: string; partial: string; dir: string }> {
  const dir = await tempDir('pathbox-ota-transfer-');
  const file = randomBytes(SIZE);
  await writeFile(path.join(dir, 'model.onnx'), file);
  const server = await RepoServer.start(dir);
  return { server, file, url: `${server.url}model.onnx`, partial: path.join(dir, 'download.part'), dir };
}

const digest = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function download(url: string, partial: string, length = SIZE, limits: TransferLimits = FAST_LIMITS): Promise<Buffer> {
  await downloadResumable(url, partial, length, limits, AbortSignal.timeout(30_000));
  return readFile(partial);
}

async function fails(action: Promise<unknown>, reason: OtaReason): Promise<string> {
  try {
    await action;
  } catch (e) {
    assert.ok(isOtaError(e), `expected an OtaError, got ${String(e)}`);
    assert.equal(e.reason, reason, e.message);
    return e.message;
  }
  assert.fail(`expected ${reason}`);
}

/** Asserts: a first request, a resume from what was stored, then a restart from byte 0. */
function assertRestartedAfterResume(server: RepoServer): void {
  const starts = rangeStarts(server);
  assert.equal(starts.length, 3, `requests from ${starts.join(', ')}`);
  assert.equal(starts[0], 0);
  assert.ok(starts[1] > 0, 'the second request resumed');
  assert.equal(starts[2], 0, 'the third request started over');
}

/** Range starts of the requests for the file, in order (0 for a request without Range). */
function rangeStarts(server: RepoServer): number[] {
  return server.requestsFor('model.onnx').map((r) => (r.range ? Number(/bytes=(\d+)-/.exec(r.range)![1]) : 0));
}

test('threat 22: a server dripping bytes is aborted below the minimum throughput (SLOW_RETRIEVAL)', async () => {
  const { server, url, partial } = await setup();
  server.misbehave('model.onnx', { kind: 'drip', bytes: 16, everyMs: 50 });
  const limits = { ...FAST_LIMITS, minBytesPerSecond: 50_000, throughputWindowMs: 300, maxAttempts: 2 };
  assert.match(await fails(download(url, partial, SIZE, limits), 'SLOW_RETRIEVAL'), /below the minimum/);
  assert.equal(server.requestsFor('model.onnx').length, 2, 'retried once (with back-off), then gave up');
});

test('threat 22: the overall deadline stops a download that never finishes', async () => {
  const { server, url, partial } = await setup();
  server.misbehave('model.onnx', { kind: 'drip', bytes: 4096, everyMs: 20 });
  await fails(downloadResumable(url, partial, SIZE, FAST_LIMITS, AbortSignal.timeout(300)), 'SLOW_RETRIEVAL');
});

for (const fraction of [0.1, 0.5, 0.99]) {
  test(`threat 23: a disconnect at ${fraction * 100} % resumes with Range from the bytes already stored`, async () => {
    const { server, file, url, partial } = await setup();
    server.misbehave('model.onnx', { kind: 'disconnect-at', fraction }, 1);
    const got = await download(url, partial);
    assert.equal(digest(got), digest(file));
    const starts = rangeStarts(server);
    assert.equal(starts.length, 2);
    assert.ok(starts[1] > 0 && starts[1] <= Math.floor(SIZE * fraction), `resumed at ${starts[1]}`);
  });
}

test('threat 23: a server that is down fails the download after the attempt budget', async () => {
  const { server, url, partial } = await setup();
  server.misbehave('model.onnx', { kind: 'down' });
  assert.match(await fails(download(url, partial), 'DOWNLOAD_FAILED'), /after 4 attempts|socket|ECONNRESET|closed/i);
  assert.equal(server.requestsFor('model.onnx').length, FAST_LIMITS.maxAttempts);
});

test('threat 23: a server that is down, then up again, completes the download', async () => {
  const { server, file, url, partial } = await setup();
  server.misbehave('model.onnx', { kind: 'down' }, 2);
  assert.equal(digest(await download(url, partial)), digest(file));
});

test('threat 23: a server that ignores Range (200 instead of 206) restarts from byte 0 safely', async () => {
  const { server, file, url, partial } = await setup();
  server.misbehave('model.onnx', { kind: 'disconnect-at', fraction: 0.5 }, 1);
  server.misbehave('model.onnx', { kind: 'ignore-range' }, 1);
  const got = await download(url, partial);
  assert.equal(got.length, SIZE);
  assert.equal(digest(got), digest(file));
  assert.deepEqual(server.requestsFor('model.onnx').map((r) => r.status), [200, 200]);
});

const BAD_RANGES: [string, (start: number, end: number, total: number) => string | null][] = [
  ['missing', () => null],
  ['empty', () => ''],
  ['garbled', () => 'bytes ab-cd/ef'],
  ['multiple ranges', (s, e, t) => `bytes ${s}-${s + 10}/${t}, ${s + 11}-${e}/${t}`],
  ['an early start', (s, e, t) => `bytes ${s - 100}-${e}/${t}`],
  ['a late start', (s, e, t) => `bytes ${s + 100}-${e}/${t}`],
  ['a negative range', (s, e, t) => `bytes -${s}-${e}/${t}`],
  ['a different total', (s, e, t) => `bytes ${s}-${e}/${t + 1}`],
];

for (const [what, value] of BAD_RANGES) {
  test(`threat 23: a 206 with ${what} Content-Range restarts from byte 0`, async () => {
    const { server, file, url, partial } = await setup();
    server.misbehave('model.onnx', { kind: 'disconnect-at', fraction: 0.5 }, 1);
    server.misbehave('model.onnx', { kind: 'content-range', value }, 1);
    const got = await download(url, partial);
    assert.equal(digest(got), digest(file));
    assertRestartedAfterResume(server);
  });
}

test('threat 23: a changed ETag between attempts restarts from byte 0', async () => {
  const { server, file, url, partial } = await setup();
  server.misbehave('model.onnx', { kind: 'disconnect-at', fraction: 0.5 }, 1);
  // The second answer claims a new version of the file but still sends a 206 continuation.
  server.misbehave('model.onnx', { kind: 'etag', value: () => '"another-version"' }, 1);
  const got = await download(url, partial);
  assert.equal(digest(got), digest(file));
  assertRestartedAfterResume(server);
});

test('threat 23: a changed Content-Length between attempts restarts from byte 0', async () => {
  const { server, file, url, partial } = await setup();
  server.misbehave('model.onnx', { kind: 'disconnect-at', fraction: 0.5 }, 1);
  server.misbehave('model.onnx', { kind: 'content-length', value: (n) => n + 5000 }, 1);
  const got = await download(url, partial);
  assert.equal(digest(got), digest(file));
  assertRestartedAfterResume(server);
});

test('threat 23: a 416 answer restarts from byte 0', async () => {
  const { server, file, url, partial } = await setup();
  server.misbehave('model.onnx', { kind: 'disconnect-at', fraction: 0.5 }, 1);
  server.misbehave('model.onnx', { kind: 'status', code: 416 }, 1);
  assert.equal(digest(await download(url, partial)), digest(file));
  assertRestartedAfterResume(server);
});

test('threat 20: target bytes beyond the signed length abort at length + 1 and nothing is kept', async () => {
  const { server, url, partial } = await setup();
  server.misbehave('model.onnx', { kind: 'extra-bytes', count: 1 });
  await fails(download(url, partial), 'ENDLESS_DATA');
  assert.equal(await stat(partial).then(() => true, () => false), false, 'the overrun partial file was discarded');
});

test('threat 20: a declared Content-Length above the signed length is refused before reading', async () => {
  const { server, url, partial } = await setup();
  assert.match(await fails(download(url, partial, SIZE - 1), 'ENDLESS_DATA'), /Content-Length/);
  assert.equal(server.requestsFor('model.onnx').length, 1);
});

test('threat 20: metadata fetches stop at their cap, announced or not', async () => {
  const { server } = await setup();
  assert.match(await fails(fetchBytes(`${server.url}model.onnx`, 16_384, FAST_LIMITS, AbortSignal.timeout(10_000)), 'ENDLESS_DATA'), /Content-Length/);
  server.misbehave('model.onnx', { kind: 'drip', bytes: 8192, everyMs: 1 });
  assert.match(await fails(fetchBytes(`${server.url}model.onnx`, 16_384, FAST_LIMITS, AbortSignal.timeout(10_000)), 'ENDLESS_DATA'), /more than the expected 16384/);
});

test('threat 24: a partial file left by a killed process is continued, not restarted', async () => {
  const { server, file, url, partial } = await setup();
  server.misbehave('model.onnx', { kind: 'disconnect-at', fraction: 0.3 }, 1);
  server.misbehave('model.onnx', { kind: 'down' }, FAST_LIMITS.maxAttempts - 1);
  await fails(download(url, partial), 'DOWNLOAD_FAILED');
  const kept = (await stat(partial)).size;
  assert.ok(kept > 0 && kept <= Math.floor(SIZE * 0.3), `${kept} bytes kept`);
  server.requests.length = 0;
  assert.equal(digest(await download(url, partial)), digest(file), 'a new run (same partial file and sidecar) completes it');
  assert.deepEqual(rangeStarts(server), [kept]);
});

test('threat 24: a partial file of another URL or length is discarded, not resumed', async () => {
  const { server, file, url, partial } = await setup();
  await writeFile(partial, randomBytes(1000));
  await writeFile(`${partial}.json`, JSON.stringify({ url: `${server.url}old-model.onnx`, length: 5000, etag: null }));
  assert.equal(digest(await download(url, partial)), digest(file));
  assert.deepEqual(rangeStarts(server), [0]);
});

test('Content-Range parsing accepts only one well-formed range', () => {
  assert.deepEqual(parseContentRange('bytes 10-19/20'), { start: 10, end: 19, total: 20 });
  for (const bad of [undefined, '', 'bytes 10-9/20', 'bytes 0-20/20', 'bytes */20', 'bytes 1-2/3, 4-5/6', 'items 0-1/2']) {
    assert.equal(parseContentRange(bad), null, String(bad));
  }
});
