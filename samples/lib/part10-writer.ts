/**
 * A minimal DICOM Part 10 writer for the samples: Explicit VR Little Endian only, defined lengths
 * everywhere, elements sorted by tag. Independent of src/dicom so the samples never depend on the
 * code they test, and byte-for-byte deterministic.
 */

/** The value representations the samples use (PS3.5 6.2). */
export type Vr =
  | 'AE'
  | 'AT'
  | 'CS'
  | 'DA'
  | 'DS'
  | 'IS'
  | 'LO'
  | 'LT'
  | 'OB'
  | 'OW'
  | 'PN'
  | 'SH'
  | 'SL'
  | 'SQ'
  | 'SS'
  | 'ST'
  | 'TM'
  | 'UI'
  | 'UL'
  | 'US';

/** One data element: text VRs take strings (multi-valued as arrays), binary VRs numbers or bytes. */
export interface Element {
  readonly tag: number;
  readonly vr: Vr;
  readonly value:
    string | readonly string[] | number | readonly number[] | Buffer | readonly Element[][];
}

/** Shorthand for an element; `tag` is 0xGGGGEEEE. */
export function el(tag: number, vr: Vr, value: Element['value']): Element {
  return { tag, vr, value };
}

/** VRs with a 2-byte reserved field and a 4-byte length in explicit VR (PS3.5 7.1.2). */
const LONG_VRS = new Set<Vr>(['OB', 'OW', 'SQ']);
const NUMERIC: Partial<
  Record<Vr, { size: number; write: (b: Buffer, v: number, o: number) => void }>
> = {
  US: { size: 2, write: (b, v, o) => b.writeUInt16LE(v, o) },
  SS: { size: 2, write: (b, v, o) => b.writeInt16LE(v, o) },
  UL: { size: 4, write: (b, v, o) => b.writeUInt32LE(v, o) },
  SL: { size: 4, write: (b, v, o) => b.writeInt32LE(v, o) },
};

function valueBytes(element: Element): Buffer {
  const { vr, value } = element;
  if (vr === 'SQ') {
    const items = (value as readonly Element[][]).map((item) => {
      const body = encodeDataSet(item);
      const head = Buffer.alloc(8);
      head.writeUInt16LE(0xfffe, 0); // Item (FFFE,E000) with defined length, PS3.5 7.5
      head.writeUInt16LE(0xe000, 2);
      head.writeUInt32LE(body.length, 4);
      return Buffer.concat([head, body]);
    });
    return Buffer.concat(items);
  }
  if (vr === 'AT') {
    const tags = typeof value === 'number' ? [value] : (value as readonly number[]);
    const b = Buffer.alloc(tags.length * 4);
    tags.forEach((t, i) => {
      b.writeUInt16LE(t >>> 16, i * 4);
      b.writeUInt16LE(t & 0xffff, i * 4 + 2);
    });
    return b;
  }
  const numeric = NUMERIC[vr];
  if (numeric) {
    const values = typeof value === 'number' ? [value] : (value as readonly number[]);
    const b = Buffer.alloc(values.length * numeric.size);
    values.forEach((v, i) => numeric.write(b, v, i * numeric.size));
    return b;
  }
  if (vr === 'OB' || vr === 'OW') {
    const bytes = value as Buffer;
    return bytes.length % 2 === 0 ? bytes : Buffer.concat([bytes, Buffer.alloc(1)]);
  }
  const text = typeof value === 'string' ? value : (value as readonly string[]).join('\\');
  const bytes = Buffer.from(text, 'latin1');
  if (bytes.length % 2 === 0) return bytes;
  // Even length (PS3.5 7.1.1): UIDs pad with NUL, other text with a space
  return Buffer.concat([bytes, Buffer.from(vr === 'UI' ? [0] : [0x20])]);
}

function encodeElement(element: Element): Buffer {
  const value = valueBytes(element);
  const long = LONG_VRS.has(element.vr);
  if (!long && value.length > 0xffff)
    throw new Error(`value of ${element.tag.toString(16)} too long`);
  const head = Buffer.alloc(long ? 12 : 8);
  head.writeUInt16LE(element.tag >>> 16, 0);
  head.writeUInt16LE(element.tag & 0xffff, 2);
  head.write(element.vr, 4, 'latin1');
  if (long) head.writeUInt32LE(value.length, 8);
  else head.writeUInt16LE(value.length, 6);
  return Buffer.concat([head, value]);
}

/** Encodes a data set in Explicit VR Little Endian, sorted by tag as PS3.5 7.1 requires. */
export function encodeDataSet(elements: readonly Element[]): Buffer {
  const sorted = [...elements].sort((a, b) => a.tag - b.tag);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].tag === sorted[i - 1].tag)
      throw new Error(`duplicate tag ${sorted[i].tag.toString(16)}`);
  }
  return Buffer.concat(sorted.map(encodeElement));
}

/** File Meta Information fields that vary per file (PS3.10 7.1). */
export interface FileMeta {
  sopClassUID: string;
  sopInstanceUID: string;
  implementationClassUID: string;
  implementationVersionName: string;
}

const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';

/** A complete Part 10 file: 128-byte preamble, "DICM", group 0002 with its length, then the data set. */
export function writePart10(dataSet: readonly Element[], meta: FileMeta): Buffer {
  const group2 = encodeDataSet([
    el(0x00020001, 'OB', Buffer.from([0x00, 0x01])),
    el(0x00020002, 'UI', meta.sopClassUID),
    el(0x00020003, 'UI', meta.sopInstanceUID),
    el(0x00020010, 'UI', EXPLICIT_VR_LITTLE_ENDIAN),
    el(0x00020012, 'UI', meta.implementationClassUID),
    el(0x00020013, 'SH', meta.implementationVersionName),
  ]);
  const groupLength = encodeElement(el(0x00020000, 'UL', group2.length));
  return Buffer.concat([
    Buffer.alloc(128),
    Buffer.from('DICM', 'latin1'),
    groupLength,
    group2,
    encodeDataSet(dataSet),
  ]);
}
