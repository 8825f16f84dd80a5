/**
 * Plans and writes the tiled levels. Level 0 is built entirely from a pool of distinct tiles (background
 * and tissue variants per density class, plus one tile per border shape), so a 100000x80000 slide costs a
 * few hundred encodes and its tile offsets mostly point at shared bytes. Lower levels reuse pooled tiles
 * where a tile is uniform; the rest are composited from the same uniform textures, following the
 * tissue field pixel by pixel, so tissue stays in place and a mixed tile costs a copy, not a painting.
 */
import type { SharedTablesJpegEncoder } from './jpeg.ts';
import { NO_TISSUE, paintRegion, uniformTissue, type PaintSource, type RegionContent } from './painter.ts';
import { hash32 } from './random.ts';
import type { TiffStreamWriter } from './tiff-writer.ts';
import {
  bilinearCorners,
  BORDER_DENSITY_CLASS,
  decodeCornerCode,
  NUCLEAR_FRACTIONS,
  TileKind,
  type TissueField,
} from './tissue-field.ts';

export interface LevelPlan {
  width: number;
  height: number;
  /** Level-0 pixels per pixel of this level, per axis (levels are floor(previous / 4)). */
  scaleX: number;
  scaleY: number;
  /** OpenSlide's downsample: the mean of the two axis ratios. */
  downsample: number;
  tilesAcross: number;
  tilesDown: number;
}

export interface WrittenLevel {
  offsets: Float64Array;
  byteCounts: Uint32Array;
}

export interface PyramidContext {
  field: TissueField;
  tileSize: number;
  mpp: number;
  seed: number;
  encoder: SharedTablesJpegEncoder;
  writer: TiffStreamWriter;
}

/** Produces the pixels of one distinct tile (run lazily, just before it is encoded). */
type PixelJob = () => Buffer;

/** Aperio levels: each a quarter of the previous (floored), until the long side is under ~2000 px. */
const LEVEL_FACTOR = 4;
const SMALLEST_LEVEL_LONG_SIDE = 2000;
/** Texture variants of each pooled kind, at level 0 and at lower levels (fewer tiles there). */
const VARIANTS_PER_KIND = [6, 3] as const;
/** Encodes in flight while the next tiles are painted (sharp runs them on libuv's thread pool). */
const ENCODES_IN_FLIGHT = 4;

export function planLevels(width: number, height: number, tileSize: number): LevelPlan[] {
  const plans: LevelPlan[] = [];
  let w = width;
  let h = height;
  for (;;) {
    const scaleX = width / w;
    const scaleY = height / h;
    plans.push({
      width: w,
      height: h,
      scaleX,
      scaleY,
      downsample: (scaleX + scaleY) / 2,
      tilesAcross: Math.ceil(w / tileSize),
      tilesDown: Math.ceil(h / tileSize),
    });
    if (Math.max(w, h) < SMALLEST_LEVEL_LONG_SIDE || w < LEVEL_FACTOR || h < LEVEL_FACTOR) return plans;
    w = Math.floor(w / LEVEL_FACTOR);
    h = Math.floor(h / LEVEL_FACTOR);
  }
}

/** Produces, encodes and appends jobs in order, with a few encodes overlapping the painting. */
async function writeJobs(ctx: PyramidContext, jobs: PixelJob[]): Promise<WrittenLevel> {
  const offsets = new Float64Array(jobs.length);
  const byteCounts = new Uint32Array(jobs.length);
  const inFlight: Promise<Buffer>[] = [];
  let written = 0;
  const appendOldest = async () => {
    const tile = await inFlight.shift()!;
    offsets[written] = await ctx.writer.append(tile);
    byteCounts[written] = tile.length;
    written++;
  };
  for (const job of jobs) {
    inFlight.push(ctx.encoder.encode(job(), ctx.tileSize, ctx.tileSize));
    if (inFlight.length >= ENCODES_IN_FLIGHT) await appendOldest();
  }
  while (inFlight.length > 0) await appendOldest();
  return { offsets, byteCounts };
}

/** One level's uniform textures (background, and tissue per nuclear fraction), painted once per variant. */
class LevelTextures {
  private readonly cache = new Map<string, Buffer>();
  private readonly ctx: PyramidContext;
  private readonly levelIndex: number;
  private readonly micronsPerPixel: number;

  constructor(ctx: PyramidContext, levelIndex: number, micronsPerPixel: number) {
    this.ctx = ctx;
    this.levelIndex = levelIndex;
    this.micronsPerPixel = micronsPerPixel;
  }

  /** Background when nuclearFraction is null. */
  get(nuclearFraction: number | null, variant: number): Buffer {
    const key = `${nuclearFraction} ${variant}`;
    let pixels = this.cache.get(key);
    if (!pixels) {
      const { tileSize, seed } = this.ctx;
      const source = nuclearFraction === null ? NO_TISSUE : uniformTissue(nuclearFraction);
      const fractionId = nuclearFraction === null ? 0 : Math.round(nuclearFraction * 1000) + 1;
      pixels = paintRegion({ width: tileSize, height: tileSize, micronsPerPixel: this.micronsPerPixel, source, seed: hash32(seed, this.levelIndex, fractionId, variant) });
      this.cache.set(key, pixels);
    }
    return pixels;
  }

  /** A tile that mixes tissue densities and background, copied run by run from the textures. */
  composite(content: RegionContent, variant: number): Buffer {
    const { tissue, nuclearFraction } = content;
    const out = Buffer.allocUnsafe(this.get(null, variant).length);
    const fractionAt = (p: number) => (!tissue[p] ? null : typeof nuclearFraction === 'number' ? nuclearFraction : nuclearFraction[p]);
    let start = 0;
    while (start < tissue.length) {
      const fraction = fractionAt(start);
      let end = start + 1;
      while (end < tissue.length && fractionAt(end) === fraction) end++;
      this.get(fraction, variant).copy(out, start * 3, start * 3, end * 3);
      start = end;
    }
    return out;
  }
}

/** Distinct jobs in first-use order plus, per tile, the index of the job whose bytes it points at. */
class JobTable {
  readonly jobs: PixelJob[] = [];
  readonly tileJob: Int32Array;
  private readonly pooled = new Map<string, number>();

  constructor(tileCount: number) {
    this.tileJob = new Int32Array(tileCount);
  }

  usePooled(tile: number, key: string, job: PixelJob): void {
    let index = this.pooled.get(key);
    if (index === undefined) {
      index = this.jobs.length;
      this.pooled.set(key, index);
      this.jobs.push(job);
    }
    this.tileJob[tile] = index;
  }

  useUnique(tile: number, job: PixelJob): void {
    this.tileJob[tile] = this.jobs.length;
    this.jobs.push(job);
  }
}

function borderSource(code: number): PaintSource {
  const [a, b, c, d] = decodeCornerCode(code);
  return (width, height) => {
    const tissue = new Uint8Array(width * height);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) tissue[y * width + x] = bilinearCorners(a, b, c, d, (x + 0.5) / width, (y + 0.5) / height) > 0 ? 1 : 0;
    }
    return { tissue, nuclearFraction: NUCLEAR_FRACTIONS[BORDER_DENSITY_CLASS] };
  };
}

/**
 * What a tile of a level shows when it needs no position-specific painting: all background, or all
 * tissue of one density class (null otherwise). Judged from the level-0 tiles under its pixel centres.
 */
function uniformContent(ctx: PyramidContext, plan: LevelPlan, tx: number, ty: number): { kind: TileKind; densityClass: number } | null {
  const { field, tileSize } = ctx;
  const first = (t: number, scale: number) => Math.floor(((t * tileSize + 0.5) * scale) / tileSize);
  const last = (t: number, scale: number) => Math.floor((((t + 1) * tileSize - 0.5) * scale) / tileSize);
  let content: { kind: TileKind; densityClass: number } | null = null;
  for (let j = first(ty, plan.scaleY); j <= last(ty, plan.scaleY); j++) {
    for (let i = first(tx, plan.scaleX); i <= last(tx, plan.scaleX); i++) {
      const kind = field.tileKind(i, j);
      if (kind === TileKind.Border) return null;
      const densityClass = kind === TileKind.Tissue ? field.densityClass(i, j) : -1;
      if (!content) content = { kind, densityClass };
      else if (content.kind !== kind || content.densityClass !== densityClass) return null;
    }
  }
  return content;
}

/** Writes one tiled level's tile data; returns each tile's offset and length, row-major. */
export async function writeTiledLevel(ctx: PyramidContext, plan: LevelPlan, levelIndex: number): Promise<WrittenLevel> {
  const { field, tileSize } = ctx;
  const variants = VARIANTS_PER_KIND[levelIndex === 0 ? 0 : 1];
  const micronsPerPixel = ctx.mpp * plan.downsample;
  const textures = new LevelTextures(ctx, levelIndex, micronsPerPixel);
  const table = new JobTable(plan.tilesAcross * plan.tilesDown);
  for (let ty = 0; ty < plan.tilesDown; ty++) {
    for (let tx = 0; tx < plan.tilesAcross; tx++) {
      const tile = ty * plan.tilesAcross + tx;
      const variant = hash32(ctx.seed, levelIndex, tx, ty) % variants;
      if (levelIndex === 0 && field.tileKind(tx, ty) === TileKind.Border) {
        // Level-0 border tiles are painted whole, so nuclei near the tissue edge are not cut.
        const code = field.cornerCode(tx, ty);
        const seed = hash32(ctx.seed, levelIndex, code, 0x626f);
        table.usePooled(tile, `border ${code}`, () => paintRegion({ width: tileSize, height: tileSize, micronsPerPixel, source: borderSource(code), seed }));
        continue;
      }
      const uniform = uniformContent(ctx, plan, tx, ty);
      if (uniform?.kind === TileKind.Background) {
        table.usePooled(tile, `background ${variant}`, () => textures.get(null, variant));
      } else if (uniform) {
        const fraction = NUCLEAR_FRACTIONS[uniform.densityClass];
        table.usePooled(tile, `tissue ${uniform.densityClass} ${variant}`, () => textures.get(fraction, variant));
      } else {
        const source = field.regionSource(tx * tileSize * plan.scaleX, ty * tileSize * plan.scaleY, plan.scaleX, plan.scaleY);
        table.useUnique(tile, () => textures.composite(source(tileSize, tileSize), variant));
      }
    }
  }
  const written = await writeJobs(ctx, table.jobs);
  const offsets = new Float64Array(table.tileJob.length);
  const byteCounts = new Uint32Array(table.tileJob.length);
  table.tileJob.forEach((job, tile) => {
    offsets[tile] = written.offsets[job];
    byteCounts[tile] = written.byteCounts[job];
  });
  return { offsets, byteCounts };
}
