/** Live updates: the store poller's change detection, and the Server-Sent Events stream end to end. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { WebStore } from '../../src/store/index.ts';
import { LiveFeed, type LiveEvent } from '../../src/web/events/live-feed.ts';
import { PASSWORDS, testBox, USERNAMES, type TestBox } from './helpers.ts';

let box: TestBox;

before(async () => {
  box = await testBox({ eventsPollMs: 50 });
});
after(() => box.close());

test('the feed reports what changed since the last poll, once', () => {
  const feed = new LiveFeed(new WebStore(box.store), 3_600_000, (e) => {
    throw e;
  });
  const events: LiveEvent[] = [];
  const unsubscribe = feed.subscribe((e) => events.push(e));
  feed.poll();
  assert.equal(events.length, 0, 'slides from before the subscription are not news');

  const { slide } = box.store.addSlide({ sha256: '9'.repeat(64), path: '/inbox/new.svs', sizeBytes: 100 });
  feed.poll();
  assert.deepEqual(events.map((e) => e.type), ['slide']);
  assert.equal((events[0].data as { state: string }).state, 'queued');

  const job = box.store.claimNextJob('w', 60_000)!;
  box.store.reportProgress(job.id, 'w', 5, 40, 60_000);
  feed.poll();
  assert.deepEqual(events.slice(1).map((e) => e.type), ['slide', 'progress']);
  assert.deepEqual(events[2].data, { slideId: slide.id, done: 5, total: 40 });
  feed.poll();
  assert.equal(events.length, 3, 'nothing new, nothing sent');

  box.store.reportProgress(job.id, 'w', 20, 40, 60_000);
  box.store.failJob(job.id, 'w', 'not a slide after all', { permanent: true });
  feed.poll();
  const last = events.at(-1)!;
  assert.equal(last.type, 'slide');
  assert.equal((last.data as { state: string; error: string }).state, 'failed');
  assert.equal((last.data as { error: string }).error, 'not a slide after all');
  unsubscribe();
});

test('no session, no stream', async () => {
  const response = await box.app.inject({ url: '/api/events' });
  assert.equal(response.statusCode, 401);
});

test('GET /api/events streams a review made by someone else, and closing the server ends the stream', async () => {
  await box.app.listen({ host: '127.0.0.1', port: 0 });
  const address = box.app.server.address();
  const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  const loginResponse = await fetch(`${base}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: USERNAMES.pathologist, password: PASSWORDS.pathologist }) });
  const cookie = loginResponse.headers.get('set-cookie')!.split(';')[0];
  const { csrfToken } = (await loginResponse.json()) as { csrfToken: string };

  const stream = await fetch(`${base}/api/events`, { headers: { cookie } });
  assert.equal(stream.status, 200);
  assert.match(stream.headers.get('content-type')!, /^text\/event-stream/);
  assert.match(stream.headers.get('content-security-policy')!, /default-src 'self'/, 'security headers on the hijacked answer too');
  const reader = stream.body!.getReader();
  const decoder = new TextDecoder();
  let received = '';
  const readUntil = async (pattern: RegExp) => {
    while (!pattern.test(received)) {
      const { value, done } = await reader.read();
      if (done) return false;
      received += decoder.decode(value);
    }
    return true;
  };
  assert.ok(await readUntil(/^retry: \d+/m));

  const review = await fetch(`${base}/api/slides/${box.slideId}/review`, {
    method: 'POST', headers: { cookie, 'x-csrf-token': csrfToken, 'content-type': 'application/json' },
    body: JSON.stringify({ resultId: box.resultId, target: 'slide', decision: 'reject' }),
  });
  assert.equal(review.status, 201);
  assert.ok(await readUntil(/event: slide\ndata: .*"decision":"reject"/));
  const row = JSON.parse(/event: slide\ndata: (.*"decision":"reject".*)\n/.exec(received)![1]);
  assert.equal(row.id, box.slideId);
  assert.equal(row.review.reviewer, USERNAMES.pathologist);

  await box.app.close();
  assert.equal(await readUntil(/never/), false, 'the stream ended with the server');
});
