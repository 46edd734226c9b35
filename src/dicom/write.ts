/**
 * Writes Veil's DataSet as Explicit VR Little Endian (PS3.5 7.1.2) and Part 10 files
 * (PS3.10 7.1). Sequences and items use undefined length with delimiters (PS3.5 7.5.2),
 * encapsulated Pixel Data an undefined-length OB of items (PS3.5 A.4).
 */
import { VeilError } from '../errors';
import {
  DataSet,
  bytesElement,
  formatTag,
  groupOf,
  isTextVr,
  textElement,
  type Element,
  type Tag,
} from './data-set';
import { readDataSet, VALID_VRS } from './read-data-set';
import { Tags, TransferSyntax } from './tags';

/** Implementation Class UID written into a meta that has none (a 2.25 UUID-derived UID, PS3.5 B.2). */
export const VEIL_IMPLEMENTATION_CLASS_UID = '2.25.178143935305390349454396526744211226021';
/** Implementation Version Name written into a meta that has none. */
export const VEIL_IMPLEMENTATION_VERSION_NAME = 'VEIL_0_1';

/** VRs with a 2-byte length field in Explicit VR (PS3.5 Table 7.1-2); all others have 4 bytes. */
const SHORT_LENGTH_VRS = new Set(
  'AE AS AT CS DA DS DT FL FD IS LO LT PN SH SL SS ST TM UI UL US'.split(' '),
);
const UNDEFINED_LENGTH = 0xffffffff;
/** Values at least this long are passed by reference instead of being copied into a chunk. */
const LARGE_VALUE = 64 * 1024;

function header(tag: Tag, vr: string, length: number): Buffer {
  const short = SHORT_LENGTH_VRS.has(vr);
  const out = Buffer.alloc(short ? 8 : 12);
  out.writeUInt16LE(tag >>> 16, 0);
  out.writeUInt16LE(tag & 0xffff, 2);
  out.write(vr, 4, 'latin1');
  if (short) out.writeUInt16LE(length, 6);
  else out.writeUInt32LE(length, 8);
  return out;
}

/** Item, item delimiter and sequence delimiter headers: tag and 4-byte length, no VR (PS3.5 7.5). */
function itemHeader(tag: Tag, length: number): Buffer {
  const out = Buffer.alloc(8);
  out.writeUInt16LE(tag >>> 16, 0);
  out.writeUInt16LE(tag & 0xffff, 2);
  out.writeUInt32LE(length, 4);
  return out;
}

const NUL = Buffer.from([0x00]);
const SPACE = Buffer.from([0x20]);

/** Odd values are padded to even length: NUL for UI and binary VRs, a space for text (PS3.5 6.2). */
function padFor(vr: string): Buffer {
  return isTextVr(vr) && vr !== 'UI' ? SPACE : NUL;
}

function checkLength(tag: Tag, length: number): void {
  if (length >= UNDEFINED_LENGTH) {
    throw new VeilError('VEIL_E_DICOM_MALFORMED', `${formatTag(tag)} is too long to encode`);
  }
}

/** Encoded pieces in order; `keep` holds values that must stay chunks of their own, by identity. */
interface Parts {
  readonly list: Buffer[];
  readonly keep: Set<Buffer>;
}

const PIXEL_TAGS = new Set<number>([
  Tags.PixelData,
  Tags.FloatPixelData,
  Tags.DoubleFloatPixelData,
]);

function encodeSequence(tag: Tag, items: readonly DataSet[], out: Parts): void {
  const parts = out.list;
  parts.push(header(tag, 'SQ', UNDEFINED_LENGTH));
  for (const item of items) {
    parts.push(itemHeader(Tags.Item, UNDEFINED_LENGTH));
    encodeDataSetParts(item, out);
    parts.push(itemHeader(Tags.ItemDelimitationItem, 0));
  }
  parts.push(itemHeader(Tags.SequenceDelimitationItem, 0));
}

function encodeFragments(tag: Tag, fragments: readonly Buffer[], out: Parts): void {
  const parts = out.list;
  parts.push(header(tag, 'OB', UNDEFINED_LENGTH));
  // fragments[0] is the Basic Offset Table; an empty one is still written (PS3.5 A.4).
  const items = fragments.length === 0 ? [Buffer.alloc(0)] : fragments;
  for (const fragment of items) {
    const odd = fragment.length % 2;
    checkLength(tag, fragment.length + odd);
    parts.push(itemHeader(Tags.Item, fragment.length + odd), fragment);
    out.keep.add(fragment);
    if (odd === 1) parts.push(NUL);
  }
  parts.push(itemHeader(Tags.SequenceDelimitationItem, 0));
}

function encodeElementParts(element: Element, out: Parts): void {
  const tag = element.tag >>> 0;
  if (element.items !== undefined) return encodeSequence(tag, element.items, out);
  if (element.fragments !== undefined) return encodeFragments(tag, element.fragments, out);
  const value = element.value ?? Buffer.alloc(0);
  if (element.vr === 'SQ') {
    if (value.length > 0) {
      throw new VeilError(
        'VEIL_E_DICOM_MALFORMED',
        `${formatTag(tag)} is a sequence without items`,
      );
    }
    return encodeSequence(tag, [], out);
  }
  if (!VALID_VRS.has(element.vr)) {
    throw new VeilError('VEIL_E_DICOM_MALFORMED', `${formatTag(tag)} has an invalid VR`);
  }
  const odd = value.length % 2;
  const length = value.length + odd;
  checkLength(tag, length);
  // A value too long for a 2-byte length field (possible from Implicit VR input) is written as UN.
  const vr = SHORT_LENGTH_VRS.has(element.vr) && length > 0xffff ? 'UN' : element.vr;
  out.list.push(header(tag, vr, length), value);
  if (PIXEL_TAGS.has(tag)) out.keep.add(value);
  if (odd === 1) out.list.push(padFor(element.vr));
}

function encodeDataSetParts(dataset: DataSet, out: Parts): void {
  for (const tag of dataset.tags()) encodeElementParts(dataset.get(tag)!, out);
}

function newParts(): Parts {
  return { list: [], keep: new Set() };
}

/**
 * Merges runs of small buffers into one chunk each; large values and the `keep` values (pixel
 * data and fragments, any size) stay chunks of their own, referenced, not copied.
 */
function coalesce({ list: parts, keep }: Parts): Buffer[] {
  const chunks: Buffer[] = [];
  let run: Buffer[] = [];
  let runBytes = 0;
  const flush = (): void => {
    if (run.length === 1) chunks.push(run[0]!);
    else if (run.length > 1) chunks.push(Buffer.concat(run, runBytes));
    run = [];
    runBytes = 0;
  };
  for (const part of parts) {
    const own = keep.has(part);
    if (part.length === 0 && !own) continue;
    if (own || part.length >= LARGE_VALUE) {
      flush();
      chunks.push(part);
      continue;
    }
    run.push(part);
    runBytes += part.length;
    if (runBytes >= LARGE_VALUE) flush();
  }
  flush();
  return chunks;
}

/** Explicit VR LE encoding of one element (tag, VR, length, value), as one Buffer. */
export function encodeElement(element: Element): Buffer {
  const parts = newParts();
  encodeElementParts(element, parts);
  return Buffer.concat(parts.list);
}

/** Explicit VR LE encoding of a data set (no preamble/meta), as one Buffer. */
export function encodeDataSet(dataset: DataSet): Buffer {
  const parts = newParts();
  encodeDataSetParts(dataset, parts);
  return Buffer.concat(parts.list);
}

/** Parses an Explicit VR LE data set with no meta (the inverse of encodeDataSet). */
export function decodeDataSet(bytes: Buffer): DataSet {
  return readDataSet(bytes, 0, {
    implicit: false,
    bigEndian: false,
    maxSequenceDepth: 32,
    dropGroupLengths: false,
  });
}

/** The meta to write: the caller's elements, the new transfer syntax, and PS3.10 7.1 Type 1 elements filled in when absent. */
function completeMeta(meta: DataSet, dataset: DataSet, transferSyntaxUID: string): DataSet {
  const out = meta.clone();
  out.delete(Tags.FileMetaInformationGroupLength);
  for (const tag of out.tags()) {
    if (groupOf(tag) !== 0x0002) {
      throw new VeilError(
        'VEIL_E_DICOM_MALFORMED',
        `File meta holds ${formatTag(tag)} outside group 0002`,
      );
    }
  }
  out.set(textElement(Tags.TransferSyntaxUID, 'UI', transferSyntaxUID));
  const fill = (tag: Tag, element: () => Element | undefined): void => {
    if (out.has(tag)) return;
    const made = element();
    if (made !== undefined) out.set(made);
  };
  fill(0x00020001, () => bytesElement(0x00020001, 'OB', Buffer.from([0x00, 0x01])));
  const uid = (tag: Tag): string | undefined => dataset.string(tag);
  fill(Tags.MediaStorageSOPClassUID, () => {
    const value = uid(Tags.SOPClassUID);
    return value === undefined ? undefined : textElement(Tags.MediaStorageSOPClassUID, 'UI', value);
  });
  fill(Tags.MediaStorageSOPInstanceUID, () => {
    const value = uid(Tags.SOPInstanceUID);
    return value === undefined
      ? undefined
      : textElement(Tags.MediaStorageSOPInstanceUID, 'UI', value);
  });
  fill(Tags.ImplementationClassUID, () =>
    textElement(Tags.ImplementationClassUID, 'UI', VEIL_IMPLEMENTATION_CLASS_UID),
  );
  fill(Tags.ImplementationVersionName, () =>
    textElement(Tags.ImplementationVersionName, 'SH', VEIL_IMPLEMENTATION_VERSION_NAME),
  );
  return out;
}

/** Options of writePart10. */
export interface WritePart10Options {
  /**
   * Transfer syntax named in the meta. The data set is always encoded Explicit VR Little Endian;
   * name an encapsulated syntax only when Pixel Data holds that syntax's fragments.
   */
  transferSyntaxUID?: string;
}

/**
 * Encodes meta + dataset as a Part 10 file in Explicit VR Little Endian. Returns the chunks in
 * order; large values (Pixel Data) are referenced, not copied: every Pixel Data value and
 * fragment, whatever its size, is one chunk of its own (the same Buffer object). Sets (0002,0010) to
 * 1.2.840.10008.1.2.1 and recomputes (0002,0000); keeps every other meta element (and fills
 * in (0002,0001), (0002,0002), (0002,0003), (0002,0012), (0002,0013) when absent). Writes a
 * 128-byte zero preamble + 'DICM'.
 */
export function writePart10(
  meta: DataSet,
  dataset: DataSet,
  options: WritePart10Options = {},
): Buffer[] {
  const syntax = options.transferSyntaxUID ?? TransferSyntax.ExplicitVRLittleEndian;
  const metaBody = encodeDataSet(completeMeta(meta, dataset, syntax));
  const groupLength = Buffer.alloc(4);
  groupLength.writeUInt32LE(metaBody.length, 0);
  const parts = newParts();
  parts.list.push(
    Buffer.alloc(128),
    Buffer.from('DICM', 'latin1'),
    encodeElement(bytesElement(Tags.FileMetaInformationGroupLength, 'UL', groupLength)),
    metaBody,
  );
  encodeDataSetParts(dataset, parts);
  return coalesce(parts);
}
