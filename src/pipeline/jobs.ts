/**
 * Queue and job names and payloads, in one place. Payloads carry identifiers and paths only:
 * never pixel data, patient data or key material (job data sits in Redis in clear text).
 */
import type { RenderSpec } from '../analysis/render-frame';
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

/** One instance of a reveal job: what to reveal and where the original goes. */
export interface RevealItem {
  ref: InstanceRef;
  /** Absolute path the worker writes the revealed Part 10 object to (in the spool's outgoing folder). */
  outPath: string;
  /** Write one frame of it rendered as PNG instead (WADO-RS rendered, thumbnails, WADO-URI). */
  render?: RenderSpec;
}

/**
 * Reveal a batch of archived instances of one retrieval into files the requester streams out and
 * then deletes. One job per batch, not per instance: the queue hand-off is paid once per batch,
 * and the worker reads the next instance from the archive while it reveals the current one.
 */
export interface RevealJobData {
  items: RevealItem[];
  /** Who asked, for the audit trail: AE title or token name. */
  requestedBy: string;
  /**
   * Every item is of one series: read the whole series in one archive request (Archive.getSeries,
   * where the archive has it) instead of one request per instance.
   */
  fromSeries?: boolean;
}

/** What became of one item: revealed (its size), or refused for good (code and message). */
export type RevealOutcome =
  { ok: true; bytes: number } | { ok: false; code: string; message: string };

/**
 * The progress a reveal job reports each time an item is settled: that item's outcome, and which
 * items are done so far over all attempts (a bit per item, base64), so a retried attempt skips
 * them. Small whatever the job's size: a series job reports hundreds of times.
 */
export interface RevealProgress {
  /** Item index and outcome of what was settled since the previous report. */
  settled: Array<[number, RevealOutcome]>;
  /** Bit i (of byte i >> 3, mask 1 << (i & 7)) set when item i is done. */
  done: string;
}

/**
 * The result of a reveal job: outcomes[i] is item i's outcome, null when an earlier attempt
 * settled it (its progress already said how) or, never in practice, when it was not settled.
 */
export interface RevealJobResult {
  outcomes: Array<RevealOutcome | null>;
}

/** The most instances one reveal job may name. */
export const MAX_REVEAL_BATCH = 256;

/**
 * Job id of an instance's protect job: derived from the SOP Instance UID, so a re-send is one job.
 * A hyphen, not a colon: BullMQ 6 refuses custom ids with one ':' ("Custom Id cannot contain :").
 */
export function protectJobId(sopInstanceUID: string): string {
  return `protect-${sopInstanceUID}`;
}
