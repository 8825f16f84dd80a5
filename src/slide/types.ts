/** The slide reader's public types: one interface every format driver implements (OpenSlide's shape). */

export interface SlideLevel {
  width: number;
  height: number;
  /** level-0 pixels per pixel of this level (OpenSlide: mean of the x and y ratios). */
  downsample: number;
  /** Native tile size of the level (a strip-based level reports its virtual tile). */
  tileWidth: number;
  tileHeight: number;
}

export interface Bounds {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Fractions of a level a region can be read at: 1/1, 1/2, 1/4, 1/8 (JPEG decodes these in the DCT domain). */
export type RegionScale = 1 | 2 | 4 | 8;

export interface RegionOptions {
  /** Read at 1/scale of the size asked for (rounded up), each pixel the mean of the block it covers. */
  scale?: RegionScale;
  /** Write the pixels into this buffer (exactly the result's size) instead of a new one. */
  into?: Buffer;
}

/** A decoded image: interleaved 8-bit RGB, row-major, no padding. */
export interface RgbImage {
  width: number;
  height: number;
  channels: 3;
  data: Buffer;
}

export interface SlideMetadata {
  /** OpenSlide's vendor name: aperio, generic-tiff, hamamatsu, dicom, plain-tiff, ... */
  vendor: string;
  width: number;
  height: number;
  levels: SlideLevel[];
  /** Microns per pixel at level 0, or null when the file does not say (never guessed). */
  mpp: [number, number] | null;
  objectivePower: number | null;
  /** Associated images by OpenSlide name (label, macro, thumbnail, ...) with their [width, height]. */
  associated: Record<string, [number, number]>;
  /** Non-empty region of level 0, where the format records it. */
  bounds: Bounds | null;
  /** Every property under OpenSlide's names (see properties.ts) and the vendor's own. */
  properties: Record<string, string>;
}

/** A complete, standalone JPEG of one stored tile, for viewers (no decode/re-encode). */
export interface RawJpegTile {
  /** Complete JPEG file bytes. */
  data: Buffer;
  /** Pixel size of the stored tile (edge tiles are stored padded to the full tile size). */
  width: number;
  height: number;
}

export interface Slide {
  readonly path: string;
  readonly metadata: SlideMetadata;
  /**
   * RGB pixels of a region: x,y in level-0 coordinates, width,height in pixels of `level` (OpenSlide's
   * read_region convention); outside the level is white.
   */
  readRegion(level: number, x: number, y: number, width: number, height: number, options?: RegionOptions): Promise<RgbImage>;
  readAssociated(name: string): Promise<RgbImage>;
  /**
   * The stored JPEG of tile (col,row) at a level as a complete JPEG, or null where the format or this
   * tile cannot be served without re-encoding (JPEG 2000, LZW, missing tile...).
   */
  readRawJpegTile(level: number, col: number, row: number): Promise<RawJpegTile | null>;
  close(): Promise<void>;
}

/** What a format driver implements. `detect` is cheap (header bytes); `open` does the real work. */
export interface SlideDriver {
  readonly vendor: string;
  /** Whether this driver recognises the file; must not throw for foreign files. */
  detect(probe: FileProbe): boolean;
  open(probe: FileProbe): Promise<Slide>;
}

/** What drivers see when asked to detect: the path and the first bytes, plus parsed TIFF if it is one. */
export interface FileProbe {
  path: string;
  /** The open file; a driver that keeps it owns it (closes it in Slide.close), one that does not must leave it. */
  source: import('./file-source.ts').FileSource;
  size: number;
  head: Buffer;
  tiff: import('./tiff/tiff-file.ts').TiffFile | null;
}

/**
 * The largest region scale that does not shrink below the size wanted, for a read of `ratio` times the
 * pixels wanted (what remains is left to a resize).
 */
export function regionScaleFor(ratio: number): RegionScale {
  for (const scale of [8, 4, 2] as const) if (ratio >= scale * (1 - 1e-9)) return scale;
  return 1;
}
