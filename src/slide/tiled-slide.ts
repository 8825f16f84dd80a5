import { LIMITS, SlideError } from './errors.ts';
import { whiteImage } from './codecs/pixels.ts';
import { TileCache } from './tile-cache.ts';
import type { RawJpegTile, RgbImage, Slide, SlideMetadata } from './types.ts';

/** One pyramid level as a grid of tiles; every format driver reduces its levels to this. */
export interface TileSource {
  readonly width: number;
  readonly height: number;
  readonly tileWidth: number;
  readonly tileHeight: number;
  /** The decoded tile (full tile size, also at the edges), or null where the file stores none. */
  decodeTile(col: number, row: number): Promise<RgbImage | null>;
  /** The stored tile as a complete JPEG, or null where that needs a re-encode. */
  rawJpegTile(col: number, row: number): Promise<RawJpegTile | null>;
}

export interface TiledSlideParts {
  path: string;
  metadata: SlideMetadata;
  levels: TileSource[];
  associated: Map<string, () => Promise<RgbImage>>;
  close: () => Promise<void>;
  cacheBytes?: number;
}

const DEFAULT_CACHE_BYTES = 96 * 1024 * 1024;
/** Tiles decoded at once per region: enough to keep libuv's decode threads busy, bounded for memory. */
const DECODE_PARALLELISM = 8;

/** The shared Slide implementation: region reads composed from cached, concurrently decoded tiles. */
export class TiledSlide implements Slide {
  readonly path: string;
  readonly metadata: SlideMetadata;
  private readonly levels: TileSource[];
  private readonly associated: Map<string, () => Promise<RgbImage>>;
  private readonly closeSource: () => Promise<void>;
  private cache: TileCache;
  private closed = false;

  constructor(parts: TiledSlideParts) {
    this.path = parts.path;
    this.metadata = parts.metadata;
    this.levels = parts.levels;
    this.associated = parts.associated;
    this.closeSource = parts.close;
    this.cache = new TileCache(parts.cacheBytes ?? DEFAULT_CACHE_BYTES);
  }

  /** Replaces the decoded-tile cache with one of another budget (0 disables caching). */
  setCacheBudget(bytes: number): void {
    this.cache.clear();
    this.cache = new TileCache(bytes);
  }

  /** x and y are level-0 coordinates, width and height are in pixels of `level` (OpenSlide's convention). */
  async readRegion(level: number, x: number, y: number, width: number, height: number): Promise<RgbImage> {
    const source = this.level(level);
    if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
      throw new SlideError('OUT_OF_BOUNDS', `region size ${width}x${height} must be positive integers`);
    }
    if (width * height > LIMITS.maxRegionPixels) {
      throw new SlideError('TOO_LARGE', `region ${width}x${height} exceeds ${LIMITS.maxRegionPixels} pixels; read it in parts`);
    }
    if (!Number.isFinite(x) || !Number.isFinite(y)) throw new SlideError('OUT_OF_BOUNDS', `region origin ${x},${y} is not a number`);
    const downsample = this.metadata.levels[level].downsample;
    const left = Math.floor(x / downsample);
    const top = Math.floor(y / downsample);
    const out = whiteImage(width, height);

    const firstCol = Math.max(0, Math.floor(left / source.tileWidth));
    const firstRow = Math.max(0, Math.floor(top / source.tileHeight));
    const lastCol = Math.min(Math.ceil(source.width / source.tileWidth), Math.ceil((left + width) / source.tileWidth)) - 1;
    const lastRow = Math.min(Math.ceil(source.height / source.tileHeight), Math.ceil((top + height) / source.tileHeight)) - 1;
    const across = Math.max(0, lastCol - firstCol + 1);
    const tileCount = across * Math.max(0, lastRow - firstRow + 1);
    // A forged tile size of a few pixels would turn one region into millions of decodes.
    if (tileCount > LIMITS.maxRegionTiles) {
      throw new SlideError('TOO_LARGE', `region ${width}x${height} spans ${tileCount} tiles of ${source.tileWidth}x${source.tileHeight}; read it in parts`);
    }

    let next = 0;
    let failed = false;
    const worker = async (): Promise<void> => {
      while (!failed && next < tileCount) {
        const index = next++;
        const col = firstCol + (index % across);
        const row = firstRow + Math.floor(index / across);
        let tile: RgbImage | null;
        try {
          tile = await this.tile(level, source, col, row);
        } catch (e) {
          // The region has failed: the other workers stop instead of decoding tiles nobody will see.
          failed = true;
          throw e;
        }
        if (tile) blit(tile, col * source.tileWidth, row * source.tileHeight, left, top, source, out);
      }
    };
    await Promise.all(Array.from({ length: Math.min(DECODE_PARALLELISM, tileCount) }, worker));
    return out;
  }

  async readAssociated(name: string): Promise<RgbImage> {
    this.assertOpen();
    const read = this.associated.get(name);
    if (!read) throw new SlideError('OUT_OF_BOUNDS', `no associated image "${name}" (has: ${[...this.associated.keys()].join(', ') || 'none'})`);
    return read();
  }

  async readRawJpegTile(level: number, col: number, row: number): Promise<RawJpegTile | null> {
    const source = this.level(level);
    this.assertTile(level, source, col, row);
    return source.rawJpegTile(col, row);
  }

  /** The decoded tile, through the cache; exposed for the Deep Zoom server and the analysis reader. */
  async readTile(level: number, col: number, row: number): Promise<RgbImage | null> {
    const source = this.level(level);
    this.assertTile(level, source, col, row);
    return this.tile(level, source, col, row);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.cache.clear();
    await this.closeSource();
  }

  private tile(level: number, source: TileSource, col: number, row: number): Promise<RgbImage | null> {
    return this.cache.get(`${level}/${col}/${row}`, async () => {
      try {
        return await source.decodeTile(col, row);
      } catch (e) {
        if (e instanceof SlideError && e.code !== 'CORRUPT_TILE' && e.code !== 'TRUNCATED') throw e;
        const reason = e instanceof Error ? e.message : String(e);
        throw new SlideError('CORRUPT_TILE', `corrupt tile at level ${level} (${col},${row}): ${reason}`, { cause: e });
      }
    });
  }

  private level(level: number): TileSource {
    this.assertOpen();
    const source = this.levels[level];
    if (!Number.isInteger(level) || !source) {
      throw new SlideError('OUT_OF_BOUNDS', `level ${level} does not exist (the slide has ${this.levels.length})`);
    }
    return source;
  }

  private assertTile(level: number, source: TileSource, col: number, row: number): void {
    const cols = Math.ceil(source.width / source.tileWidth);
    const rows = Math.ceil(source.height / source.tileHeight);
    if (!Number.isInteger(col) || !Number.isInteger(row) || col < 0 || row < 0 || col >= cols || row >= rows) {
      throw new SlideError('OUT_OF_BOUNDS', `tile (${col},${row}) is outside level ${level}'s ${cols}x${rows} grid`);
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new SlideError('IO', 'slide is closed');
  }
}

/**
 * Copies the part of a tile that lies inside the level and inside the region. Edge tiles are stored
 * padded, so the level's own size clips them (otherwise padding garbage shows at the slide's edge).
 */
function blit(tile: RgbImage, tileX: number, tileY: number, left: number, top: number, source: TileSource, out: RgbImage): void {
  const x0 = Math.max(tileX, left);
  const y0 = Math.max(tileY, top);
  const x1 = Math.min(tileX + tile.width, source.width, left + out.width);
  const y1 = Math.min(tileY + tile.height, source.height, top + out.height);
  if (x1 <= x0 || y1 <= y0) return;
  const rowBytes = (x1 - x0) * 3;
  for (let y = y0; y < y1; y++) {
    const from = ((y - tileY) * tile.width + (x0 - tileX)) * 3;
    tile.data.copy(out.data, ((y - top) * out.width + (x0 - left)) * 3, from, from + rowBytes);
  }
}
