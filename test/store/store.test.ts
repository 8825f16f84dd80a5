import assert from 'node:assert/strict';
import { mkdtempSync, openSync, writeSync, closeSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { Store, StoreError } from '../../src/store/index.ts';

function freshStore(): { store: Store; dir: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'pathbox-store-'));
  return { store: Store.open(path.join(dir, 'pathbox.db')), dir };
}

const analysis = (score: number) => ({
  modelId: 'cellularity', modelVersion: '1.0.0', modelDigest: 'sha256:abc', modelRelease: 1,
  findingLabel: 'cellular', findingScore: score, result: { score }, outputDir: null,
});

test('the same content is one slide; a readable slide gets one queued job', () => {
  const { store } = freshStore();
  const first = store.addSlide({ sha256: 'a'.repeat(64), path: '/inbox/a.svs', sizeBytes: 10 });
  const again = store.addSlide({ sha256: 'a'.repeat(64), path: '/inbox/copy-of-a.svs', sizeBytes: 10 });
  assert.equal(first.created, true);
  assert.equal(again.created, false);
  assert.equal(again.slide.id, first.slide.id);
  assert.equal(store.queueDepth(), 1);
  const rejected = store.addSlide({ sha256: 'b'.repeat(64), path: '/inbox/notes.txt', sizeBytes: 3, rejectedReason: 'unsupported format' });
  assert.equal(rejected.slide.state, 'rejected');
  assert.equal(rejected.slide.error, 'unsupported format');
  assert.equal(store.queueDepth(), 1);
  assert.deepEqual(store.countSlidesByState(), { queued: 1, running: 0, done: 0, failed: 0, rejected: 1 });
});

test('urgent slides are claimed first, then the oldest', () => {
  const { store } = freshStore();
  store.addSlide({ sha256: '1'.repeat(64), path: '/1', sizeBytes: 1 });
  const urgent = store.addSlide({ sha256: '2'.repeat(64), path: '/2', sizeBytes: 1, priority: 10 });
  store.addSlide({ sha256: '3'.repeat(64), path: '/3', sizeBytes: 1 });
  const order = [store.claimNextJob('w', 60_000), store.claimNextJob('w', 60_000), store.claimNextJob('w', 60_000)].map((j) => j!.slideId);
  assert.equal(order[0], urgent.slide.id);
  assert.ok(order[1] < order[2]);
  assert.equal(store.claimNextJob('w', 60_000), null);
});

test('a job completes once: a second completion (or a stale owner) stores nothing', () => {
  const { store } = freshStore();
  const { slide } = store.addSlide({ sha256: 'c'.repeat(64), path: '/c', sizeBytes: 1 });
  const job = store.claimNextJob('worker-1', 60_000)!;
  assert.equal(store.completeJob(job.id, 'worker-2', analysis(0.5)), null, 'not the lease owner');
  const result = store.completeJob(job.id, 'worker-1', { ...analysis(0.7), outbox: [{ topic: 't', payload: '{}', idempotencyKey: 'k1', slideId: slide.id }] });
  assert.ok(result);
  assert.equal(store.completeJob(job.id, 'worker-1', analysis(0.9)), null);
  assert.equal(store.resultsForSlide(slide.id).length, 1);
  assert.equal(store.getSlide(slide.id)!.state, 'done');
  assert.equal(store.outboxDepth(), 1);
});

test('transient failures back off and end quarantined; permanent ones fail at once', () => {
  const { store } = freshStore();
  const { slide } = store.addSlide({ sha256: 'd'.repeat(64), path: '/d', sizeBytes: 1 });
  const immediate = { backoffMs: () => 0 };
  for (let attempt = 1; attempt <= 3; attempt++) {
    const job = store.claimNextJob('w', 60_000);
    assert.ok(job, `attempt ${attempt} should be claimable`);
    store.failJob(job.id, 'w', 'out of memory', { permanent: false, retry: immediate });
  }
  assert.equal(store.getSlide(slide.id)!.state, 'failed');
  assert.match(store.getSlide(slide.id)!.error!, /quarantined after 3 attempts/);
  assert.equal(store.claimNextJob('w', 60_000), null);

  const other = store.addSlide({ sha256: 'e'.repeat(64), path: '/e', sizeBytes: 1 });
  const job = store.claimNextJob('w', 60_000)!;
  store.failJob(job.id, 'w', 'corrupt tile at level 0 (3,4)', { permanent: true });
  assert.equal(store.getSlide(other.slide.id)!.error, 'corrupt tile at level 0 (3,4)');
  const retried = store.retrySlide(other.slide.id, 'admin');
  assert.equal(retried.state, 'queued');

  const backoff = store.addSlide({ sha256: 'f'.repeat(64), path: '/f', sizeBytes: 1, priority: 99 });
  const slow = store.claimNextJob('w', 60_000)!;
  assert.equal(slow.slideId, backoff.slide.id);
  store.failJob(slow.id, 'w', 'busy', { permanent: false, retry: { backoffMs: () => 3_600_000 } });
  assert.notEqual(store.claimNextJob('w', 60_000)?.slideId, backoff.slide.id, 'a backed-off job waits');
});

test('jobs interrupted by a crash go back to the queue at start-up', () => {
  const { store, dir } = freshStore();
  store.addSlide({ sha256: 'g'.repeat(64), path: '/g', sizeBytes: 1 });
  store.claimNextJob('dead-daemon', 60_000);
  store.close();
  const reopened = Store.open(path.join(dir, 'pathbox.db'));
  const recovered = reopened.recoverInterruptedJobs();
  assert.equal(recovered.length, 1);
  assert.equal(recovered[0].state, 'queued');
  assert.equal(recovered[0].attempts, 0, 'a crash does not use up an attempt');
  assert.ok(reopened.claimNextJob('new-daemon', 60_000));
});

test('a slide interrupted again and again is quarantined: it may be what crashes the daemon', () => {
  const { store } = freshStore();
  const { slide } = store.addSlide({ sha256: 'i'.repeat(64), path: '/i', sizeBytes: 1 });
  for (let crash = 1; crash <= 5; crash++) {
    assert.ok(store.claimNextJob(`daemon-${crash}`, 60_000), `claim before crash ${crash}`);
    store.recoverInterruptedJobs();
  }
  assert.equal(store.getSlide(slide.id)!.state, 'failed');
  assert.match(store.getSlide(slide.id)!.error!, /interrupted 5 times/);
});

test('a database that fails its integrity check is refused and left untouched', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'pathbox-store-'));
  const file = path.join(dir, 'pathbox.db');
  const store = Store.open(file);
  for (let i = 0; i < 200; i++) store.addSlide({ sha256: i.toString(16).padStart(64, '0'), path: `/s${i}`, sizeBytes: i });
  store.db.pragma('wal_checkpoint(TRUNCATE)');
  store.close();
  const size = statSync(file).size;
  const fd = openSync(file, 'r+');
  writeSync(fd, Buffer.alloc(4096, 0x5a), 0, 4096, 4096 * 2); // scribble over a b-tree page
  closeSync(fd);
  assert.throws(() => Store.open(file), (e: unknown) => e instanceof StoreError && e.code === 'INTEGRITY_FAILED' && /left untouched/.test(e.message));
  assert.equal(statSync(file).size, size);
});

test('online backup produces a consistent copy', async () => {
  const { store, dir } = freshStore();
  store.addSlide({ sha256: 'h'.repeat(64), path: '/h', sizeBytes: 1 });
  const copy = path.join(dir, 'backup.db');
  await store.backup(copy);
  const db = new Database(copy, { readonly: true });
  assert.equal((db.prepare('SELECT COUNT(*) AS n FROM slides').get() as { n: number }).n, 1);
  assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
  db.close();
});

test('statements are compiled once and reused; texts built per call (IN lists) stay correct beyond the cache bound', () => {
  const { store } = freshStore();
  const sql = 'SELECT COUNT(*) AS n FROM slides';
  assert.equal(store.db.prepare(sql), store.db.prepare(sql), 'the same text gives the same compiled statement');
  for (let i = 0; i < 20; i++) store.logEvent('test', `kind-${i}`, 'subject', {});
  // 300 distinct IN lists: more texts than the cache keeps; every one must still answer right.
  for (let n = 1; n <= 300; n++) {
    const kinds = Array.from({ length: n }, (_, i) => `kind-${i}`);
    assert.equal(store.recentEvents({ kinds, limit: 100 }).length, Math.min(n, 20));
  }
  assert.equal((store.db.prepare(sql).get() as { n: number }).n, 0);
  store.close();
});
