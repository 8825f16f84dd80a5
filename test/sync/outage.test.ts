/**
 * Acceptance: the broker is down while 10 slides are analysed; when it returns every result arrives, in
 * order, and the cloud (dropping duplicates by idempotency key) sees each exactly once.
 * The outage lasts a minute, as the issue asks (PATHBOX_TEST_OUTAGE_SECONDS shortens it for quick local runs).
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { after, test } from 'node:test';
import { SyncStore } from '../../src/store/index.ts';
import { Box, dropIntoInbox, pathbox, provisionBox, skipUnlessMosquitto, startCloud, syntheticSlides, tempDir, type Cloud } from './harness.ts';

const OUTAGE_MS = Number(process.env.PATHBOX_TEST_OUTAGE_SECONDS ?? 60) * 1000;
const SLIDES = 10;
const cleanup: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => {});
});

test('broker down while 10 slides are analysed: after it returns every result arrives once, in order', { skip: skipUnlessMosquitto(), timeout: 240_000 }, async () => {
  const dir = tempDir('sync-outage');
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  const cloud: Cloud = await startCloud(dir);
  cleanup.push(() => cloud.broker.stop(), () => cloud.responder.stop());
  const box = new Box({ dir, deviceId: 'box-outage', tls: await provisionBox(cloud, dir, 'box-outage'), brokerUrl: cloud.broker.url });
  const slides = await syntheticSlides(path.join(dir, 'scanner'), SLIDES);
  await box.start();
  cleanup.push(() => box.stop());
  await cloud.responder.waitFor('the box online', () => cloud.responder.status.get('box-outage')?.state === 'online', 60_000);

  await cloud.broker.stop();
  const downAt = Date.now();
  await dropIntoInbox(slides, box.inbox);
  await box.waitFor('10 slides analysed', () => box.doneCount() === SLIDES, 90_000);
  const waiting = box.query((store) => new SyncStore(store).laneDepths().normal);
  assert.ok(waiting >= SLIDES, `the results wait in the outbox while the broker is down (${waiting} messages)`);
  assert.equal(cloud.responder.results.length, 0);
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, OUTAGE_MS - (Date.now() - downAt))));

  await cloud.broker.start();
  await cloud.responder.waitFor('10 results', () => cloud.responder.results.length >= SLIDES, 60_000);
  await box.waitFor('an empty outbox', () => box.query((store) => store.outboxDepth()) === 0, 30_000);

  // The order the box committed them in (results.id), against the order the cloud first saw them.
  const committed = box.query((store) => store.db.prepare('SELECT s.sha256, r.job_id AS jobId FROM results r JOIN slides s ON s.id = r.slide_id ORDER BY r.id').all() as { sha256: string; jobId: number }[]);
  assert.equal(committed.length, SLIDES);
  const received = cloud.responder.results.map((r) => r.idempotencyKey);
  assert.deepEqual(received, committed.map((r) => `result:${r.sha256}:${r.jobId}`), 'each result exactly once, in commit order');
  for (const r of cloud.responder.results) assert.equal((r.body.result as { slide: { sha256: string } }).slide.sha256, r.idempotencyKey.split(':')[1]);

  // The cloud's receipts come back over the box's persistent subscription.
  await box.waitFor('10 cloud receipts', () => box.query((store) => new SyncStore(store).cloudReceiptCount()) === SLIDES, 20_000);
  const status = JSON.parse(await pathbox(['status', '--data-dir', box.dataDir, '--json'])) as { sync: { bytesSent: { total: { slides: number; reductionPercent: number } } } };
  assert.equal(status.sync.bytesSent.total.slides, SLIDES);
  assert.ok(status.sync.bytesSent.total.reductionPercent > 99, `results only: ${status.sync.bytesSent.total.reductionPercent}% less than the slides`);

  assert.equal(await box.stop(), 0);
  await cloud.responder.waitFor('the retained offline status', () => cloud.responder.status.get('box-outage')?.state === 'offline', 10_000);
});
