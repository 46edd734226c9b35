/**
 * The SOP classes and transfer syntaxes the DIMSE listener negotiates (PS3.4 Annex A/B/C, PS3.5
 * Section 10). One place, so the listener, the C-STORE SCU and the tests agree.
 */
import { TransferSyntax } from '../dicom/tags';

/** Verification SOP Class (PS3.4 A.4). */
export const VERIFICATION = '1.2.840.10008.1.1';

/** Storage Commitment Push Model SOP Class and its well-known SOP Instance (PS3.4 J.3). */
export const STORAGE_COMMITMENT_PUSH = '1.2.840.10008.1.20.1';
export const STORAGE_COMMITMENT_INSTANCE = '1.2.840.10008.1.20.1.1';

/** Query/Retrieve SOP classes Veil serves (PS3.4 C.6.1 Patient Root, C.6.2 Study Root). */
export const QueryRetrieve = {
  PatientRootFind: '1.2.840.10008.5.1.4.1.2.1.1',
  PatientRootMove: '1.2.840.10008.5.1.4.1.2.1.2',
  PatientRootGet: '1.2.840.10008.5.1.4.1.2.1.3',
  StudyRootFind: '1.2.840.10008.5.1.4.1.2.2.1',
  StudyRootMove: '1.2.840.10008.5.1.4.1.2.2.2',
  StudyRootGet: '1.2.840.10008.5.1.4.1.2.2.3',
} as const;

/** Information model of a Q/R SOP class: Patient Root allows the PATIENT level, Study Root does not. */
export type InformationModel = 'PATIENT' | 'STUDY';

/** Which model and service a Q/R SOP class UID names, or undefined when it is not one of ours. */
export function queryRetrieveModel(
  sopClassUID: string,
): { model: InformationModel; service: 'FIND' | 'MOVE' | 'GET' } | undefined {
  switch (sopClassUID) {
    case QueryRetrieve.PatientRootFind:
      return { model: 'PATIENT', service: 'FIND' };
    case QueryRetrieve.PatientRootMove:
      return { model: 'PATIENT', service: 'MOVE' };
    case QueryRetrieve.PatientRootGet:
      return { model: 'PATIENT', service: 'GET' };
    case QueryRetrieve.StudyRootFind:
      return { model: 'STUDY', service: 'FIND' };
    case QueryRetrieve.StudyRootMove:
      return { model: 'STUDY', service: 'MOVE' };
    case QueryRetrieve.StudyRootGet:
      return { model: 'STUDY', service: 'GET' };
    default:
      return undefined;
  }
}

/**
 * True for a Storage SOP class: every standard one lives under 1.2.840.10008.5.1.4.1.1 (PS3.4
 * B.5, PS3.6 Annex A), so new classes are accepted without a list to maintain.
 */
export function isStorageSopClass(uid: string): boolean {
  return uid.startsWith('1.2.840.10008.5.1.4.1.1.');
}

/** Uncompressed transfer syntaxes, in the order Veil prefers when the peer leaves the choice. */
export const NATIVE_TRANSFER_SYNTAXES: readonly string[] = [
  TransferSyntax.ExplicitVRLittleEndian,
  TransferSyntax.ImplicitVRLittleEndian,
  TransferSyntax.ExplicitVRBigEndian,
];

/**
 * Transfer syntaxes accepted for storage: native, deflated and the common compressed ones
 * (PS3.5 A.4). Compressed frames are stored as received; the protection policy decides later.
 */
export const STORAGE_TRANSFER_SYNTAXES: readonly string[] = [
  ...NATIVE_TRANSFER_SYNTAXES,
  TransferSyntax.DeflatedExplicitVRLittleEndian,
  TransferSyntax.RLELossless,
  TransferSyntax.JPEGBaseline8Bit,
  TransferSyntax.JPEGExtended12Bit,
  TransferSyntax.JPEGLossless,
  TransferSyntax.JPEGLosslessSV1,
  TransferSyntax.JPEGLSLossless,
  TransferSyntax.JPEGLSNearLossless,
  TransferSyntax.JPEG2000Lossless,
  TransferSyntax.JPEG2000,
];

/** Transfer syntaxes for Verification, Q/R identifiers and storage commitment (dcmjs reads and writes these). */
export const COMMAND_TRANSFER_SYNTAXES: readonly string[] = [
  TransferSyntax.ExplicitVRLittleEndian,
  TransferSyntax.ImplicitVRLittleEndian,
];
