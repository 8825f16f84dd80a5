/**
 * Every failure of the slide reader is a SlideError with a stable code, so callers (ingest, the CLI,
 * the web tile routes) can decide what to do without parsing messages.
 */
export const SLIDE_ERROR_CODES = [
  'UNSUPPORTED_FORMAT', // not a slide format we read (text file, unknown TIFF flavour)
  'UNSUPPORTED_COMPRESSION', // a TIFF/DICOM compression we cannot decode
  'TRUNCATED', // a structure or tile points past the end of the file
  'CORRUPT_STRUCTURE', // IFD loops, impossible tag values, missing required tags
  'CORRUPT_TILE', // the container is fine but one tile's bytes do not decode
  'TOO_LARGE', // declared sizes beyond what we allow (decompression bombs)
  'OUT_OF_BOUNDS', // a caller asked for a level/region/associated image that does not exist
  'IO', // the operating system failed a read
] as const;
export type SlideErrorCode = (typeof SLIDE_ERROR_CODES)[number];

export class SlideError extends Error {
  readonly code: SlideErrorCode;
  constructor(code: SlideErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SlideError';
    this.code = code;
  }
}

export function isSlideError(e: unknown): e is SlideError {
  return e instanceof SlideError;
}

/** Limits that keep a hostile or broken file from exhausting memory. */
export const LIMITS = {
  /**
   * Largest single tile or strip we will decode, in pixels: 192 MB as RGB. Real tiles are <= 2048 px a
   * side; the bound is what one forged tile header can make us allocate.
   */
  maxTilePixels: 8192 * 8192,
  /** Largest compressed tile/strip we will read into memory, in bytes. */
  maxTileBytes: 256 * 1024 * 1024,
  /** Largest region a caller may request in one readRegion, in pixels. */
  maxRegionPixels: 8192 * 8192,
  /** Most tiles one readRegion may decode (an 8192x8192 region of 32-pixel tiles). */
  maxRegionTiles: 64 * 1024,
  /** Largest associated image we decode whole, in pixels (macros are ~2000x800). */
  maxAssociatedPixels: 8192 * 8192,
  /** Largest slide dimension we accept (OpenSlide accepts up to 2^31; real slides are < 500k). */
  maxDimension: 2 ** 31 - 1,
  /** IFDs in one TIFF: real slides have < 100. */
  maxIfds: 4096,
  /** Entries in one IFD. */
  maxIfdEntries: 4096,
  /** Entries in all IFDs of a file together: 4096 full directories would take gigabytes to index. */
  maxTiffEntries: 256 * 1024,
  /**
   * Tag values read eagerly, all directories together: each entry may point at up to 1 MiB, so 4096
   * entries aimed at one spot of a 1 MB file would otherwise read 4 GB.
   */
  maxTiffValueBytes: 64 * 1024 * 1024,
  /** Tiles per level (offsets array length). */
  maxTilesPerLevel: 64 * 1024 * 1024,
} as const;
