import { buildMetadata, Property } from '../properties.ts';
import { TiledSlide } from '../tiled-slide.ts';
import { TiffImage } from '../tiff/tiff-image.ts';
import { pyramidLevels, tiffOf, tiffProperties } from '../tiff/tiff-slide.ts';
import { Tag } from '../tiff/tags.ts';
import type { TiffDirectory, TiffFile } from '../tiff/tiff-file.ts';
import type { FileProbe, Slide, SlideDriver } from '../types.ts';

const REDUCED_RESOLUTION = 1;

/**
 * Generic tiled TIFF pyramids (OpenSlide's generic-tiff): the first image is level 0, other tiled
 * images with the reduced-resolution bit are lower levels. OME-TIFF keeps its levels in SubIFDs.
 */
export const genericTiffDriver: SlideDriver = {
  vendor: 'generic-tiff',

  detect(probe: FileProbe): boolean {
    return !!probe.tiff?.directories[0]?.has(Tag.TileWidth);
  },

  async open(probe: FileProbe): Promise<Slide> {
    const tiff = tiffOf(probe);
    const first = tiff.directories[0];
    const candidates = [first, ...(tiff.subDirectories.get(0) ?? [])];
    for (const directory of tiff.directories.slice(1)) {
      if (((directory.number(Tag.NewSubfileType) ?? 0) & REDUCED_RESOLUTION) !== 0) candidates.push(directory);
    }
    const tiled = candidates.filter((d) => d.has(Tag.TileWidth)).map((d) => new TiffImage(tiff, d));
    return singleSeriesSlide(probe, tiff, tiled, 'generic-tiff');
  },
};

/**
 * A plain, non-pyramidal TIFF (stripped): one level. OpenSlide does not open these; scanners and
 * export tools produce them, so they are read as a single-level slide.
 */
export const plainTiffDriver: SlideDriver = {
  vendor: 'plain-tiff',

  detect(probe: FileProbe): boolean {
    return !!probe.tiff;
  },

  async open(probe: FileProbe): Promise<Slide> {
    const tiff = tiffOf(probe);
    return singleSeriesSlide(probe, tiff, [new TiffImage(tiff, tiff.directories[0])], 'plain-tiff');
  },
};

function singleSeriesSlide(probe: FileProbe, tiff: TiffFile, images: TiffImage[], vendor: string): Slide {
  const { images: sorted, levels } = pyramidLevels(images);
  const first = tiff.directories[0];
  const vendorProperties = tiffProperties(first);
  const description = first.string(Tag.ImageDescription);
  if (description !== undefined) vendorProperties[Property.comment] = description;
  return new TiledSlide({
    path: probe.path,
    metadata: buildMetadata({ vendor, levels, mpp: resolutionMpp(first), objectivePower: null, associated: {}, bounds: null, vendorProperties }),
    levels: sorted,
    associated: new Map(),
    close: () => tiff.source.close(),
  });
}

/** Microscope scans lie between these; TIFF writers' default 72 dpi (353 um/px) is not a resolution. */
const PLAUSIBLE_MPP = { min: 0.01, max: 100 } as const;

/**
 * MPP from X/YResolution in centimetres or inches, only when it is a microscope's resolution: many
 * writers store a screen default there, and a wrong MPP would mis-scale every measurement.
 */
function resolutionMpp(directory: TiffDirectory): [number, number] | null {
  const micronsPerUnit = { 2: 25400, 3: 10000 }[directory.number(Tag.ResolutionUnit) ?? 2];
  const x = directory.number(Tag.XResolution);
  const y = directory.number(Tag.YResolution);
  if (!micronsPerUnit || !x || !y) return null;
  const mpp: [number, number] = [micronsPerUnit / x, micronsPerUnit / y];
  return mpp.every((v) => v >= PLAUSIBLE_MPP.min && v <= PLAUSIBLE_MPP.max) ? mpp : null;
}
