/**
 * C-STORE SCP (PS3.4 B.2): each instance streams from the P-DATA PDVs straight into a spool temp
 * file behind a Part 10 header, is handed to the intake (fsync, rename, enqueue), and only then
 * is answered 0x0000. Nothing holds a whole instance in memory.
 */
import fs from 'node:fs';
import { Writable } from 'node:stream';
import { responses, type association, type requests } from 'dcmjs-dimse';
import type { AssociationContext } from './association-context';
import { fileMetaHeader } from '../dicom/file-meta';
import { spoolWriteError } from '../pipeline/spool';
import { SpoolWriter } from '../pipeline/spool-writer';
import { type Element, textElement } from '../dicom/data-set';
import { commandPdu, commandUs } from './pdata-writer';
import { SpooledDataset } from './raw-dataset';

type PresentationContext = InstanceType<typeof association.PresentationContext>;
type CStoreRequest = InstanceType<typeof requests.CStoreRequest>;
type CStoreResponse = InstanceType<typeof responses.CStoreResponse>;

/** What became of one store stream: where it went, or why it could not. */
interface StreamState {
  tempPath?: string;
  error?: unknown;
}
const streams = new WeakMap<Writable, StreamState>();

/**
 * A disk error while spooling is out of resources (0xA700), not a bug: VEIL_E_SPOOL_FULL when the
 * volume is full, VEIL_E_IO otherwise.
 */
function spoolError(err: unknown): unknown {
  return spoolWriteError(err, 'The instance could not be written to the spool.');
}

/** A sink that swallows the data set of an instance we already know we cannot take. */
function discard(): Writable {
  return new Writable({ write: (_chunk, _encoding, done) => done() });
}

/**
 * Opens the spool temp file of one incoming instance and writes its File Meta; dcmjs-dimse then
 * writes each PDV of the data set into it as it arrives. The SpoolWriter fsyncs the file when
 * dcmjs-dimse ends it and keeps its head, so intake neither reopens nor re-reads it.
 */
export function createStoreStream(
  ctx: AssociationContext,
  context: PresentationContext,
  request: CStoreRequest,
): Writable {
  const state: StreamState = {};
  let stream: Writable;
  try {
    const header = fileMetaHeader(
      request.getAffectedSopClassUid(),
      request.getAffectedSopInstanceUid(),
      context.getAcceptedTransferSyntaxUid() ?? '',
    );
    state.tempPath = ctx.deps.intake.tempPath();
    const file = new SpoolWriter(state.tempPath);
    file.on('error', (err) => {
      state.error ??= spoolError(err);
    });
    file.write(header);
    stream = file;
  } catch (err) {
    state.error = spoolError(err);
    stream = discard();
  }
  streams.set(stream, state);
  return stream;
}

/**
 * Called once dcmjs-dimse ended the stream: waits until the file is fsynced and closed, then
 * hands a SpooledDataset (the temp path and what was written, or the error) to cStoreRequest.
 */
export function finishStoreStream(
  writable: Writable,
  context: PresentationContext,
  callback: (dataset: SpooledDataset) => void,
): void {
  const state = streams.get(writable) ?? { error: new Error('unknown store stream') };
  const syntax = context.getAcceptedTransferSyntaxUid() ?? '';
  const done = () => {
    const written = writable instanceof SpoolWriter ? writable.written() : undefined;
    callback(new SpooledDataset(state.tempPath, syntax, state.error, written));
  };
  if (writable.closed || writable.destroyed) done();
  else writable.once('close', done);
}

/**
 * Answers one C-STORE-RQ whose data set is spooled: intake.accept (which counts received
 * instances and intake failures in the metrics), then the status.
 */
export async function handleStore(
  ctx: AssociationContext,
  request: CStoreRequest,
): Promise<CStoreResponse> {
  const response = responses.CStoreResponse.fromRequest(request);
  const refuse = (err: unknown, count: boolean): CStoreResponse => {
    const { status, code } = ctx.failure(err, 'intake', 'C-STORE', count);
    ctx.noteStoreFailure();
    response.setStatus(status);
    // Error Comment (0000,0902) is LO, at most 64 characters: the stable code, never data.
    response.setErrorComment(code.slice(0, 64));
    return response;
  };
  const dataset = request.getDataset() as SpooledDataset | undefined;
  if (dataset?.error !== undefined || dataset?.tempPath === undefined) {
    // The stream never got going (spool unwritable): nothing reached the intake.
    if (dataset?.tempPath !== undefined) await fs.promises.rm(dataset.tempPath, { force: true });
    return refuse(dataset?.error ?? new Error('no data set'), true);
  }
  try {
    const result = await ctx.deps.intake.accept(
      dataset.tempPath,
      { kind: 'dimse', who: ctx.callingAeTitle, address: ctx.address },
      dataset.written,
    );
    ctx.noteStored(result.studyInstanceUID, result.sopInstanceUID);
    response.setStatus(0x0000);
    return response;
  } catch (err) {
    // The intake removed the temp file and counted the failure itself (its contract).
    return refuse(err, false);
  }
}

/**
 * The P-DATA-TF PDU of a C-STORE-RSP (PS3.7 9.3.1.2, PS3.8 9.3.5), encoded directly: dcmjs-dimse
 * denaturalizes every response through dcmjs, which cost ~1.4 ms of CPU per acknowledgement.
 * Commands are always Implicit VR Little Endian (PS3.7 6.3.1); elements in ascending tag order.
 * The UIDs are written as the response holds them (VeilScp sets the request's, as sent).
 */
export function storeResponsePdu(contextId: number, response: CStoreResponse): Buffer {
  const elements: Element[] = [];
  const sopClass = response.getAffectedSopClassUid();
  if (sopClass !== undefined) elements.push(textElement(0x0002, 'UI', sopClass));
  elements.push(commandUs(0x0100, 0x8001));
  const messageId = response.getMessageIdBeingRespondedTo();
  if (messageId !== undefined) elements.push(commandUs(0x0120, messageId));
  elements.push(commandUs(0x0800, 0x0101)); // no data set follows
  elements.push(commandUs(0x0900, response.getStatus() ?? 0));
  const comment = response.getErrorComment();
  if (comment !== undefined) elements.push(textElement(0x0902, 'LO', comment));
  const sopInstance = response.getAffectedSopInstanceUid();
  if (sopInstance !== undefined) elements.push(textElement(0x1000, 'UI', sopInstance));
  return commandPdu(contextId, elements);
}
