/**
 * Acceptance: a second-opinion round trip with the cloud responder. The broker goes away in the middle
 * of the package and the upload resumes where it stopped; the expert answers while the box is switched
 * off, and the answer reaches it through its persistent session when it comes back.
 * Small chunks and a rate cap (test settings) make "the middle of the package" last long enough.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { after, test } from 'node:test';
import { SyncStore } from '../../src/store/index.ts';
import { Box, dropIntoInbox, pathbox, provisionBox, skipUnlessMosquitto, startCloud, syntheticSlides, tempDir, type Cloud } from './harness.ts';

const MAX_IN_FLIGHT = 8;
const cleanup: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => {});
});

test('second opinion: package resumed after a disconnect, answer delivered to a box that was off', { skip: skipUnlessMosquitto(), timeout: 150_000 }, async (t) => {
  const dir = tempDir('sync-second-opinion');
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  const cloud: Cloud = await startCloud(dir, { autoAnswer: false, outDir: path.join(dir, 'cloud-packages') });
  cleanup.push(() => cloud.broker.stop(), () => cloud.responder.stop());
  const options = {
    dir, deviceId: 'box-so', tls: await provisionBox(cloud, dir, 'box-so'), brokerUrl: cloud.broker.url,
    mqtt: { secondOpinion: { chunkKiB: 4, regions: 10 }, bandwidth: { bytesPerSecond: 16_000 } },
  };
  const box = new Box(options);
  const slides = await syntheticSlides(path.join(dir, 'scanner'), 1, { seed: 7 });
  await box.start();
  cleanup.push(() => box.stop());
  await dropIntoInbox(slides, box.inbox);
  await box.waitFor('the slide analysed', () => box.doneCount() === 1, 90_000);
  await cloud.responder.waitFor('the result', () => cloud.responder.results.length === 1, 30_000);

  const requested = JSON.parse(await pathbox(['second-opinion', 'request', '1', '--config', box.configFile, '--data-dir', box.dataDir, '--note', 'Is region 1 tumour?', '--json'])) as { requestId: string; partsTotal: number; packageSha256: string };
  assert.ok(requested.partsTotal > 10, `the package is cut into ${requested.partsTotal} messages`);
  const received = () => cloud.responder.packages.get(requested.requestId);
  await cloud.responder.waitFor('the first chunks', () => (received()?.chunks.size ?? 0) >= 5, 60_000);

  await cloud.broker.stop();
  const request = () => box.query((store) => new SyncStore(store).listSecondOpinions()[0]);
  const atDisconnect = request();
  const chunksBefore = received()!.chunks.size;
  t.diagnostic(`broker stopped with ${atDisconnect.partsSent} of ${atDisconnect.partsTotal} parts acknowledged (${chunksBefore} chunks at the cloud)`);
  assert.equal(atDisconnect.state, 'sending');
  assert.ok(atDisconnect.partsSent > 0 && atDisconnect.partsSent < atDisconnect.partsTotal, 'disconnected in the middle of the package');
  await new Promise((resolve) => setTimeout(resolve, 2000));
  await cloud.broker.start();

  await cloud.responder.waitFor('the whole package', () => received()?.files !== null && received()?.files !== undefined, 60_000);
  await box.waitFor('every part acknowledged', () => request().state === 'sent', 20_000);
  const got = received()!;
  t.diagnostic(`chunks repeated after the reconnect: ${got.repeatedChunks}`);
  assert.ok(got.repeatedChunks <= MAX_IN_FLIGHT, 'resumed: only the parts in flight at the disconnect went twice, not the package');
  assert.equal(got.request!.package.sha256, requested.packageSha256, 'the cloud rebuilt the very package the box built');
  const regions = Math.min(10, (cloud.responder.results[0].body.result as { rois: unknown[] }).rois.length);
  assert.ok(regions >= 3);
  assert.deepEqual(got.files!.map((f) => f.name), [...Array.from({ length: regions }, (_, i) => `region-${String(i + 1).padStart(2, '0')}.jpg`), 'thumbnail.jpg', 'heatmap.png', 'result.json']);
  const region = got.files!.find((f) => f.region)!;
  assert.equal(region.region!.mpp, 0.5, 'regions at the model\'s resolution (cellularity reads 0.5 um/px)');
  assert.equal(got.request!.note, 'Is region 1 tumour?');

  // The expert answers while the box is off; the broker keeps the answer in the box's session.
  assert.equal(await box.stop(), 0);
  await cloud.responder.answer(requested.requestId);
  const again = new Box(options);
  await again.start();
  cleanup.push(() => again.stop());
  await again.waitFor('the answer stored', () => request().state === 'answered', 60_000);

  const status = JSON.parse(await pathbox(['status', '--data-dir', box.dataDir, '--json'])) as {
    sync: { secondOpinions: { requestId: string; state: string; response: { opinion: string } }[]; bytesSent: { slides: { resultBytes: number; secondOpinionBytes: number; reductionPercent: number }[] } };
  };
  const shown = status.sync.secondOpinions[0];
  assert.equal(shown.requestId, requested.requestId);
  assert.match(shown.response.opinion, new RegExp(`Reviewed ${regions} regions`));
  const bytes = status.sync.bytesSent.slides[0];
  assert.ok(bytes.secondOpinionBytes > got.request!.package.bytes, 'the package\'s bytes are counted against the slide');
  t.diagnostic(`slide: ${bytes.resultBytes} result bytes, ${bytes.secondOpinionBytes} second-opinion bytes, ${bytes.reductionPercent}% less than the file`);
  assert.match(await pathbox(['status', '--data-dir', box.dataDir]), new RegExp(`second opinion for slide 1: answered .*Reviewed ${regions} regions`));
});
