import { LIMITS, SlideError } from '../errors.ts';
import { buildMetadata, downsampleOf } from '../properties.ts';
import { canDecodeJpegParts } from '../codecs/jpeg.ts';
import { TiledSlide, type PartJpeg, type TileSource } from '../tiled-slide.ts';
import { isWsiPart10 } from '../dicom/dataset.ts';
import type { DicomInstance, Flavor, InstanceFrames } from '../dicom/instance.ts';
import { dicomMpp, dicomObjectivePower, dicomProperties } from '../dicom/metadata.ts';
import { openSeries } from '../dicom/series.ts';
import type { FileProbe, RawJpegTile, RegionScale, RgbImage, Slide, SlideDriver } from '../types.ts';

/** OpenSlide's names for the associated-image flavours. */
const ASSOCIATED_NAMES: Partial<Record<Flavor, string>> = { LABEL: 'label', OVERVIEW: 'macro', THUMBNAIL: 'thumbnail' };

/**
 * DICOM WSI (Supplement 145, VL Whole Slide Microscopy Image Storage). A slide is a series: the opened
 * file's folder is scanned for its other instances; VOLUME instances are pyramid levels (largest first),
 * LABEL/OVERVIEW/THUMBNAIL instances are associated images.
 */
export const dicomDriver: SlideDriver = {
  vendor: 'dicom',

  detect(probe: FileProbe): boolean {
    // A dual-personality DICOM-TIFF named .tif/.tiff is left to the TIFF drivers, as OpenSlide does.
    if (probe.tiff && /\.tiff?$/i.test(probe.path)) return false;
    return isWsiPart10(probe.head);
  },

  async open(probe: FileProbe): Promise<Slide> {
    const { instances, sources } = await openSeries(probe.source);
    const closeAll = () => Promise.all(sources.map((s) => s.close())).then(() => undefined);
    const closeOthers = () => Promise.all(sources.filter((s) => s !== probe.source).map((s) => s.close()));
    try {
      const levelParts = pyramid(instances.filter((i) => i.flavor === 'VOLUME'), probe.path);
      const levels = levelParts.map((parts) => new DicomLevel(parts));
      const associated = new Map<string, () => Promise<RgbImage>>();
      const associatedSizes: Record<string, [number, number]> = {};
      for (const instance of instances) {
        const name = ASSOCIATED_NAMES[instance.flavor];
        if (!name || associated.has(name)) continue;
        const image = new DicomLevel([instance]);
        associated.set(name, () => readWhole(probe.path, image));
        associatedSizes[name] = [image.width, image.height];
      }
      const base = levels[0];
      const reference = levelParts[0][0].dataSet;
      return new TiledSlide({
        path: probe.path,
        metadata: buildMetadata({
          vendor: 'dicom',
          levels: levels.map((level) => ({
            width: level.width,
            height: level.height,
            downsample: downsampleOf(base, level),
            tileWidth: level.tileWidth,
            tileHeight: level.tileHeight,
          })),
          mpp: dicomMpp(reference),
          objectivePower: dicomObjectivePower(reference),
          associated: associatedSizes,
          bounds: null,
          vendorProperties: dicomProperties(reference),
        }),
        levels,
        associated,
        close: closeAll,
      });
    } catch (e) {
      await closeOthers();
      throw e;
    }
  },
};

/**
 * Groups VOLUME instances into levels by Total Pixel Matrix size. Instances of one level must be parts
 * of one image (a concatenation); another image of the same size (another focal plane or optical path
 * stored separately) is not read.
 */
function pyramid(volumes: DicomInstance[], path: string): DicomInstance[][] {
  const bySize = new Map<string, DicomInstance[]>();
  for (const instance of volumes) {
    const key = `${instance.width}x${instance.height}`;
    const parts = bySize.get(key);
    if (!parts) bySize.set(key, [instance]);
    else if (parts[0].imageUid === instance.imageUid) parts.push(instance);
  }
  if (bySize.size === 0) throw new SlideError('CORRUPT_STRUCTURE', `${path}: the series has no VOLUME image (pyramid level)`);
  return [...bySize.values()].sort(([a], [b]) => b.width - a.width || b.height - a.height);
}

/** One image (level or associated) as a tile grid over the frames of its instances. */
class DicomLevel implements TileSource {
  readonly width: number;
  readonly height: number;
  readonly tileWidth: number;
  readonly tileHeight: number;
  private readonly frames: InstanceFrames[];
  /** Tile index -> frame (-1: no frame, read as white) and, for concatenations, -> instance. */
  private readonly tileFrames: Int32Array;
  private readonly tileInstances: Uint16Array | null;

  constructor(instances: DicomInstance[]) {
    const first = instances[0];
    this.frames = instances.map((instance) => instance.frames);
    this.width = first.width;
    this.height = first.height;
    this.tileWidth = first.tileWidth;
    this.tileHeight = first.tileHeight;
    const across = Math.ceil(this.width / this.tileWidth);
    const down = Math.ceil(this.height / this.tileHeight);
    if (across * down > LIMITS.maxTilesPerLevel) {
      throw new SlideError('TOO_LARGE', `${first.source.path}: ${across}x${down} tiles exceed ${LIMITS.maxTilesPerLevel}`);
    }
    if (instances.length > 0xffff) throw new SlideError('TOO_LARGE', `${first.source.path}: more than 65535 instances in one image`);
    const plane = first.planeOf(0);
    this.tileFrames = new Int32Array(across * down).fill(-1);
    this.tileInstances = instances.length > 1 ? new Uint16Array(across * down) : null;
    instances.forEach((instance, index) => {
      if (instance.tileWidth !== this.tileWidth || instance.tileHeight !== this.tileHeight) {
        throw new SlideError('CORRUPT_STRUCTURE', `${instance.source.path}: tile size ${instance.tileWidth}x${instance.tileHeight} differs from its level's ${this.tileWidth}x${this.tileHeight}`);
      }
      instance.frameTiles(across, down, plane).forEach((tile, frame) => {
        if (tile < 0 || this.tileFrames[tile] >= 0) return;
        this.tileFrames[tile] = frame;
        if (this.tileInstances) this.tileInstances[tile] = index;
      });
    });
  }

  async decodeTile(col: number, row: number, scale: RegionScale): Promise<RgbImage | null> {
    const at = this.locate(col, row);
    return at ? at.frames.decode(at.frame, scale) : null;
  }

  async partJpeg(col: number, row: number, scale: RegionScale): Promise<PartJpeg | null> {
    if (!canDecodeJpegParts) return null;
    const at = this.locate(col, row);
    if (!at) return { jpeg: null, scale, maxPixels: LIMITS.maxTilePixels };
    // A JPEG frame as a complete JPEG is exactly what a part decode needs; other encodings decode whole.
    const jpeg = await at.frames.rawJpeg(at.frame);
    return jpeg ? { jpeg, scale, maxPixels: LIMITS.maxTilePixels } : null;
  }

  async rawJpegTile(col: number, row: number): Promise<RawJpegTile | null> {
    const at = this.locate(col, row);
    const data = at ? await at.frames.rawJpeg(at.frame) : null;
    return data ? { data, width: this.tileWidth, height: this.tileHeight } : null;
  }

  private locate(col: number, row: number): { frames: InstanceFrames; frame: number } | null {
    const tile = row * Math.ceil(this.width / this.tileWidth) + col;
    const frame = this.tileFrames[tile];
    if (frame === undefined || frame < 0) return null;
    return { frames: this.frames[this.tileInstances ? this.tileInstances[tile] : 0], frame };
  }
}

/**
 * An associated image composed from its frames: a one-level TiledSlide does the tiling and clipping
 * (most are one frame, some scanners tile large overviews).
 */
async function readWhole(path: string, image: DicomLevel): Promise<RgbImage> {
  if (image.width * image.height > LIMITS.maxAssociatedPixels) {
    throw new SlideError('TOO_LARGE', `${path}: associated image ${image.width}x${image.height} exceeds ${LIMITS.maxAssociatedPixels} pixels`);
  }
  const level = { width: image.width, height: image.height, downsample: 1, tileWidth: image.tileWidth, tileHeight: image.tileHeight };
  const single = new TiledSlide({
    path,
    metadata: buildMetadata({ vendor: 'dicom', levels: [level], mpp: null, objectivePower: null, associated: {}, bounds: null, vendorProperties: {} }),
    levels: [image],
    associated: new Map(),
    close: async () => {},
    cacheBytes: 0,
  });
  return single.readRegion(0, 0, 0, image.width, image.height);
}
