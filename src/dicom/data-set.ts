/**
 * Veil's in-memory DICOM model: an ordered map of elements whose values are raw little-endian
 * bytes. Values are kept as bytes (never re-formatted numbers or strings) so that a round trip
 * returns every element byte for byte, private tags included.
 */

/** A tag as one number: (group << 16) | element, e.g. 0x7fe00010 for Pixel Data. */
export type Tag = number;

/** One data element. Exactly one of `value`, `items`, `fragments` is set. */
export interface Element {
  readonly tag: Tag;
  /** Two-letter VR. For Implicit VR input it comes from the data dictionary ('UN' when unknown). */
  readonly vr: string;
  /** Value bytes in little-endian byte order (swapped from big endian input). May be a zero-copy view. */
  value?: Buffer;
  /** Items of a sequence (VR SQ). */
  items?: DataSet[];
  /** Encapsulated Pixel Data: fragments[0] is the Basic Offset Table (possibly empty), then the fragments. */
  fragments?: Buffer[];
}

/** Formats a tag as (gggg,eeee) for messages. */
export function formatTag(tag: Tag): string {
  const hex = (tag >>> 0).toString(16).padStart(8, '0').toUpperCase();
  return `(${hex.slice(0, 4)},${hex.slice(4)})`;
}

/** Builds a tag from group and element numbers. */
export function makeTag(group: number, element: number): Tag {
  return ((group & 0xffff) * 0x10000 + (element & 0xffff)) >>> 0;
}

/** Group number of a tag. */
export function groupOf(tag: Tag): number {
  return tag >>> 16;
}

/** Element number of a tag. */
export function elementOf(tag: Tag): number {
  return tag & 0xffff;
}

/** True for tags of odd groups (private data elements and private creators). */
export function isPrivateTag(tag: Tag): boolean {
  return (groupOf(tag) & 1) === 1;
}

const TEXT_VRS = new Set([
  'AE',
  'AS',
  'CS',
  'DA',
  'DS',
  'DT',
  'IS',
  'LO',
  'LT',
  'PN',
  'SH',
  'ST',
  'TM',
  'UC',
  'UR',
  'UT',
  'UI',
]);

/** True for VRs whose value is character data. */
export function isTextVr(vr: string): boolean {
  return TEXT_VRS.has(vr);
}

/** A data set: elements keyed by tag; `tags()` gives them in ascending order as written. */
export class DataSet {
  readonly elements = new Map<Tag, Element>();

  get(tag: Tag): Element | undefined {
    return this.elements.get(tag >>> 0);
  }

  has(tag: Tag): boolean {
    return this.elements.has(tag >>> 0);
  }

  set(element: Element): this {
    this.elements.set(element.tag >>> 0, element);
    return this;
  }

  delete(tag: Tag): boolean {
    return this.elements.delete(tag >>> 0);
  }

  /** Tags in ascending order, the order elements are encoded in. */
  tags(): Tag[] {
    return [...this.elements.keys()].sort((a, b) => a - b);
  }

  get size(): number {
    return this.elements.size;
  }

  /**
   * The value of a text element as a string (latin1, trailing spaces and NULs trimmed), or
   * undefined when absent or empty. Multi-valued strings keep their backslashes.
   */
  string(tag: Tag): string | undefined {
    const value = this.get(tag)?.value;
    if (value === undefined || value.length === 0) return undefined;
    const text = value.toString('latin1').replace(/[\0 ]+$/, '');
    return text.length === 0 ? undefined : text;
  }

  /** First value of a US element (or a numeric IS string), or undefined. */
  uint16(tag: Tag): number | undefined {
    const el = this.get(tag);
    if (el?.value === undefined) return undefined;
    if (el.vr === 'IS' || el.vr === 'DS') {
      const n = Number.parseInt(el.value.toString('latin1').trim(), 10);
      return Number.isFinite(n) ? n : undefined;
    }
    if (el.value.length < 2) return undefined;
    return el.value.readUInt16LE(0);
  }

  /** First value of an integer string (IS) element, or undefined. */
  integerString(tag: Tag): number | undefined {
    const text = this.string(tag);
    if (text === undefined) return undefined;
    const n = Number.parseInt(text.split('\\')[0]!.trim(), 10);
    return Number.isFinite(n) ? n : undefined;
  }

  /** A shallow copy: the element map is new, element objects and value buffers are shared. */
  clone(): DataSet {
    const copy = new DataSet();
    for (const el of this.elements.values()) copy.set({ ...el });
    return copy;
  }
}

/**
 * Encodes a string value with DICOM padding: even length, padded with NUL for UI and a space
 * for other text VRs (PS3.5 6.2).
 */
export function textValue(vr: string, text: string): Buffer {
  const bytes = Buffer.from(text, 'latin1');
  if (bytes.length % 2 === 0) return bytes;
  return Buffer.concat([bytes, Buffer.from([vr === 'UI' ? 0 : 0x20])]);
}

/** Makes a text element (the string is stored latin1, padded to even length). */
export function textElement(tag: Tag, vr: string, text: string): Element {
  return { tag: tag >>> 0, vr, value: textValue(vr, text) };
}

/** Makes a US element from one or more unsigned 16-bit values. */
export function usElement(tag: Tag, ...values: number[]): Element {
  const value = Buffer.alloc(values.length * 2);
  values.forEach((v, i) => value.writeUInt16LE(v, i * 2));
  return { tag: tag >>> 0, vr: 'US', value };
}

/** Makes a binary (OB/UN/OW...) element holding `bytes`. */
export function bytesElement(tag: Tag, vr: string, bytes: Buffer): Element {
  return { tag: tag >>> 0, vr, value: bytes };
}

/** Makes a sequence element. */
export function sequenceElement(tag: Tag, items: DataSet[]): Element {
  return { tag: tag >>> 0, vr: 'SQ', items };
}
