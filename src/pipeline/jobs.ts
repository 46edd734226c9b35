/**
 * Queue and job names and payloads, in one place. Payloads carry identifiers and paths only:
 * never pixel data, patient data or key material (job data sits in Redis in clear text).
 */
import type { InstanceRef } from '../archive/archive';

export const QueueName = {
  Protect: 'veil-protect',
  Reveal: 'veil-reveal',
} as const;

/** Where an instance came from, for the audit trail. */
export interface IntakeSource {
  kind: 'dimse' | 'stow';
  /** Calling AE title (DIMSE) or token name (STOW-RS). */
  who: string;
  /** Peer address. */
  address?: string;
}

/** Protect one spooled instance: parse ▶ stego ▶ encrypt ▶ rewrap ▶ archive.put ▶ index ▶ drop spool. */
export interface ProtectJobData {
  /** Absolute path of the fsynced spool file. */
  spoolPath: string;
  sopInstanceUID: string;
  receivedAt: string;
  source: IntakeSource;
}

export interface ProtectJobResult {
  archivedBytes: number;
  stego: string;
  pixelMode: string;
}

/** Reveal one archived instance into a file the requester streams out and then deletes. */
export interface RevealJobData {
  ref: InstanceRef;
  /** Absolute path the worker writes the revealed Part 10 object to (in the spool's outgoing folder). */
  outPath: string;
  /** Who asked, for the audit trail: AE title or token name. */
  requestedBy: string;
}

export interface RevealJobResult {
  bytes: number;
}

/**
 * Job id of an instance's protect job: derived from the SOP Instance UID, so a re-send is one job.
 * A hyphen, not a colon: BullMQ 6 refuses custom ids with one ':' ("Custom Id cannot contain :").
 */
export function protectJobId(sopInstanceUID: string): string {
  return `protect-${sopInstanceUID}`;
}
