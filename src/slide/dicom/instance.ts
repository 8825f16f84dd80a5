import { LIMITS, SlideError } from '../errors.ts';
import type { FileSource } from '../file-source.ts';
import type { RegionScale, RgbImage } from '../types.ts';
import { decimal, firstItem, integer, readHeader, Tag, uint64s, type DicomDataSet } from './dataset.ts';
import { decodeFrame, frameFormat, nativeFrameBytes, rawJpeg, type FrameFormat } from './frame-codec.ts';
import { encapsulatedFrames, nativeFrames, type FrameReader } from './pixel-data.ts';

/** Value 3 of Image Type: what an instance is within its series. */
export type Flavor = 'VOLUME' | 'LABEL' | 'OVERVIEW' | 'THUMBNAIL';
const FLAVORS = new Set<string>(['VOLUME', 'LABEL', 'OVERVIEW', 'THUMBNAIL']);

/** Decoding of an instance's frames by 0-based number: all a level keeps after open (not the header). */
export interface InstanceFrames {
  decode(frame: number, scale: RegionScale): Promise<RgbImage>;
  rawJpeg(frame: number): Promise<Buffer | null>;
}

/** One Part 10 file of a WSI series: a pyramid level (or part of one) or an associated image. */
export class DicomInstance {
  readonly source: FileSource;
  readonly dataSet: DicomDataSet;
  readonly flavor: Flavor;
  readonly sopInstanceUid: string;
  /** The UID shared by all parts of a concatenation (the instance's own UID otherwise). */
  readonly imageUid: string;
  /** Total Pixel Matrix size. */
  readonly width: number;
  readonly height: number;
  readonly tileWidth: number;
  readonly tileHeight: number;
  readonly frameCount: number;
  readonly frames: InstanceFrames;

  private constructor(source: FileSource, dataSet: DicomDataSet, flavor: Flavor, format: FrameFormat, frameCount: number, reader: FrameReader) {
    this.source = source;
    this.dataSet = dataSet;
    this.flavor = flavor;
    this.sopInstanceUid = dataSet.string(Tag.SOPInstanceUID) || source.path;
    this.imageUid = dataSet.string(Tag.SOPInstanceUIDOfConcatenationSource) || this.sopInstanceUid;
    this.tileWidth = format.width;
    this.tileHeight = format.height;
    // Single-frame associated images may omit the Total Pixel Matrix: the frame is the image.
    this.width = integer(dataSet, Tag.TotalPixelMatrixColumns, 'UL') ?? (frameCount === 1 ? format.width : 0);
    this.height = integer(dataSet, Tag.TotalPixelMatrixRows, 'UL') ?? (frameCount === 1 ? format.height : 0);
    this.frameCount = frameCount;
    this.frames = {
      decode: async (frame, scale) => decodeFrame(format, await reader.readFrame(frame), scale),
      rawJpeg: async (frame) => (format.encoding === 'jpeg' ? rawJpeg(format, await reader.readFrame(frame)) : null),
    };
    const size = `${this.width}x${this.height}`;
    if (this.width < 1 || this.height < 1 || this.width > LIMITS.maxDimension || this.height > LIMITS.maxDimension) {
      throw new SlideError('CORRUPT_STRUCTURE', `${source.path}: impossible Total Pixel Matrix ${size}`);
    }
  }

  /**
   * Reads and checks one file's header; null when its Image Type is none of the WSI roles (ignored, as
   * OpenSlide ignores it). Every unsupported or inconsistent attribute is an error naming the file.
   */
  static async open(source: FileSource): Promise<DicomInstance | null> {
    const { dataSet, pixelData } = await readHeader(source);
    const flavor = dataSet.strings(Tag.ImageType)[2]?.toUpperCase();
    if (!flavor || !FLAVORS.has(flavor)) return null;
    const columns = integer(dataSet, Tag.Columns, 'US');
    const rows = integer(dataSet, Tag.Rows, 'US');
    if (!columns || !rows) throw new SlideError('CORRUPT_STRUCTURE', `${source.path}: missing or zero Rows/Columns`);
    if (columns * rows > LIMITS.maxTilePixels) throw new SlideError('TOO_LARGE', `${source.path}: ${columns}x${rows} frames exceed ${LIMITS.maxTilePixels} pixels`);
    const frameCount = integer(dataSet, Tag.NumberOfFrames, 'IS') ?? 1;
    if (frameCount < 1 || frameCount > LIMITS.maxTilesPerLevel) throw new SlideError('CORRUPT_STRUCTURE', `${source.path}: impossible Number of Frames ${frameCount}`);
    let format: FrameFormat;
    try {
      format = frameFormat(
        dataSet.string(Tag.TransferSyntaxUID) ?? '',
        dataSet.string(Tag.PhotometricInterpretation) ?? '',
        {
          samplesPerPixel: integer(dataSet, Tag.SamplesPerPixel, 'US'),
          bitsAllocated: integer(dataSet, Tag.BitsAllocated, 'US'),
          bitsStored: integer(dataSet, Tag.BitsStored, 'US'),
          pixelRepresentation: integer(dataSet, Tag.PixelRepresentation, 'US'),
          planarConfiguration: integer(dataSet, Tag.PlanarConfiguration, 'US'),
        },
        columns,
        rows,
      );
    } catch (e) {
      if (e instanceof SlideError) throw new SlideError(e.code, `${source.path}: ${e.message}`, { cause: e });
      throw e;
    }
    const reader = format.encoding === 'native'
      ? nativeFrames(source, pixelData, frameCount, nativeFrameBytes(format))
      : await encapsulatedFrames(source, pixelData, frameCount, extendedOffsetTable(dataSet));
    return new DicomInstance(source, dataSet, flavor as Flavor, format, frameCount, reader);
  }

  /**
   * The tile (row * tilesAcross + col) each frame shows, -1 for frames of another focal plane or
   * optical path: only the first plane and path are read. TILED_FULL frames run row-major over the
   * plane (continuing a concatenation's offset); TILED_SPARSE frames say where they are.
   */
  frameTiles(tilesAcross: number, tilesDown: number, plane: string): Int32Array {
    const tiles = tilesAcross * tilesDown;
    const out = new Int32Array(this.frameCount).fill(-1);
    const perFrame = this.dataSet.items(Tag.PerFrameFunctionalGroupsSequence);
    const organization = this.dataSet.string(Tag.DimensionOrganizationType)?.toUpperCase();
    // Without a declared organization, per-frame positions (if any) say where frames are.
    const sparse = organization === 'TILED_SPARSE' || organization === '3D'
      || (!organization && !!firstItem(perFrame?.[0], Tag.PlanePositionSlideSequence));
    if (!sparse) {
      const offset = integer(this.dataSet, Tag.ConcatenationFrameOffsetNumber, 'UL') ?? 0;
      for (let frame = 0; frame < this.frameCount && offset + frame < tiles; frame++) out[frame] = offset + frame;
      return out;
    }
    if (!perFrame) throw new SlideError('CORRUPT_STRUCTURE', `${this.source.path}: ${organization} frames without per-frame positions`);
    if (perFrame.length !== this.frameCount) {
      throw new SlideError('CORRUPT_STRUCTURE', `${this.source.path}: ${perFrame.length} per-frame groups for ${this.frameCount} frames`);
    }
    perFrame.forEach((item, frame) => {
      if (this.planeOf(frame) !== plane) return;
      const position = firstItem(item, Tag.PlanePositionSlideSequence);
      const x = position && integer(position, Tag.ColumnPositionInTotalImagePixelMatrix, 'SL');
      const y = position && integer(position, Tag.RowPositionInTotalImagePixelMatrix, 'SL');
      if (x === undefined || y === undefined) throw new SlideError('CORRUPT_STRUCTURE', `${this.source.path}: frame ${frame + 1} has no position`);
      const col = (x - 1) / this.tileWidth;
      const row = (y - 1) / this.tileHeight;
      if (!Number.isInteger(col) || !Number.isInteger(row) || col < 0 || row < 0 || col >= tilesAcross || row >= tilesDown) {
        throw new SlideError('CORRUPT_STRUCTURE', `${this.source.path}: frame ${frame + 1} at (${x},${y}) is not on the ${this.tileWidth}x${this.tileHeight} tile grid`);
      }
      out[frame] = row * tilesAcross + col;
    });
    return out;
  }

  /** Focal plane and optical path of a frame, as a comparable key. */
  planeOf(frame: number): string {
    const perFrame = this.dataSet.items(Tag.PerFrameFunctionalGroupsSequence)?.[frame];
    const shared = firstItem(this.dataSet, Tag.SharedFunctionalGroupsSequence);
    const group = (tag: number) => firstItem(perFrame, tag) ?? firstItem(shared, tag);
    const z = decimal(group(Tag.PlanePositionSlideSequence), Tag.ZOffsetInSlideCoordinateSystem);
    const path = group(Tag.OpticalPathIdentificationSequence)?.string(Tag.OpticalPathIdentifier);
    return `${z ?? ''}|${path ?? ''}`;
  }
}

function extendedOffsetTable(dataSet: DicomDataSet): { offsets: number[]; lengths: number[] } | null {
  const offsets = uint64s(dataSet, Tag.ExtendedOffsetTable);
  const lengths = uint64s(dataSet, Tag.ExtendedOffsetTableLengths);
  return offsets && lengths ? { offsets, lengths } : null;
}
