import { buildMetadata, positiveNumber, Property } from '../properties.ts';
import { TiledSlide } from '../tiled-slide.ts';
import { TiffImage } from '../tiff/tiff-image.ts';
import { associatedReader, pyramidLevels, tiffOf, tiffProperties } from '../tiff/tiff-slide.ts';
import { Tag } from '../tiff/tags.ts';
import type { FileProbe, RgbImage, Slide, SlideDriver } from '../types.ts';

/**
 * Aperio SVS: a tiled TIFF whose first ImageDescription starts with "Aperio". Tiled directories are
 * levels; the second directory, when stripped, is the thumbnail; stripped directories with subfile type 1
 * or 9 are label and macro (older files only say so in the description's second line).
 */
export const aperioDriver: SlideDriver = {
  vendor: 'aperio',

  detect(probe: FileProbe): boolean {
    const first = probe.tiff?.directories[0];
    return !!first && first.has(Tag.TileWidth) && (first.string(Tag.ImageDescription) ?? '').startsWith('Aperio');
  },

  async open(probe: FileProbe): Promise<Slide> {
    const tiff = tiffOf(probe);
    const levelImages: TiffImage[] = [];
    const associated = new Map<string, () => Promise<RgbImage>>();
    const associatedSizes: Record<string, [number, number]> = {};
    tiff.directories.forEach((directory, index) => {
      if (directory.has(Tag.TileWidth)) {
        levelImages.push(new TiffImage(tiff, directory));
        return;
      }
      const name = index === 1 ? 'thumbnail' : associatedName(directory.number(Tag.NewSubfileType), directory.string(Tag.ImageDescription));
      if (!name || associated.has(name)) return;
      const image = new TiffImage(tiff, directory);
      associated.set(name, associatedReader(image));
      associatedSizes[name] = [image.width, image.height];
    });
    const { images, levels } = pyramidLevels(levelImages);

    const first = tiff.directories[0];
    const description = first.string(Tag.ImageDescription) ?? '';
    const vendorProperties = { ...tiffProperties(first), ...parseDescription(description) };
    vendorProperties[Property.comment] = description;
    const mpp = positiveNumber(vendorProperties['aperio.MPP']);
    return new TiledSlide({
      path: probe.path,
      metadata: buildMetadata({
        vendor: 'aperio',
        levels,
        mpp: mpp === null ? null : [mpp, mpp],
        objectivePower: positiveNumber(vendorProperties['aperio.AppMag']),
        associated: associatedSizes,
        bounds: null,
        vendorProperties,
      }),
      levels: images,
      associated,
      close: () => tiff.source.close(),
    });
  },
};

function associatedName(subfileType: number | undefined, description: string | undefined): string | null {
  if (subfileType === 1) return 'label';
  if (subfileType === 9) return 'macro';
  const word = (description ?? '').split(/\r?\n/)[1]?.trim().split(/\s+/)[0]?.toLowerCase();
  return word === 'label' || word === 'macro' ? word : null;
}

/** "Aperio Image Library v10\r\n46000x32914 [...] JPEG/RGB Q=30|AppMag = 20|MPP = 0.4990" -> aperio.* */
export function parseDescription(description: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const field of description.split('|').slice(1)) {
    const equals = field.indexOf('=');
    if (equals < 0) continue;
    const key = field.slice(0, equals).trim();
    if (key) out[`aperio.${key}`] = field.slice(equals + 1).trim();
  }
  return out;
}
