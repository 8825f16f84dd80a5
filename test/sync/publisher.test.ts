/**
 * The outbox publisher against a real broker, in-process: the broker's refusals (its ACL) set a message
 * aside without blocking the lane, and a closed upload window holds the bulk lane while results go.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { after, test } from 'node:test';
import { createLogger } from '../../src/daemon/logger.ts';
import { Store, SyncStore } from '../../src/store/index.ts';
import { BandwidthBudget } from '../../src/sync/budget.ts';
import { MqttConnection } from '../../src/sync/connection.ts';
import { OutboxPublisher } from '../../src/sync/publisher.ts';
import { skipUnlessMosquitto, startCloud, tempDir, type Cloud } from './harness.ts';

const cleanup: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => {});
});

/** An upload window that opens two hours from now (so it is closed now), in local time. */
function closedWindow(): string {
  const at = (hoursAhead: number) => {
    const d = new Date(Date.now() + hoursAhead * 3_600_000);
    return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
  };
  return `${at(2)}-${at(3)}`;
}

test('refused messages are set aside, results pass them, and packages wait for their window', { skip: skipUnlessMosquitto(), timeout: 60_000 }, async () => {
  const dir = tempDir('sync-publisher');
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  const cloud: Cloud = await startCloud(dir);
  cleanup.push(() => cloud.broker.stop(), () => cloud.responder.stop());
  const tls = await cloud.broker.pki.client('box-pub');
  const store = Store.open(path.join(dir, 'pathbox.db'));
  const sync = new SyncStore(store);
  const slide = store.addSlide({ sha256: 'c'.repeat(64), path: '/inbox/x.svs', sizeBytes: 10_000_000 }).slide;
  const job = store.claimNextJob('w', 60_000)!;
  const result = store.completeJob(job.id, 'w', {
    modelId: 'm', modelVersion: '1', modelDigest: 'd', modelRelease: 1, findingLabel: null, findingScore: null, result: {}, outputDir: null,
    outbox: [
      { topic: 'pathbox/v1/box-pub/results', payload: '{"n":1}', idempotencyKey: 'result:1', slideId: slide.id },
      { topic: 'pathbox/v1/another-box/results', payload: '{"n":2}', idempotencyKey: 'result:foreign', slideId: slide.id },
      { topic: 'pathbox/v1/box-pub/results', payload: '{"n":3}', idempotencyKey: 'result:3', slideId: slide.id },
    ],
  })!;
  sync.addSecondOpinion({ requestId: 'r', slideId: slide.id, resultId: result.id, note: null, requestedBy: 't', packageBytes: 5, packageSha256: 'a'.repeat(64) },
    [{ topic: 'pathbox/v1/box-pub/second-opinion/request', payload: '{"part":0}', idempotencyKey: 'so:r:request' }]);

  const logger = createLogger('silent');
  let publisher: OutboxPublisher | null = null;
  const connection = new MqttConnection({
    url: cloud.broker.url, deviceId: 'box-pub', ...tls, sessionExpirySeconds: 60, reconnectMaxSeconds: 1, software: 'test', logger,
    onMessage: () => {}, onSent: () => {}, onConnected: () => publisher?.connected(),
  });
  publisher = new OutboxPublisher({
    sync, connection, logger, budget: new BandwidthBudget({ bytesPerHour: null, bytesPerSecond: null, bulkWindows: [closedWindow()] }, sync),
    maxRefusals: 2, refusalPauseMs: 200, pollMs: 50,
  });
  publisher.start();
  connection.start();
  cleanup.push(async () => {
    await publisher.stop();
    await connection.stop();
    store.close();
  });

  await cloud.responder.waitFor('both results', () => cloud.responder.results.length === 2, 20_000);
  const deadline = Date.now() + 20_000;
  while (sync.refusedCount() === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  assert.deepEqual(cloud.responder.results.map((r) => r.idempotencyKey), ['result:1', 'result:3']);
  assert.equal(sync.refusedCount(), 1, 'the message the ACL refuses is set aside after its refusals');
  assert.match(publisher.lastError ?? '', /result:foreign.*Not authorized/);
  assert.deepEqual(sync.laneDepths(), { normal: 0, bulk: 1 }, 'the package part waits for its window');
  assert.equal(cloud.responder.packages.size, 0);
  assert.equal(sync.slideBytes()[0].secondOpinionBytes, 0);
});
