import { downsampleOf, TIFF_PROPERTY_TAGS } from '../properties.ts';
import type { FileProbe, RgbImage, SlideLevel } from '../types.ts';
import type { TiffDirectory, TiffFile } from './tiff-file.ts';
import type { TiffImage } from './tiff-image.ts';

/** Shared pieces of the TIFF-based drivers (OpenSlide's openslide-decode-tiff.c in spirit). */

export function tiffOf(probe: FileProbe): TiffFile {
  if (!probe.tiff) throw new Error('TIFF driver called on a non-TIFF probe');
  return probe.tiff;
}

const RATIONAL_TAGS = new Set([282, 283]);
const RESOLUTION_UNITS = ['', 'none', 'inch', 'centimeter'];

/** tiff.* properties of a directory, as OpenSlide lists them. */
export function tiffProperties(directory: TiffDirectory): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [tagText, name] of Object.entries(TIFF_PROPERTY_TAGS)) {
    const tag = Number(tagText);
    if (!directory.has(tag)) continue;
    const value = RATIONAL_TAGS.has(tag) || tag === 296 ? directory.number(tag) : undefined;
    if (tag === 296 && value !== undefined) out[`tiff.${name}`] = RESOLUTION_UNITS[value] ?? String(value);
    else if (value !== undefined) out[`tiff.${name}`] = String(value);
    else {
      const text = directory.string(tag);
      if (text !== undefined) out[`tiff.${name}`] = text;
    }
  }
  return out;
}

/** Levels sorted largest first, with OpenSlide's downsamples. */
export function pyramidLevels(images: TiffImage[]): { images: TiffImage[]; levels: SlideLevel[] } {
  const sorted = [...images].sort((a, b) => b.width * b.height - a.width * a.height);
  const base = sorted[0];
  return {
    images: sorted,
    levels: sorted.map((image) => ({
      width: image.width,
      height: image.height,
      downsample: downsampleOf(base, image),
      tileWidth: image.tileWidth,
      tileHeight: image.tileHeight,
    })),
  };
}

export function associatedReader(image: TiffImage): () => Promise<RgbImage> {
  return () => image.decodeWhole();
}
