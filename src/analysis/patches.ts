import sharp from 'sharp';
import { regionScaleFor, type Slide } from '../slide/index.ts';
import type { GridTile, TileGrid } from './grid.ts';

export interface PatchBatch {
  tiles: GridTile[];
  /** Interleaved RGB, `tiles.length` patches of inputSize x inputSize. */
  rgb: Uint8Array;
}

export interface PatchReaderOptions {
  inputSize: number;
  batchSize: number;
  /** Tiles read and resized at once (the decode work runs on libuv's threads). */
  readConcurrency: number;
  /** Batches ready ahead of inference; reading pauses when this many wait (back-pressure, bounded memory). */
  maxReadyBatches: number;
  signal?: AbortSignal;
  /** Milliseconds spent reading and resizing, summed over tiles (can exceed wall time: reads overlap). */
  onReadTime?: (ms: number) => void;
}

/**
 * Reads the grid's tiles in parallel and hands them out as batches while inference runs on earlier ones.
 * At most maxReadyBatches batches plus readConcurrency tiles are in memory whatever the slide's size.
 */
export async function* patchBatches(slide: Slide, grid: TileGrid, options: PatchReaderOptions): AsyncGenerator<PatchBatch> {
  const { inputSize, batchSize } = options;
  const patchBytes = inputSize * inputSize * 3;
  const batches = Math.ceil(grid.tiles.length / batchSize);
  const ready = new Map<number, Promise<PatchBatch>>();
  let nextToStart = 0;

  const readBatch = async (b: number): Promise<PatchBatch> => {
    const tiles = grid.tiles.slice(b * batchSize, (b + 1) * batchSize);
    const rgb = new Uint8Array(tiles.length * patchBytes);
    let next = 0;
    const worker = async () => {
      while (next < tiles.length) {
        const i = next++;
        options.signal?.throwIfAborted();
        const started = performance.now();
        const into = Buffer.from(rgb.buffer, rgb.byteOffset + i * patchBytes, patchBytes);
        const patch = await readPatch(slide, grid, tiles[i], inputSize, into);
        options.onReadTime?.(performance.now() - started);
        if (patch !== into) into.set(patch);
      }
    };
    await Promise.all(Array.from({ length: Math.min(options.readConcurrency, tiles.length) }, worker));
    return { tiles, rgb };
  };

  const fill = () => {
    while (nextToStart < batches && ready.size < options.maxReadyBatches) {
      const promise = readBatch(nextToStart);
      promise.catch(() => {}); // surfaced when awaited below; avoids an unhandled rejection meanwhile
      ready.set(nextToStart++, promise);
    }
  };

  for (let b = 0; b < batches; b++) {
    fill();
    const batch = await ready.get(b)!;
    ready.delete(b);
    fill();
    yield batch;
  }
}

/**
 * One tile at the model's input size: read at the planned level, at the largest power-of-two scale that
 * libjpeg decodes directly (a 0.25 MPP slide for a 0.5 MPP model decodes at half size), resized for the rest.
 * Read straight into `into` (a batch's slot) when no resize is needed.
 */
async function readPatch(slide: Slide, grid: TileGrid, tile: GridTile, inputSize: number, into?: Buffer): Promise<Buffer> {
  const scale = regionScaleFor(grid.readSize / inputSize);
  const direct = Math.ceil(grid.readSize / scale) === inputSize;
  const image = await slide.readRegion(grid.level, tile.x, tile.y, grid.readSize, grid.readSize, { scale, into: direct ? into : undefined });
  if (direct) return image.data;
  return sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
    .resize(inputSize, inputSize, { fit: 'fill', kernel: 'linear' })
    .raw()
    .toBuffer();
}
