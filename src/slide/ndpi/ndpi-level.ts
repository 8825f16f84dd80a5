import { LIMITS, SlideError } from '../errors.ts';
import type { FileSource } from '../file-source.ts';
import { canDecodeJpegParts, decodeJpeg, jpegDimensions } from '../codecs/jpeg.ts';
import { shrinkImage } from '../codecs/pixels.ts';
import type { PartJpeg, TileSource } from '../tiled-slide.ts';
import { fitTile } from '../tiff/tiff-image.ts';
import type { RawJpegTile, RegionScale, RgbImage } from '../types.ts';
import { assembleJpeg, JPEG_MAX_DIMENSION, type JpegHeader } from './jpeg-header.ts';
import { RestartIntervals } from './restart-intervals.ts';

/**
 * Decoded pixels per virtual tile. One restart interval can be a thin strip (3968x8, a whole MCU row, in
 * the test fixture) and each decoder call costs about 1 ms beyond its pixels, so intervals are decoded in
 * groups. Cold 512x512 level-0 regions of that fixture (2 busy cores): 1 interval per tile 52-77 ms,
 * 3968x16 49-69 ms, 3968x64 (256k pixels) 25-36 ms, 3968x264 30-31 ms; bigger groups also decode more
 * unused rows for small reads.
 */
const TILE_PIXELS = 256 * 1024;

export interface NdpiStripParts {
  source: FileSource;
  /** File offset and byte count of the level's JPEG, its only TIFF strip. */
  start: number;
  length: number;
  /** Size from the TIFF tags (the JPEG's SOF says 0 beyond 65535). */
  width: number;
  height: number;
  header: JpegHeader;
  /** Names the level in errors. */
  where: string;
  /** NdpiMcuStarts as offsets relative to the strip, or null when the directory has none. */
  loadMcuStarts: () => Promise<Float64Array | null>;
}

/**
 * One NDPI pyramid image: a single JPEG cut along its restart intervals into virtual tiles of
 * `groupAcross` intervals by `groupDown` MCU rows, each decoded as a small JPEG of its own. A JPEG
 * without usable restart markers is one tile (OpenSlide does the same).
 */
export class NdpiStrip {
  readonly width: number;
  readonly height: number;
  readonly tileWidth: number;
  readonly tileHeight: number;
  /** False when the JPEG has no usable restart markers and is decoded whole. */
  readonly tiled: boolean;
  private readonly parts: NdpiStripParts;
  /** Width and height of one restart interval; the whole image when untiled. */
  private readonly intervalWidth: number;
  private readonly intervalHeight: number;
  private readonly intervalsAcross: number;
  private readonly mcuRows: number;
  private readonly groupAcross: number;
  private readonly groupDown: number;
  private index: Promise<RestartIntervals> | null = null;

  constructor(parts: NdpiStripParts) {
    this.parts = parts;
    const { header, width, height, where } = parts;
    this.width = width;
    this.height = height;
    const mcusPerRow = Math.ceil(width / header.mcuWidth);
    this.tiled = header.cuttable && header.restartInterval > 0 && mcusPerRow % header.restartInterval === 0;
    if (this.tiled) {
      const declared = width <= JPEG_MAX_DIMENSION && height <= JPEG_MAX_DIMENSION;
      if (declared && (header.width !== width || header.height !== height)) {
        throw new SlideError('CORRUPT_STRUCTURE', `${where}: JPEG is ${header.width}x${header.height}, the TIFF says ${width}x${height}`);
      }
      this.intervalWidth = header.restartInterval * header.mcuWidth;
      this.intervalHeight = header.mcuHeight;
      this.intervalsAcross = mcusPerRow / header.restartInterval;
      this.mcuRows = Math.ceil(height / header.mcuHeight);
      if (this.intervalWidth > JPEG_MAX_DIMENSION) {
        throw new SlideError('UNSUPPORTED_FORMAT', `${where}: restart intervals ${this.intervalWidth} pixels wide cannot be cut into JPEG tiles`);
      }
      // Each interval ends with a 2-byte marker, which bounds what a real strip can hold (and the index's memory).
      const intervals = this.intervalsAcross * this.mcuRows;
      if (intervals > parts.length / 2 || intervals > LIMITS.maxTilesPerLevel) {
        throw new SlideError('CORRUPT_STRUCTURE', `${where}: ${intervals} restart intervals cannot fit in a ${parts.length}-byte JPEG`);
      }
      [this.groupAcross, this.groupDown] = chooseGroup(this.intervalWidth, this.intervalHeight, this.intervalsAcross);
    } else {
      if (width * height > LIMITS.maxTilePixels || width > JPEG_MAX_DIMENSION || height > JPEG_MAX_DIMENSION) {
        throw new SlideError('TOO_LARGE', `${where}: a ${width}x${height} JPEG without restart markers is too large to decode whole`);
      }
      this.intervalWidth = width;
      this.intervalHeight = height;
      this.intervalsAcross = 1;
      this.mcuRows = 1;
      this.groupAcross = 1;
      this.groupDown = 1;
    }
    this.tileWidth = this.groupAcross * this.intervalWidth;
    this.tileHeight = this.groupDown * this.intervalHeight;
  }

  /** Whether a 1/scale level can be made from this image (OpenSlide's rule: the interval divides evenly). */
  scalable(scale: number): boolean {
    return this.intervalWidth % scale === 0 && this.intervalHeight % scale === 0;
  }

  /** The complete JPEG of virtual tile (col,row), its pixel size, and how many restart intervals it holds. */
  async tileJpeg(col: number, row: number): Promise<RawJpegTile & { intervals: number }> {
    if (!this.tiled) {
      const data = await this.parts.source.read(this.parts.start, this.parts.length, `${this.parts.where} JPEG`);
      const size = jpegDimensions(data);
      if (!size) throw new SlideError('CORRUPT_TILE', `${this.parts.where}: JPEG has no frame header`);
      return { data, ...size, intervals: 1 };
    }
    const index = await this.restartIntervals();
    const n = this.intervalsAcross;
    const firstRow = row * this.groupDown;
    const lastRow = Math.min(firstRow + this.groupDown, this.mcuRows) - 1;
    const firstCol = col * this.groupAcross;
    let pieces: Buffer[];
    if (this.groupAcross === n) {
      // Whole MCU rows follow each other in the file: one read.
      pieces = await index.read(firstRow * n, lastRow * n + n - 1);
    } else {
      const rows = Array.from({ length: lastRow - firstRow + 1 }, (_, i) => (firstRow + i) * n + firstCol);
      pieces = (await Promise.all(rows.map((first) => index.read(first, first + this.groupAcross - 1)))).flat();
    }
    const width = this.tileWidth;
    const height = (lastRow - firstRow + 1) * this.intervalHeight;
    return { data: assembleJpeg(this.parts.header, width, height, pieces), width, height, intervals: pieces.length };
  }

  private restartIntervals(): Promise<RestartIntervals> {
    if (!this.index) {
      const loading = this.loadRestartIntervals();
      this.index = loading;
      // A failed load (an I/O error) is retried by the next read instead of failing the level for good.
      loading.catch(() => {
        if (this.index === loading) this.index = null;
      });
    }
    return this.index;
  }

  private async loadRestartIntervals(): Promise<RestartIntervals> {
    const { source, start, length, header, where } = this.parts;
    const stream = { source, start, length, firstInterval: header.bytes.length, count: this.intervalsAcross * this.mcuRows, where };
    const table = await this.parts.loadMcuStarts();
    // OpenSlide too ignores a table of the wrong length and scans instead.
    return table && table.length === stream.count ? RestartIntervals.fromTable(stream, table) : RestartIntervals.byScanning(stream);
  }
}

/** What a level has read, for tests and diagnostics: decoder calls, restart intervals and JPEG bytes. */
export interface LevelReads {
  tiles: number;
  intervals: number;
  bytes: number;
}

/**
 * A pyramid level made from an NdpiStrip at 1/scale (scale 1, 2, 4 or 8): OpenSlide adds the reduced
 * levels that libjpeg's scaled decoding gives, so the level list matches it, and reads them the same way.
 */
export class NdpiLevel implements TileSource {
  readonly width: number;
  readonly height: number;
  readonly tileWidth: number;
  readonly tileHeight: number;
  readonly reads: LevelReads = { tiles: 0, intervals: 0, bytes: 0 };
  private readonly strip: NdpiStrip;
  private readonly scale: number;

  constructor(strip: NdpiStrip, scale: number) {
    this.strip = strip;
    this.scale = scale;
    this.width = Math.floor(strip.width / scale);
    this.height = Math.floor(strip.height / scale);
    this.tileWidth = strip.tileWidth / scale;
    this.tileHeight = strip.tileHeight / scale;
  }

  async decodeTile(col: number, row: number, scale: RegionScale = 1): Promise<RgbImage> {
    const jpeg = await this.readTileJpeg(col, row);
    // libjpeg scales by at most 8 in the DCT domain; a reduced level read at a scale averages the rest.
    const total = this.scale * scale;
    const inDct = Math.min(total, 8) as RegionScale;
    let image = await decodeJpeg(jpeg.data, undefined, inDct);
    if (!this.strip.tiled) {
      // An untiled level's JPEG may round its size differently from the TIFF tags.
      image = fitTile(image, Math.ceil(this.strip.width / inDct), Math.ceil(this.strip.height / inDct));
    } else if (image.width !== Math.ceil(jpeg.width / inDct) || image.height !== Math.ceil(jpeg.height / inDct)) {
      throw new SlideError('CORRUPT_TILE', `decoded ${image.width}x${image.height}, expected ${jpeg.width}x${jpeg.height} at 1/${inDct}`);
    }
    return shrinkImage(image, total / inDct);
  }

  async partJpeg(col: number, row: number, scale: RegionScale): Promise<PartJpeg | null> {
    const total = this.scale * scale;
    if (!this.strip.tiled || total > 8 || !canDecodeJpegParts) return null;
    const jpeg = await this.readTileJpeg(col, row);
    return { jpeg: jpeg.data, scale: total as RegionScale, maxPixels: LIMITS.maxTilePixels };
  }

  /** The tile's assembled JPEG, counted in `reads` (what the tests check a region costs). */
  private async readTileJpeg(col: number, row: number) {
    const jpeg = await this.strip.tileJpeg(col, row);
    this.reads.tiles += 1;
    this.reads.intervals += jpeg.intervals;
    this.reads.bytes += jpeg.data.length;
    return jpeg;
  }

  /** The assembled tile JPEG itself (complete, nothing re-encoded); none for reduced levels. */
  async rawJpegTile(col: number, row: number): Promise<RawJpegTile | null> {
    if (this.scale !== 1) return null;
    const { data, width, height } = await this.strip.tileJpeg(col, row);
    return { data, width, height };
  }
}

/**
 * Intervals across (a divisor of the intervals per MCU row) and MCU rows down per virtual tile: close to
 * square, about TILE_PIXELS, within JPEG's size limit.
 */
function chooseGroup(intervalWidth: number, intervalHeight: number, intervalsAcross: number): [number, number] {
  const side = Math.sqrt(TILE_PIXELS);
  let across = 1;
  for (let k = 1; k <= intervalsAcross && k * intervalWidth <= JPEG_MAX_DIMENSION; k++) {
    if (intervalsAcross % k !== 0) continue;
    across = k;
    if (k * intervalWidth >= side) break;
  }
  const width = across * intervalWidth;
  const down = Math.max(1, Math.min(Math.round(TILE_PIXELS / width / intervalHeight), Math.floor(JPEG_MAX_DIMENSION / intervalHeight)));
  return [across, down];
}
