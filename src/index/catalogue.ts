/**
 * The catalogue behind C-FIND and QIDO-RS: patient / study / series / instance attributes taken
 * from the ORIGINAL header at protection time, and each instance's state. Queries never touch
 * pixels or the archive. Implemented by SqliteCatalogue (better-sqlite3 12, one file).
 */
import type { InstanceRef } from '../archive/archive';

/** Lifecycle of an instance in Veil. */
export type InstanceState = 'received' | 'archived' | 'failed';

/** What the index keeps of one instance (all strings as in the header, padding trimmed). */
export interface InstanceRecord extends InstanceRef {
  sopClassUID: string;
  patientID?: string;
  patientName?: string;
  patientBirthDate?: string;
  patientSex?: string;
  issuerOfPatientID?: string;
  studyDate?: string;
  studyTime?: string;
  studyDescription?: string;
  studyID?: string;
  accessionNumber?: string;
  referringPhysicianName?: string;
  modality?: string;
  seriesNumber?: string;
  seriesDescription?: string;
  bodyPartExamined?: string;
  instanceNumber?: string;
  rows?: number;
  columns?: number;
  numberOfFrames?: number;
  bitsAllocated?: number;
  /** Transfer syntax the instance was received in (the one it is delivered in after reveal). */
  transferSyntaxUID: string;
  /** Size of the protected object in the archive. */
  bytes?: number;
  state: InstanceState;
  /** Error code when state is 'failed' (never a message with patient data). */
  errorCode?: string;
  receivedAt: string;
  archivedAt?: string;
  /**
   * Header MAC (base64, from the protection record) of the protected object Veil archived last.
   * Reveal refuses any other valid object of this SOP Instance UID as a replay (VEIL_E_REVEAL_STALE).
   */
  protectionMac?: string;
  /** MAC of an object being written to the archive right now (accepted too, until it lands). */
  pendingMac?: string;
  /** Key ids (SHA-256 fingerprints) the archived object's data key is wrapped for. */
  keyIds?: string[];
}

/** What the key commands and archive rewrap need of one archived instance: UIDs and protection. */
export interface ArchivedProtection extends InstanceRef {
  protectionMac?: string;
  keyIds: string[];
}

/** Query/retrieve level (PS3.4 C.3). */
export type QueryLevel = 'PATIENT' | 'STUDY' | 'SERIES' | 'IMAGE';

/**
 * A query in DICOM terms: keys are DICOM keywords (PatientName, StudyDate, ModalitiesInStudy,
 * SOPInstanceUID...), values use DICOM matching (PS3.4 C.2.2.2): single value, wildcard * and ?,
 * range for dates/times ("20240101-", "-20240131", "20240101-20240131"), UID list (backslash
 * separated), empty value = return key only.
 */
export interface CatalogueQuery {
  level: QueryLevel;
  match: Readonly<Record<string, string>>;
  /** Match PN values case-insensitively and by component prefix (QIDO fuzzymatching). */
  fuzzy?: boolean;
  limit?: number;
  offset?: number;
  /** Only instances in this state (default 'archived': C-FIND and QIDO see stored objects). */
  state?: InstanceState;
}

/** One result row: DICOM keyword → value, for the level asked (plus the UIDs of the levels above). */
export type CatalogueRow = Readonly<Record<string, string | number>>;

/** A storage commitment transaction waiting for its report (dimse/storage-commitment.ts). */
export interface PendingCommitment {
  callingAeTitle: string;
  transactionUID: string;
  items: { sopClassUID: string; sopInstanceUID: string }[];
  /** When instances still not archived are reported failed (ms since the epoch). */
  deadline: number;
}

export interface Catalogue {
  /** Inserts or replaces the record of one instance (the newest copy wins). */
  upsert(record: InstanceRecord): void;
  /** Sets the state of a known instance (and its error code when failed). */
  setState(sopInstanceUID: string, state: InstanceState, errorCode?: string): void;
  get(sopInstanceUID: string): InstanceRecord | undefined;
  /** Matching rows at the query's level with their counts (NumberOfStudyRelatedInstances...). */
  query(query: CatalogueQuery): CatalogueRow[];
  /** The archived instances under a study, series or instance (C-MOVE / C-GET / WADO-RS). */
  instancesOf(scope: {
    studyInstanceUID: string;
    seriesInstanceUID?: string;
    sopInstanceUID?: string;
  }): InstanceRecord[];
  /**
   * Records that an object with header MAC `protectionMac` is about to be written to the archive
   * for a known instance, so reveals during the write accept it; upsert or setProtection clears it.
   */
  setPending(sopInstanceUID: string, protectionMac: string): void;
  /**
   * Records a re-wrapped object (new MAC and key ids) only if the catalogue still expects
   * `previousMac` (compare and set); false when the instance changed meanwhile or is unknown.
   */
  setProtection(
    sopInstanceUID: string,
    update: { previousMac: string; protectionMac: string; keyIds: string[]; bytes?: number },
  ): boolean;
  /** Archived instances with their key ids; only those wrapped for `keyId` when given. */
  archivedProtections(keyId?: string): ArchivedProtection[];
  /** Counts per state (for /metrics and /readyz). */
  counts(): Record<InstanceState, number>;
  /** Keeps a storage commitment transaction until its report is sent (the same one once). */
  saveCommitment(commitment: PendingCommitment): void;
  /** Forgets a storage commitment transaction whose report was sent or given up. */
  removeCommitment(callingAeTitle: string, transactionUID: string): void;
  /** The storage commitment transactions still waiting for their report, oldest first. */
  pendingCommitments(): PendingCommitment[];
  close(): void;
}
