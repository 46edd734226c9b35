/**
 * The DICOM JSON Model (PS3.18 F.2): data sets and catalogue rows as application/dicom+json.
 * Tags are 8 upper-case hex digits; each attribute is {vr, Value | InlineBinary | BulkDataURI}.
 */
import { keywordOf, tagOfKeyword, vrOf } from '../dicom/dictionary';
import type { DataSet, Element } from '../dicom/data-set';
import { Tags } from '../dicom/tags';

/** One attribute of the JSON model. */
export interface DicomJsonAttribute {
  vr: string;
  Value?: unknown[];
  InlineBinary?: string;
  BulkDataURI?: string;
}

/** A data set in the JSON model: tag (8 hex digits) → attribute. */
export type DicomJsonObject = Record<string, DicomJsonAttribute>;

/** Options of dataSetToJson. */
export interface DataSetJsonOptions {
  /** Binary values larger than this are not inline (default 65536 bytes). */
  maxInlineBinary?: number;
  /**
   * Where the bulk data of a top-level attribute is served (Pixel Data and binary values above
   * maxInlineBinary get a BulkDataURI); without it they are listed with their VR only.
   */
  bulkDataUri?: (tag: number) => string;
}

const NUMBER_VRS: Readonly<
  Record<string, { size: number; read: (b: Buffer, o: number) => number | bigint }>
> = {
  US: { size: 2, read: (b, o) => b.readUInt16LE(o) },
  SS: { size: 2, read: (b, o) => b.readInt16LE(o) },
  UL: { size: 4, read: (b, o) => b.readUInt32LE(o) },
  SL: { size: 4, read: (b, o) => b.readInt32LE(o) },
  FL: { size: 4, read: (b, o) => b.readFloatLE(o) },
  FD: { size: 8, read: (b, o) => b.readDoubleLE(o) },
  UV: { size: 8, read: (b, o) => b.readBigUInt64LE(o) },
  SV: { size: 8, read: (b, o) => b.readBigInt64LE(o) },
};
/** Text VRs holding exactly one value, in which a backslash is an ordinary character (PS3.5 6.2). */
const SINGLE_TEXT = new Set(['LT', 'ST', 'UT', 'UR']);
const STRING_VRS = new Set([
  'AE',
  'AS',
  'CS',
  'DA',
  'DT',
  'LO',
  'SH',
  'TM',
  'UC',
  'UI',
  ...SINGLE_TEXT,
]);

/** 8 upper-case hex digits of a tag, the JSON model's key. */
export function tagKey(tag: number): string {
  return (tag >>> 0).toString(16).padStart(8, '0').toUpperCase();
}

/** A PN value as the JSON model's object: up to three component groups split at '=' (PS3.18 F.2.2). */
export function personName(value: string): Record<string, string> | null {
  if (value === '') return null;
  const [alphabetic, ideographic, phonetic] = value.split('=');
  const out: Record<string, string> = {};
  if (alphabetic) out.Alphabetic = alphabetic;
  if (ideographic) out.Ideographic = ideographic;
  if (phonetic) out.Phonetic = phonetic;
  return out;
}

/** A DS/IS string as a JSON number (kept as a string when it is not a finite number). */
function decimal(text: string): number | string | null {
  const t = text.trim();
  if (t === '') return null;
  const n = Number(t);
  return Number.isFinite(n) ? n : t;
}

/** JSON values of a textual attribute given as one string (multi-values separated by '\'). */
export function textValues(vr: string, text: string): unknown[] {
  const parts = SINGLE_TEXT.has(vr) ? [text] : text.split('\\');
  return parts.map((p) => {
    if (vr === 'PN') return personName(p.trim());
    if (vr === 'DS' || vr === 'IS') return decimal(p);
    const v = vr === 'UI' ? p.replace(/\0+$/, '').trim() : p.trim();
    return v === '' ? null : v;
  });
}

function binaryValues(el: Element): unknown[] {
  const spec = NUMBER_VRS[el.vr]!;
  const b = el.value!;
  const out: unknown[] = [];
  for (let o = 0; o + spec.size <= b.length; o += spec.size) {
    const v = spec.read(b, o);
    // Past 2^53 a JSON number loses digits; PS3.18 F.2.3.1 allows a string instead.
    out.push(
      typeof v === 'bigint'
        ? v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER)
          ? Number(v)
          : v.toString()
        : v,
    );
  }
  return out;
}

function attributeOf(
  el: Element,
  utf8: boolean,
  maxInline: number,
  bulk?: (tag: number) => string,
): DicomJsonAttribute {
  const vr = el.vr;
  if (el.items)
    return {
      vr,
      Value: el.items.map((item) => dataSetToJson(item, { maxInlineBinary: maxInline })),
    };
  if (el.fragments) return bulk ? { vr, BulkDataURI: bulk(el.tag) } : { vr };
  const value = el.value;
  if (value === undefined || value.length === 0) return { vr };
  if (NUMBER_VRS[vr]) return { vr, Value: binaryValues(el) };
  if (vr === 'AT') {
    const tags: string[] = [];
    for (let o = 0; o + 4 <= value.length; o += 4) {
      tags.push(tagKey(value.readUInt16LE(o) * 0x10000 + value.readUInt16LE(o + 2)));
    }
    return { vr, Value: tags };
  }
  if (STRING_VRS.has(vr) || vr === 'PN' || vr === 'DS' || vr === 'IS') {
    const text = value.toString(utf8 ? 'utf8' : 'latin1').replace(/[\0 ]+$/, '');
    if (text === '') return { vr };
    return { vr, Value: textValues(vr, text) };
  }
  // OB, OW, OD, OF, OL, OV, UN: small values inline, large ones (and Pixel Data) as bulk data.
  if (value.length > maxInline || el.tag === Tags.PixelData)
    return bulk ? { vr, BulkDataURI: bulk(el.tag) } : { vr };
  return { vr, InlineBinary: value.toString('base64') };
}

/**
 * A data set in the JSON model. Pixel Data and binary values above `maxInlineBinary` get a
 * BulkDataURI from `bulkDataUri` (top level only), or their VR alone; the rest is inline.
 */
export function dataSetToJson(ds: DataSet, options: DataSetJsonOptions = {}): DicomJsonObject {
  const maxInline = options.maxInlineBinary ?? 65536;
  const charset = ds.string(Tags.SpecificCharacterSet) ?? '';
  const utf8 = /ISO_IR 192/.test(charset);
  const out: DicomJsonObject = {};
  for (const tag of ds.tags()) {
    out[tagKey(tag)] = attributeOf(ds.get(tag)!, utf8, maxInline, options.bulkDataUri);
  }
  return out;
}

/** True for the VRs whose values are bulk data when large (PS3.18 F.2.7). */
export function isBinaryVr(vr: string): boolean {
  return ['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'UN'].includes(vr);
}

/** One catalogue value (keyword → string or number) as a JSON attribute, or undefined for unknown keywords. */
export function keywordAttribute(
  keyword: string,
  value: string | number,
): [string, DicomJsonAttribute] | undefined {
  const tag = tagOfKeyword(keyword);
  if (tag === undefined) return undefined;
  const vr = vrOf(tag);
  if (typeof value === 'number') return [tagKey(tag), { vr, Value: [value] }];
  if (value === '') return [tagKey(tag), { vr }];
  const numeric = NUMBER_VRS[vr] !== undefined;
  const values = numeric ? value.split('\\').map((v) => Number(v)) : textValues(vr, value);
  return [tagKey(tag), { vr, Value: values }];
}

/** The keyword of an 8-hex-digit tag key, for messages and filters. */
export function keywordOfKey(key: string): string | undefined {
  return keywordOf(Number.parseInt(key, 16));
}
