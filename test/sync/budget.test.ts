import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BandwidthBudget, reconnectDelayMs } from '../../src/sync/index.ts';

const noLimits = { bytesPerHour: null, bytesPerSecond: null, bulkWindows: [] };

/** A ledger that holds what the test says was sent, per minute. */
function ledger(sent: { atMs: number; bytes: number }[]) {
  return {
    bytesSince(sinceMs: number) {
      const minute = Math.floor(sinceMs / 60_000);
      const inside = sent.filter((s) => Math.floor(s.atMs / 60_000) >= minute);
      return { bytes: inside.reduce((t, s) => t + s.bytes, 0), oldestMinuteMs: inside.length ? Math.min(...inside.map((s) => Math.floor(s.atMs / 60_000) * 60_000)) : null };
    },
  };
}

test('reconnect back-off doubles up to the cap, with half of each delay random', () => {
  assert.equal(reconnectDelayMs(0, 60_000, () => 0), 500);
  assert.equal(reconnectDelayMs(0, 60_000, () => 1), 1000);
  assert.equal(reconnectDelayMs(3, 60_000, () => 0), 4000);
  assert.equal(reconnectDelayMs(3, 60_000, () => 1), 8000);
  assert.equal(reconnectDelayMs(20, 60_000, () => 0), 30_000);
  assert.equal(reconnectDelayMs(20, 60_000, () => 1), 60_000);
  const spread = new Set(Array.from({ length: 50 }, () => reconnectDelayMs(5, 60_000)));
  assert.ok(spread.size > 10, 'boxes reconnecting together spread out');
});

test('the hourly budget holds a message back until the oldest minute leaves the window', () => {
  const now = new Date('2026-03-01T12:30:20Z');
  const sent = [{ atMs: now.getTime() - 50 * 60_000, bytes: 6000 }, { atMs: now.getTime() - 10 * 60_000, bytes: 3000 }];
  const budget = new BandwidthBudget({ ...noLimits, bytesPerHour: 10_000 }, ledger(sent));
  assert.equal(budget.waitMs(1000, 'normal', now), 0, 'fits: 9000 + 1000');
  const wait = budget.waitMs(1001, 'normal', now);
  const oldestMinute = Math.floor((now.getTime() - 50 * 60_000) / 60_000) * 60_000;
  assert.equal(wait, oldestMinute + 61 * 60_000 - now.getTime());
  assert.ok(wait > 9 * 60_000 && wait < 11 * 60_000);
  assert.equal(new BandwidthBudget({ ...noLimits, bytesPerHour: 100 }, ledger([])).waitMs(5000, 'normal', now), 0, 'an empty hour lets one oversized message go');
});

test('the rate cap spaces messages after a one-second burst', () => {
  const budget = new BandwidthBudget({ ...noLimits, bytesPerSecond: 1000 }, ledger([]));
  const t0 = Date.parse('2026-03-01T12:00:00Z');
  assert.equal(budget.waitMs(1000, 'normal', new Date(t0)), 0);
  budget.spent(1000, t0);
  assert.equal(budget.waitMs(1000, 'normal', new Date(t0)), 0, 'the first second may go at once');
  budget.spent(1000, t0);
  assert.equal(budget.waitMs(1000, 'normal', new Date(t0)), 1000);
  assert.equal(budget.waitMs(1000, 'normal', new Date(t0 + 1000)), 0);
});

test('bulk uploads wait for their window (which may cross midnight); results never do', () => {
  const budget = new BandwidthBudget({ ...noLimits, bulkWindows: ['22:00-06:00'] }, ledger([]));
  const at = (h: number, m: number) => new Date(2026, 2, 1, h, m, 0, 0);
  assert.equal(budget.waitMs(100, 'bulk', at(23, 15)), 0);
  assert.equal(budget.waitMs(100, 'bulk', at(5, 59)), 0);
  assert.equal(budget.waitMs(100, 'bulk', at(6, 0)), 16 * 3_600_000);
  assert.equal(budget.waitMs(100, 'bulk', at(21, 30)), 30 * 60_000);
  assert.equal(budget.waitMs(100, 'normal', at(12, 0)), 0);
  const twoWindows = new BandwidthBudget({ ...noLimits, bulkWindows: ['12:00-13:00', '01:00-02:00'] }, ledger([]));
  assert.equal(twoWindows.waitMs(1, 'bulk', at(11, 0)), 60 * 60_000);
  assert.equal(twoWindows.waitMs(1, 'bulk', at(13, 0)), 12 * 3_600_000);
});
