/**
 * Every probe step runs under a deadline: systeminformation shells out (lspci, nvidia-smi, dmidecode) and a
 * wedged driver can make such a call hang forever, which must not hold up the daemon's start.
 */
export type Bounded<T> = { ok: true; value: T } | { ok: false; reason: string };

export async function withDeadline<T>(label: string, timeoutMs: number, run: () => Promise<T>): Promise<Bounded<T>> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<Bounded<T>>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, reason: `${label} did not answer within ${timeoutMs} ms` }), timeoutMs);
    // A hung call must not also keep a finished process alive.
    timer.unref();
  });
  const attempt = (async (): Promise<Bounded<T>> => {
    try {
      return { ok: true, value: await run() };
    } catch (error) {
      return { ok: false, reason: `${label} failed: ${errorMessage(error)}` };
    }
  })();
  try {
    return await Promise.race([attempt, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
