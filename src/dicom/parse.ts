/**
 * Parses DICOM Part 10 files (PS3.10 7.1) and bare data sets into Veil's DataSet model with
 * dicom-parser: zero-copy for little-endian input, swapped to little endian for big endian,
 * inflated for the deflated transfer syntax.
 */
import { inflateRawSync } from 'node:zlib';
import { VeilError } from '../errors';
import { DataSet } from './data-set';
import { readDataSet, readMetaGroup, VALID_VRS } from './read-data-set';
import { Tags, TransferSyntax } from './tags';
import { isKnownTransferSyntax, transferSyntaxName } from './transfer-syntax';

/** One parsed instance: its File Meta Information and its data set, kept apart. */
export interface ParsedInstance {
  /** Group 0002 elements (an empty DataSet when the file had no meta). */
  meta: DataSet;
  /** All other elements, including Pixel Data and anything after it. */
  dataset: DataSet;
  /** Transfer syntax the data set was encoded in (from the meta, or recognised from the bytes). */
  transferSyntaxUID: string;
}

/** Options of parsePart10. */
export interface ParseOptions {
  /** Deepest sequence nesting accepted before VEIL_E_DICOM_MALFORMED (default 32). */
  maxSequenceDepth?: number;
  /**
   * Stop before the top-level Pixel Data (7FE0,0010) and accept input truncated after it, so a
   * caller can read the UIDs from the first bytes of a large file. Pixel Data and anything after
   * it are absent from the result. Deflated data sets are still inflated whole.
   */
  stopAtPixelData?: boolean;
}

const PREAMBLE_LENGTH = 128;
const DEFLATED = new Set<string>([
  TransferSyntax.DeflatedExplicitVRLittleEndian,
  '1.2.840.10008.1.2.4.95', // JPIP Referenced Deflate
]);

function hasPart10Prefix(bytes: Buffer): boolean {
  return (
    bytes.length >= PREAMBLE_LENGTH + 4 &&
    bytes.toString('latin1', PREAMBLE_LENGTH, PREAMBLE_LENGTH + 4) === 'DICM'
  );
}

/**
 * Recognises the encoding of a data set without a transfer syntax (no meta, or a meta without
 * (0002,0010)) from its first element: a low group number in one byte order, then either a
 * valid VR (explicit) or a plausible 32-bit length (implicit, little endian only).
 */
function recogniseTransferSyntax(bytes: Buffer, position: number, claimedDicom: boolean): string {
  const fail = (): VeilError =>
    claimedDicom
      ? new VeilError(
          'VEIL_E_DICOM_MALFORMED',
          'The data set after the file meta is not recognisable DICOM',
        )
      : new VeilError(
          'VEIL_E_DICOM_NOT_DICOM',
          'Input is neither a DICOM Part 10 file nor a DICOM data set',
        );
  if (bytes.length - position < 8) {
    if (claimedDicom)
      throw new VeilError('VEIL_E_DICOM_TRUNCATED', 'DICOM file ends after its meta');
    throw fail();
  }
  const little = bytes.readUInt16LE(position);
  const big = bytes.readUInt16BE(position);
  const vr = bytes.toString('latin1', position + 4, position + 6);
  // Data sets start with a low group (0002, 0008...); odd low groups occur in test data.
  const lowGroup = (group: number): boolean => group >= 0x0001 && group <= 0x0030;
  if (VALID_VRS.has(vr)) {
    if (lowGroup(little)) return TransferSyntax.ExplicitVRLittleEndian;
    if (lowGroup(big)) return TransferSyntax.ExplicitVRBigEndian;
    throw fail();
  }
  const length = bytes.readUInt32LE(position + 4);
  if (lowGroup(little) && (length === 0xffffffff || position + 8 + length <= bytes.length)) {
    return TransferSyntax.ImplicitVRLittleEndian;
  }
  throw fail();
}

function inflate(deflated: Buffer): Buffer {
  try {
    return inflateRawSync(deflated);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'Z_BUF_ERROR') {
      throw new VeilError('VEIL_E_DICOM_TRUNCATED', 'Deflated DICOM data set ends early');
    }
    throw new VeilError('VEIL_E_DICOM_MALFORMED', 'Deflated DICOM data set does not inflate');
  }
}

/**
 * Parses a Part 10 file (128-byte preamble, 'DICM', group 0002, data set), a Part 10 file
 * without meta, or a bare data set. Throws VeilError VEIL_E_DICOM_NOT_DICOM, _TRUNCATED,
 * _MALFORMED or _TRANSFER_SYNTAX. Little-endian values are views into `bytes`, not copies.
 * Every element is kept except group lengths (gggg,0000) outside group 0002, which are
 * retired (PS3.5 7.2) and would be stale after any edit; the writer does not need them.
 */
export function parsePart10(bytes: Buffer, options: ParseOptions = {}): ParsedInstance {
  const maxSequenceDepth = options.maxSequenceDepth ?? 32;
  const part10 = hasPart10Prefix(bytes);
  let meta = new DataSet();
  let position = 0;
  if (part10)
    ({ meta, end: position } = readMetaGroup(bytes, PREAMBLE_LENGTH + 4, maxSequenceDepth));

  const transferSyntaxUID =
    meta.string(Tags.TransferSyntaxUID)?.trim() ?? recogniseTransferSyntax(bytes, position, part10);
  if (!isKnownTransferSyntax(transferSyntaxUID)) {
    throw new VeilError(
      'VEIL_E_DICOM_TRANSFER_SYNTAX',
      `Cannot parse ${transferSyntaxName(transferSyntaxUID)}`,
      { transferSyntaxUID },
    );
  }

  let body = bytes;
  if (DEFLATED.has(transferSyntaxUID)) {
    body = inflate(bytes.subarray(position));
    position = 0;
  }
  const readOptions = {
    implicit: transferSyntaxUID === TransferSyntax.ImplicitVRLittleEndian,
    bigEndian: transferSyntaxUID === TransferSyntax.ExplicitVRBigEndian,
    maxSequenceDepth,
    dropGroupLengths: true,
  };
  const dataset = options.stopAtPixelData
    ? readHeader(body, position, readOptions)
    : readDataSet(body, position, readOptions);
  // PS3.10 7.1: group 0002 belongs to the File Meta. An element of it found among the data set
  // (a meta cut short by a bad element) moves there, so parse → write → parse is stable.
  for (const tag of dataset.tags()) {
    if (tag >>> 16 !== 0x0002) break;
    const element = dataset.get(tag)!;
    dataset.delete(tag);
    if (!meta.has(tag)) meta.set(element);
  }
  return { meta, dataset, transferSyntaxUID };
}

/**
 * The File Meta group (0002) alone, without reading the data set: an empty DataSet when the bytes
 * have no Part 10 preamble. For routing by MediaStorageSOPInstanceUID before a full parse.
 */
export function parseFileMeta(bytes: Buffer, maxSequenceDepth = 32): DataSet {
  if (!hasPart10Prefix(bytes)) return new DataSet();
  return readMetaGroup(bytes, PREAMBLE_LENGTH + 4, maxSequenceDepth).meta;
}

/**
 * Reads the data set up to its top-level Pixel Data. Each occurrence of the Pixel Data tag in the
 * bytes is a candidate end; the first one before which the elements parse exactly (no element or
 * sequence cut open) is the top-level element boundary. Candidates inside values or nested
 * sequences (icon images) cut an element open and fail. Without a boundary the whole input is
 * read, so a header cut short still reports its own error (VEIL_E_DICOM_TRUNCATED).
 */
function readHeader(
  body: Buffer,
  position: number,
  readOptions: Parameters<typeof readDataSet>[2],
): ReturnType<typeof readDataSet> {
  const tag = readOptions.bigEndian
    ? Buffer.from([0x7f, 0xe0, 0x00, 0x10])
    : Buffer.from([0xe0, 0x7f, 0x10, 0x00]);
  for (let at = body.indexOf(tag, position); at !== -1; at = body.indexOf(tag, at + 1)) {
    try {
      return readDataSet(body.subarray(0, at), position, readOptions);
    } catch (err) {
      // A candidate inside a value cuts an element open; try the next one.
      if (!(err instanceof VeilError)) throw err;
    }
  }
  return readDataSet(body, position, readOptions);
}
