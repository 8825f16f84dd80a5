import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConcurrencyLimit } from '../../src/slide/concurrency.ts';

test('a concurrency limit runs at most its limit at once, the rest in the order they came, and survives failures', async () => {
  const limit = new ConcurrencyLimit(2);
  let running = 0;
  let most = 0;
  const started: number[] = [];
  const task = (i: number) => limit.run(async () => {
    started.push(i);
    running++;
    most = Math.max(most, running);
    await new Promise((resolve) => setTimeout(resolve, 5));
    running--;
    if (i === 3) throw new Error('task 3 fails');
    return i;
  });
  const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => task(i)));
  assert.equal(most, 2);
  assert.deepEqual(started, [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled']);
  assert.throws(() => new ConcurrencyLimit(0), RangeError);
});
