/**
 * Header de-identification: the PS3.15 Annex E Basic Application Level Confidentiality Profile
 * with the Retain UIDs Option, applied in place, and its exact inverse. The original values it
 * returns become the Modified Attributes Sequence (0400,0550) of the Encrypted Attributes
 * Sequence (0400,0500), so gdcmanon -d and reveal() restore the header (PS3.15 E.1.1).
 */
import { createHmac } from 'node:crypto';
import {
  DataSet,
  type Element,
  type Tag,
  groupOf,
  isPrivateTag,
  sequenceElement,
  textElement,
  textValue,
} from '../dicom/data-set';
import { Tags } from '../dicom/tags';
import { VeilError } from '../errors';
import { basicProfileRowFor, type VeilAction } from './basic-profile-table';

/** Options of {@link deidentify}. */
export interface DeidentifyOptions {
  /** Secret for pseudonyms: PatientID' = HMAC-SHA-256(key, original PatientID bytes), rendered
   *  "VEIL-" + 20 uppercase base32 chars; PatientName' = "VEIL^" + the same 20 chars. Stable for one
   *  patient across instances, studies and restarts, so an archive still groups by patient.
   *  At least 16 bytes. */
  pseudonymKey: Buffer;
}

/** What {@link deidentify} changed, enough to undo it with {@link reidentify}. */
export interface DeidentifyResult {
  /** The ORIGINAL top-level elements that were replaced, emptied or removed (whole top-level
   *  sequence element when anything inside it changed), plus SOP Instance UID (0008,0018) always
   *  (PS3.15 E.1.1 and gdcmanon -d need it). This becomes the Modified Attributes Sequence item. */
  original: DataSet;
  /** Tags that were absent before and were added by de-identification (e.g. (0012,0062),
   *  (0012,0063), (0012,0064) when not present), so re-identification can remove them again. */
  added: number[];
  /** Elements (at any depth) given a dummy value or a pseudonym. */
  replaced: number;
  /** Elements (at any depth) given a zero-length value or, for sequences, no items. */
  emptied: number;
  /** Elements (at any depth) removed, private ones included. */
  removed: number;
}

/** Shortest accepted pseudonym key: 128 bits, so pseudonyms cannot be brute-forced by key. */
const MIN_KEY_BYTES = 16;
const FRAME_OF_REFERENCE_UID = 0x00200052;
const CODE_VALUE = 0x00080100;
const CODING_SCHEME_DESIGNATOR = 0x00080102;
const CODE_MEANING = 0x00080104;

/** Never changed whatever the table says: the UIDs the protection format keys on (DESIGN.md §1). */
const UNTOUCHABLE = new Set<Tag>([
  Tags.SOPInstanceUID,
  Tags.StudyInstanceUID,
  Tags.SeriesInstanceUID,
  FRAME_OF_REFERENCE_UID,
  Tags.EncryptedAttributesSequence,
]);

/**
 * De-identification Method (0012,0063) is LO (at most 64 characters per value, PS3.5 6.2), so
 * the method text is written as two values.
 */
const METHOD_VALUES = [
  'Veil v1: PS3.15 Basic Application Confidentiality Profile',
  'Retain UIDs Option',
];

/** CID 7050 codes for the profile and option applied (PS3.16, DCM 113100 and 113110). */
const METHOD_CODES: readonly (readonly [string, string])[] = [
  ['113100', 'Basic Application Confidentiality Profile'],
  ['113110', 'Retain UIDs Option'],
];

/** Dummy text per VR for D (PS3.5 6.2 formats); other text VRs get DUMMY_TEXT. */
const DUMMY_BY_VR: Readonly<Record<string, string>> = {
  DA: '19000101',
  TM: '000000',
  DT: '19000101000000',
  AS: '000Y',
  IS: '0',
  DS: '0',
};
const DUMMY_TEXT = 'ANONYMIZED';
/** Width of one value of the fixed-size binary VRs: D gives one zero value. */
const BINARY_WIDTH: Readonly<Record<string, number>> = {
  US: 2,
  SS: 2,
  UL: 4,
  SL: 4,
  FL: 4,
  AT: 4,
  FD: 8,
  SV: 8,
  UV: 8,
};
/** VRs that carry names, free text, dates or times: dummied inside a sequence whose action is D. */
const IDENTIFYING_VRS = new Set([
  'AE',
  'AS',
  'DA',
  'DT',
  'TM',
  'LO',
  'LT',
  'PN',
  'SH',
  'ST',
  'UC',
  'UT',
]);

interface Context {
  readonly key: Buffer;
  /** Pseudonym of the top-level Patient ID, used for names in items that carry no Patient ID. */
  readonly topPseudonym: string | undefined;
  replaced: number;
  emptied: number;
  removed: number;
}

/** Applies the Basic Profile with Retain UIDs in place: D → dummy of the right VR (pseudonyms for
 *  PatientID / PatientName; "19000101"/"000000"/"ANONYMIZED"-style dummies elsewhere), Z → empty
 *  value, X → removed; all private elements (odd groups) removed; nested sequences handled
 *  recursively (record the whole original top-level sequence). Then sets Patient Identity Removed,
 *  De-identification Method and its Code Sequence. Never touches group 0002, Pixel Data
 *  (7FE0,xxxx), (0400,0500), nor SOP/Study/Series/Frame of Reference UIDs. */
export function deidentify(dataset: DataSet, options: DeidentifyOptions): DeidentifyResult {
  checkKey(options.pseudonymKey);
  const ctx: Context = {
    key: options.pseudonymKey,
    topPseudonym: itemPseudonym(dataset, options.pseudonymKey),
    replaced: 0,
    emptied: 0,
    removed: 0,
  };
  const original = new DataSet();
  for (const tag of dataset.tags()) {
    const element = dataset.get(tag)!;
    if (groupOf(tag) === 0x0002 || groupOf(tag) === 0x7fe0 || UNTOUCHABLE.has(tag)) continue;
    const outcome = transform(element, ctx, ctx.topPseudonym, false);
    if (outcome === undefined) continue;
    // The old element object is never mutated (transform builds new ones), so it stays intact.
    original.set(element);
    if (outcome === null) dataset.delete(tag);
    else dataset.set(outcome);
  }

  const added: number[] = [];
  const mark = (element: Element): void => {
    const existing = dataset.get(element.tag);
    if (existing === undefined) added.push(element.tag);
    else if (!original.has(element.tag)) original.set(existing);
    dataset.set(element);
  };
  mark(textElement(Tags.PatientIdentityRemoved, 'CS', 'YES'));
  mark(textElement(Tags.DeidentificationMethod, 'LO', METHOD_VALUES.join('\\')));
  mark(sequenceElement(Tags.DeidentificationMethodCodeSequence, METHOD_CODES.map(codeItem)));

  const sopInstanceUid = dataset.get(Tags.SOPInstanceUID);
  if (sopInstanceUid !== undefined) original.set(sopInstanceUid);
  return { original, added, replaced: ctx.replaced, emptied: ctx.emptied, removed: ctx.removed };
}

/** Re-identifies in place: removes `added` tags, then puts every element of `original` back.
 *  After it, the data set equals the one given to deidentify (element for element). Refuses
 *  originals recorded for another SOP instance. */
export function reidentify(dataset: DataSet, original: DataSet, added: number[]): void {
  const recorded = original.get(Tags.SOPInstanceUID)?.value;
  const current = dataset.get(Tags.SOPInstanceUID)?.value;
  if (recorded !== undefined && current !== undefined && !recorded.equals(current)) {
    throw new VeilError(
      'VEIL_E_REVEAL_INSTANCE_MISMATCH',
      'The original attributes were recorded for another SOP instance.',
    );
  }
  for (const tag of added) {
    if (!Number.isInteger(tag) || tag < 0 || tag > 0xffffffff) {
      throw new VeilError('VEIL_E_REVEAL_FORMAT', 'The list of added tags holds a non-tag value.');
    }
  }
  for (const tag of added) dataset.delete(tag);
  for (const element of original.elements.values()) dataset.set(element);
}

/** Pseudonym for one Patient ID (exported for the index and tests): 20 uppercase RFC 4648
 *  base32 characters (100 bits) of HMAC-SHA-256(key, patientId). */
export function pseudonymFor(pseudonymKey: Buffer, patientId: Buffer): string {
  checkKey(pseudonymKey);
  return base32(createHmac('sha256', pseudonymKey).update(patientId).digest()).slice(0, 20);
}

function checkKey(key: Buffer): void {
  if (!Buffer.isBuffer(key) || key.length < MIN_KEY_BYTES) {
    throw new VeilError(
      'VEIL_E_KEY_INVALID',
      `The pseudonym key must be a Buffer of at least ${MIN_KEY_BYTES} bytes.`,
    );
  }
}

/**
 * The element that replaces `element`: undefined when unchanged, null when removed. Never mutates
 * `element` or its items. `dummyAll` is set inside a sequence whose action is D, where PS3.15 E.1.1
 * applies the action to "the Sequence and all of its contents": names, text, dates and times get
 * dummies too, codes (CS), UIDs and numbers stay (E.1.1 notes 9 and 10).
 */
function transform(
  element: Element,
  ctx: Context,
  pseudonym: string | undefined,
  dummyAll: boolean,
): Element | null | undefined {
  const { tag } = element;
  if (isPrivateTag(tag)) {
    ctx.removed++;
    return null;
  }
  if (tag === Tags.PatientID) return replacePatientId(element, ctx);
  if (tag === Tags.PatientName) return replacePatientName(element, ctx, pseudonym);
  const row = basicProfileRowFor(tag);
  let action: VeilAction = row?.action ?? 'K';
  if (row === undefined && dummyAll && IDENTIFYING_VRS.has(element.vr)) action = 'D';
  if (element.items !== undefined) return transformSequence(element, action, ctx, dummyAll);
  switch (action) {
    case 'X':
      ctx.removed++;
      return null;
    case 'Z':
      if (element.fragments === undefined && (element.value?.length ?? 0) === 0) return undefined;
      ctx.emptied++;
      return { tag, vr: element.vr, value: Buffer.alloc(0) };
    case 'D': {
      const value = dummyValue(
        element.vr === 'UN' && row !== undefined ? row.vr : element.vr,
        element,
      );
      if (value === undefined || (element.value !== undefined && element.value.equals(value))) {
        return undefined;
      }
      ctx.replaced++;
      return { tag, vr: element.vr, value };
    }
    case 'K':
      return undefined;
  }
}

function transformSequence(
  element: Element,
  action: VeilAction,
  ctx: Context,
  dummyAll: boolean,
): Element | null | undefined {
  const items = element.items!;
  if (action === 'X') {
    ctx.removed++;
    return null;
  }
  if (action === 'Z') {
    if (items.length === 0) return undefined;
    ctx.emptied++;
    return { tag: element.tag, vr: element.vr, items: [] };
  }
  // K keeps the sequence and cleans every item recursively (PS3.15 E.1.1); D does the same and
  // also dummies the identifying values inside.
  let changed = false;
  const cleaned = items.map((item) => {
    const next = transformItem(item, ctx, dummyAll || action === 'D');
    if (next !== item) changed = true;
    return next;
  });
  return changed ? { tag: element.tag, vr: element.vr, items: cleaned } : undefined;
}

/** A de-identified copy of one item, or the item itself when nothing in it changes. */
function transformItem(item: DataSet, ctx: Context, dummyAll: boolean): DataSet {
  const pseudonym = itemPseudonym(item, ctx.key) ?? ctx.topPseudonym;
  let copy: DataSet | undefined;
  for (const tag of item.tags()) {
    const outcome = transform(item.get(tag)!, ctx, pseudonym, dummyAll);
    if (outcome === undefined) continue;
    copy ??= item.clone();
    if (outcome === null) copy.delete(tag);
    else copy.set(outcome);
  }
  return copy ?? item;
}

function replacePatientId(element: Element, ctx: Context): Element | undefined {
  const id = significantBytes(element.value);
  if (id.length === 0) return undefined;
  ctx.replaced++;
  return {
    tag: element.tag,
    vr: element.vr,
    value: textValue('LO', `VEIL-${pseudonymFor(ctx.key, id)}`),
  };
}

/** Patient's Name follows the Patient ID of its item; with no Patient ID anywhere it is emptied. */
function replacePatientName(
  element: Element,
  ctx: Context,
  pseudonym: string | undefined,
): Element | undefined {
  if (pseudonym === undefined) {
    if ((element.value?.length ?? 0) === 0) return undefined;
    ctx.emptied++;
    return { tag: element.tag, vr: element.vr, value: Buffer.alloc(0) };
  }
  const value = textValue('PN', `VEIL^${pseudonym}`);
  if (element.value?.equals(value)) return undefined;
  ctx.replaced++;
  return { tag: element.tag, vr: element.vr, value };
}

function itemPseudonym(item: DataSet, key: Buffer): string | undefined {
  const id = significantBytes(item.get(Tags.PatientID)?.value);
  return id.length === 0 ? undefined : pseudonymFor(key, id);
}

/**
 * Patient ID bytes without padding: LO leading and trailing spaces are not significant (PS3.5
 * 6.2) and some writers pad with NUL, so the same patient gets the same pseudonym from any sender.
 */
function significantBytes(value: Buffer | undefined): Buffer {
  if (value === undefined) return Buffer.alloc(0);
  let start = 0;
  let end = value.length;
  while (end > start && (value[end - 1] === 0x20 || value[end - 1] === 0x00)) end--;
  while (start < end && value[start] === 0x20) start++;
  return value.subarray(start, end);
}

/** A non-empty dummy consistent with the VR, or undefined when none is safe (UIDs are retained). */
function dummyValue(vr: string, element: Element): Buffer | undefined {
  if (vr === 'UI' || vr === 'SQ') return undefined;
  const width = BINARY_WIDTH[vr];
  if (width !== undefined) return Buffer.alloc(width);
  if (['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'UN'].includes(vr)) {
    // Same length as before (at least one even-length word) of zeros: no content, same shape.
    return Buffer.alloc(Math.max(2, element.value?.length ?? 0));
  }
  return textValue(vr, DUMMY_BY_VR[vr] ?? DUMMY_TEXT);
}

function codeItem([value, meaning]: readonly [string, string]): DataSet {
  return new DataSet()
    .set(textElement(CODE_VALUE, 'SH', value))
    .set(textElement(CODING_SCHEME_DESIGNATOR, 'SH', 'DCM'))
    .set(textElement(CODE_MEANING, 'LO', meaning));
}

const BASE32_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 base32 without padding. */
function base32(bytes: Buffer): string {
  let out = '';
  let bits = 0;
  let acc = 0;
  for (const byte of bytes) {
    acc = (acc << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32_ALPHABET[(acc >>> (bits - 5)) & 31];
      bits -= 5;
    }
    acc &= (1 << bits) - 1;
  }
  if (bits > 0) out += BASE32_ALPHABET[(acc << (5 - bits)) & 31];
  return out;
}
