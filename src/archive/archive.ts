/**
 * Where protected objects live. Like Orthanc's storage area: a handful of verbs keyed by id.
 * Implementations: FilesystemArchive (default), DicomWebArchive (STOW-RS / WADO-RS to any PACS,
 * tested with Orthanc), DimseArchive (C-STORE / C-GET or C-MOVE SCU). Archives only ever see
 * protected objects.
 */
import { VeilError } from '../errors';

/** The identifiers that address one instance in any archive (WADO-RS needs all three). */
export interface InstanceRef {
  readonly studyInstanceUID: string;
  readonly seriesInstanceUID: string;
  readonly sopInstanceUID: string;
}

/** Health of an archive, for /readyz. */
/** One series of one study. */
export type SeriesRef = Pick<InstanceRef, 'studyInstanceUID' | 'seriesInstanceUID'>;

export interface ArchiveHealth {
  readonly ok: boolean;
  /** Short reason when not ok, e.g. "ECONNREFUSED 127.0.0.1:8042"; never patient data. */
  readonly detail?: string;
}

export interface Archive {
  /** 'filesystem' | 'dicomweb' | 'dimse', for logs and metrics. */
  readonly kind: string;
  /** Stores (or replaces: the newest copy wins) one protected Part 10 object. */
  put(ref: InstanceRef, bytes: Buffer): Promise<void>;
  /** Returns the stored object; VEIL_E_ARCHIVE_NOT_FOUND when absent. */
  get(ref: InstanceRef): Promise<Buffer>;
  /**
   * Streams every stored object of one series, one Buffer each, in the archive's order: one
   * request instead of one per instance, for archives where that is much cheaper (DICOMweb).
   * Absent where get() per instance is as cheap.
   */
  getSeries?(series: SeriesRef): AsyncIterable<Buffer>;
  has(ref: InstanceRef): Promise<boolean>;
  /** Removes the object; resolves when it is gone or was never there. */
  delete(ref: InstanceRef): Promise<void>;
  health(): Promise<ArchiveHealth>;
  /** Releases connections; safe to call twice. */
  close(): Promise<void>;
}

/** UIDs are digits and dots, at most 64 characters (PS3.5 9.1): also what makes them safe as file names. */
export const UID_PATTERN = /^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$/;

/** True when `uid` is a syntactically valid DICOM UID. */
export function isUid(uid: string): boolean {
  return uid.length > 0 && uid.length <= 64 && UID_PATTERN.test(uid);
}

/** Rejects anything but a valid UID, which also makes path traversal impossible ("..", "/"). */
export function assertInstanceRef(ref: InstanceRef): void {
  assertSeriesRef(ref);
  assertUid('SOPInstanceUID', ref.sopInstanceUID);
}

/** assertInstanceRef for the study and series of a series read. */
export function assertSeriesRef(ref: SeriesRef): void {
  assertUid('StudyInstanceUID', ref.studyInstanceUID);
  assertUid('SeriesInstanceUID', ref.seriesInstanceUID);
}

function assertUid(name: string, uid: unknown): void {
  if (typeof uid !== 'string' || !isUid(uid)) {
    throw new VeilError('VEIL_E_UID_INVALID', `${name} is not a valid DICOM UID.`, {
      attribute: name,
    });
  }
}
