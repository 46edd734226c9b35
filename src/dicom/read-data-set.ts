/**
 * Turns dicom-parser's element index into Veil's DataSet: values stay zero-copy views of the
 * input (little endian), big-endian values are swapped by VR, implicit VRs come from the
 * dictionary, and every dicom-parser failure becomes a VeilError.
 */
import * as dicomParser from 'dicom-parser';
import { swapToLittleEndian, wordSizeOf } from './byte-order';
import { DataSet, elementOf, formatTag, groupOf, type Element, type Tag } from './data-set';
import { dictionaryVrCode, vrOf } from './dictionary';
import {
  readExplicitElement,
  readExplicitElements,
  type ExplicitReadState,
} from './explicit-reader';
import { malformed, translateParserError, truncated } from './parser-errors';
import { Tags } from './tags';

/** How the bytes of one data set are encoded. */
export interface ReadOptions {
  readonly implicit: boolean;
  readonly bigEndian: boolean;
  readonly maxSequenceDepth: number;
  /** Drop (gggg,0000) group lengths of groups other than 0002: retired (PS3.5 7.2) and stale after edits. */
  readonly dropGroupLengths: boolean;
}

/** Every VR of PS3.5 Table 6.2-1; anything else in explicit input is malformed. */
export const VALID_VRS: ReadonlySet<string> = new Set(
  'AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN UR US UT UV'.split(
    ' ',
  ),
);

interface Context extends ReadOptions {
  readonly bytes: Buffer;
  readonly parser: dicomParser.ByteArrayParser;
}

/** Values of the enclosing data set that decide ambiguous VRs and byte swapping of pixels. */
interface PixelContext {
  readonly bitsAllocated: number | undefined;
  readonly pixelRepresentation: number | undefined;
}

const UNDEFINED_LENGTH = 0xffffffff;

function tagOfKey(key: string): Tag {
  return Number.parseInt(key.slice(1), 16) >>> 0;
}

/** dicom-parser's vrCallback for Implicit VR: a VR only for dictionary tags, so private ones are peeked at. */
function implicitVrCallback(key: string): string | undefined {
  const code = dictionaryVrCode(tagOfKey(key));
  if (code === undefined) return undefined;
  return code === 'SQ' ? 'SQ' : vrOf(tagOfKey(key));
}

function checkWarnings(warnings: readonly string[]): void {
  for (const warning of warnings) {
    if (/eof|missing sequence delimiter/i.test(warning))
      throw truncated(`DICOM input ends early (${warning})`);
    throw malformed(`DICOM input is malformed (${warning.slice(0, 200)})`);
  }
}

function uint16At(ctx: Context, el: dicomParser.Element | undefined): number | undefined {
  if (el === undefined || el.length < 2 || el.dataOffset + 2 > ctx.bytes.length) return undefined;
  return ctx.parser.readUint16(ctx.bytes, el.dataOffset);
}

function view(ctx: Context, tag: Tag, offset: number, length: number): Buffer {
  if (offset + length > ctx.bytes.length) {
    throw truncated(`DICOM input ends inside ${formatTag(tag)}`, { tag: formatTag(tag), offset });
  }
  return ctx.bytes.subarray(offset, offset + length);
}

function implicitVr(tag: Tag, pixels: PixelContext): string {
  const code = dictionaryVrCode(tag);
  // PS3.5 A.1 c: Pixel Data in Implicit VR is OW when BitsAllocated > 8, else OB.
  if (tag === Tags.PixelData) return (pixels.bitsAllocated ?? 0) > 8 ? 'OW' : 'OB';
  if (code === 'xs') return pixels.pixelRepresentation === 1 ? 'SS' : 'US';
  return vrOf(tag);
}

/** True when an implicit element holds a sequence dicom-parser did not expand (private tags). */
function isUnexpandedSequence(ctx: Context, el: dicomParser.Element): boolean {
  if (el.hadUndefinedLength === true) return true;
  return (
    el.length >= 8 &&
    el.dataOffset + 4 <= ctx.bytes.length &&
    ctx.parser.readUint16(ctx.bytes, el.dataOffset) === 0xfffe &&
    ctx.parser.readUint16(ctx.bytes, el.dataOffset + 2) === 0xe000
  );
}

function convertItems(
  ctx: Context,
  tag: Tag,
  items: readonly dicomParser.Element[],
  depth: number,
  implicit: boolean,
): DataSet[] {
  if (depth + 1 > ctx.maxSequenceDepth) {
    throw malformed(
      `Sequences nested deeper than ${ctx.maxSequenceDepth} levels at ${formatTag(tag)}`,
    );
  }
  return items.map((item) => {
    if (item.dataSet === undefined)
      throw malformed(`Sequence item without data in ${formatTag(tag)}`);
    return convertDataSet(ctx, item.dataSet, depth + 1, implicit);
  });
}

function convertFragments(ctx: Context, tag: Tag, el: dicomParser.Element): Buffer[] {
  const botLength = ctx.parser.readUint32(ctx.bytes, el.dataOffset + 4);
  const fragments = [view(ctx, tag, el.dataOffset + 8, botLength)];
  for (const fragment of el.fragments ?? []) {
    fragments.push(view(ctx, tag, fragment.position, fragment.length));
  }
  return fragments;
}

function convertElement(
  ctx: Context,
  tag: Tag,
  el: dicomParser.Element,
  depth: number,
  implicit: boolean,
  pixels: PixelContext,
): Element {
  if (el.items !== undefined) {
    // An explicit UN of undefined length holds an Implicit VR LE sequence (PS3.5 6.2.2).
    const itemsImplicit = implicit || el.vr === 'UN';
    return { tag, vr: 'SQ', items: convertItems(ctx, tag, el.items, depth, itemsImplicit) };
  }
  if (implicit && dictionaryVrCode(tag) === 'SQ' && el.length === 0) {
    return { tag, vr: 'SQ', items: [] };
  }
  if (implicit && isUnexpandedSequence(ctx, el)) {
    // dicom-parser drops the items of private sequences in Implicit VR: read them again.
    const copy = {
      tag: el.tag,
      length: el.hadUndefinedLength === true ? UNDEFINED_LENGTH : el.length,
      dataOffset: el.dataOffset,
    } as dicomParser.Element;
    const stream = new dicomParser.ByteStream(ctx.parser, ctx.bytes, el.dataOffset);
    dicomParser.readSequenceItemsImplicit(
      stream,
      copy,
      implicitVrCallback as (tag: string) => string,
    );
    if (stream.warnings.length > 0) checkWarnings(stream.warnings);
    return { tag, vr: 'SQ', items: convertItems(ctx, tag, copy.items ?? [], depth, true) };
  }
  if (el.encapsulatedPixelData === true) {
    return { tag, vr: 'OB', fragments: convertFragments(ctx, tag, el) };
  }
  if (el.hadUndefinedLength === true) {
    throw malformed(
      `${formatTag(tag)} has undefined length but is no sequence or encapsulated Pixel Data`,
    );
  }
  let vr: string;
  if (implicit || el.vr === undefined) vr = implicitVr(tag, pixels);
  else if (VALID_VRS.has(el.vr)) vr = el.vr;
  else
    throw malformed(`${formatTag(tag)} has an invalid VR`, {
      tag: formatTag(tag),
      offset: el.dataOffset,
    });
  let value = view(ctx, tag, el.dataOffset, el.length);
  if (ctx.bigEndian) {
    // 32-bit pixels encoded OW are swapped per pixel, as DCMTK and pydicom read them.
    const word =
      tag === Tags.PixelData && vr === 'OW' && pixels.bitsAllocated === 32 ? 4 : wordSizeOf(vr);
    value = swapToLittleEndian(value, word);
  }
  return { tag, vr, value };
}

function convertDataSet(
  ctx: Context,
  source: dicomParser.DataSet,
  depth: number,
  implicit: boolean,
): DataSet {
  const out = new DataSet();
  const pixels: PixelContext = {
    bitsAllocated: uint16At(ctx, source.elements.x00280100),
    pixelRepresentation: uint16At(ctx, source.elements.x00280103),
  };
  for (const [key, el] of Object.entries(source.elements)) {
    const tag = tagOfKey(key);
    if (tag === Tags.ItemDelimitationItem) continue;
    if (groupOf(tag) === 0xfffe) throw malformed(`Unexpected ${formatTag(tag)} inside a data set`);
    if (ctx.dropGroupLengths && elementOf(tag) === 0 && groupOf(tag) !== 0x0002) continue;
    out.set(convertElement(ctx, tag, el, depth, implicit, pixels));
  }
  return out;
}

function explicitState(ctx: Context, warnings: string[]): ExplicitReadState {
  return {
    warnings,
    maxSequenceDepth: ctx.maxSequenceDepth,
    vrCallback: implicitVrCallback as (tag: string) => string,
  };
}

function parserFor(options: ReadOptions): dicomParser.ByteArrayParser {
  return options.bigEndian
    ? dicomParser.bigEndianByteArrayParser
    : dicomParser.littleEndianByteArrayParser;
}

/** Reads the data set that starts at `position` and runs to the end of `bytes`. */
export function readDataSet(bytes: Buffer, position: number, options: ReadOptions): DataSet {
  if (position >= bytes.length) return new DataSet();
  const ctx: Context = { ...options, bytes, parser: parserFor(options) };
  try {
    const warnings: string[] = [];
    const stream = new dicomParser.ByteStream(ctx.parser, bytes, position);
    stream.warnings = warnings;
    const source = { byteArray: bytes, byteArrayParser: ctx.parser, elements: {}, warnings };
    const dataSet = source as unknown as dicomParser.DataSet;
    if (options.implicit) {
      dicomParser.parseDicomDataSetImplicit(dataSet, stream, bytes.length, {
        untilTag: '',
        vrCallback: implicitVrCallback as (tag: string) => string,
      });
    } else {
      dataSet.elements = readExplicitElements(
        stream,
        bytes.length,
        explicitState(ctx, warnings),
        0,
      );
    }
    checkWarnings(warnings);
    return convertDataSet(ctx, dataSet, 0, options.implicit);
  } catch (err) {
    throw translateParserError(err);
  }
}

/**
 * Reads the File Meta Information (group 0002, always Explicit VR Little Endian, PS3.10 7.1)
 * starting at `position`; returns it and the offset of the first byte after it.
 */
export function readMetaGroup(
  bytes: Buffer,
  position: number,
  maxSequenceDepth: number,
): { meta: DataSet; end: number } {
  const options: ReadOptions = {
    implicit: false,
    bigEndian: false,
    maxSequenceDepth,
    dropGroupLengths: false,
  };
  const ctx: Context = { ...options, bytes, parser: dicomParser.littleEndianByteArrayParser };
  const elements: Record<string, dicomParser.Element> = {};
  let end = position;
  try {
    const warnings: string[] = [];
    if (position < bytes.length) {
      const stream = new dicomParser.ByteStream(ctx.parser, bytes, position);
      while (
        stream.position + 8 <= bytes.length &&
        bytes.readUInt16LE(stream.position) === 0x0002
      ) {
        const el = readExplicitElement(stream, explicitState(ctx, warnings), 0);
        elements[el.tag] = el;
      }
      end = stream.position;
    }
    checkWarnings(warnings);
    const source = { byteArray: bytes, byteArrayParser: ctx.parser, elements, warnings };
    return { meta: convertDataSet(ctx, source as unknown as dicomParser.DataSet, 0, false), end };
  } catch (err) {
    throw translateParserError(err);
  }
}
