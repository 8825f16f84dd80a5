import { openSlide, type Slide } from '../../slide/index.ts';
import { deepZoomPlan, type DeepZoomPlan } from './deep-zoom.ts';

/** An open slide with its Deep Zoom layout, computed once. */
export interface OpenedSlide {
  slide: Slide;
  deepZoom: DeepZoomPlan;
}

interface Entry {
  path: string;
  opening: Promise<OpenedSlide>;
  users: number;
  evicted: boolean;
}

/**
 * A few slides kept open (least recently used closed first): opening parses the whole TIFF directory, far
 * too slow per tile. A slide still serving requests when evicted is closed after its last one finishes.
 */
export class SlidePool {
  private readonly capacity: number;
  private readonly open: (path: string) => Promise<Slide>;
  private readonly entries = new Map<number, Entry>();

  constructor(capacity = 4, open: (path: string) => Promise<Slide> = (p) => openSlide(p)) {
    this.capacity = capacity;
    this.open = open;
  }

  async use<T>(slideId: number, path: string, task: (opened: OpenedSlide) => Promise<T>): Promise<T> {
    const entry = this.acquire(slideId, path);
    entry.users++;
    try {
      return await task(await entry.opening);
    } finally {
      entry.users--;
      if (entry.evicted && entry.users === 0) void this.closeEntry(entry);
    }
  }

  async close(): Promise<void> {
    const entries = [...this.entries.values()];
    this.entries.clear();
    for (const entry of entries) entry.evicted = true;
    await Promise.all(entries.filter((e) => e.users === 0).map((e) => this.closeEntry(e)));
  }

  private acquire(slideId: number, path: string): Entry {
    const existing = this.entries.get(slideId);
    if (existing && existing.path === path) {
      this.entries.delete(slideId);
      this.entries.set(slideId, existing);
      return existing;
    }
    if (existing) this.evict(slideId, existing);
    const opening = this.open(path).then((slide) => ({ slide, deepZoom: deepZoomPlan(slide.metadata) }));
    const entry: Entry = { path, opening, users: 0, evicted: false };
    // A slide that failed to open is forgotten, so the next request tries again (the file may be back).
    opening.catch(() => {
      if (this.entries.get(slideId) === entry) this.entries.delete(slideId);
    });
    this.entries.set(slideId, entry);
    for (const [id, old] of this.entries) {
      if (this.entries.size <= this.capacity) break;
      this.evict(id, old);
    }
    return entry;
  }

  private evict(slideId: number, entry: Entry): void {
    this.entries.delete(slideId);
    entry.evicted = true;
    if (entry.users === 0) void this.closeEntry(entry);
  }

  private async closeEntry(entry: Entry): Promise<void> {
    try {
      await (await entry.opening).slide.close();
    } catch {
      // It never opened, or is already closed: nothing to release.
    }
  }
}
