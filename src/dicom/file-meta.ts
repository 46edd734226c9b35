/**
 * The File Meta Information of a Part 10 file (PS3.10 7.1) on its own: DIMSE moves data sets
 * without it, so the doors and the DIMSE archive cut it off to send and put it back on receipt.
 * The data set bytes are never re-encoded here, so private tags and every byte travel unchanged.
 */
import { VeilError } from '../errors';
import { DataSet, textElement } from './data-set';
import { Tags } from './tags';
import { writePart10 } from './write';

/** What the File Meta says, and where the data set starts. */
export interface FileMeta {
  /** Byte offset of the first data set element (after the meta group). */
  datasetOffset: number;
  transferSyntaxUID: string;
  sopClassUID: string;
  sopInstanceUID: string;
}

const LONG_VRS = new Set([
  'OB',
  'OD',
  'OF',
  'OL',
  'OV',
  'OW',
  'SQ',
  'SV',
  'UC',
  'UN',
  'UR',
  'UT',
  'UV',
]);

const notPart10 = (why: string) =>
  new VeilError('VEIL_E_DICOM_NOT_DICOM', `Not a usable Part 10 file: ${why}.`);

/**
 * Reads the File Meta (always Explicit VR Little Endian) element by element, without trusting
 * the group length, to find the UIDs and where the data set begins.
 */
export function readFileMeta(bytes: Buffer): FileMeta {
  if (bytes.length < 132 || bytes.toString('latin1', 128, 132) !== 'DICM')
    throw notPart10('no DICM prefix');
  const values = new Map<number, string>();
  let offset = 132;
  while (offset + 8 <= bytes.length && bytes.readUInt16LE(offset) === 0x0002) {
    const tag = (0x0002 * 0x10000 + bytes.readUInt16LE(offset + 2)) >>> 0;
    const vr = bytes.toString('latin1', offset + 4, offset + 6);
    const long = LONG_VRS.has(vr);
    if (long && offset + 12 > bytes.length) throw notPart10('truncated File Meta');
    const length = long ? bytes.readUInt32LE(offset + 8) : bytes.readUInt16LE(offset + 6);
    const header = long ? 12 : 8;
    if (length === 0xffffffff || offset + header + length > bytes.length)
      throw notPart10('malformed File Meta');
    if (vr === 'UI') {
      const text = bytes.toString('latin1', offset + header, offset + header + length);
      values.set(tag, text.replace(/[\0 ]+$/, ''));
    }
    offset += header + length;
  }
  const need = (tag: number, name: string): string => {
    const value = values.get(tag);
    if (value === undefined || value === '') throw notPart10(`File Meta lacks ${name}`);
    return value;
  };
  return {
    datasetOffset: offset,
    transferSyntaxUID: need(Tags.TransferSyntaxUID, 'TransferSyntaxUID'),
    sopClassUID: need(Tags.MediaStorageSOPClassUID, 'MediaStorageSOPClassUID'),
    sopInstanceUID: need(Tags.MediaStorageSOPInstanceUID, 'MediaStorageSOPInstanceUID'),
  };
}

/**
 * Preamble, 'DICM' and File Meta to put in front of a data set received over DIMSE: Media
 * Storage SOP class and instance from the command, the presentation context's transfer syntax.
 */
export function fileMetaHeader(
  sopClassUID: string,
  sopInstanceUID: string,
  transferSyntaxUID: string,
): Buffer {
  const meta = new DataSet()
    .set(textElement(Tags.MediaStorageSOPClassUID, 'UI', sopClassUID))
    .set(textElement(Tags.MediaStorageSOPInstanceUID, 'UI', sopInstanceUID));
  return Buffer.concat(writePart10(meta, new DataSet(), { transferSyntaxUID }));
}
