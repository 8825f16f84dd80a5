import { inflateSync } from 'node:zlib';
import { LIMITS, SlideError } from '../errors.ts';
import { canDecodeJpegParts, completeJpeg, decodeJpeg, jpegDimensions } from '../codecs/jpeg.ts';
import { decodeJpeg2000 } from '../codecs/jpeg2000.ts';
import { decodeLzw } from '../codecs/lzw.ts';
import { shrinkImage, toRgb } from '../codecs/pixels.ts';
import type { PartJpeg, TileSource } from '../tiled-slide.ts';
import type { RawJpegTile, RegionScale, RgbImage } from '../types.ts';
import type { TiffDirectory, TiffFile } from './tiff-file.ts';
import { Compression, Photometric, Tag } from './tags.ts';

const SUPPORTED = new Set<number>([
  Compression.None, Compression.Lzw, Compression.Jpeg, Compression.AdobeDeflate, Compression.Deflate,
  Compression.PackBits, Compression.AperioJp2kYcbcr, Compression.AperioJp2kRgb,
]);

/** RGBA is the most a slide image carries. */
const MAX_SAMPLES_PER_PIXEL = 4;
const STORED_TILE_SLACK = 4;

/**
 * One TIFF image (a pyramid level or an associated image) as a grid of tiles. Stripped images are
 * treated as tiles one strip high and the full width wide, so every image reads the same way.
 */
export class TiffImage implements TileSource {
  readonly width: number;
  readonly height: number;
  readonly tileWidth: number;
  readonly tileHeight: number;
  readonly tiled: boolean;
  readonly compression: number;
  readonly directory: TiffDirectory;
  private readonly file: TiffFile;
  private readonly photometric: number;
  private readonly samplesPerPixel: number;
  private readonly predictor: number;
  private readonly jpegTables: Buffer | undefined;
  private readonly colorMap: number[];

  constructor(file: TiffFile, directory: TiffDirectory) {
    this.file = file;
    this.directory = directory;
    const where = `TIFF directory ${directory.index}`;
    this.width = directory.integer(Tag.ImageWidth) ?? 0;
    this.height = directory.integer(Tag.ImageLength) ?? 0;
    if (this.width < 1 || this.height < 1 || this.width > LIMITS.maxDimension || this.height > LIMITS.maxDimension) {
      throw new SlideError('CORRUPT_STRUCTURE', `${where} has an invalid size ${this.width}x${this.height}`);
    }
    this.tiled = directory.has(Tag.TileWidth);
    if (this.tiled) {
      this.tileWidth = directory.integer(Tag.TileWidth) ?? 0;
      this.tileHeight = directory.integer(Tag.TileLength) ?? 0;
    } else {
      this.tileWidth = this.width;
      this.tileHeight = Math.min(this.height, directory.integer(Tag.RowsPerStrip) ?? this.height);
    }
    if (this.tileWidth < 1 || this.tileHeight < 1) throw new SlideError('CORRUPT_STRUCTURE', `${where} has an invalid tile size ${this.tileWidth}x${this.tileHeight}`);
    if (this.tileWidth * this.tileHeight > LIMITS.maxTilePixels) {
      throw new SlideError('TOO_LARGE', `${where}: a ${this.tileWidth}x${this.tileHeight} tile exceeds ${LIMITS.maxTilePixels} pixels`);
    }
    this.compression = directory.integer(Tag.Compression) ?? Compression.None;
    if (!SUPPORTED.has(this.compression)) throw new SlideError('UNSUPPORTED_COMPRESSION', `unknown TIFF compression ${this.compression}`);
    this.photometric = directory.integer(Tag.Photometric) ?? Photometric.Rgb;
    this.samplesPerPixel = directory.integer(Tag.SamplesPerPixel) ?? 1;
    // Decoders size their output as pixels x samples; a forged count must not multiply that.
    if (this.samplesPerPixel < 1 || this.samplesPerPixel > MAX_SAMPLES_PER_PIXEL) {
      throw new SlideError('UNSUPPORTED_COMPRESSION', `${where}: ${this.samplesPerPixel} samples per pixel are not supported`);
    }
    const bits = directory.numbers(Tag.BitsPerSample);
    if (bits.some((b) => b !== 8)) throw new SlideError('UNSUPPORTED_COMPRESSION', `${bits.join('/')}-bit samples are not supported`);
    if ((directory.integer(Tag.PlanarConfig) ?? 1) !== 1) throw new SlideError('UNSUPPORTED_COMPRESSION', 'planar (separate-plane) TIFF images are not supported');
    this.predictor = directory.integer(Tag.Predictor) ?? 1;
    this.jpegTables = directory.bytes(Tag.JPEGTables);
    this.colorMap = directory.numbers(Tag.ColorMap);
  }

  /**
   * The largest frame a tile's JPEG or JPEG 2000 header may declare. fitTile crops frames larger than the
   * grid's tile, so some slack is allowed, but not the gigapixels a forged header can claim.
   */
  private get maxStoredPixels(): number {
    return Math.min(LIMITS.maxTilePixels, STORED_TILE_SLACK * this.tileWidth * this.tileHeight);
  }

  get tilesAcross(): number {
    return Math.ceil(this.width / this.tileWidth);
  }

  get tilesDown(): number {
    return Math.ceil(this.height / this.tileHeight);
  }

  /** The stored bytes of a tile, or null when the file has none there (offset or count 0). */
  async readTileBytes(col: number, row: number): Promise<Buffer | null> {
    const offsets = await this.directory.array(this.tiled ? Tag.TileOffsets : Tag.StripOffsets);
    const counts = await this.directory.array(this.tiled ? Tag.TileByteCounts : Tag.StripByteCounts);
    const expected = this.tilesAcross * this.tilesDown;
    if (offsets.length < expected || counts.length < expected) {
      throw new SlideError('CORRUPT_STRUCTURE', `TIFF directory ${this.directory.index} lists ${offsets.length} tiles, needs ${expected}`);
    }
    const index = row * this.tilesAcross + col;
    if (offsets[index] === 0 || counts[index] === 0) return null;
    return this.file.source.read(offsets[index], counts[index], `tile (${col},${row}) of TIFF directory ${this.directory.index}`);
  }

  async decodeTile(col: number, row: number, scale: RegionScale = 1): Promise<RgbImage | null> {
    const bytes = await this.readTileBytes(col, row);
    if (!bytes) return null;
    // The last strip of a stripped image may be shorter than RowsPerStrip.
    const rows = this.tiled ? this.tileHeight : Math.min(this.tileHeight, this.height - row * this.tileHeight);
    return this.decodeBytes(bytes, this.tileWidth, rows, scale);
  }

  async partJpeg(col: number, row: number, scale: RegionScale): Promise<PartJpeg | null> {
    if (!canDecodeJpegParts) return null;
    const stored = await this.storedJpeg(col, row);
    if (stored === 'none') return { jpeg: null, scale, maxPixels: this.maxStoredPixels };
    // A stored tile of another size than the grid's is padded or cut by a whole decode (fitTile).
    if (!stored || !this.fitsGrid(stored.size)) return null;
    return { jpeg: stored.data, scale, maxPixels: this.maxStoredPixels };
  }

  async rawJpegTile(col: number, row: number): Promise<RawJpegTile | null> {
    const stored = await this.storedJpeg(col, row);
    if (!stored || stored === 'none') return null;
    const { data, size } = stored;
    if (!size || size.width < 1 || size.height < 1) throw new SlideError('CORRUPT_TILE', `tile (${col},${row}) has no valid JPEG frame header`);
    // A stored JPEG of another size than the grid's tile cannot be served as is: the caller re-encodes.
    if (!this.fitsGrid(size)) return null;
    return { data, width: size.width, height: size.height };
  }

  /**
   * A tile of a tiled JPEG level as a complete JPEG with the frame size its header declares (null when
   * the marker walk finds none); 'none' where the file stores no tile; null for any other level.
   */
  private async storedJpeg(col: number, row: number): Promise<{ data: Buffer; size: { width: number; height: number } | null } | 'none' | null> {
    if (this.compression !== Compression.Jpeg || !this.tiled) return null;
    const bytes = await this.readTileBytes(col, row);
    if (!bytes) return 'none';
    const data = completeJpeg(bytes, this.jpegTables, this.rgbCodedJpeg());
    return { data, size: jpegDimensions(data) };
  }

  private fitsGrid(size: { width: number; height: number } | null): boolean {
    return size !== null && size.width === this.tileWidth && size.height === this.tileHeight;
  }

  /** Decodes the whole image; for associated images, which are small. */
  async decodeWhole(): Promise<RgbImage> {
    if (this.width * this.height > LIMITS.maxAssociatedPixels) {
      throw new SlideError('TOO_LARGE', `image ${this.width}x${this.height} is too large to decode whole`);
    }
    const out = Buffer.alloc(this.width * this.height * 3, 255);
    for (let row = 0; row < this.tilesDown; row++) {
      for (let col = 0; col < this.tilesAcross; col++) {
        const tile = await this.decodeTile(col, row);
        if (!tile) continue;
        const x0 = col * this.tileWidth;
        const y0 = row * this.tileHeight;
        const w = Math.min(tile.width, this.width - x0);
        for (let y = 0; y < tile.height && y0 + y < this.height; y++) {
          tile.data.copy(out, ((y0 + y) * this.width + x0) * 3, y * tile.width * 3, (y * tile.width + w) * 3);
        }
      }
    }
    return { width: this.width, height: this.height, channels: 3, data: out };
  }

  /**
   * A TIFF JPEG with Photometric RGB stores RGB components; libjpeg would assume YCbCr, so the Adobe
   * transform-0 marker is added (what OpenSlide does for Aperio RGB tiles).
   */
  private rgbCodedJpeg(): boolean {
    return this.photometric === Photometric.Rgb && this.samplesPerPixel === 3;
  }

  private async decodeBytes(bytes: Buffer, width: number, height: number, scale: RegionScale): Promise<RgbImage> {
    switch (this.compression) {
      case Compression.Jpeg: {
        const jpeg = completeJpeg(bytes, this.jpegTables, this.rgbCodedJpeg());
        return fitTile(await decodeJpeg(jpeg, this.maxStoredPixels, scale), Math.ceil(width / scale), Math.ceil(height / scale));
      }
      case Compression.AperioJp2kYcbcr:
      case Compression.AperioJp2kRgb: {
        const image = await decodeJpeg2000(bytes, this.compression === Compression.AperioJp2kYcbcr, this.maxStoredPixels);
        return shrinkImage(fitTile(image, width, height), scale);
      }
      default:
        return shrinkImage(this.decodeSamples(this.decompress(bytes, width * height * this.samplesPerPixel), width, height), scale);
    }
  }

  private decompress(bytes: Buffer, expected: number): Buffer {
    switch (this.compression) {
      case Compression.None:
        return bytes;
      case Compression.Lzw:
        return decodeLzw(bytes, expected);
      case Compression.AdobeDeflate:
      case Compression.Deflate:
        try {
          return inflateSync(bytes, { maxOutputLength: Math.max(expected, 1) });
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
            throw new SlideError('CORRUPT_TILE', `Deflate data inflates to more than the ${expected} bytes the tile holds`);
          }
          throw new SlideError('CORRUPT_TILE', `Deflate data is corrupt: ${(e as Error).message}`, { cause: e });
        }
      case Compression.PackBits:
        return decodePackBits(bytes, expected);
      default:
        throw new SlideError('UNSUPPORTED_COMPRESSION', `unknown TIFF compression ${this.compression}`);
    }
  }

  private decodeSamples(raw: Buffer, width: number, height: number): RgbImage {
    const spp = this.samplesPerPixel;
    const needed = width * height * spp;
    if (raw.length < needed) throw new SlideError('CORRUPT_TILE', `tile decompressed to ${raw.length} bytes, expected ${needed}`);
    // Decompressed buffers (and uncompressed reads) are fresh per tile, so they are worked on in place.
    const samples = raw.subarray(0, needed);
    if (this.predictor === 2) undoHorizontalPredictor(samples, width, height, spp);
    else if (this.predictor !== 1) throw new SlideError('UNSUPPORTED_COMPRESSION', `TIFF predictor ${this.predictor} is not supported`);
    if (this.photometric === Photometric.Palette) return applyPalette(samples, width, height, this.colorMap);
    if (this.photometric === Photometric.MinIsWhite) for (let i = 0; i < samples.length; i++) samples[i] = 255 - samples[i];
    if (this.photometric === Photometric.YCbCr) throw new SlideError('UNSUPPORTED_COMPRESSION', 'uncompressed YCbCr TIFF is not supported');
    return toRgb(samples, width, height, spp);
  }
}

/** Decoders return the size stored in the codestream; tiles must be exactly the grid's tile size. */
export function fitTile(image: RgbImage, width: number, height: number): RgbImage {
  if (image.width === width && image.height === height) return image;
  if (image.width < width || image.height < height) {
    // Some writers store truncated edge tiles; pad them with white.
    const out = Buffer.alloc(width * height * 3, 255);
    const w = Math.min(width, image.width);
    for (let y = 0; y < Math.min(height, image.height); y++) image.data.copy(out, y * width * 3, y * image.width * 3, (y * image.width + w) * 3);
    return { width, height, channels: 3, data: out };
  }
  const out = Buffer.allocUnsafe(width * height * 3);
  for (let y = 0; y < height; y++) image.data.copy(out, y * width * 3, y * image.width * 3, (y * image.width + width) * 3);
  return { width, height, channels: 3, data: out };
}

function undoHorizontalPredictor(samples: Buffer, width: number, height: number, spp: number): void {
  const stride = width * spp;
  for (let y = 0; y < height; y++) {
    const rowStart = y * stride;
    for (let i = spp; i < stride; i++) samples[rowStart + i] = (samples[rowStart + i] + samples[rowStart + i - spp]) & 0xff;
  }
}

function applyPalette(indices: Buffer, width: number, height: number, colorMap: number[]): RgbImage {
  if (colorMap.length !== 768) throw new SlideError('CORRUPT_STRUCTURE', 'palette TIFF without a 256-entry ColorMap');
  const out = Buffer.allocUnsafe(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    const v = indices[i];
    out[i * 3] = colorMap[v] >> 8;
    out[i * 3 + 1] = colorMap[256 + v] >> 8;
    out[i * 3 + 2] = colorMap[512 + v] >> 8;
  }
  return { width, height, channels: 3, data: out };
}

function decodePackBits(input: Buffer, expected: number): Buffer {
  const out = Buffer.alloc(expected);
  let at = 0;
  let written = 0;
  while (at < input.length && written < expected) {
    const n = input.readInt8(at++);
    if (n >= 0) {
      const count = Math.min(n + 1, expected - written, input.length - at);
      input.copy(out, written, at, at + count);
      at += n + 1;
      written += count;
    } else if (n !== -128) {
      const count = Math.min(1 - n, expected - written);
      out.fill(input[at++] ?? 0, written, written + count);
      written += count;
    }
  }
  return out;
}
