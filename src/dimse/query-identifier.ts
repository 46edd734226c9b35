/**
 * C-FIND identifiers (PS3.4 C.4.1.1.3) to and from Veil's catalogue terms. The request arrives
 * naturalized by dcmjs (keyword → value), which is fine here: query identifiers carry no private
 * tags. Matching itself (wildcards, ranges, UID lists) is the catalogue's, in DICOM syntax.
 */
import { VeilError } from '../errors';
import { tagOfKeyword, vrOf } from '../dicom/dictionary';
import type { CatalogueQuery, CatalogueRow, QueryLevel } from '../index/catalogue';
import type { InformationModel } from './sop-classes';

/** A naturalized dcmjs data set. */
export type NaturalizedElements = Record<string, unknown>;

const LEVELS: readonly QueryLevel[] = ['PATIENT', 'STUDY', 'SERIES', 'IMAGE'];
/** Keys that steer the query rather than match (PS3.4 C.4.1.1.3.1, C.4.1.1.3.2). */
const CONTROL_KEYS = new Set(['QueryRetrieveLevel', 'SpecificCharacterSet']);

/** A naturalized value as DICOM text: multi-values joined by \, PN groups by = (PS3.5 6.2). */
export function textOf(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (Array.isArray(value)) return value.map(textOf).join('\\');
  if (typeof value === 'object') {
    const pn = value as { Alphabetic?: string; Ideographic?: string; Phonetic?: string };
    return [pn.Alphabetic ?? '', pn.Ideographic ?? '', pn.Phonetic ?? '']
      .join('=')
      .replace(/=+$/, '');
  }
  return String(value).trim();
}

/** The keyword's VR from the data dictionary, or undefined for unknown (e.g. private) keys. */
function vrOfKeyword(keyword: string): string | undefined {
  const tag = tagOfKeyword(keyword);
  return tag === undefined ? undefined : vrOf(tag);
}

/** A C-FIND request in catalogue terms, and the keys to return. */
export interface ParsedFind {
  query: CatalogueQuery;
  /** Requested keywords in request order (matching and return keys), for the responses. */
  returnKeys: string[];
  specificCharacterSet?: string;
}

/** Reads Query/Retrieve Level; VEIL_E_DICOM_MISSING_ATTRIBUTE (0xA900) when absent or wrong for the model. */
export function queryLevelOf(elements: NaturalizedElements, model: InformationModel): QueryLevel {
  const level = textOf(elements.QueryRetrieveLevel).toUpperCase() as QueryLevel;
  if (!LEVELS.includes(level))
    throw new VeilError(
      'VEIL_E_DICOM_MISSING_ATTRIBUTE',
      'QueryRetrieveLevel (0008,0052) is missing or not PATIENT, STUDY, SERIES or IMAGE',
    );
  // PS3.4 C.6.2: the Study Root model has no PATIENT level.
  if (model === 'STUDY' && level === 'PATIENT')
    throw new VeilError(
      'VEIL_E_DICOM_MISSING_ATTRIBUTE',
      'The Study Root information model has no PATIENT level',
    );
  return level;
}

/** Maps a C-FIND identifier to a CatalogueQuery: every known, non-sequence keyword is a key. */
export function parseFindIdentifier(
  elements: NaturalizedElements,
  model: InformationModel,
): ParsedFind {
  const level = queryLevelOf(elements, model);
  const match: Record<string, string> = {};
  const returnKeys: string[] = [];
  for (const [keyword, value] of Object.entries(elements)) {
    if (keyword.startsWith('_') || CONTROL_KEYS.has(keyword)) continue;
    const vr = vrOfKeyword(keyword);
    // Sequence matching (PS3.4 C.2.2.2.6) and private keys are not supported: ignored.
    if (vr === undefined || vr === 'SQ') continue;
    match[keyword] = textOf(value);
    returnKeys.push(keyword);
  }
  const charset = textOf(elements.SpecificCharacterSet);
  return {
    query: { level, match },
    returnKeys,
    specificCharacterSet: charset === '' ? undefined : charset,
  };
}

/** A catalogue value in the naturalized form dcmjs writes for the keyword's VR. */
function naturalize(keyword: string, value: string | number): unknown {
  const vr = vrOfKeyword(keyword);
  const text = String(value);
  if (vr === 'PN') return text.split('\\').map((name) => ({ Alphabetic: name }));
  if (vr === 'US' || vr === 'UL' || vr === 'SS' || vr === 'SL') return text.split('\\').map(Number);
  return text.includes('\\') ? text.split('\\') : text;
}

/**
 * One pending C-FIND response identifier: the requested keys only (empty when the row has no
 * value), plus Query/Retrieve Level and Specific Character Set (PS3.4 C.4.1.1.3.2).
 */
export function responseIdentifier(
  row: CatalogueRow,
  parsed: ParsedFind,
  retrieveAeTitle: string,
): NaturalizedElements {
  const out: NaturalizedElements = {};
  const charset = row.SpecificCharacterSet ?? parsed.specificCharacterSet;
  if (charset !== undefined && charset !== '')
    out.SpecificCharacterSet = naturalize('SpecificCharacterSet', charset);
  out.QueryRetrieveLevel = parsed.query.level;
  for (const keyword of parsed.returnKeys) {
    const value = keyword === 'RetrieveAETitle' ? retrieveAeTitle : row[keyword];
    out[keyword] = value === undefined || value === '' ? '' : naturalize(keyword, value);
  }
  return out;
}
