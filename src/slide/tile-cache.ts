import type { RgbImage } from './types.ts';

/** When a decoded tile enters the cache (see OpenOptions.cacheAdmission). */
export type CacheAdmission = 'first-request' | 'second-request';

/**
 * Tiles remembered as asked for once: the most recent ones only (a viewer's screen holds about 40 tiles
 * of 256 px), so that a tile is admitted when it is asked for again soon (a viewer panning, neighbouring
 * regions), not when random reads over a large slide happen to come back to it much later.
 */
const MAX_SEEN_KEYS = 256;

/**
 * Decoded tiles kept under a byte budget (least recently used out first), with in-flight sharing so
 * two concurrent reads of the same tile decode it once.
 */
export class TileCache {
  private readonly budgetBytes: number;
  private usedBytes = 0;
  private readonly done = new Map<string, RgbImage>();
  private readonly pending = new Map<string, Promise<RgbImage | null>>();
  /** Tiles asked for once and not cached: the doorkeeper of the admission policy in wants(). */
  private readonly seen = new Set<string>();

  private readonly admission: CacheAdmission;

  constructor(budgetBytes: number, admission: CacheAdmission = 'second-request') {
    this.budgetBytes = budgetBytes;
    this.admission = admission;
  }

  /**
   * Whether a tile should go through the cache: it is there or on its way, or it was asked for before.
   * Under 'second-request' admission a tile's first request is served without it (cheaper, and most tiles
   * of a random read are never asked for again); its second one admits it. The keys remembered are bounded.
   */
  wants(key: string): boolean {
    if (this.budgetBytes === 0) return false;
    if (this.admission === 'first-request') return true;
    if (this.done.has(key) || this.pending.has(key) || this.seen.delete(key)) return true;
    if (this.seen.size >= MAX_SEEN_KEYS) this.seen.delete(this.seen.values().next().value!);
    this.seen.add(key);
    return false;
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
    this.seen.clear();
    this.usedBytes = 0;
  }
}
