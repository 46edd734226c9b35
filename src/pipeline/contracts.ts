/**
 * The seams between the doors (DIMSE listener, HTTP API) and the pipeline. The doors receive and
 * deliver bytes; the pipeline spools, queues, protects, archives, indexes and reveals.
 */
import type { RenderSpec } from '../analysis/render-frame';
import type { InstanceRef } from '../archive/archive';
import type { IntakeSource } from './jobs';
import type { WrittenSpoolFile } from './spool-writer';

/** Result of accepting one instance: acknowledged only once spooled (fsynced) and enqueued. */
export interface IntakeResult {
  sopInstanceUID: string;
  sopClassUID: string;
  studyInstanceUID: string;
}

export interface Intake {
  /**
   * Takes ownership of a complete Part 10 file already written to `tempPath` on the spool volume
   * (the door streams the upload there): validates its header, fsyncs and atomically renames it
   * into the spool, enqueues the protect job (job id from the SOP Instance UID; the newest copy
   * wins), and resolves. Rejects with a VeilError (bad DICOM, spool full VEIL_E_SPOOL_FULL,
   * Redis down VEIL_E_QUEUE_UNAVAILABLE) and then removes the temp file. A door that wrote the
   * file with a SpoolWriter passes what it wrote (already fsynced, head in memory): then intake
   * neither fsyncs nor reads the file again.
   */
  accept(tempPath: string, source: IntakeSource, written?: WrittenSpoolFile): Promise<IntakeResult>;
  /** A fresh temp file path on the spool volume for a door to stream into. */
  tempPath(): string;
  /** Throws VEIL_E_SPOOL_FULL / VEIL_E_QUEUE_UNAVAILABLE when new instances cannot be accepted now. */
  checkAccepting(): Promise<void>;
}

/** One revealed instance ready to deliver, or why not. */
export type Retrieved =
  | { ref: InstanceRef; ok: true; path: string; bytes: number; release(): Promise<void> }
  | { ref: InstanceRef; ok: false; code: string; message: string };

export interface Retriever {
  /**
   * Reveals the given instances in workers (reveal jobs) and yields each as soon as it is ready
   * (order not guaranteed), bounded in flight. A tampered or unrevealable instance yields ok:false
   * with its error code (and an audit event), never wrong bytes. The caller streams `path` out and
   * calls release() (which deletes the file).
   */
  retrieve(
    refs: readonly InstanceRef[],
    requestedBy: string,
    options?: RetrieveOptions,
  ): AsyncIterable<Retrieved>;
}

/** How the revealed instances are handed over. */
export interface RetrieveOptions {
  /** Each instance's file is this frame rendered as PNG (by the worker), not the instance. */
  render?: RenderSpec;
}

/** IHE ATNA / DICOM PS3.15 A.5 audit event types Veil records. */
export type AuditEventType =
  | 'DICOMInstancesTransferred'
  | 'Query'
  | 'BeginTransferringDICOMInstances'
  | 'SecurityAlert'
  | 'UserAuthentication'
  | 'ApplicationActivity';

export interface AuditEvent {
  type: AuditEventType;
  /** 'create' (stored), 'read' (retrieved), 'execute' (query), ... (ATNA EventActionCode C R U D E). */
  action: 'C' | 'R' | 'U' | 'D' | 'E';
  outcome: 'success' | 'minor-failure' | 'serious-failure';
  /** Who: AE title or token name, and address. */
  user: string;
  address?: string;
  /** Which: UIDs only (studies, SOP instances) and counts, never names or IDs. */
  studyInstanceUIDs?: string[];
  sopInstanceUIDs?: string[];
  /** Query level and the matched attribute KEYWORDS (not their values). */
  query?: { level: string; keys: string[] };
  errorCode?: string;
}

export interface AuditLog {
  record(event: AuditEvent): void;
  close(): Promise<void>;
}
