import { SlideError } from '../errors.ts';
import type { FileSource } from '../file-source.ts';
import { DicomDataSet, NeedMoreBytes, parseDataSet, type ParseOptions } from './parser.ts';

export { DicomDataSet } from './parser.ts';

/** DICOM tags (group << 16 | element) of the attributes the WSI reader uses. */
export const Tag = {
  MediaStorageSOPClassUID: 0x00020002,
  TransferSyntaxUID: 0x00020010,
  ImageType: 0x00080008,
  SOPInstanceUID: 0x00080018,
  StudyDate: 0x00080020,
  Modality: 0x00080060,
  Manufacturer: 0x00080070,
  ManufacturerModelName: 0x00081090,
  DeviceSerialNumber: 0x00181000,
  SoftwareVersions: 0x00181020,
  SeriesInstanceUID: 0x0020000e,
  SOPInstanceUIDOfConcatenationSource: 0x00200242,
  ConcatenationFrameOffsetNumber: 0x00209228,
  DimensionOrganizationType: 0x00209311,
  SamplesPerPixel: 0x00280002,
  PhotometricInterpretation: 0x00280004,
  PlanarConfiguration: 0x00280006,
  NumberOfFrames: 0x00280008,
  Rows: 0x00280010,
  Columns: 0x00280011,
  PixelSpacing: 0x00280030,
  BitsAllocated: 0x00280100,
  BitsStored: 0x00280101,
  PixelRepresentation: 0x00280103,
  BurnedInAnnotation: 0x00280301,
  LossyImageCompression: 0x00282110,
  PixelMeasuresSequence: 0x00289110,
  ZOffsetInSlideCoordinateSystem: 0x0040074a,
  TotalPixelMatrixColumns: 0x00480006,
  TotalPixelMatrixRows: 0x00480007,
  OpticalPathSequence: 0x00480105,
  OpticalPathIdentifier: 0x00480106,
  ObjectiveLensPower: 0x00480112,
  OpticalPathIdentificationSequence: 0x00480207,
  PlanePositionSlideSequence: 0x0048021a,
  ColumnPositionInTotalImagePixelMatrix: 0x0048021e,
  RowPositionInTotalImagePixelMatrix: 0x0048021f,
  SharedFunctionalGroupsSequence: 0x52009229,
  PerFrameFunctionalGroupsSequence: 0x52009230,
  ExtendedOffsetTable: 0x7fe00001,
  ExtendedOffsetTableLengths: 0x7fe00002,
  PixelData: 0x7fe00010,
} as const;

const WSI_SOP_CLASS = '1.2.840.10008.5.1.4.1.1.77.1.6';
const IMPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2';
/** Syntaxes whose dataset we cannot parse at all (the pixel encodings are checked later, per instance). */
const UNPARSABLE_SYNTAXES: Record<string, string> = {
  '1.2.840.10008.1.2.2': 'big-endian',
  '1.2.840.10008.1.2.1.99': 'deflated',
};
/** Sequences we descend into, named for implicit-VR files (explicit ones say SQ themselves). */
const SEQUENCES = new Set<number>([
  Tag.PixelMeasuresSequence,
  Tag.OpticalPathSequence,
  Tag.OpticalPathIdentificationSequence,
  Tag.PlanePositionSlideSequence,
  Tag.SharedFunctionalGroupsSequence,
  Tag.PerFrameFunctionalGroupsSequence,
]);
const META_GROUP_END = 0x0002ffff;
const PREAMBLE_BYTES = 132;

/** Where the Pixel Data value starts in the file; length null when encapsulated (undefined length). */
export interface PixelDataLocation {
  offset: number;
  length: number | null;
}

export interface DicomHeader {
  dataSet: DicomDataSet;
  pixelData: PixelDataLocation;
}

const FIRST_READ_BYTES = 64 * 1024;
/** Headers are small; TILED_SPARSE per-frame groups of very large slides reach tens of MB. */
const MAX_HEADER_BYTES = 128 * 1024 * 1024;

/** True when the first bytes hold the Part 10 preamble and a WSI SOP class in the file meta group. */
export function isWsiPart10(head: Buffer): boolean {
  try {
    return parseMeta(head)?.meta.string(Tag.MediaStorageSOPClassUID) === WSI_SOP_CLASS;
  } catch {
    return false;
  }
}

/**
 * The dataset up to the top-level Pixel Data element, without its value: the header is read in growing
 * prefixes of the file, so a multi-GB slide costs a few reads.
 */
export async function readHeader(source: FileSource): Promise<DicomHeader> {
  const dataSet = await parseUntil(source, Tag.PixelData);
  const element = dataSet?.elements.get(Tag.PixelData);
  if (!dataSet || !element) throw new SlideError('CORRUPT_STRUCTURE', `${source.path}: no Pixel Data element`);
  return { dataSet, pixelData: { offset: element.offset, length: element.length } };
}

/** The Series Instance UID of a WSI Part 10 file, or null for anything else (read cheaply: tags are ascending). */
export async function seriesOf(source: FileSource): Promise<string | null> {
  const head = await source.readUpTo(0, 4096);
  if (!isWsiPart10(head)) return null;
  const dataSet = await parseUntil(source, Tag.SeriesInstanceUID);
  return dataSet?.string(Tag.SeriesInstanceUID) || null;
}

function parseMeta(bytes: Buffer): { meta: DicomDataSet; next: number } | null {
  if (bytes.length < PREAMBLE_BYTES || bytes.toString('latin1', 128, 132) !== 'DICM') return null;
  const { dataSet, end, next } = parseDataSet(bytes, PREAMBLE_BYTES, { explicit: true, implicitSequences: SEQUENCES, untilTag: META_GROUP_END });
  if (end === 'end') throw new NeedMoreBytes('file meta group runs to the end of the buffer');
  return { meta: dataSet, next };
}

/**
 * The file meta group and top-level elements up to `untilTag` (meta elements included). Null when the
 * tag is absent; the prefix grows while the parse runs off its end.
 */
async function parseUntil(source: FileSource, untilTag: number): Promise<DicomDataSet | null> {
  let length = Math.min(source.size, FIRST_READ_BYTES);
  for (;;) {
    const bytes = await source.read(0, length, 'DICOM header');
    try {
      const parsed = parseMeta(bytes);
      if (!parsed) throw new SlideError('UNSUPPORTED_FORMAT', `${source.path}: not a DICOM Part 10 file`);
      const syntax = parsed.meta.string(Tag.TransferSyntaxUID) ?? '';
      if (UNPARSABLE_SYNTAXES[syntax]) throw new SlideError('UNSUPPORTED_COMPRESSION', `${source.path}: ${UNPARSABLE_SYNTAXES[syntax]} DICOM (${syntax}) is not supported`);
      const options: ParseOptions = { explicit: syntax !== IMPLICIT_VR_LITTLE_ENDIAN, implicitSequences: SEQUENCES, untilTag };
      const { dataSet, end } = parseDataSet(bytes, parsed.next, options);
      for (const [tag, element] of parsed.meta.elements) dataSet.elements.set(tag, element);
      const found = dataSet.elements.get(untilTag);
      if (end === 'absent') return null;
      if (end === 'found' && found && (untilTag === Tag.PixelData || found.offset + (found.length ?? 0) <= bytes.length)) return dataSet;
      if (length >= source.size) {
        throw new SlideError('TRUNCATED', `${source.path}: truncated DICOM header (the file ends before element ${untilTag.toString(16).padStart(8, '0')})`);
      }
    } catch (e) {
      if (e instanceof SlideError) throw e.message.startsWith(source.path) ? e : new SlideError(e.code, `${source.path}: ${e.message}`, { cause: e });
      if (!(e instanceof NeedMoreBytes)) throw e;
      if (length >= source.size) throw new SlideError('TRUNCATED', `${source.path}: truncated DICOM header (${e.message}, file has ${source.size} bytes)`);
    }
    if (length >= MAX_HEADER_BYTES) throw new SlideError('TOO_LARGE', `${source.path}: DICOM header exceeds ${MAX_HEADER_BYTES} bytes`);
    length = Math.min(source.size, length * 4, MAX_HEADER_BYTES);
  }
}

/** The first item of a sequence, or undefined. */
export function firstItem(dataSet: DicomDataSet | undefined, sequenceTag: number): DicomDataSet | undefined {
  return dataSet?.items(sequenceTag)?.[0];
}

/** An integer attribute (binary US/UL/SL or an IS string), or undefined when absent or malformed. */
export function integer(dataSet: DicomDataSet, tag: number, vr: 'US' | 'UL' | 'SL' | 'IS'): number | undefined {
  if (vr !== 'IS') return dataSet.binaryInteger(tag, vr);
  const text = dataSet.string(tag);
  const value = text ? Number(text) : Number.NaN;
  return Number.isSafeInteger(value) ? value : undefined;
}

/** A decimal string (DS) value, or undefined when absent or not a finite number. */
export function decimal(dataSet: DicomDataSet | undefined, tag: number, index = 0): number | undefined {
  const text = dataSet?.strings(tag)[index];
  const value = text ? Number(text) : Number.NaN;
  return Number.isFinite(value) ? value : undefined;
}

/** The 64-bit little-endian values of an OV element (Extended Offset Table), or null when absent. */
export function uint64s(dataSet: DicomDataSet, tag: number): number[] | null {
  const bytes = dataSet.value(tag);
  if (!bytes || bytes.length === 0) return null;
  if (bytes.length % 8 !== 0) throw new SlideError('CORRUPT_STRUCTURE', `element ${tag.toString(16)} length ${bytes.length} is not a multiple of 8`);
  const out: number[] = [];
  for (let at = 0; at < bytes.length; at += 8) {
    const value = bytes.readBigUInt64LE(at);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new SlideError('CORRUPT_STRUCTURE', `element ${tag.toString(16)} holds an impossible offset ${value}`);
    out.push(Number(value));
  }
  return out;
}
