/**
 * dcmjs-dimse Datasets that never go through dcmjs naturalize/denaturalize, which drops private
 * tags (and with them Veil's protection record): outgoing data sets carry their exact bytes,
 * incoming C-STORE data sets are only a pointer to the spooled file.
 */
import { Dataset } from 'dcmjs-dimse';
import { VeilError } from '../errors';
import { parsePart10 } from '../dicom/parse';
import { TransferSyntax } from '../dicom/tags';
import { isEncapsulated } from '../dicom/transfer-syntax';
import { encodeDataSet } from '../dicom/write';
import { type FileMeta, readFileMeta } from '../dicom/file-meta';
import type { WrittenSpoolFile } from '../pipeline/spool-writer';

/** A data set sent as the exact bytes given, in the transfer syntax given. */
export class RawDataset extends Dataset {
  constructor(
    private readonly bytes: Buffer,
    transferSyntaxUID: string,
    sopClassUID?: string,
    sopInstanceUID?: string,
  ) {
    // Only the two UIDs are known to dcmjs: CStoreRequest copies them into the command (a
    // received data set needs neither).
    super(
      sopClassUID === undefined ? {} : { SOPClassUID: sopClassUID, SOPInstanceUID: sopInstanceUID },
      transferSyntaxUID,
    );
  }

  /** The bytes, unchanged: called by dcmjs-dimse when it cuts the data set into P-DATA PDVs. */
  override getDenaturalizedDataset(): Buffer {
    return this.bytes;
  }

  /** The exact data set bytes (sent or received). */
  rawBytes(): Buffer {
    return this.bytes;
  }
}

/** A C-STORE data set that was streamed to a spool temp file (or failed to be). */
export class SpooledDataset extends Dataset {
  constructor(
    readonly tempPath: string | undefined,
    transferSyntaxUID: string,
    readonly error?: unknown,
    /** Set when the file is already durable and its head in memory (see SpoolWriter). */
    readonly written?: WrittenSpoolFile,
  ) {
    super({}, transferSyntaxUID);
  }
}

/** One revealed Part 10 file ready to send: its header and data set bytes. */
export interface OutgoingInstance {
  header: FileMeta;
  file: Buffer;
}

/** Cuts a Part 10 file into header and data set for sending. */
export function outgoingInstance(file: Buffer): OutgoingInstance {
  return { header: readFileMeta(file), file };
}

const RECODABLE = new Set<string>([
  TransferSyntax.ImplicitVRLittleEndian,
  TransferSyntax.ExplicitVRBigEndian,
  TransferSyntax.DeflatedExplicitVRLittleEndian,
]);

/** True when `from` can be delivered as `to`: the same syntax, or a native one re-encoded as Explicit VR LE. */
export function canDeliverAs(from: string, to: string): boolean {
  return from === to || (to === TransferSyntax.ExplicitVRLittleEndian && RECODABLE.has(from));
}

/**
 * The data set of `instance` in transfer syntax `to`. Same syntax: the file's own bytes. A
 * native syntax the receiver did not accept is re-encoded as Explicit VR LE by Veil's own
 * encoder, element for element, private tags included (never by dcmjs).
 */
export function datasetFor(instance: OutgoingInstance, to: string): RawDataset {
  const { header, file } = instance;
  let bytes: Buffer;
  if (header.transferSyntaxUID === to) {
    bytes = file.subarray(header.datasetOffset);
  } else if (canDeliverAs(header.transferSyntaxUID, to) && !isEncapsulated(to)) {
    bytes = encodeDataSet(parsePart10(file).dataset);
  } else {
    throw new VeilError(
      'VEIL_E_DICOM_TRANSFER_SYNTAX',
      `Cannot deliver ${header.transferSyntaxUID} as ${to}`,
    );
  }
  return new RawDataset(bytes, to, header.sopClassUID, header.sopInstanceUID);
}
