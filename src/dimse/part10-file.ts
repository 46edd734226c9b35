/**
 * The two ends of a DIMSE transfer in Part 10 terms (PS3.10 7.1): the File Meta written in front
 * of a received data set, and the data set bytes cut out of a file to send. The data set itself
 * is never re-encoded here, so private tags and every byte travel unchanged.
 */
import { VeilError } from '../errors';
import { DataSet, textElement } from '../dicom/data-set';
import { Tags } from '../dicom/tags';
import { writePart10 } from '../dicom/write';

/**
 * Preamble, 'DICM' and File Meta for an instance received by C-STORE: Media Storage SOP class
 * and instance from the command, Transfer Syntax UID from the accepted presentation context.
 */
export function part10Header(
  sopClassUID: string,
  sopInstanceUID: string,
  transferSyntaxUID: string,
): Buffer {
  const meta = new DataSet()
    .set(textElement(Tags.MediaStorageSOPClassUID, 'UI', sopClassUID))
    .set(textElement(Tags.MediaStorageSOPInstanceUID, 'UI', sopInstanceUID));
  return Buffer.concat(writePart10(meta, new DataSet(), { transferSyntaxUID }));
}

/** Where the data set starts in a Part 10 file, and what its File Meta says. */
export interface Part10Header {
  /** Byte offset of the first data set element (after the meta group). */
  datasetOffset: number;
  transferSyntaxUID: string;
  sopClassUID: string;
  sopInstanceUID: string;
}

const notPart10 = (why: string) =>
  new VeilError('VEIL_E_DICOM_NOT_DICOM', `Cannot send the object: ${why}`);

/**
 * Reads the File Meta of a Part 10 file (always Explicit VR Little Endian, PS3.10 7.1) element
 * by element, without trusting the group length, to find where the data set begins.
 */
export function readPart10Header(bytes: Buffer): Part10Header {
  if (bytes.length < 132 || bytes.toString('latin1', 128, 132) !== 'DICM')
    throw notPart10('no DICM prefix');
  const values = new Map<number, string>();
  let offset = 132;
  while (offset + 8 <= bytes.length && bytes.readUInt16LE(offset) === 0x0002) {
    const tag = (0x0002 * 0x10000 + bytes.readUInt16LE(offset + 2)) >>> 0;
    const vr = bytes.toString('latin1', offset + 4, offset + 6);
    let length: number;
    let header: number;
    if (
      ['OB', 'OW', 'OF', 'SQ', 'UT', 'UN', 'UC', 'UR', 'OD', 'OL', 'OV', 'SV', 'UV'].includes(vr)
    ) {
      if (offset + 12 > bytes.length) throw notPart10('truncated File Meta');
      length = bytes.readUInt32LE(offset + 8);
      header = 12;
    } else {
      length = bytes.readUInt16LE(offset + 6);
      header = 8;
    }
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
