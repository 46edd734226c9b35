/**
 * QIDO-RS query parameters (PS3.18 8.3.4) into a CatalogueQuery: attribute keys by keyword or tag,
 * includefield, limit, offset, fuzzymatching. Anything else is a 400 naming the parameter.
 */
import { isUid } from '../archive/archive';
import { keywordOf, tagOfKeyword, vrOf } from '../dicom/dictionary';
import { VeilError } from '../errors';
import type { CatalogueQuery, QueryLevel } from '../index/catalogue';

/** A parsed QIDO-RS request: what to ask the catalogue and which attributes to return. */
export interface QidoRequest {
  query: CatalogueQuery;
  /** Keywords named by includefield; undefined when includefield=all. */
  include: Set<string> | undefined;
}

/** A keyword or an 8-hex-digit tag → the keyword; undefined when neither. */
export function keywordOfParam(name: string): string | undefined {
  if (/^[0-9A-Fa-f]{8}$/.test(name)) return keywordOf(Number.parseInt(name, 16));
  return tagOfKeyword(name) !== undefined ? name : undefined;
}

function bad(message: string, param: string): VeilError {
  return new VeilError('VEIL_E_HTTP_BAD_REQUEST', message, { param: param.slice(0, 64) });
}

function nonNegative(name: string, value: string): number {
  if (!/^[0-9]{1,9}$/.test(value)) {
    throw new VeilError('VEIL_E_QUERY_INVALID', `${name} must be a non-negative integer`, {
      param: name,
    });
  }
  return Number(value);
}

/**
 * Builds the catalogue query from the URL's search parameters and the UIDs of the path. UID
 * values may list several UIDs separated by commas or backslashes (PS3.18 8.3.4.1).
 */
export function parseQidoParams(
  params: URLSearchParams,
  level: QueryLevel,
  fromPath: Readonly<Record<string, string>>,
): QidoRequest {
  const match: Record<string, string> = {};
  let include: Set<string> | undefined = new Set();
  let limit: number | undefined;
  let offset: number | undefined;
  let fuzzy = false;
  for (const [name, value] of params) {
    switch (name.toLowerCase()) {
      case 'includefield':
        for (const field of value.split(',')) {
          if (field === 'all') include = undefined;
          else {
            const keyword = keywordOfParam(field);
            if (keyword === undefined) throw bad('includefield names an unknown attribute', field);
            include?.add(keyword);
          }
        }
        continue;
      case 'limit':
        limit = nonNegative('limit', value);
        continue;
      case 'offset':
        offset = nonNegative('offset', value);
        continue;
      case 'fuzzymatching':
        if (value !== 'true' && value !== 'false')
          throw bad('fuzzymatching must be true or false', name);
        fuzzy = value === 'true';
        continue;
    }
    if (name.includes('.')) throw bad('Nested (sequence) query keys are not supported', name);
    const keyword = keywordOfParam(name);
    if (keyword === undefined) throw bad('Unknown query parameter or attribute', name);
    if (match[keyword] !== undefined) throw bad('A query attribute is given twice', keyword);
    match[keyword] = vrOf(tagOfKeyword(keyword)!) === 'UI' ? uidList(keyword, value) : value;
  }
  for (const [keyword, uid] of Object.entries(fromPath)) match[keyword] = uid;
  const query: CatalogueQuery = { level, match, fuzzy };
  if (limit !== undefined) query.limit = limit;
  if (offset !== undefined) query.offset = offset;
  return { query, include };
}

/** Normalises a UID list to DICOM's backslash form, rejecting anything that is not a UID. */
function uidList(keyword: string, value: string): string {
  if (value === '') return '';
  const uids = value.split(/[,\\]/);
  if (!uids.every((u) => isUid(u))) {
    throw new VeilError('VEIL_E_UID_INVALID', `${keyword} holds a value that is not a UID`, {
      param: keyword,
    });
  }
  return uids.join('\\');
}
