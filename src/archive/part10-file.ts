/**
 * Splitting a Part 10 file into its File Meta Information and data set bytes, and joining them
 * again (PS3.10 7.1). DIMSE moves data sets without meta, so the DIMSE archive needs both ways,
 * and neither may touch a byte of the data set (private tags included).
 */
import { VEIL_IMPLEMENTATION_CLASS_UID, VEIL_IMPLEMENTATION_VERSION_NAME } from '../dicom/write';
import { VeilError } from '../errors';

/** A data set with what DIMSE needs to send it. */
export interface Part10Parts {
  sopClassUID: string;
  sopInstanceUID: string;
  transferSyntaxUID: string;
  /** The data set bytes after the meta group, untouched. */
  dataset: Buffer;
}

/** The meta Veil's writer puts on protected objects, so an object fetched over DIMSE (which carries
 *  no meta) comes back with the meta it was stored with. */
const IMPLEMENTATION_CLASS_UID = VEIL_IMPLEMENTATION_CLASS_UID;
const IMPLEMENTATION_VERSION = VEIL_IMPLEMENTATION_VERSION_NAME;
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

const malformed = (message: string) => new VeilError('VEIL_E_DICOM_MALFORMED', message);

/** Reads the meta group (Explicit VR Little Endian by PS3.10) and returns the rest untouched. */
export function splitPart10(file: Buffer): Part10Parts {
  if (file.length < 132 || file.toString('latin1', 128, 132) !== 'DICM') {
    throw new VeilError('VEIL_E_DICOM_NOT_DICOM', 'The archived object is not a Part 10 file.');
  }
  const values = new Map<number, string>();
  let pos = 132;
  while (pos + 8 <= file.length && file.readUInt16LE(pos) === 0x0002) {
    const tag = (0x0002 << 16) | file.readUInt16LE(pos + 2);
    const vr = file.toString('latin1', pos + 4, pos + 6);
    let length: number;
    let start: number;
    if (LONG_VRS.has(vr)) {
      if (pos + 12 > file.length) throw malformed('The file meta group is truncated.');
      length = file.readUInt32LE(pos + 8);
      start = pos + 12;
    } else {
      length = file.readUInt16LE(pos + 6);
      start = pos + 8;
    }
    if (start + length > file.length) throw malformed('The file meta group is truncated.');
    values.set(tag, file.toString('latin1', start, start + length).replace(/[\0 ]+$/, ''));
    pos = start + length;
  }
  const need = (tag: number, name: string) => {
    const v = values.get(tag);
    if (!v)
      throw new VeilError(
        'VEIL_E_DICOM_MISSING_ATTRIBUTE',
        `${name} is missing from the file meta.`,
      );
    return v;
  };
  return {
    sopClassUID: need(0x00020002, 'Media Storage SOP Class UID'),
    sopInstanceUID: need(0x00020003, 'Media Storage SOP Instance UID'),
    transferSyntaxUID: need(0x00020010, 'Transfer Syntax UID'),
    dataset: file.subarray(pos),
  };
}

/** Builds a Part 10 file around data set bytes received over DIMSE. */
export function joinPart10(parts: Part10Parts): Buffer {
  const elements = [
    element(0x0001, 'OB', Buffer.from([0, 1])),
    element(0x0002, 'UI', uid(parts.sopClassUID)),
    element(0x0003, 'UI', uid(parts.sopInstanceUID)),
    element(0x0010, 'UI', uid(parts.transferSyntaxUID)),
    element(0x0012, 'UI', uid(IMPLEMENTATION_CLASS_UID)),
    element(0x0013, 'SH', text(IMPLEMENTATION_VERSION)),
  ];
  const body = Buffer.concat(elements);
  const groupLength = Buffer.alloc(4);
  groupLength.writeUInt32LE(body.length);
  return Buffer.concat([
    Buffer.alloc(128),
    Buffer.from('DICM', 'latin1'),
    element(0x0000, 'UL', groupLength),
    body,
    parts.dataset,
  ]);
}

/** UIDs are padded to even length with NUL (PS3.5 9.1). */
function uid(value: string): Buffer {
  return Buffer.from(value.length % 2 ? `${value}\0` : value, 'latin1');
}

function text(value: string): Buffer {
  return Buffer.from(value.length % 2 ? `${value} ` : value, 'latin1');
}

function element(elementNumber: number, vr: string, value: Buffer): Buffer {
  const long = LONG_VRS.has(vr);
  const head = Buffer.alloc(long ? 12 : 8);
  head.writeUInt16LE(0x0002, 0);
  head.writeUInt16LE(elementNumber, 2);
  head.write(vr, 4, 'latin1');
  if (long) head.writeUInt32LE(value.length, 8);
  else head.writeUInt16LE(value.length, 6);
  return Buffer.concat([head, value]);
}
