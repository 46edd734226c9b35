/** Small hand-built DICOM byte streams for the dicom tests. */
import {
  DataSet,
  Tags,
  TransferSyntax,
  encodeDataSet,
  textElement,
  usElement,
  bytesElement,
  type Element,
} from '../../src/dicom';

/** Explicit VR LE meta group with the given transfer syntax, including (0002,0000). */
export function metaBytes(transferSyntax: string): Buffer {
  const meta = new DataSet()
    .set(bytesElement(0x00020001, 'OB', Buffer.from([0, 1])))
    .set(textElement(Tags.MediaStorageSOPClassUID, 'UI', '1.2.840.10008.5.1.4.1.1.7'))
    .set(textElement(Tags.MediaStorageSOPInstanceUID, 'UI', '1.2.3.4'))
    .set(textElement(Tags.TransferSyntaxUID, 'UI', transferSyntax));
  const body = encodeDataSet(meta);
  const length = Buffer.alloc(4);
  length.writeUInt32LE(body.length);
  return Buffer.concat([
    encodeDataSet(new DataSet().set(bytesElement(0x00020000, 'UL', length))),
    body,
  ]);
}

/** A Part 10 file: zero preamble, DICM, meta, then `body` as given (any encoding). */
export function part10(transferSyntax: string, body: Buffer): Buffer {
  return Buffer.concat([Buffer.alloc(128), Buffer.from('DICM'), metaBytes(transferSyntax), body]);
}

/** A small 8-bit monochrome image data set with the given pixel bytes. */
export function imageDataSet(rows: number, columns: number, pixels: Buffer, bits = 8): DataSet {
  return new DataSet()
    .set(textElement(Tags.SOPClassUID, 'UI', '1.2.840.10008.5.1.4.1.1.7'))
    .set(textElement(Tags.SOPInstanceUID, 'UI', '1.2.3.4'))
    .set(textElement(Tags.PatientName, 'PN', 'Test^Patient'))
    .set(usElement(Tags.SamplesPerPixel, 1))
    .set(textElement(Tags.PhotometricInterpretation, 'CS', 'MONOCHROME2'))
    .set(usElement(Tags.Rows, rows))
    .set(usElement(Tags.Columns, columns))
    .set(usElement(Tags.BitsAllocated, bits))
    .set(usElement(Tags.BitsStored, bits))
    .set(usElement(Tags.HighBit, bits - 1))
    .set(usElement(Tags.PixelRepresentation, 0))
    .set(bytesElement(Tags.PixelData, bits > 8 ? 'OW' : 'OB', pixels));
}

/** Implicit VR LE encoding of one element with a plain value. */
export function implicitElement(tag: number, value: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt16LE(tag >>> 16, 0);
  head.writeUInt16LE(tag & 0xffff, 2);
  head.writeUInt32LE(value.length, 4);
  return Buffer.concat([head, value]);
}

/** Raw tag + 4-byte length header (items, delimiters, implicit elements). */
export function tagLength(tag: number, length: number): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt16LE(tag >>> 16, 0);
  head.writeUInt16LE(tag & 0xffff, 2);
  head.writeUInt32LE(length >>> 0, 4);
  return head;
}

/** Explicit VR LE element header with a 4-byte length (OB, SQ, UN... and OV/SV/UV). */
export function longHeader(tag: number, vr: string, length: number): Buffer {
  const head = Buffer.alloc(12);
  head.writeUInt16LE(tag >>> 16, 0);
  head.writeUInt16LE(tag & 0xffff, 2);
  head.write(vr, 4, 'latin1');
  head.writeUInt32LE(length >>> 0, 8);
  return head;
}

/** Explicit VR LE bytes of `depth` nested undefined-length sequences (0008,1115) > ... */
export function nestedSequences(depth: number): Buffer {
  const open: Buffer[] = [];
  const close: Buffer[] = [];
  for (let i = 0; i < depth; i++) {
    open.push(longHeader(0x00081115, 'SQ', 0xffffffff), tagLength(Tags.Item, 0xffffffff));
    close.push(
      tagLength(Tags.ItemDelimitationItem, 0),
      tagLength(Tags.SequenceDelimitationItem, 0),
    );
  }
  return Buffer.concat([...open, ...close]);
}

/** Implicit VR LE bytes of `depth` nested undefined-length sequences (0008,1115) > ... */
export function implicitNestedSequences(depth: number): Buffer {
  const open = tagLength(0x00081115, 0xffffffff);
  const item = tagLength(Tags.Item, 0xffffffff);
  const close = Buffer.concat([
    tagLength(Tags.ItemDelimitationItem, 0),
    tagLength(Tags.SequenceDelimitationItem, 0),
  ]);
  const parts: Buffer[] = [];
  for (let i = 0; i < depth; i++) parts.push(open, item);
  for (let i = 0; i < depth; i++) parts.push(close);
  return Buffer.concat(parts);
}

/** The value of an element, asserting it is a plain value. */
export function valueOf(element: Element | undefined): Buffer {
  if (element?.value === undefined) throw new Error('element has no value');
  return element.value;
}

export { TransferSyntax };
