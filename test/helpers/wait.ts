/** Polling for integration tests that watch a daemon child process through its database. */

export interface WaitOptions {
  /** Text appended to a failure (the daemon's log tail, say). */
  context?: () => string | Promise<string>;
  /** A reason to stop waiting at once (the daemon exited), or null to keep waiting. */
  failIf?: () => string | null;
  intervalMs?: number;
}

/**
 * Resolves once `condition` holds; a condition that throws counts as not yet (the database may not
 * exist yet). Fails after `timeoutMs`, or as soon as `failIf` gives a reason.
 */
export async function waitUntil(what: string, condition: () => boolean, timeoutMs: number, options: WaitOptions = {}): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const context = async () => (options.context ? `:\n${await options.context()}` : '');
  for (;;) {
    try {
      if (condition()) return;
    } catch {
      // not there yet
    }
    const failure = options.failIf?.();
    if (failure) throw new Error(`${failure} while waiting for ${what}${await context()}`);
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${await context()}`);
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 200));
  }
}
