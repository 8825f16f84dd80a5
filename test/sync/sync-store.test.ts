import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { Store, SyncStore } from '../../src/store/index.ts';
import { eventMessages } from '../../src/sync/index.ts';

function fresh() {
  const store = Store.open(path.join(mkdtempSync(path.join(tmpdir(), 'pathbox-sync-store-')), 'pathbox.db'));
  const slide = store.addSlide({ sha256: 'a'.repeat(64), path: '/inbox/S26-0001.svs', sizeBytes: 1_000_000 }).slide;
  const job = store.claimNextJob('w', 60_000)!;
  const result = store.completeJob(job.id, 'w', {
    modelId: 'm', modelVersion: '1.0.0', modelDigest: 'sha256:x', modelRelease: 1, findingLabel: 'l', findingScore: 0.5, result: {}, outputDir: null,
    outbox: [{ topic: 'pathbox/v1/b/results', payload: '{"r":1}', idempotencyKey: 'result:a:1', slideId: slide.id }],
  })!;
  return { store, sync: new SyncStore(store), slide, result };
}

test('a package is queued in the bulk lane behind its request; progress and bytes advance only on acknowledgement', () => {
  const { store, sync, slide, result } = fresh();
  const parts = [0, 1, 2].map((i) => ({ topic: 'pathbox/v1/b/second-opinion/request', payload: Buffer.from(`part ${i}`), idempotencyKey: `so:${i}` }));
  const request = sync.addSecondOpinion({ requestId: 'r-1', slideId: slide.id, resultId: result.id, note: null, requestedBy: 'tester', packageBytes: 30, packageSha256: 'f'.repeat(64) }, parts);
  assert.equal(request.state, 'queued');
  assert.deepEqual(sync.laneDepths(), { normal: 1, bulk: 3 });

  const [normal, ...more] = sync.headOfLane('normal', 5);
  assert.equal(normal.idempotencyKey, 'result:a:1');
  assert.equal(more.length, 0);
  const bulk = sync.headOfLane('bulk', 2);
  assert.deepEqual(bulk.map((r) => r.payload.toString()), ['part 0', 'part 1'], 'a lane comes in queue order');
  const first = bulk[0];

  assert.equal(sync.settleAcknowledged(normal, 120), true);
  assert.equal(sync.settleAcknowledged(normal, 120), false, 'a second acknowledgement of the same row counts nothing');
  assert.equal(sync.settleAcknowledged(first, 500), true);
  assert.equal(sync.getSecondOpinion(request.id)!.state, 'sending');
  for (const row of sync.headOfLane('bulk', 10)) sync.settleAcknowledged(row, 500);
  const sent = sync.getSecondOpinion(request.id)!;
  assert.equal(sent.state, 'sent');
  assert.equal(sent.partsSent, 3);
  assert.ok(sent.sentAt);
  assert.equal(store.outboxDepth(), 0);
  assert.deepEqual(sync.slideBytes().map((r) => [r.resultBytes, r.secondOpinionBytes, r.messages]), [[120, 1500, 4]]);
  assert.equal(sync.bytesSince(Date.now() - 3_600_000).bytes, 1620);
  assert.equal(store.recentEvents({ kinds: ['second-opinion.sent'] }).length, 1);
});

test('an answer is stored against its request once; an unknown request is refused', () => {
  const { sync, slide, result } = fresh();
  sync.addSecondOpinion({ requestId: 'r-2', slideId: slide.id, resultId: result.id, note: 'n', requestedBy: 't', packageBytes: 1, packageSha256: 'e'.repeat(64) }, []);
  const answer = { idempotencyKey: 'response:r-2', opinion: 'agree' };
  const stored = sync.recordResponse('r-2', answer)!;
  assert.equal(stored.duplicate, false);
  assert.equal(stored.request.state, 'answered');
  assert.deepEqual(stored.request.response, answer);
  assert.equal(sync.recordResponse('r-2', answer)!.duplicate, true);
  assert.equal(sync.recordResponse('nope', answer), null);
  assert.equal(sync.listSecondOpinions({ slideId: slide.id })[0].requestId, 'r-2');
});

test('audit events reach the outbox once, by kind and SHA-256 only, starting after the first run', () => {
  const { store, sync, slide } = fresh();
  const relay = () => sync.relayEvents((events) => eventMessages('box', events, (id) => store.getSlide(id)?.sha256));
  assert.equal(relay(), 0, 'the first run only sets the cursor: history stays on the box');
  store.logEvent('analysis', 'job.failed', `slide:${slide.id}`, { error: '/inbox/S26-0001.svs: corrupt tile' });
  store.logEvent('web', 'user.login', null, { user: 'dr-house' });
  assert.equal(relay(), 1, 'only allow-listed kinds are relayed');
  assert.equal(relay(), 0, 'and only once');
  const message = sync.headOfLane('normal', 2)[1];
  const body = JSON.parse(message.payload.toString()) as Record<string, unknown>;
  assert.deepEqual(Object.keys(body).sort(), ['at', 'deviceId', 'idempotencyKey', 'kind', 'slideSha256', 'type']);
  assert.equal(body.slideSha256, slide.sha256);
  assert.ok(!message.payload.toString().includes('S26-0001'));
  assert.equal(message.slideId, slide.id, 'counted against the slide');
});

test('queue order survives the outbox emptying (SQLite reuses row ids)', () => {
  const { sync, slide } = fresh();
  const [first] = sync.headOfLane('normal', 1);
  sync.settleAcknowledged(first, 10);
  sync.store.enqueueOutbox({ topic: 't', payload: 'second', idempotencyKey: 'k2', slideId: slide.id });
  sync.store.enqueueOutbox({ topic: 't', payload: 'third', idempotencyKey: 'k3', slideId: slide.id });
  const head = sync.headOfLane('normal', 5);
  assert.ok(head[0].id <= first.id, 'the id was reused: no id may serve as a cursor');
  assert.deepEqual(head.map((r) => r.payload.toString()), ['second', 'third']);
});

test('a message refused again and again is set aside, not lost and not blocking', () => {
  const { store, sync } = fresh();
  const [row] = sync.headOfLane('normal', 1);
  assert.equal(sync.recordRefusal(row, 'Not authorized', 3), 'retry');
  assert.equal(sync.recordRefusal(row, 'Not authorized', 3), 'retry');
  assert.equal(sync.recordRefusal(row, 'Not authorized', 3), 'set-aside');
  assert.equal(store.outboxDepth(), 0);
  assert.equal(sync.refusedCount(), 1);
  const kept = store.db.prepare('SELECT idempotency_key AS key, reason FROM outbox_refused').get() as { key: string; reason: string };
  assert.deepEqual(kept, { key: 'result:a:1', reason: 'Not authorized' });
  assert.equal(store.recentEvents({ kinds: ['sync.refused'] }).length, 1);
});
