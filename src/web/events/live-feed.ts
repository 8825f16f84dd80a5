import type { WebStore, WorklistRow } from '../../store/index.ts';

export type LiveEvent =
  | { type: 'slide'; data: WorklistRow }
  | { type: 'progress'; data: { slideId: number; done: number; total: number } };

type Listener = (event: LiveEvent) => void;

/**
 * One poller for all open dashboards: every `pollMs` it asks the store what changed (slides touched
 * since the last look, running jobs' progress) and tells every listener. It runs only while somebody
 * listens. Polling SQLite is cheap, and it also sees changes made by other processes (the CLI).
 */
export class LiveFeed {
  private readonly web: WebStore;
  private readonly pollMs: number;
  private readonly listeners = new Set<Listener>();
  private timer: NodeJS.Timeout | null = null;
  private since = new Date().toISOString();
  private readonly seen = new Map<number, string>();
  private readonly progress = new Map<number, string>();
  private readonly onError: (error: unknown) => void;

  constructor(web: WebStore, pollMs: number, onError: (error: unknown) => void) {
    this.web = web;
    this.pollMs = pollMs;
    this.onError = onError;
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    if (!this.timer) {
      this.since = new Date().toISOString();
      this.seen.clear();
      this.progress.clear();
      this.timer = setInterval(() => this.poll(), this.pollMs);
    }
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.stop();
    };
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One look at the store; public for tests, which call it instead of waiting for the timer. */
  poll(): void {
    try {
      const { touched, running } = this.web.changesSince(this.since);
      // Same-millisecond updates: re-read from the newest stamp seen, and drop what was already sent.
      const fresh = touched.filter((t) => this.seen.get(t.id) !== t.updatedAt);
      for (const t of touched) {
        this.seen.set(t.id, t.updatedAt);
        if (t.updatedAt > this.since) this.since = t.updatedAt;
      }
      for (const row of this.web.worklistRows(fresh.map((t) => t.id))) this.emit({ type: 'slide', data: row });
      const active = new Set<number>();
      for (const job of running) {
        active.add(job.slideId);
        const key = `${job.done}/${job.total}`;
        if (this.progress.get(job.slideId) === key) continue;
        this.progress.set(job.slideId, key);
        this.emit({ type: 'progress', data: job });
      }
      for (const slideId of this.progress.keys()) if (!active.has(slideId)) this.progress.delete(slideId);
    } catch (e) {
      this.onError(e);
    }
  }

  private emit(event: LiveEvent): void {
    for (const listener of this.listeners) listener(event);
  }
}
