import type { SlideLevel, SlideMetadata } from './types.ts';

/**
 * Property names, as OpenSlide writes them (https://openslide.org/docs/properties/), so pathologists'
 * scripts and QuPath users find what they expect. Vendor properties keep the vendor's prefix
 * (aperio.AppMag, hamamatsu.SourceLens, dicom.PixelSpacing, tiff.Make...).
 */
export const Property = {
  vendor: 'openslide.vendor',
  comment: 'openslide.comment',
  mppX: 'openslide.mpp-x',
  mppY: 'openslide.mpp-y',
  objectivePower: 'openslide.objective-power',
  backgroundColor: 'openslide.background-color',
  boundsX: 'openslide.bounds-x',
  boundsY: 'openslide.bounds-y',
  boundsWidth: 'openslide.bounds-width',
  boundsHeight: 'openslide.bounds-height',
  levelCount: 'openslide.level-count',
  level: (i: number, field: 'width' | 'height' | 'downsample' | 'tile-width' | 'tile-height') => `openslide.level[${i}].${field}`,
  associated: (name: string, field: 'width' | 'height') => `openslide.associated.${name}.${field}`,
} as const;

/** The TIFF tags OpenSlide copies into properties as tiff.NAME. */
export const TIFF_PROPERTY_TAGS: Record<number, string> = {
  270: 'ImageDescription',
  271: 'Make',
  272: 'Model',
  305: 'Software',
  306: 'DateTime',
  315: 'Artist',
  316: 'HostComputer',
  33432: 'Copyright',
  282: 'XResolution',
  283: 'YResolution',
  296: 'ResolutionUnit',
};

/** OpenSlide's level downsample: the mean of the width and height ratios to level 0. */
export function downsampleOf(level0: { width: number; height: number }, level: { width: number; height: number }): number {
  return (level0.width / level.width + level0.height / level.height) / 2;
}

type MetadataCore = Omit<SlideMetadata, 'properties' | 'width' | 'height'> & { vendorProperties: Record<string, string> };

/** Assembles metadata with the openslide.* properties derived from the structured fields. */
export function buildMetadata(core: MetadataCore): SlideMetadata {
  const levels: SlideLevel[] = core.levels;
  const properties: Record<string, string> = { ...core.vendorProperties };
  properties[Property.vendor] = core.vendor;
  properties[Property.levelCount] = String(levels.length);
  levels.forEach((level, i) => {
    properties[Property.level(i, 'width')] = String(level.width);
    properties[Property.level(i, 'height')] = String(level.height);
    properties[Property.level(i, 'downsample')] = String(level.downsample);
    properties[Property.level(i, 'tile-width')] = String(level.tileWidth);
    properties[Property.level(i, 'tile-height')] = String(level.tileHeight);
  });
  if (core.mpp) {
    properties[Property.mppX] = String(core.mpp[0]);
    properties[Property.mppY] = String(core.mpp[1]);
  }
  if (core.objectivePower !== null) properties[Property.objectivePower] = String(core.objectivePower);
  if (core.bounds) {
    properties[Property.boundsX] = String(core.bounds.x);
    properties[Property.boundsY] = String(core.bounds.y);
    properties[Property.boundsWidth] = String(core.bounds.width);
    properties[Property.boundsHeight] = String(core.bounds.height);
  }
  for (const [name, [w, h]] of Object.entries(core.associated)) {
    properties[Property.associated(name, 'width')] = String(w);
    properties[Property.associated(name, 'height')] = String(h);
  }
  return {
    vendor: core.vendor,
    width: levels[0].width,
    height: levels[0].height,
    levels,
    mpp: core.mpp,
    objectivePower: core.objectivePower,
    associated: core.associated,
    bounds: core.bounds,
    properties,
  };
}

/** A positive finite number from a property string, or null: absent or nonsense values are never guessed. */
export function positiveNumber(value: string | undefined): number | null {
  if (value === undefined) return null;
  const n = Number(value.trim());
  return Number.isFinite(n) && n > 0 ? n : null;
}
