/** Threads of libuv's pool, where file reads and the JPEG codec's jobs run: 4 unless UV_THREADPOOL_SIZE says otherwise. */
export const POOL_THREADS = Number(process.env.UV_THREADPOOL_SIZE) || 4;

/** At most `limit` tasks run at once; the others wait their turn in order. */
export class ConcurrencyLimit {
  private readonly limit: number;
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`concurrency limit ${limit} must be a positive integer`);
    this.limit = limit;
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.running++;
    try {
      return await task();
    } finally {
      this.running--;
      this.waiting.shift()?.();
    }
  }
}
