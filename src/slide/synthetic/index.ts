/**
 * Synthetic whole-slide images for tests, the demo and benchmarks: an Aperio SVS (what OpenSlide opens as
 * vendor "aperio") with H&E-like tissue, a thumbnail, and a label and macro that carry a fake identity.
 * Same seed and options give a byte-identical file.
 */
import { rename, rm } from 'node:fs/promises';
import { renderLabel, renderMacro, LABEL_SIZE, MACRO_SIZE } from './associated-images.ts';
import { SharedTablesJpegEncoder } from './jpeg.ts';
import { lzwCompress } from './lzw.ts';
import { paintRegion } from './painter.ts';
import { planLevels, writeTiledLevel, type LevelPlan, type WrittenLevel } from './pyramid.ts';
import { hash32 } from './random.ts';
import { TiffStreamWriter, type TagSpec } from './tiff-writer.ts';
import { tissueMask, TissueField } from './tissue-field.ts';

export interface SyntheticSlideOptions {
  /** Level-0 size in pixels, up to 200000 on each side. */
  width: number;
  height: number;
  /** Default 1; the same seed and options give a byte-identical file. */
  seed?: number;
  /** Microns per pixel at level 0, default 0.25 (a 40x scan); AppMag is derived (0.25 -> 40, 0.5 -> 20). */
  mpp?: number;
  /** Approximate fraction of the slide covered by tissue, default 0.4. */
  tissueFraction?: number;
  /** Fake identity drawn into the label and macro pixels, default 'DOE^JANE'. */
  patientName?: string;
  /** Fake accession number on the label (and, as on real scanners, the Filename property), default 'S26-04711'. */
  accession?: string;
  /** Default 256; a multiple of 16. */
  tileSize?: number;
  /** JPEG quality, default 80. */
  quality?: number;
  /** Write BigTIFF even when 32-bit offsets would do (default: only when needed), to test readers. */
  bigTiff?: boolean;
}

export interface SyntheticSlideResult {
  bytes: number;
  bigTiff: boolean;
  /** The tiled levels, as OpenSlide reports them. */
  levels: { width: number; height: number; downsample: number }[];
}

export interface TissueMask {
  width: number;
  height: number;
  /** One byte per pixel, row-major: 1 where the slide has tissue. */
  data: Uint8Array;
}

const MAX_SIDE = 200_000;
const THUMBNAIL_LONG_SIDE = 768;
const MAX_MASK_PIXELS = 256 * 1024 * 1024;
const APERIO_LIBRARY = 'Aperio Image Library v11.2.1';
// OpenSlide 3.4 names an associated image by the first word of the description's second line, splitting
// on '\r' and '\n' alike, so a CRLF there yields an empty name: real label and macro descriptions use LF.
const TAG = {
  NewSubfileType: 254, ImageWidth: 256, ImageLength: 257, BitsPerSample: 258, Compression: 259, Photometric: 262,
  ImageDescription: 270, StripOffsets: 273, SamplesPerPixel: 277, RowsPerStrip: 278, StripByteCounts: 279,
  PlanarConfig: 284, TileWidth: 322, TileLength: 323, TileOffsets: 324, TileByteCounts: 325, JpegTables: 347,
  YCbCrSubSampling: 530, ImageDepth: 32997,
} as const;
const COMPRESSION = { Lzw: 5, Jpeg: 7 } as const;
/** sharp's JPEGs are YCbCr 4:2:0; Photometric and YCbCrSubSampling must say so for libtiff to convert. */
const PHOTOMETRIC = { Rgb: 2, YCbCr: 6 } as const;
const SUBFILE = { Image: 0, Label: 1, Macro: 9 } as const;

type ResolvedOptions = Required<SyntheticSlideOptions>;

function resolveOptions(options: SyntheticSlideOptions): ResolvedOptions {
  const o: ResolvedOptions = {
    width: options.width,
    height: options.height,
    seed: options.seed ?? 1,
    mpp: options.mpp ?? 0.25,
    tissueFraction: options.tissueFraction ?? 0.4,
    patientName: options.patientName ?? 'DOE^JANE',
    accession: options.accession ?? 'S26-04711',
    tileSize: options.tileSize ?? 256,
    quality: options.quality ?? 80,
    bigTiff: options.bigTiff ?? false,
  };
  const integerIn = (name: string, value: number, min: number, max: number) => {
    if (!Number.isInteger(value) || value < min || value > max) throw new RangeError(`synthetic slide option ${name} must be an integer in [${min}, ${max}], got ${value}`);
  };
  integerIn('width', o.width, 1, MAX_SIDE);
  integerIn('height', o.height, 1, MAX_SIDE);
  integerIn('seed', o.seed, 0, 2 ** 32 - 1);
  integerIn('quality', o.quality, 1, 100);
  integerIn('tileSize', o.tileSize, 16, 4096);
  if (o.tileSize % 16 !== 0) throw new RangeError(`synthetic slide option tileSize must be a multiple of 16 (TIFF tiles), got ${o.tileSize}`);
  if (!(o.mpp >= 0.05 && o.mpp <= 20)) throw new RangeError(`synthetic slide option mpp must be in [0.05, 20] microns per pixel, got ${o.mpp}`);
  if (!(o.tissueFraction >= 0 && o.tissueFraction <= 1)) throw new RangeError(`synthetic slide option tissueFraction must be in [0, 1], got ${o.tissueFraction}`);
  for (const key of ['patientName', 'accession'] as const) {
    if (typeof o[key] !== 'string' || o[key].length > 64) throw new RangeError(`synthetic slide option ${key} must be a string of at most 64 characters`);
  }
  return o;
}

function buildField(o: ResolvedOptions): TissueField {
  return new TissueField({ width: o.width, height: o.height, tileSize: o.tileSize, seed: o.seed, tissueFraction: o.tissueFraction });
}

/** Aperio's key = value list; AppMag is the objective power a scanner at this MPP would report. */
function aperioProperties(o: ResolvedOptions): string {
  const mpp = Number(o.mpp.toFixed(4)) === o.mpp ? o.mpp.toFixed(4) : String(o.mpp);
  const filename = o.accession.replace(/[^A-Za-z0-9._^-]/g, '_');
  return [
    `AppMag = ${Math.max(1, Math.round(10 / o.mpp))}`, 'StripeWidth = 2040', 'ScanScope ID = SYNTH-01', `Filename = ${filename}`,
    'Date = 01/02/26', 'Time = 09:00:00', 'Time Zone = GMT+00:00', 'User = pathbox-synthetic', `MPP = ${mpp}`,
    'Left = 25.000000', 'Top = 23.000000', 'Focus Offset = 0.000000', `ImageID = ${o.seed}`,
    `OriginalWidth = ${o.width}`, `OriginalHeight = ${o.height}`, `Synthetic = pathbox seed ${o.seed}`,
  ].map((p) => `|${p}`).join('');
}

function levelDescription(o: ResolvedOptions, plan: LevelPlan, index: number): string {
  const scan = `${o.width}x${o.height} [0,0 ${o.width}x${o.height}] (${o.tileSize}x${o.tileSize})`;
  const reduced = index === 0 ? '' : ` -> ${plan.width}x${plan.height}`;
  // "JPEG/RGB" is what Aperio writes here for JPEG levels; the JPEG colour coding itself is in the tags.
  return `${APERIO_LIBRARY}\r\n${scan}${reduced} JPEG/RGB Q=${o.quality}${aperioProperties(o)}`;
}

function commonTags(width: number, height: number, subfile: number, description: string): TagSpec[] {
  return [
    { tag: TAG.NewSubfileType, type: 'LONG', value: [subfile] },
    { tag: TAG.ImageWidth, type: 'LONG', value: [width] },
    { tag: TAG.ImageLength, type: 'LONG', value: [height] },
    { tag: TAG.BitsPerSample, type: 'SHORT', value: [8, 8, 8] },
    { tag: TAG.ImageDescription, type: 'ASCII', value: description },
    { tag: TAG.SamplesPerPixel, type: 'SHORT', value: [3] },
    { tag: TAG.PlanarConfig, type: 'SHORT', value: [1] },
    { tag: TAG.ImageDepth, type: 'LONG', value: [1] },
  ];
}

function jpegTags(tables: Buffer): TagSpec[] {
  return [
    { tag: TAG.Compression, type: 'SHORT', value: [COMPRESSION.Jpeg] },
    { tag: TAG.Photometric, type: 'SHORT', value: [PHOTOMETRIC.YCbCr] },
    { tag: TAG.JpegTables, type: 'UNDEFINED', value: tables },
    { tag: TAG.YCbCrSubSampling, type: 'SHORT', value: [2, 2] },
  ];
}

function stripTags(offset: number, byteCount: number, height: number): TagSpec[] {
  return [
    { tag: TAG.StripOffsets, type: 'OFFSET', value: [offset] },
    { tag: TAG.RowsPerStrip, type: 'LONG', value: [height] },
    { tag: TAG.StripByteCounts, type: 'LONG', value: [byteCount] },
  ];
}

interface StripImage {
  height: number;
  offset: number;
  byteCount: number;
}

async function appendJpegStrip(writer: TiffStreamWriter, encoder: SharedTablesJpegEncoder, pixels: Buffer, width: number, height: number): Promise<StripImage> {
  const data = await encoder.encode(pixels, width, height);
  return { height, offset: await writer.append(data), byteCount: data.length };
}

/**
 * Writes a synthetic Aperio SVS to `outPath` (atomically: a partial file is written beside it and renamed,
 * so a folder watcher never sees a half-written slide). Memory stays bounded whatever the size.
 */
export async function writeSyntheticSlide(outPath: string, options: SyntheticSlideOptions): Promise<SyntheticSlideResult> {
  const o = resolveOptions(options);
  const field = buildField(o);
  const plans = planLevels(o.width, o.height, o.tileSize);
  const encoder = new SharedTablesJpegEncoder(o.quality);
  const partialPath = `${outPath}.partial-${process.pid}`;
  const writer = await TiffStreamWriter.create(partialPath);
  try {
    const ctx = { field, tileSize: o.tileSize, mpp: o.mpp, seed: o.seed, encoder, writer };
    const levels: WrittenLevel[] = [await writeTiledLevel(ctx, plans[0], 0)];

    const long = Math.max(o.width, o.height);
    const thumbWidth = Math.max(1, Math.round((o.width * THUMBNAIL_LONG_SIDE) / long));
    const thumbHeight = Math.max(1, Math.round((o.height * THUMBNAIL_LONG_SIDE) / long));
    const paintOverview = (width: number, height: number, salt: number) =>
      paintRegion({ width, height, micronsPerPixel: (o.mpp * o.width) / width, source: field.regionSource(0, 0, o.width / width, o.height / height), seed: hash32(o.seed, salt) });
    const thumbnail = await appendJpegStrip(writer, encoder, paintOverview(thumbWidth, thumbHeight, 0x7468), thumbWidth, thumbHeight);

    for (let index = 1; index < plans.length; index++) levels.push(await writeTiledLevel(ctx, plans[index], index));

    const label = renderLabel(o.patientName, o.accession);
    const labelData = lzwCompress(label.pixels);
    const labelStrip: StripImage = { height: label.height, offset: await writer.append(labelData), byteCount: labelData.length };
    const macroCanvas = renderMacro(label, o.width / o.height, (width, height) => paintOverview(width, height, 0x6d61));
    const macro = await appendJpegStrip(writer, encoder, macroCanvas.pixels, macroCanvas.width, macroCanvas.height);

    const properties = aperioProperties(o);
    const tiledIfd = (index: number): TagSpec[] => [
      ...commonTags(plans[index].width, plans[index].height, SUBFILE.Image, levelDescription(o, plans[index], index)),
      ...jpegTags(encoder.tables),
      { tag: TAG.TileWidth, type: 'LONG', value: [o.tileSize] },
      { tag: TAG.TileLength, type: 'LONG', value: [o.tileSize] },
      { tag: TAG.TileOffsets, type: 'OFFSET', value: levels[index].offsets },
      { tag: TAG.TileByteCounts, type: 'LONG', value: levels[index].byteCounts },
    ];
    const ifds: TagSpec[][] = [
      tiledIfd(0),
      [
        ...commonTags(thumbWidth, thumbHeight, SUBFILE.Image, `${APERIO_LIBRARY}\r\n${o.width}x${o.height} -> ${thumbWidth}x${thumbHeight} - ${properties}`),
        ...jpegTags(encoder.tables),
        ...stripTags(thumbnail.offset, thumbnail.byteCount, thumbHeight),
      ],
      ...plans.slice(1).map((_, k) => tiledIfd(k + 1)),
      [
        ...commonTags(LABEL_SIZE.width, LABEL_SIZE.height, SUBFILE.Label, `${APERIO_LIBRARY}\nlabel ${LABEL_SIZE.width}x${LABEL_SIZE.height}`),
        { tag: TAG.Compression, type: 'SHORT', value: [COMPRESSION.Lzw] },
        { tag: TAG.Photometric, type: 'SHORT', value: [PHOTOMETRIC.Rgb] },
        ...stripTags(labelStrip.offset, labelStrip.byteCount, labelStrip.height),
      ],
      [
        ...commonTags(MACRO_SIZE.width, MACRO_SIZE.height, SUBFILE.Macro, `${APERIO_LIBRARY}\nmacro ${MACRO_SIZE.width}x${MACRO_SIZE.height}`),
        ...jpegTags(encoder.tables),
        ...stripTags(macro.offset, macro.byteCount, macro.height),
      ],
    ];
    const { bytes, bigTiff } = await writer.finish(ifds, o.bigTiff);
    await rename(partialPath, outPath);
    return { bytes, bigTiff, levels: plans.map((p) => ({ width: p.width, height: p.height, downsample: p.downsample })) };
  } catch (error) {
    await writer.abandon().catch(() => undefined);
    await rm(partialPath, { force: true });
    throw error;
  }
}

/**
 * Where the synthetic slide written with these options has tissue, at a downsample of level 0 (pixel
 * centres sampled, as every level is rendered). Cheap: computes the field, paints nothing.
 */
export function syntheticTissueMask(options: SyntheticSlideOptions, downsample: number): TissueMask {
  const o = resolveOptions(options);
  if (!(downsample >= 1)) throw new RangeError(`tissue mask downsample must be >= 1, got ${downsample}`);
  const pixels = Math.ceil(o.width / downsample) * Math.ceil(o.height / downsample);
  if (pixels > MAX_MASK_PIXELS) throw new RangeError(`tissue mask at downsample ${downsample} would have ${pixels} pixels; use a larger downsample`);
  return tissueMask(buildField(o), downsample);
}
