/**
 * What the catalogue keeps of one instance, read from its ORIGINAL (unprotected) header: the
 * protected header has pseudonyms, and matching must work on what the modality sent.
 */
import type { DataSet } from '../dicom/data-set';
import { VeilError } from '../errors';
import type { InstanceRecord } from './catalogue';

/** Record fields read as text, with their tags and whether leading spaces are padding too. */
const TEXT_FIELDS: readonly (readonly [keyof InstanceRecord, number, 'trim' | 'trim-end'])[] = [
  ['patientID', 0x00100020, 'trim-end'],
  ['patientName', 0x00100010, 'trim-end'],
  ['patientBirthDate', 0x00100030, 'trim'],
  ['patientSex', 0x00100040, 'trim'],
  ['issuerOfPatientID', 0x00100021, 'trim-end'],
  ['studyDate', 0x00080020, 'trim'],
  ['studyTime', 0x00080030, 'trim'],
  ['studyDescription', 0x00081030, 'trim-end'],
  ['studyID', 0x00200010, 'trim-end'],
  ['accessionNumber', 0x00080050, 'trim-end'],
  ['referringPhysicianName', 0x00080090, 'trim-end'],
  ['modality', 0x00080060, 'trim'],
  ['seriesNumber', 0x00200011, 'trim'],
  ['seriesDescription', 0x0008103e, 'trim-end'],
  ['bodyPartExamined', 0x00180015, 'trim'],
  ['instanceNumber', 0x00200013, 'trim'],
];

/** The UIDs an instance cannot be catalogued without (PS3.3 C.12.1, C.7.2.1, C.7.3.1). */
const REQUIRED_UIDS = [
  ['StudyInstanceUID', 0x0020000d],
  ['SeriesInstanceUID', 0x0020000e],
  ['SOPInstanceUID', 0x00080018],
  ['SOPClassUID', 0x00080016],
] as const;

/**
 * Raw latin1 text of a top-level element with its padding removed (PS3.5 6.2: trailing spaces
 * and NULs never count; leading spaces do not either for UI, DA, TM, CS, IS).
 */
function text(dataset: DataSet, tag: number, mode: 'trim' | 'trim-end'): string | undefined {
  const value = dataset.string(tag);
  if (value === undefined) return undefined;
  const trimmed = mode === 'trim' ? value.replace(/^[ \0]+/, '') : value;
  return trimmed === '' ? undefined : trimmed;
}

function uid(dataset: DataSet, keyword: string, tag: number): string {
  const value = dataset.string(tag)?.trim();
  if (value === undefined || value === '')
    throw new VeilError(
      'VEIL_E_DICOM_MISSING_ATTRIBUTE',
      `The instance has no ${keyword}; it cannot be indexed`,
      { attribute: keyword },
    );
  return value;
}

/** An unsigned 16-bit value (Rows, Columns, BitsAllocated), or undefined when absent. */
function us(dataset: DataSet, tag: number): number | undefined {
  const value = dataset.get(tag)?.value;
  if (value === undefined || value.length < 2) return undefined;
  return dataset.uint16(tag);
}

/**
 * The catalogue record of an instance from its original data set and the transfer syntax it
 * was received in. Throws VEIL_E_DICOM_MISSING_ATTRIBUTE without Study/Series/SOP Instance
 * UIDs or SOP Class UID; every other attribute is optional.
 */
export function recordFromDataSet(
  dataset: DataSet,
  transferSyntaxUID: string,
): Omit<InstanceRecord, 'state' | 'receivedAt'> {
  const [studyInstanceUID, seriesInstanceUID, sopInstanceUID, sopClassUID] = REQUIRED_UIDS.map(
    ([keyword, tag]) => uid(dataset, keyword, tag),
  ) as [string, string, string, string];
  const record: Record<string, unknown> = {
    studyInstanceUID,
    seriesInstanceUID,
    sopInstanceUID,
    sopClassUID,
    transferSyntaxUID,
  };
  for (const [field, tag, mode] of TEXT_FIELDS) {
    const value = text(dataset, tag, mode);
    if (value !== undefined) record[field] = value;
  }
  const rows = us(dataset, 0x00280010);
  const columns = us(dataset, 0x00280011);
  const bitsAllocated = us(dataset, 0x00280100);
  const numberOfFrames = dataset.integerString(0x00280008);
  if (rows !== undefined) record.rows = rows;
  if (columns !== undefined) record.columns = columns;
  if (bitsAllocated !== undefined) record.bitsAllocated = bitsAllocated;
  if (numberOfFrames !== undefined) record.numberOfFrames = numberOfFrames;
  return record as Omit<InstanceRecord, 'state' | 'receivedAt'>;
}
