/**
 * Acceptance: the daemon killed with SIGKILL while it publishes loses nothing. A rate cap
 * (mqtt.bandwidth.bytesPerSecond) keeps the publishing slow enough to be caught in the middle.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { after, test } from 'node:test';
import { SyncStore } from '../../src/store/index.ts';
import { Box, dropIntoInbox, provisionBox, skipUnlessMosquitto, startCloud, syntheticSlides, tempDir, type Cloud } from './harness.ts';

const SLIDES = 10;
const cleanup: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => {});
});

test('SIGKILL while publishing: after a restart every result reaches the cloud, none lost', { skip: skipUnlessMosquitto(), timeout: 150_000 }, async (t) => {
  const dir = tempDir('sync-sigkill');
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  const cloud: Cloud = await startCloud(dir);
  cleanup.push(() => cloud.broker.stop(), () => cloud.responder.stop());
  const tls = await provisionBox(cloud, dir, 'box-kill');
  const slow = new Box({ dir, deviceId: 'box-kill', tls, brokerUrl: cloud.broker.url, mqtt: { bandwidth: { bytesPerSecond: 700 } } });
  const slides = await syntheticSlides(path.join(dir, 'scanner'), SLIDES);
  await slow.start();
  cleanup.push(() => slow.stop());
  await cloud.responder.waitFor('the box online', () => cloud.responder.status.get('box-kill')?.state === 'online', 60_000);
  await dropIntoInbox(slides, slow.inbox);

  await slow.waitFor('3 slides analysed', () => slow.doneCount() >= 3, 90_000);
  await cloud.responder.waitFor('3 results', () => cloud.responder.results.length >= 3, 60_000);
  await slow.stop('SIGKILL');
  const heardBeforeKill = cloud.responder.results.length;
  const left = slow.query((store) => ({ outbox: new SyncStore(store).laneDepths().normal, done: store.countSlidesByState().done }));
  t.diagnostic(`killed with ${heardBeforeKill} results at the cloud, ${left.outbox} messages in the outbox, ${left.done} of ${SLIDES} slides analysed`);
  assert.ok(left.outbox > 0, 'killed with messages still waiting in the outbox');
  assert.ok(heardBeforeKill < SLIDES, `killed mid-way (${heardBeforeKill} of ${SLIDES} results out, ${left.done} slides analysed)`);
  await cloud.responder.waitFor('the last will (offline)', () => cloud.responder.status.get('box-kill')?.state === 'offline', 10_000);
  assert.equal(cloud.responder.status.get('box-kill')?.reason, 'connection lost');

  const box = new Box({ dir, deviceId: 'box-kill', tls, brokerUrl: cloud.broker.url });
  await box.start();
  cleanup.push(() => box.stop());
  await box.waitFor('every slide analysed', () => box.doneCount() === SLIDES, 90_000);
  await cloud.responder.waitFor('10 results', () => cloud.responder.results.length >= SLIDES, 60_000);
  await box.waitFor('an empty outbox', () => box.query((store) => store.outboxDepth()) === 0, 30_000);

  const committed = box.query((store) => store.db.prepare('SELECT s.sha256, r.job_id AS jobId FROM results r JOIN slides s ON s.id = r.slide_id ORDER BY r.id').all() as { sha256: string; jobId: number }[]);
  assert.equal(committed.length, SLIDES, 'one result per slide, even for a slide interrupted by the kill');
  assert.deepEqual(cloud.responder.results.map((r) => r.idempotencyKey), committed.map((r) => `result:${r.sha256}:${r.jobId}`), 'all of them, once each, in order');
  assert.equal(new Set(committed.map((r) => r.sha256)).size, SLIDES);
  assert.equal(cloud.responder.status.get('box-kill')?.state, 'online');
  t.diagnostic(`duplicates the cloud dropped: ${cloud.responder.duplicates}`);
});
