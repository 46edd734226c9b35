/**
 * Explicit VR element reading (PS3.5 7.1.2) in dicom-parser's element shape. dicom-parser 1.8.21
 * reads OV, SV and UV with a 2-byte length and then misreads everything after them, so Veil
 * walks explicit elements itself and leaves to dicom-parser what it does right: byte streams,
 * encapsulated fragments (PS3.5 A.4) and Implicit VR sequences inside UN (PS3.5 6.2.2).
 */
import * as dicomParser from 'dicom-parser';
import { VeilError } from '../errors';

/** VRs with a 2-byte reserved field and a 4-byte length (PS3.5 Table 7.1-1). */
const LONG_LENGTH_VRS = new Set('OB OD OF OL OV OW SQ SV UC UN UR UT UV'.split(' '));
const UNDEFINED_LENGTH = 0xffffffff;
const ITEM = 'xfffee000';
const ITEM_DELIMITATION = 'xfffee00d';
const SEQUENCE_DELIMITATION = 'xfffee0dd';

/** Shared state of one read: where warnings go, how deep sequences may nest, implicit VRs. */
export interface ExplicitReadState {
  readonly warnings: string[];
  readonly maxSequenceDepth: number;
  readonly vrCallback: (tag: string) => string;
}

function truncated(what: string, offset: number): VeilError {
  return new VeilError('VEIL_E_DICOM_TRUNCATED', `DICOM input ends inside ${what}`, { offset });
}

function malformed(message: string, offset: number): VeilError {
  return new VeilError('VEIL_E_DICOM_MALFORMED', message, { offset });
}

function describe(tag: string): string {
  return `(${tag.slice(1, 5).toUpperCase()},${tag.slice(5).toUpperCase()})`;
}

/** Reads items of a sequence (defined or undefined length, PS3.5 7.5) into element.items. */
function readItems(
  stream: dicomParser.ByteStream,
  element: dicomParser.Element,
  state: ExplicitReadState,
  depth: number,
): void {
  if (depth + 1 > state.maxSequenceDepth) {
    throw malformed(
      `Sequences nested deeper than ${state.maxSequenceDepth} levels`,
      element.dataOffset,
    );
  }
  const size = stream.byteArray.length;
  const defined = element.length !== UNDEFINED_LENGTH;
  const end = defined ? element.dataOffset + element.length : size;
  if (end > size) throw truncated(`sequence ${describe(element.tag)}`, element.dataOffset);
  element.items = [];
  while (!defined || stream.position < end) {
    if (stream.position + 8 > end)
      throw truncated(`sequence ${describe(element.tag)}`, stream.position);
    const tag = dicomParser.readTag(stream);
    const length = stream.readUint32();
    if (tag === SEQUENCE_DELIMITATION) break;
    if (tag !== ITEM)
      throw malformed(`Expected an item in ${describe(element.tag)}`, stream.position - 8);
    const item = { tag, length, dataOffset: stream.position } as dicomParser.Element;
    let elements: Record<string, dicomParser.Element>;
    if (length === UNDEFINED_LENGTH) {
      item.hadUndefinedLength = true;
      elements = {};
      for (;;) {
        if (stream.position + 8 > size)
          throw truncated(`an item of ${describe(element.tag)}`, stream.position);
        if (dicomParser.readTag(stream) === ITEM_DELIMITATION) {
          stream.seek(4);
          break;
        }
        stream.seek(-4);
        const child = readExplicitElement(stream, state, depth + 1);
        elements[child.tag] = child;
      }
    } else {
      const itemEnd = stream.position + length;
      if (itemEnd > end) throw truncated(`an item of ${describe(element.tag)}`, stream.position);
      elements = readExplicitElements(stream, itemEnd, state, depth + 1);
    }
    item.dataSet = { elements } as dicomParser.DataSet;
    element.items.push(item);
  }
}

/** Reads one explicit element at the stream position and moves past it. */
export function readExplicitElement(
  stream: dicomParser.ByteStream,
  state: ExplicitReadState,
  depth: number,
): dicomParser.Element {
  const start = stream.position;
  if (start + 8 > stream.byteArray.length) throw truncated('an element header', start);
  const tag = dicomParser.readTag(stream);
  if (tag.startsWith('xfffe'))
    throw malformed(`Unexpected ${describe(tag)} inside a data set`, start);
  const vr = stream.readFixedString(2);
  let length: number;
  if (LONG_LENGTH_VRS.has(vr)) {
    if (start + 12 > stream.byteArray.length) throw truncated('an element header', start);
    stream.seek(2);
    length = stream.readUint32();
  } else {
    length = stream.readUint16();
  }
  const element = { tag, vr, length, dataOffset: stream.position } as dicomParser.Element;
  if (vr === 'SQ') {
    readItems(stream, element, state, depth);
    return element;
  }
  if (length === UNDEFINED_LENGTH) {
    element.hadUndefinedLength = true;
    if (tag === 'x7fe00010') {
      dicomParser.findEndOfEncapsulatedElement(stream, element, state.warnings);
    } else if (vr === 'UN') {
      dicomParser.readSequenceItemsImplicit(stream, element, state.vrCallback);
    } else {
      throw malformed(
        `${describe(tag)} has undefined length but is no sequence or encapsulated Pixel Data`,
        start,
      );
    }
    return element;
  }
  if (element.dataOffset + length > stream.byteArray.length) throw truncated(describe(tag), start);
  stream.seek(length);
  return element;
}

/** Reads explicit elements from the stream position up to `end`, keyed like dicom-parser ('xggggeeee'). */
export function readExplicitElements(
  stream: dicomParser.ByteStream,
  end: number,
  state: ExplicitReadState,
  depth: number,
): Record<string, dicomParser.Element> {
  const elements: Record<string, dicomParser.Element> = {};
  while (stream.position < end) {
    const element = readExplicitElement(stream, state, depth);
    elements[element.tag] = element;
    if (stream.position > end) throw truncated(describe(element.tag), element.dataOffset);
  }
  return elements;
}
