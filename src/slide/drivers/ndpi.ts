import { LIMITS, SlideError } from '../errors.ts';
import { decodeJpeg } from '../codecs/jpeg.ts';
import { parseJpegHeader, MAX_HEADER_BYTES } from '../ndpi/jpeg-header.ts';
import { NdpiLevel, NdpiStrip } from '../ndpi/ndpi-level.ts';
import { buildMetadata, downsampleOf, Property } from '../properties.ts';
import { TiledSlide } from '../tiled-slide.ts';
import { Compression, ResolutionUnit, Tag } from '../tiff/tags.ts';
import { ndpiOffset, type TiffDirectory, type TiffFile } from '../tiff/tiff-file.ts';
import { fitTile } from '../tiff/tiff-image.ts';
import { tiffOf, tiffProperties } from '../tiff/tiff-slide.ts';
import type { FileProbe, RgbImage, Slide, SlideDriver, SlideMetadata } from '../types.ts';

/** NdpiSourceLens of the macro image (-2 marks a map of the scanned area, which is not read). */
const MACRO_LENS = -1;
/** The scaled decodes OpenSlide derives from each pyramid image (libjpeg's scale_denom). */
const REDUCTIONS = [2, 4, 8];

/**
 * Hamamatsu NDPI (OpenSlide's hamamatsu-ndpi): a TIFF whose first directory carries tag 65420. Each
 * directory is one image stored as a single JPEG strip: pyramid levels (SourceLens > 0, focal plane 0),
 * the macro (SourceLens -1), a map of scanned areas (-2, ignored). Levels are read by restart interval
 * (see NdpiStrip), never by decoding a whole level.
 */
export const ndpiDriver: SlideDriver = {
  vendor: 'hamamatsu',

  detect(probe: FileProbe): boolean {
    return probe.tiff?.directories[0]?.has(Tag.NdpiFormatFlag) ?? false;
  },

  async open(probe: FileProbe): Promise<Slide> {
    return (await openNdpi(probe)).slide;
  },
};

/** The slide and its levels' read counters (tests use them to see how much a region read touched). */
export async function openNdpi(probe: FileProbe): Promise<{ slide: TiledSlide; levels: NdpiLevel[] }> {
  const tiff = tiffOf(probe);
  const strips: NdpiStrip[] = [];
  let macro: TiffDirectory | null = null;
  for (const directory of tiff.directories) {
    const lens = directory.number(Tag.NdpiSourceLens);
    if (lens === undefined) throw new SlideError('CORRUPT_STRUCTURE', `NDPI directory ${directory.index} has no SourceLens (tag ${Tag.NdpiSourceLens})`);
    if (lens > 0 && (directory.number(Tag.NdpiFocalPlane) ?? 0) === 0) strips.push(await readStrip(tiff, directory));
    else if (lens === MACRO_LENS) macro ??= directory;
  }
  if (strips.length === 0) throw new SlideError('CORRUPT_STRUCTURE', 'NDPI file has no pyramid levels (no directory with SourceLens > 0)');

  const levels = pyramid(strips);
  const associated = new Map<string, () => Promise<RgbImage>>();
  const associatedSizes: Record<string, [number, number]> = {};
  if (macro) {
    const location = locateStrip(tiff, macro);
    associated.set('macro', () => readMacro(tiff, location));
    associatedSizes.macro = [location.width, location.height];
  }
  const slide = new TiledSlide({
    path: probe.path,
    metadata: metadata(tiff.directories[0], levels, associatedSizes),
    levels,
    associated,
    close: () => tiff.source.close(),
  });
  return { slide, levels };
}

/**
 * Levels largest first: each pyramid image, plus its 1/2, 1/4 and 1/8 reductions where no stored image
 * has that width (OpenSlide's rule; a reduction from the nearest larger image wins).
 */
function pyramid(strips: NdpiStrip[]): NdpiLevel[] {
  const byWidth = new Map<number, NdpiLevel>();
  for (const strip of [...strips].sort((a, b) => b.width - a.width)) {
    byWidth.set(strip.width, new NdpiLevel(strip, 1));
    for (const scale of REDUCTIONS) {
      if (strip.scalable(scale)) byWidth.set(Math.floor(strip.width / scale), new NdpiLevel(strip, scale));
    }
  }
  return [...byWidth.values()].filter((level) => level.width > 0 && level.height > 0).sort((a, b) => b.width - a.width);
}

interface StripLocation {
  where: string;
  width: number;
  height: number;
  /** File offset and byte count of the image's JPEG. */
  start: number;
  length: number;
}

function locateStrip(tiff: TiffFile, directory: TiffDirectory): StripLocation {
  const where = `NDPI directory ${directory.index}`;
  const width = directory.number(Tag.ImageWidth) ?? 0;
  const height = directory.number(Tag.ImageLength) ?? 0;
  if (!wholeIn(width, 1, LIMITS.maxDimension) || !wholeIn(height, 1, LIMITS.maxDimension)) {
    throw new SlideError('CORRUPT_STRUCTURE', `${where} has an invalid size ${width}x${height}`);
  }
  const compression = directory.number(Tag.Compression) ?? Compression.Jpeg;
  if (compression !== Compression.Jpeg) throw new SlideError('UNSUPPORTED_COMPRESSION', `${where}: compression ${compression}, NDPI images are JPEG`);
  const offsets = directory.numbers(Tag.StripOffsets);
  const counts = directory.numbers(Tag.StripByteCounts);
  if (offsets.length !== 1 || counts.length !== 1) {
    throw new SlideError('CORRUPT_STRUCTURE', `${where} has ${directory.rawEntry(Tag.StripOffsets)?.count ?? 0} strips; an NDPI image is one JPEG strip`);
  }
  // StripOffsets is stored inline, so over 4 GB its high bits are implied like any other offset's.
  const start = tiff.ndpi ? ndpiOffset(directory.offset, offsets[0]) : offsets[0];
  const length = counts[0];
  if (!wholeIn(start, 0, Number.MAX_SAFE_INTEGER) || !wholeIn(length, 1, Number.MAX_SAFE_INTEGER)) {
    throw new SlideError('CORRUPT_STRUCTURE', `${where}: invalid JPEG location ${start}+${length}`);
  }
  if (start + length > tiff.source.size) {
    throw new SlideError('TRUNCATED', `truncated file: ${where}'s JPEG at ${start}+${length} is past the end (${tiff.source.size} bytes)`);
  }
  return { where, width, height, start, length };
}

function wholeIn(value: number, min: number, max: number): boolean {
  return Number.isSafeInteger(value) && value >= min && value <= max;
}

async function readStrip(tiff: TiffFile, directory: TiffDirectory): Promise<NdpiStrip> {
  const location = locateStrip(tiff, directory);
  const head = await tiff.source.read(location.start, Math.min(location.length, MAX_HEADER_BYTES), `${location.where} JPEG header`);
  return new NdpiStrip({
    ...location,
    source: tiff.source,
    header: parseJpegHeader(head, location.where),
    loadMcuStarts: () => mcuStarts(directory),
  });
}

/** The macro is one small JPEG: decoded whole, whatever restart markers it has. */
async function readMacro(tiff: TiffFile, { where, width, height, start, length }: StripLocation): Promise<RgbImage> {
  if (width * height > LIMITS.maxAssociatedPixels) throw new SlideError('TOO_LARGE', `${where}: macro ${width}x${height} is too large to decode whole`);
  return fitTile(await decodeJpeg(await tiff.source.read(start, length, `${where} macro JPEG`)), width, height);
}

/** NdpiMcuStarts with its high words where the file has them (levels over 4 GB). */
async function mcuStarts(directory: TiffDirectory): Promise<Float64Array | null> {
  if (!directory.has(Tag.NdpiMcuStarts)) return null;
  const low = await directory.array(Tag.NdpiMcuStarts);
  if (!directory.has(Tag.NdpiMcuStartsHigh)) return low;
  const high = await directory.array(Tag.NdpiMcuStartsHigh);
  if (high.length !== low.length) return low;
  return low.map((value, i) => high[i] * 2 ** 32 + value);
}

function metadata(first: TiffDirectory, levels: NdpiLevel[], associated: Record<string, [number, number]>): SlideMetadata {
  const vendorProperties = { ...tiffProperties(first), ...hamamatsuProperties(first) };
  const description = first.string(Tag.ImageDescription);
  if (description !== undefined) vendorProperties[Property.comment] = description;
  const lens = first.number(Tag.NdpiSourceLens);
  return buildMetadata({
    vendor: 'hamamatsu',
    levels: levels.map((level) => ({
      width: level.width,
      height: level.height,
      downsample: downsampleOf(levels[0], level),
      tileWidth: level.tileWidth,
      tileHeight: level.tileHeight,
    })),
    mpp: micronsPerPixel(first),
    objectivePower: lens !== undefined && lens > 0 ? lens : null,
    associated,
    bounds: null,
    vendorProperties,
  });
}

/** OpenSlide: 10000 / resolution when the unit is centimetres; nothing otherwise. */
function micronsPerPixel(directory: TiffDirectory): [number, number] | null {
  if (directory.number(Tag.ResolutionUnit) !== ResolutionUnit.Centimeter) return null;
  const x = directory.number(Tag.XResolution) ?? 0;
  const y = directory.number(Tag.YResolution) ?? 0;
  return x > 0 && y > 0 ? [10000 / x, 10000 / y] : null;
}

/** hamamatsu.* as OpenSlide names them: the NDPI tags, then each key=value line of the property map. */
function hamamatsuProperties(directory: TiffDirectory): Record<string, string> {
  const out: Record<string, string> = {};
  const numeric: [number, string][] = [
    [Tag.NdpiSourceLens, 'SourceLens'],
    [Tag.NdpiXOffset, 'XOffsetFromSlideCentre'],
    [Tag.NdpiYOffset, 'YOffsetFromSlideCentre'],
  ];
  for (const [tag, name] of numeric) {
    const value = directory.number(tag);
    if (value !== undefined) out[`hamamatsu.${name}`] = String(value);
  }
  const reference = directory.string(Tag.NdpiReference);
  if (reference !== undefined) out['hamamatsu.Reference'] = reference;
  for (const line of (directory.string(Tag.NdpiPropertyMap) ?? '').split('\r\n')) {
    const equals = line.indexOf('=');
    if (equals > 0 && equals < line.length - 1) out[`hamamatsu.${line.slice(0, equals)}`] = line.slice(equals + 1);
  }
  return out;
}
