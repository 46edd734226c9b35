/**
 * C-MOVE and C-GET SCP (PS3.4 C.4.2, C.4.3): resolve the instances in the catalogue, have the
 * retriever reveal them in workers, and deliver each revealed file as a C-STORE sub-operation
 * (exact bytes), with pending responses counting remaining / completed / failed / warning. A
 * tampered or unrevealable instance is a failed sub-operation, never wrong pixels.
 */
import fs from 'node:fs';
import { Dataset, responses, type requests } from 'dcmjs-dimse';
import type { InstanceRef } from '../archive/archive';
import { VeilError } from '../errors';
import type { AssociationContext, OperationChannel } from './association-context';
import { assertIdentifierUids } from './identifier-uids';
import { outgoingInstance, type OutgoingInstance } from './raw-dataset';
import { instancesToRetrieve } from './retrieve-scope';
import type { InformationModel } from './sop-classes';
import type { StoreContext } from './store-scu';

type RetrieveRequest =
  InstanceType<typeof requests.CMoveRequest> | InstanceType<typeof requests.CGetRequest>;
type RetrieveResponse =
  InstanceType<typeof responses.CMoveResponse> | InstanceType<typeof responses.CGetResponse>;

/** Where sub-operations go: a C-STORE association to the move destination, or back to the requester. */
export interface SubOperationTarget {
  /** Sends one instance; resolves with the peer's C-STORE status. */
  store(instance: OutgoingInstance): Promise<number>;
  /** True once the association is gone: the remaining sub-operations cannot succeed. */
  broken(): boolean;
  /** Ends the association (C-MOVE) or does nothing (C-GET). */
  close(): Promise<void>;
}

/** Least time between two Pending responses of one retrieval (the first goes out at once). */
const PENDING_INTERVAL_MS = 200;

/** Statuses of C-MOVE / C-GET (PS3.4 C.4.2.1.5, C.4.3.1.4). */
const Status = { Success: 0x0000, Pending: 0xff00, Cancel: 0xfe00, SubOpsFailed: 0xb000 };

/** Runs one C-MOVE or C-GET to its final response. Never throws. */
export async function handleRetrieve(
  ctx: AssociationContext,
  request: RetrieveRequest,
  kind: 'C-MOVE' | 'C-GET',
  model: InformationModel,
  channel: OperationChannel,
  openTarget: (contexts: StoreContext[]) => Promise<SubOperationTarget>,
  /** Checks made before the catalogue is asked (C-MOVE: the destination is known, else 0xA801). */
  precheck: () => void = () => undefined,
): Promise<void> {
  const counts = { remaining: 0, completed: 0, failed: 0, warning: 0 };
  const failedUIDs: string[] = [];
  const delivered: string[] = [];
  const respond = (status: number, comment?: string) => {
    const response: RetrieveResponse =
      kind === 'C-MOVE'
        ? responses.CMoveResponse.fromRequest(request as InstanceType<typeof requests.CMoveRequest>)
        : responses.CGetResponse.fromRequest(request as InstanceType<typeof requests.CGetRequest>);
    response.setAffectedSopClassUid(request.getAffectedSopClassUid());
    response.setStatus(status);
    response.setRemaining(counts.remaining);
    response.setCompleted(counts.completed);
    response.setFailures(counts.failed);
    response.setWarnings(counts.warning);
    // PS3.4 C.4.2.1.5: the Failed SOP Instance UID List rides on the final response only.
    if (status !== Status.Pending && failedUIDs.length > 0)
      response.setDataset(new Dataset({ FailedSOPInstanceUIDList: failedUIDs }, channel.syntax));
    if (comment !== undefined) response.setErrorComment(comment.slice(0, 64));
    channel.send(response);
  };
  let target: SubOperationTarget | undefined;
  let studies: string[] = [];
  let refs: InstanceRef[] = [];
  const processed = new Set<string>();
  let lastPending = 0;
  // One read buffer for the whole retrieval: each sub-operation is answered (so its bytes were
  // sent) before the next file is read into it.
  const reuse = { buffer: Buffer.alloc(0) };
  /** Counts every instance not yet processed as failed: the receiver can no longer get them. */
  const failRemaining = () => {
    for (const ref of refs) {
      if (processed.has(ref.sopInstanceUID)) continue;
      processed.add(ref.sopInstanceUID);
      failedUIDs.push(ref.sopInstanceUID);
      counts.failed++;
    }
    counts.remaining = 0;
  };
  try {
    precheck();
    assertIdentifierUids(request.getDataset());
    const elements = request.getDataset()?.getElements() ?? {};
    const records = instancesToRetrieve(ctx.deps.catalogue, elements, model);
    studies = [...new Set(records.map((r) => r.studyInstanceUID))];
    counts.remaining = records.length;
    ctx.log.info({ kind, instances: records.length }, `${kind} started`);
    if (records.length === 0) {
      respond(Status.Success);
      return;
    }
    ctx.audit({
      type: 'BeginTransferringDICOMInstances',
      action: 'R',
      outcome: 'success',
      studyInstanceUIDs: studies,
    });
    refs = records.map(({ studyInstanceUID, seriesInstanceUID, sopInstanceUID }) => ({
      studyInstanceUID,
      seriesInstanceUID,
      sopInstanceUID,
    }));
    target = await openTarget(
      uniqueContexts(
        records.map((r) => ({
          sopClassUID: r.sopClassUID,
          transferSyntaxUID: r.transferSyntaxUID,
        })),
      ),
    );
    for await (const item of ctx.deps.retriever.retrieve(refs, ctx.callingAeTitle)) {
      processed.add(item.ref.sopInstanceUID);
      counts.remaining--;
      const fail = () => {
        counts.failed++;
        failedUIDs.push(item.ref.sopInstanceUID);
      };
      if (!item.ok) {
        // The retriever already logged, counted and audited why (tampered, no key...).
        fail();
      } else {
        try {
          const file = await readReusing(item.path, item.bytes, reuse);
          const status = await target.store(outgoingInstance(file));
          if (status === Status.Success || (status & 0xf000) === 0xb000) {
            if (status === Status.Success) counts.completed++;
            else counts.warning++;
            delivered.push(item.ref.sopInstanceUID);
          } else {
            ctx.log.warn({ status: status.toString(16) }, 'C-STORE sub-operation refused');
            fail();
          }
        } catch (err) {
          ctx.failure(err, 'retrieve', 'C-STORE sub-operation');
          fail();
        } finally {
          await item.release();
        }
      }
      channel.keepAlive();
      if (channel.cancelled() || target.broken()) break;
      // Pending responses are optional (PS3.4 C.4.2.3.1, C.4.3.3.1): a few per second say how far
      // the retrieval got; one per sub-operation cost ~0.8 ms of dcmjs encoding each.
      if (counts.remaining > 0 && Date.now() - lastPending >= PENDING_INTERVAL_MS) {
        lastPending = Date.now();
        respond(Status.Pending);
      }
    }
    const cancelled = channel.cancelled();
    // Not cancelled but not all processed: the association to the receiver broke.
    if (!cancelled) failRemaining();
    await target.close();
    target = undefined;
    const status = cancelled
      ? Status.Cancel
      : counts.failed + counts.warning > 0
        ? Status.SubOpsFailed
        : Status.Success;
    respond(status);
    ctx.log.info({ kind, ...counts, cancelled }, `${kind} finished`);
  } catch (err) {
    const { status, code } = ctx.failure(err, 'retrieve', kind);
    await target?.close().catch(() => undefined);
    failRemaining();
    respond(status, code);
  } finally {
    if (studies.length > 0) {
      ctx.audit({
        type: 'DICOMInstancesTransferred',
        action: 'R',
        outcome: counts.failed === 0 ? 'success' : 'minor-failure',
        studyInstanceUIDs: studies,
        sopInstanceUIDs: delivered,
      });
    }
  }
}

/** One presentation context per SOP class and transfer syntax. */
function uniqueContexts(contexts: StoreContext[]): StoreContext[] {
  const seen = new Map<string, StoreContext>();
  for (const c of contexts) seen.set(`${c.sopClassUID}|${c.transferSyntaxUID}`, c);
  return [...seen.values()];
}

/**
 * Reads a revealed file of `length` bytes (as its reveal job reported) into `reuse.buffer`, grown
 * to the largest file so far, and returns the view of its bytes. A fresh 0.5 MB buffer per
 * instance made the gateway's collector run full collections on its whole heap for the external
 * memory alone (~2 ms per instance in a C-MOVE).
 */
async function readReusing(
  file: string,
  length: number,
  reuse: { buffer: Buffer },
): Promise<Buffer> {
  if (reuse.buffer.length < length) reuse.buffer = Buffer.allocUnsafe(length);
  const handle = await fs.promises.open(file, 'r');
  try {
    for (let read = 0; read < length;) {
      const { bytesRead } = await handle.read(reuse.buffer, read, length - read, read);
      if (bytesRead === 0) {
        throw new VeilError('VEIL_E_IO', 'A revealed file is shorter than it was reported.');
      }
      read += bytesRead;
    }
    return reuse.buffer.subarray(0, length);
  } finally {
    await handle.close();
  }
}
