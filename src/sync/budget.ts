import type { OutboxLane } from '../store/index.ts';
import type { MqttConfig } from './config.ts';
import { UPLOAD_WINDOW } from './config.ts';

const HOUR_MS = 3_600_000;
const MINUTE_MS = 60_000;
/** The rate cap lets one second's worth go at once, so small messages are not spaced out needlessly. */
const RATE_BURST_MS = 1000;

/** Where bytes already sent are counted (the store's per-minute ledger). */
export interface BytesLedger {
  bytesSince(sinceMs: number): { bytes: number; oldestMinuteMs: number | null };
}

/** Exponential back-off with "equal jitter": half the delay is fixed, half random, capped at `maxMs`. */
export function reconnectDelayMs(attempt: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, 1000 * 2 ** Math.max(0, attempt));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/**
 * The bandwidth budget, enforced before each message leaves the outbox: an hourly byte budget (sliding,
 * counted in the store so a restart does not reset it), an optional rate cap, and upload windows for the
 * bulk lane (second-opinion packages).
 */
export class BandwidthBudget {
  private readonly config: MqttConfig['bandwidth'];
  private readonly ledger: BytesLedger;
  private readonly windows: { start: number; end: number }[];
  private busyUntil = 0;

  constructor(config: MqttConfig['bandwidth'], ledger: BytesLedger) {
    this.config = config;
    this.ledger = ledger;
    this.windows = config.bulkWindows.map(parseWindow);
  }

  /** Milliseconds before `bytes` may be published in `lane` (0: now). */
  waitMs(bytes: number, lane: OutboxLane, now = new Date()): number {
    const at = now.getTime();
    const waits = [0];
    if (lane === 'bulk') waits.push(this.untilWindowMs(now));
    if (this.config.bytesPerHour !== null) {
      const { bytes: used, oldestMinuteMs } = this.ledger.bytesSince(at - HOUR_MS);
      // A message larger than the whole budget still goes, alone, once the hour is empty.
      if (used > 0 && used + bytes > this.config.bytesPerHour && oldestMinuteMs !== null) {
        waits.push(Math.max(1000, oldestMinuteMs + MINUTE_MS + HOUR_MS - at));
      }
    }
    if (this.config.bytesPerSecond !== null) waits.push(this.busyUntil - RATE_BURST_MS - at);
    return Math.max(...waits);
  }

  /** Tells the rate cap that `bytes` just left (the hourly ledger is the store's). */
  spent(bytes: number, now = Date.now()): void {
    if (this.config.bytesPerSecond === null) return;
    this.busyUntil = Math.max(this.busyUntil, now) + (bytes / this.config.bytesPerSecond) * 1000;
  }

  private untilWindowMs(now: Date): number {
    if (this.windows.length === 0) return 0;
    const minute = now.getHours() * 60 + now.getMinutes();
    if (this.windows.some((w) => inWindow(w, minute))) return 0;
    const ahead = Math.min(...this.windows.map((w) => (w.start - minute + 1440) % 1440));
    return ahead * MINUTE_MS - now.getSeconds() * 1000 - now.getMilliseconds();
  }
}

function parseWindow(text: string): { start: number; end: number } {
  const m = UPLOAD_WINDOW.exec(text);
  if (!m) throw new Error(`upload window ${JSON.stringify(text)} must look like "22:00-06:00"`);
  return { start: Number(m[1]) * 60 + Number(m[2]), end: Number(m[3]) * 60 + Number(m[4]) };
}

/** Equal start and end mean all day; a start after the end crosses midnight. */
function inWindow(w: { start: number; end: number }, minute: number): boolean {
  if (w.start === w.end) return true;
  return w.start < w.end ? minute >= w.start && minute < w.end : minute >= w.start || minute < w.end;
}
