import { decimal, firstItem, integer, Tag, type DicomDataSet } from './dataset.ts';

/**
 * dicom.* properties, under OpenSlide's names (keyword, [index] for multi-valued attributes, sequence
 * paths for the pixel spacing and objective power). An allowlist on purpose: properties are synced to
 * the cloud, so nothing naming a patient or a case (Patient*, AccessionNumber, InstitutionName,
 * ReferringPhysicianName, StudyID, ContainerIdentifier, specimen identifiers, UIDs) ever becomes one,
 * and of the dates only the study date.
 */
const TEXT_ATTRIBUTES: [keyword: string, tag: number][] = [
  ['TransferSyntaxUID', Tag.TransferSyntaxUID],
  ['ImageType', Tag.ImageType],
  ['Modality', Tag.Modality],
  ['Manufacturer', Tag.Manufacturer],
  ['ManufacturerModelName', Tag.ManufacturerModelName],
  ['DeviceSerialNumber', Tag.DeviceSerialNumber],
  ['SoftwareVersions', Tag.SoftwareVersions],
  ['StudyDate', Tag.StudyDate],
  ['DimensionOrganizationType', Tag.DimensionOrganizationType],
  ['PhotometricInterpretation', Tag.PhotometricInterpretation],
  ['BurnedInAnnotation', Tag.BurnedInAnnotation],
  ['LossyImageCompression', Tag.LossyImageCompression],
  ['NumberOfFrames', Tag.NumberOfFrames],
];

const INTEGER_ATTRIBUTES: [keyword: string, tag: number, vr: 'US' | 'UL'][] = [
  ['Rows', Tag.Rows, 'US'],
  ['Columns', Tag.Columns, 'US'],
  ['TotalPixelMatrixColumns', Tag.TotalPixelMatrixColumns, 'UL'],
  ['TotalPixelMatrixRows', Tag.TotalPixelMatrixRows, 'UL'],
];

const OBJECTIVE_LENS_POWER = 'dicom.OpticalPathSequence[0].ObjectiveLensPower';

export function dicomProperties(dataSet: DicomDataSet): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [keyword, tag] of TEXT_ATTRIBUTES) {
    const values = dataSet.strings(tag);
    if (values.length === 1 && values[0] !== '') out[`dicom.${keyword}`] = values[0];
    else if (values.length > 1) values.forEach((value, i) => { out[`dicom.${keyword}[${i}]`] = value; });
  }
  for (const [keyword, tag, vr] of INTEGER_ATTRIBUTES) {
    const value = integer(dataSet, tag, vr);
    if (value !== undefined) out[`dicom.${keyword}`] = String(value);
  }
  const spacing = pixelSpacing(dataSet);
  if (spacing) {
    const name = `dicom.${spacing.group}[0].PixelMeasuresSequence[0].PixelSpacing`;
    out[`${name}[0]`] = String(spacing.rowColumn[0]);
    out[`${name}[1]`] = String(spacing.rowColumn[1]);
  }
  const power = dicomObjectivePower(dataSet);
  if (power !== null) out[OBJECTIVE_LENS_POWER] = String(power);
  return out;
}

/**
 * Microns per pixel [x, y] from Pixel Spacing (millimetres, row spacing first), from the shared functional
 * groups or else the first frame's; null when absent or not positive.
 */
export function dicomMpp(dataSet: DicomDataSet): [number, number] | null {
  const [row, column] = pixelSpacing(dataSet)?.rowColumn ?? [0, 0];
  if (row <= 0 || column <= 0) return null;
  // Rounded to 12 significant digits so 0.000499 mm reads 0.499, not 0.49899999999999994.
  const microns = (millimetres: number) => Number((millimetres * 1000).toPrecision(12));
  return [microns(column), microns(row)];
}

export function dicomObjectivePower(dataSet: DicomDataSet): number | null {
  const power = decimal(firstItem(dataSet, Tag.OpticalPathSequence), Tag.ObjectiveLensPower);
  return power !== undefined && power > 0 ? power : null;
}

const SPACING_GROUPS = [
  ['SharedFunctionalGroupsSequence', Tag.SharedFunctionalGroupsSequence],
  ['PerFrameFunctionalGroupsSequence', Tag.PerFrameFunctionalGroupsSequence],
] as const;

function pixelSpacing(dataSet: DicomDataSet): { group: string; rowColumn: [number, number] } | null {
  for (const [group, tag] of SPACING_GROUPS) {
    const measures = firstItem(firstItem(dataSet, tag), Tag.PixelMeasuresSequence);
    const row = decimal(measures, Tag.PixelSpacing, 0);
    const column = decimal(measures, Tag.PixelSpacing, 1);
    if (row !== undefined && column !== undefined) return { group, rowColumn: [row, column] };
  }
  return null;
}
