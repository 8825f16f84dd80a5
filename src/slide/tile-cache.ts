import type { RgbImage } from './types.ts';

/**
 * Decoded tiles kept under a byte budget (least recently used out first), with in-flight sharing so
 * two concurrent reads of the same tile decode it once.
 */
export class TileCache {
  private readonly budgetBytes: number;
  private usedBytes = 0;
  private readonly done = new Map<string, RgbImage>();
  private readonly pending = new Map<string, Promise<RgbImage | null>>();

  constructor(budgetBytes: number) {
    this.budgetBytes = budgetBytes;
  }

  get(key: string, load: () => Promise<RgbImage | null>): Promise<RgbImage | null> {
    const hit = this.done.get(key);
    if (hit) {
      this.done.delete(key);
      this.done.set(key, hit);
      return Promise.resolve(hit);
    }
    const inFlight = this.pending.get(key);
    if (inFlight) return inFlight;
    const promise = load().then(
      (image) => {
        this.pending.delete(key);
        if (image) this.store(key, image);
        return image;
      },
      (error: unknown) => {
        this.pending.delete(key);
        throw error;
      },
    );
    this.pending.set(key, promise);
    return promise;
  }

  private store(key: string, image: RgbImage): void {
    const size = image.data.length;
    if (size > this.budgetBytes / 4) return; // also: a zero budget caches nothing
    this.done.set(key, image);
    this.usedBytes += size;
    for (const [oldKey, old] of this.done) {
      if (this.usedBytes <= this.budgetBytes) break;
      this.done.delete(oldKey);
      this.usedBytes -= old.data.length;
    }
  }

  clear(): void {
    this.done.clear();
    this.usedBytes = 0;
  }
}
