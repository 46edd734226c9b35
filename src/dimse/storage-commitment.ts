/**
 * Storage Commitment Push Model SCP (PS3.4 Annex J; IHE RAD-10): a modality asks, with N-ACTION,
 * whether Veil has taken responsibility for instances it sent; Veil answers at once that the
 * request is accepted, and later, on an association of its own to the requester (an AE of
 * dimse.destinations), sends N-EVENT-REPORT: committed are the instances that are protected and
 * stored in the archive (catalogue state 'archived'), failed are those that failed protection,
 * that were sent under another SOP class, or that are still not archived when
 * dimse.storageCommitmentTimeoutSeconds has passed. A modality may then delete its copies of the
 * committed ones. Pending transactions are kept in the catalogue, so a restart resumes them.
 */
import { Dataset, constants, requests } from 'dcmjs-dimse';
import { isUid } from '../archive/archive';
import { VeilError } from '../errors';
import type { Catalogue, InstanceRecord, PendingCommitment } from '../index/catalogue';
import type { Logger } from '../log';
import { resolveMoveDestination } from './retrieve-scope';
import { STORAGE_COMMITMENT_INSTANCE, STORAGE_COMMITMENT_PUSH } from './sop-classes';
import { releaseAssociation, requestAssociation } from './store-scu';
import type { RequestSender } from './store-sender';

/** N-ACTION Action Type ID "Request Storage Commitment" (PS3.4 J.3.2.1). */
export const REQUEST_COMMITMENT = 1;
/** N-EVENT-REPORT Event Type IDs (PS3.4 J.3.3.1). */
export const EventType = { AllCommitted: 1, SomeFailed: 2 } as const;

/** Failure Reason (0008,1197) values of a Failed SOP Sequence item (PS3.3 C.14.1.1). */
export const FailureReason = {
  ProcessingFailure: 0x0110,
  NoSuchObjectInstance: 0x0112,
  ClassInstanceConflict: 0x0119,
} as const;

/** Most instances one request may name; more is refused as a resource limit. */
export const MAX_COMMITMENT_ITEMS = 10_000;
/** Most transactions waiting for their report at once. */
export const MAX_PENDING_TRANSACTIONS = 1_000;
/** Most instances still on their way, over all waiting transactions. */
export const MAX_PENDING_ITEMS = 100_000;
/**
 * Catalogue look-ups per poll interval over all waiting transactions: a transaction's next look is
 * put off in proportion to what all of them still wait for, so the gateway's thread spends a
 * bounded time (~1,000 indexed reads a second) however much is pending.
 */
const LOOKUPS_PER_POLL = 1_000;

/** One referenced instance: its SOP class and instance UIDs. */
export interface CommitmentItem {
  sopClassUID: string;
  sopInstanceUID: string;
}

/** A parsed N-ACTION data set. */
export interface CommitmentRequest {
  transactionUID: string;
  items: CommitmentItem[];
}

/** What the report says of each item. */
export interface CommitmentReport {
  transactionUID: string;
  committed: CommitmentItem[];
  failed: (CommitmentItem & { reason: number })[];
}

const invalid = (message: string) => new VeilError('VEIL_E_COMMITMENT_INVALID', message);

function uidOf(value: unknown, what: string): string {
  const text = typeof value === 'string' ? value.replace(/[\0 ]+$/, '') : '';
  if (!isUid(text)) {
    throw invalid(`The storage commitment request has no valid ${what}.`);
  }
  return text;
}

/**
 * Reads the N-ACTION data set (dcmjs naturalized): Transaction UID (0008,1195) and the Referenced
 * SOP Sequence (0008,1199) of SOP class / instance UID pairs. Anything else is
 * VEIL_E_COMMITMENT_INVALID, naming what is wrong but no value.
 */
export function parseCommitmentRequest(
  elements: Record<string, unknown> | undefined,
): CommitmentRequest {
  if (elements === undefined) throw invalid('The storage commitment request has no data set.');
  const transactionUID = uidOf(elements.TransactionUID, 'Transaction UID');
  const sequence = elements.ReferencedSOPSequence;
  const list = Array.isArray(sequence) ? sequence : sequence === undefined ? [] : [sequence];
  if (list.length === 0) throw invalid('The storage commitment request names no instance.');
  if (list.length > MAX_COMMITMENT_ITEMS) {
    throw new VeilError(
      'VEIL_E_BUSY',
      `A storage commitment request names at most ${MAX_COMMITMENT_ITEMS} instances.`,
    );
  }
  const items = list.map((item: unknown) => {
    const fields = (item ?? {}) as Record<string, unknown>;
    return {
      sopClassUID: uidOf(fields.ReferencedSOPClassUID, 'Referenced SOP Class UID'),
      sopInstanceUID: uidOf(fields.ReferencedSOPInstanceUID, 'Referenced SOP Instance UID'),
    };
  });
  return { transactionUID, items };
}

/**
 * What the report says of one item given its catalogue record: 'committed' when archived under
 * the same SOP class, a Failure Reason when it failed protection or names another class, undefined
 * while it is still on its way. With `final` (the wait is over) an item still on its way fails
 * too: an unknown one as no such instance, a received but unarchived one as a processing failure.
 */
export function itemOutcome(
  record: InstanceRecord | undefined,
  item: CommitmentItem,
  final: boolean,
): 'committed' | number | undefined {
  if (record !== undefined && record.sopClassUID !== item.sopClassUID) {
    return FailureReason.ClassInstanceConflict;
  }
  if (record?.state === 'archived') return 'committed';
  if (record?.state === 'failed') return FailureReason.ProcessingFailure;
  if (!final) return undefined;
  return record === undefined
    ? FailureReason.NoSuchObjectInstance
    : FailureReason.ProcessingFailure;
}

/** The report of a transaction, or undefined while any item is still on its way (see itemOutcome). */
export function commitmentReport(
  catalogue: Pick<Catalogue, 'get'>,
  request: CommitmentRequest,
  final: boolean,
): CommitmentReport | undefined {
  const report: CommitmentReport = {
    transactionUID: request.transactionUID,
    committed: [],
    failed: [],
  };
  for (const item of request.items) {
    const outcome = itemOutcome(catalogue.get(item.sopInstanceUID), item, final);
    if (outcome === undefined) return undefined;
    if (outcome === 'committed') report.committed.push(item);
    else report.failed.push({ ...item, reason: outcome });
  }
  return report;
}

/** The N-EVENT-REPORT-RQ of a report (PS3.4 J.3.3.1: Table J.3-2). */
export function eventReportRequest(
  report: CommitmentReport,
  retrieveAeTitle: string,
): InstanceType<typeof requests.NEventReportRequest> {
  const request = new requests.NEventReportRequest(
    STORAGE_COMMITMENT_PUSH,
    STORAGE_COMMITMENT_INSTANCE,
    report.failed.length === 0 ? EventType.AllCommitted : EventType.SomeFailed,
  );
  const elements: Record<string, unknown> = { TransactionUID: report.transactionUID };
  if (report.committed.length > 0) {
    elements.RetrieveAETitle = retrieveAeTitle;
    elements.ReferencedSOPSequence = report.committed.map((i) => ({
      ReferencedSOPClassUID: i.sopClassUID,
      ReferencedSOPInstanceUID: i.sopInstanceUID,
    }));
  }
  if (report.failed.length > 0) {
    elements.FailedSOPSequence = report.failed.map((i) => ({
      ReferencedSOPClassUID: i.sopClassUID,
      ReferencedSOPInstanceUID: i.sopInstanceUID,
      FailureReason: i.reason,
    }));
  }
  request.setDataset(new Dataset(elements, constants.TransferSyntax.ImplicitVRLittleEndian));
  return request;
}

/** What StorageCommitments needs from the gateway. */
export interface StorageCommitmentOptions {
  catalogue: Pick<Catalogue, 'get' | 'saveCommitment' | 'removeCommitment' | 'pendingCommitments'>;
  log: Logger;
  /** dimse.aeTitle: calling AE of the report association and the Retrieve AE Title. */
  aeTitle: string;
  /** dimse.destinations: where each requesting AE receives its report. */
  destinations: readonly string[];
  /** How long a transaction waits for its instances before unarchived ones are reported failed. */
  timeoutSeconds: number;
  /** Association timeout of the report (connect, accept, response). */
  associationTimeoutSeconds: number;
  /** Between looks at the catalogue. Default 1000 ms. */
  pollMs?: number;
  /** Attempts to deliver one report, 5 s apart (the requester may be busy). Default 3. */
  attempts?: number;
  /** Counts each report sent, by outcome (metrics). */
  onReport?: (outcome: 'committed' | 'failed' | 'undelivered') => void;
}

/** The gateway's pending storage commitment transactions: one timer each, reported once. */
export class StorageCommitments {
  private readonly pending = new Map<string, NodeJS.Timeout>();
  /** Per waiting transaction, how many of its instances are still on their way. */
  private readonly unsettled = new Map<string, number>();
  private closed = false;

  constructor(private readonly o: StorageCommitmentOptions) {}

  /**
   * Picks up the transactions an earlier run kept in the catalogue and did not report (call once,
   * at start): each is looked at again and reported as if it had just been asked. Returns how many.
   * One whose AE is no longer in dimse.destinations is dropped, with a warning.
   */
  resume(): number {
    let resumed = 0;
    for (const commitment of this.o.catalogue.pendingCommitments()) {
      let destination: Destination;
      try {
        destination = resolveMoveDestination(this.o.destinations, commitment.callingAeTitle);
      } catch {
        this.o.log.warn(
          { aeTitle: commitment.callingAeTitle, transactionUID: commitment.transactionUID },
          'storage commitment dropped: its AE is no longer in dimse.destinations',
        );
        this.o.catalogue.removeCommitment(commitment.callingAeTitle, commitment.transactionUID);
        continue;
      }
      this.schedule(commitment, destination);
      resumed += 1;
    }
    return resumed;
  }

  /**
   * Takes a request from `callingAeTitle`: throws VEIL_E_MOVE_DESTINATION_UNKNOWN when the AE has
   * no address in dimse.destinations (there is nowhere to send the report) and VEIL_E_BUSY when
   * too many transactions wait; otherwise keeps it in the catalogue (a restart resumes it) and
   * reports once every item is settled.
   */
  accept(callingAeTitle: string, request: CommitmentRequest): void {
    const destination = resolveMoveDestination(this.o.destinations, callingAeTitle);
    if (this.closed || this.pending.size >= MAX_PENDING_TRANSACTIONS) {
      throw new VeilError('VEIL_E_BUSY', 'Too many storage commitment requests are pending.');
    }
    if (this.pending.has(keyOf(callingAeTitle, request.transactionUID))) return; // asked again: one report
    if (this.unsettledItems() + request.items.length > MAX_PENDING_ITEMS) {
      throw new VeilError(
        'VEIL_E_BUSY',
        'Too many instances are waiting for storage commitment; ask again later.',
      );
    }
    const commitment: PendingCommitment = {
      callingAeTitle,
      transactionUID: request.transactionUID,
      items: request.items,
      deadline: Date.now() + this.o.timeoutSeconds * 1000,
    };
    this.o.catalogue.saveCommitment(commitment);
    this.schedule(commitment, destination);
  }

  /** Transactions waiting for their report. */
  size(): number {
    return this.pending.size;
  }

  /** Instances still on their way, over all waiting transactions. */
  unsettledItems(): number {
    let n = 0;
    for (const count of this.unsettled.values()) n += count;
    return n;
  }

  /** Stops looking; pending transactions stay in the catalogue for the next start to resume. */
  close(): void {
    this.closed = true;
    for (const timer of this.pending.values()) clearTimeout(timer);
    if (this.pending.size > 0) {
      this.o.log.info(
        { pending: this.pending.size },
        'storage commitments left for the next start',
      );
    }
    this.pending.clear();
    this.unsettled.clear();
  }

  private schedule(commitment: PendingCommitment, destination: Destination): void {
    const key = keyOf(commitment.callingAeTitle, commitment.transactionUID);
    // Only the items still on their way are looked up again; the report reads them all once.
    let waiting = commitment.items;
    this.unsettled.set(key, waiting.length);
    const look = (): void => {
      if (this.closed) return;
      waiting = waiting.filter(
        (item) => itemOutcome(this.o.catalogue.get(item.sopInstanceUID), item, false) === undefined,
      );
      this.unsettled.set(key, waiting.length);
      if (waiting.length > 0 && Date.now() < commitment.deadline) {
        const spread = Math.max(1, Math.ceil(this.unsettledItems() / LOOKUPS_PER_POLL));
        this.pending.set(key, setTimeout(look, (this.o.pollMs ?? 1000) * spread));
        return;
      }
      this.unsettled.delete(key);
      const report = commitmentReport(this.o.catalogue, commitment, true)!;
      void this.deliver(destination, report).then((settled) => {
        this.pending.delete(key);
        // Reported, or given up after the last attempt: forgotten. Interrupted by a shutdown:
        // kept, so the next start reports it.
        if (settled && !this.closed) {
          this.o.catalogue.removeCommitment(commitment.callingAeTitle, commitment.transactionUID);
        }
      });
    };
    this.pending.set(key, setTimeout(look, 0));
  }

  /** Sends the report (3 attempts); false when a shutdown interrupted it before it was settled. */
  private async deliver(destination: Destination, report: CommitmentReport): Promise<boolean> {
    const attempts = this.o.attempts ?? 3;
    const summary = {
      aeTitle: destination.aeTitle,
      transactionUID: report.transactionUID,
      committed: report.committed.length,
      failed: report.failed.length,
    };
    for (let attempt = 1; attempt <= attempts; attempt++) {
      if (this.closed) return false;
      const status = await sendEventReport(destination, report, this.o).catch((err: unknown) =>
        err instanceof Error ? err.message : 'failed',
      );
      if (status === 0) {
        this.o.log.info(summary, 'storage commitment reported');
        this.o.onReport?.(report.failed.length === 0 ? 'committed' : 'failed');
        return true;
      }
      this.o.log.warn({ ...summary, attempt, status }, 'storage commitment report not taken');
      if (attempt < attempts) await new Promise((r) => setTimeout(r, 5000).unref());
    }
    this.o.onReport?.('undelivered');
    return true;
  }
}

/** Where a report goes: the requesting AE's entry of dimse.destinations. */
type Destination = { aeTitle: string; host: string; port: number };

function keyOf(callingAeTitle: string, transactionUID: string): string {
  return `${callingAeTitle}\\${transactionUID}`;
}

/**
 * Sends one report on a new association, proposing Veil as the SCP of storage commitment (the
 * SCU/SCP role selection PS3.4 J.3.3.1.3 expects of a Storage Commitment SCP that requests the
 * association); resolves with the N-EVENT-REPORT-RSP status, or why there is none.
 */
async function sendEventReport(
  destination: { aeTitle: string; host: string; port: number },
  report: CommitmentReport,
  o: StorageCommitmentOptions,
): Promise<number | string> {
  const opened = await requestAssociation({
    host: destination.host,
    port: destination.port,
    callingAeTitle: o.aeTitle,
    calledAeTitle: destination.aeTitle,
    timeoutSeconds: o.associationTimeoutSeconds,
    contexts: [
      {
        abstractSyntaxUID: STORAGE_COMMITMENT_PUSH,
        transferSyntaxUIDs: [
          constants.TransferSyntax.ImplicitVRLittleEndian,
          constants.TransferSyntax.ExplicitVRLittleEndian,
        ],
        requestorIsScp: true,
      },
    ],
  });
  const sender = opened.network as unknown as RequestSender;
  try {
    const accepted = (sender.association?.getPresentationContexts() ?? []).some(
      ({ context }) =>
        context.getAbstractSyntaxUid() === STORAGE_COMMITMENT_PUSH &&
        context.getResult() === constants.PresentationContextResult.Accept,
    );
    if (!accepted) return 'storage commitment not accepted by the peer';
    const request = eventReportRequest(report, o.aeTitle);
    return await new Promise<number | string>((resolve) => {
      let status: number | string = 'no response';
      request.on('response', (response: { getStatus(): number | undefined }) => {
        status = response.getStatus() ?? 'no status';
      });
      request.on('done', () => resolve(status));
      void opened.closed.then(() => resolve('association closed'));
      sender.sendRequests(request);
    });
  } finally {
    await releaseAssociation(opened);
  }
}
