/**
 * The attributes the catalogue knows, by DICOM keyword: the SQL column that holds each, its VR,
 * the query/retrieve level it belongs to (PS3.4 C.6.1.1 / C.6.2.1) and how it is matched.
 */
import type { QueryLevel } from './catalogue';

/**
 * How a key is matched (PS3.4 C.2.2.2): `uid` list of UIDs, `date`/`time` ranges, `text`
 * single value or wildcard, `pn` like text plus fuzzy matching, `code` text with a backslash list
 * of alternatives, `integer-string` an IS compared as a number, `number` a binary integer,
 * `modalities` a study having a series of that modality, `count` return key only.
 */
export type MatchKind =
  | 'uid'
  | 'date'
  | 'time'
  | 'datetime'
  | 'text'
  | 'pn'
  | 'code'
  | 'integer-string'
  | 'number'
  | 'modalities'
  | 'count';

/** One attribute the catalogue can match on or return. */
export interface QueryKey {
  readonly keyword: string;
  /** Column of the instances table; absent for computed keys (counts, ModalitiesInStudy). */
  readonly column?: string;
  readonly vr: string;
  readonly level: QueryLevel;
  readonly kind: MatchKind;
}

function key(
  keyword: string,
  column: string | undefined,
  vr: string,
  level: QueryLevel,
  kind: MatchKind,
): QueryKey {
  return column === undefined ? { keyword, vr, level, kind } : { keyword, column, vr, level, kind };
}

/** Every key of the catalogue; the column names are fixed here and never come from input. */
export const QUERY_KEYS: ReadonlyMap<string, QueryKey> = new Map(
  [
    key('PatientName', 'patient_name', 'PN', 'PATIENT', 'pn'),
    key('PatientID', 'patient_id', 'LO', 'PATIENT', 'text'),
    key('IssuerOfPatientID', 'issuer_of_patient_id', 'LO', 'PATIENT', 'text'),
    key('PatientBirthDate', 'patient_birth_date', 'DA', 'PATIENT', 'date'),
    key('PatientSex', 'patient_sex', 'CS', 'PATIENT', 'code'),
    key('NumberOfPatientRelatedStudies', undefined, 'IS', 'PATIENT', 'count'),
    key('NumberOfPatientRelatedSeries', undefined, 'IS', 'PATIENT', 'count'),
    key('NumberOfPatientRelatedInstances', undefined, 'IS', 'PATIENT', 'count'),
    key('StudyInstanceUID', 'study_instance_uid', 'UI', 'STUDY', 'uid'),
    key('StudyDate', 'study_date', 'DA', 'STUDY', 'date'),
    key('StudyTime', 'study_time', 'TM', 'STUDY', 'time'),
    key('AccessionNumber', 'accession_number', 'SH', 'STUDY', 'text'),
    key('StudyID', 'study_id', 'SH', 'STUDY', 'text'),
    key('StudyDescription', 'study_description', 'LO', 'STUDY', 'text'),
    key('ReferringPhysicianName', 'referring_physician_name', 'PN', 'STUDY', 'pn'),
    key('ModalitiesInStudy', undefined, 'CS', 'STUDY', 'modalities'),
    key('NumberOfStudyRelatedSeries', undefined, 'IS', 'STUDY', 'count'),
    key('NumberOfStudyRelatedInstances', undefined, 'IS', 'STUDY', 'count'),
    key('SeriesInstanceUID', 'series_instance_uid', 'UI', 'SERIES', 'uid'),
    key('Modality', 'modality', 'CS', 'SERIES', 'code'),
    key('SeriesNumber', 'series_number', 'IS', 'SERIES', 'integer-string'),
    key('SeriesDescription', 'series_description', 'LO', 'SERIES', 'text'),
    key('BodyPartExamined', 'body_part_examined', 'CS', 'SERIES', 'code'),
    key('NumberOfSeriesRelatedInstances', undefined, 'IS', 'SERIES', 'count'),
    key('SOPInstanceUID', 'sop_instance_uid', 'UI', 'IMAGE', 'uid'),
    key('SOPClassUID', 'sop_class_uid', 'UI', 'IMAGE', 'uid'),
    key('InstanceNumber', 'instance_number', 'IS', 'IMAGE', 'integer-string'),
    key('Rows', 'rows', 'US', 'IMAGE', 'number'),
    key('Columns', 'columns', 'US', 'IMAGE', 'number'),
    key('NumberOfFrames', 'number_of_frames', 'IS', 'IMAGE', 'number'),
    key('BitsAllocated', 'bits_allocated', 'US', 'IMAGE', 'number'),
    key('AvailableTransferSyntaxUID', 'transfer_syntax_uid', 'UI', 'IMAGE', 'uid'),
  ].map((k) => [k.keyword, k]),
);

/** Query levels from the top of the hierarchy down (PS3.4 C.3). */
export const LEVEL_DEPTH: Readonly<Record<QueryLevel, number>> = {
  PATIENT: 0,
  STUDY: 1,
  SERIES: 2,
  IMAGE: 3,
};

/**
 * Keys returned at each level (PS3.4 C.6.1.1, C.6.2.1 and PS3.18 Table 10.6.3-3), level's own
 * keys first; rows also carry the attributes of the levels above (Study Root returns them).
 */
export const RETURN_KEYS: Readonly<Record<QueryLevel, readonly string[]>> = {
  PATIENT: [
    'PatientName',
    'PatientID',
    'IssuerOfPatientID',
    'PatientBirthDate',
    'PatientSex',
    'NumberOfPatientRelatedStudies',
    'NumberOfPatientRelatedSeries',
    'NumberOfPatientRelatedInstances',
  ],
  STUDY: [
    'StudyInstanceUID',
    'StudyDate',
    'StudyTime',
    'AccessionNumber',
    'StudyID',
    'StudyDescription',
    'ReferringPhysicianName',
    'PatientName',
    'PatientID',
    'IssuerOfPatientID',
    'PatientBirthDate',
    'PatientSex',
    'ModalitiesInStudy',
    'NumberOfStudyRelatedSeries',
    'NumberOfStudyRelatedInstances',
  ],
  SERIES: [
    'StudyInstanceUID',
    'SeriesInstanceUID',
    'Modality',
    'SeriesNumber',
    'SeriesDescription',
    'BodyPartExamined',
    'NumberOfSeriesRelatedInstances',
  ],
  IMAGE: [
    'StudyInstanceUID',
    'SeriesInstanceUID',
    'SOPInstanceUID',
    'SOPClassUID',
    'InstanceNumber',
    'Rows',
    'Columns',
    'NumberOfFrames',
    'BitsAllocated',
    'AvailableTransferSyntaxUID',
  ],
};
