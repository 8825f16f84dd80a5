/**
 * Whether the box clock can be trusted to judge metadata expiry. A box without an RTC boots in 1970; a bad
 * NTP answer can put it centuries ahead, where every role looks expired. In both cases new metadata is
 * refused (CLOCK_UNTRUSTED) and the box keeps serving; nothing derived from such a clock is ever persisted,
 * so fixing the clock is enough to recover.
 */
import { OtaError } from './errors.ts';

/** Before this build-time floor the clock is certainly wrong: this software did not exist yet. */
export const CLOCK_FLOOR = new Date('2025-01-01T00:00:00Z');
/** Beyond this the clock is absurd for a box in service. */
export const CLOCK_CEILING = new Date('2100-01-01T00:00:00Z');

export function checkClock(now: Date): void {
  const t = now.getTime();
  if (!Number.isFinite(t) || t < CLOCK_FLOOR.getTime() || t > CLOCK_CEILING.getTime()) {
    const shown = Number.isFinite(t) && Math.abs(t) <= 8.64e15 ? now.toISOString() : String(t);
    throw new OtaError('CLOCK_UNTRUSTED', `the clock says ${shown}, outside ${CLOCK_FLOOR.toISOString()} .. ${CLOCK_CEILING.toISOString()}; set the time (NTP) and the update is retried`);
  }
}
