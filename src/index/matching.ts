/**
 * DICOM attribute matching (PS3.4 C.2.2.2) compiled to SQL conditions with bound parameters.
 * Column names come from QUERY_KEYS only; every value from the query travels as a parameter,
 * so no input ever becomes SQL text.
 */
import { isUid } from '../archive/archive';
import { VeilError } from '../errors';
import type { InstanceState, QueryLevel } from './catalogue';
import { type QueryKey, QUERY_KEYS } from './query-keys';

/** A value bound to a `?` placeholder. */
export type SqlValue = string | number;

/** One compiled matching key: `sql(alias)` reads columns of `alias` and binds `params` in order. */
export interface SqlCondition {
  readonly keyword: string;
  /** Level of the key's attribute: the level query applies it to a group's row or to any member. */
  readonly level: QueryLevel;
  sql(alias: string): string;
  readonly params: readonly SqlValue[];
}

/** The conditions of a query and the keys that took no part in matching. */
export interface CompiledMatch {
  readonly conditions: readonly SqlCondition[];
  /** Keys the catalogue does not know at all (any value); the doors decide to 400 or ignore. */
  readonly unknownKeys: readonly string[];
  /** Known keys given a non-universal value they cannot be matched on (counts): ignored. */
  readonly ignoredKeys: readonly string[];
}

/** Options of compileMatch. */
export interface MatchOptions {
  /** PN keys match case-insensitively, by component prefix (QIDO-RS fuzzymatching=true). */
  fuzzy?: boolean;
  /** State of the instances a ModalitiesInStudy sub-query looks at (default 'archived'). */
  state?: InstanceState;
}

/** A lower and/or upper bound of a range match, ready for string comparison. */
export interface RangeBounds {
  lower?: string;
  upper?: string;
}

const invalid = (keyword: string, why: string): VeilError =>
  new VeilError('VEIL_E_QUERY_INVALID', `Query key ${keyword}: ${why}`, { keyword });

/** Empty or only `*`: universal matching (PS3.4 C.2.2.2.3), no condition at all. */
function isUniversal(value: string): boolean {
  return value === '' || /^\*+$/.test(value);
}

function hasWildcard(value: string): boolean {
  return value.includes('*') || value.includes('?');
}

/** DICOM `*`/`?` to a case-sensitive SQLite GLOB pattern; `[` and `]` made literal. */
export function wildcardToGlob(value: string): string {
  return value.replace(/[[\]]/g, (c) => (c === '[' ? '[[]' : '[]]'));
}

/** DICOM `*`/`?` to a LIKE pattern with `\` as escape; `%`, `_` and `\` made literal. */
export function wildcardToLike(value: string): string {
  return value.replace(/[\\%_*?]/g, (c) => (c === '*' ? '%' : c === '?' ? '_' : `\\${c}`));
}

const FORMATS = {
  date: /^\d{8}$/,
  time: /^\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?$/,
  datetime: /^\d{4}(\d{2}(\d{2}(\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?)?)?)?$/,
} as const;

/** Latest instant a partial TM/DT value stands for, so "-1015" includes 10:15:59 (PS3.4 C.2.2.2.5). */
function upperOf(kind: 'date' | 'time' | 'datetime', value: string): string {
  if (kind === 'date') return value;
  const template = kind === 'time' ? '235959' : '00001231235959';
  const [digits, fraction] = value.split('.') as [string, string | undefined];
  const whole = digits + template.slice(digits.length);
  return `${whole}.${(fraction ?? '').padEnd(6, '9')}`;
}

/**
 * Parses a DA/TM/DT match value into bounds: "A" (single), "A-", "-B", "A-B" (PS3.4
 * C.2.2.2.5). Accepts the ACR-NEMA forms with dots and colons; DT offsets are ignored.
 */
export function parseRange(
  kind: 'date' | 'time' | 'datetime',
  value: string,
  keyword: string = kind,
): RangeBounds {
  const clean = (part: string): string => {
    let text = part.trim();
    if (kind === 'date') text = text.replace(/\./g, '');
    if (kind === 'time') text = text.replace(/:/g, '');
    if (kind === 'datetime') text = text.replace(/[+-]\d{4}$/, '');
    // The value is not echoed: a client may have put a patient ID or name in the wrong key, and
    // the message reaches error bodies and logs.
    if (!FORMATS[kind].test(text)) throw invalid(keyword, `the value is not a valid ${kind}`);
    return text;
  };
  const dash = kind === 'datetime' ? /^([^-]*)-([^-]*)$/ : /^(.*)-(.*)$/;
  const range = dash.exec(value);
  if (range === null) {
    const single = clean(value);
    return { lower: single, upper: kind === 'date' ? single : upperOf(kind, single) };
  }
  const [, from, to] = range as unknown as [string, string, string];
  if (from.trim() === '' && to.trim() === '') throw invalid(keyword, 'a range needs a bound');
  const bounds: RangeBounds = {};
  if (from.trim() !== '') bounds.lower = clean(from);
  if (to.trim() !== '') bounds.upper = upperOf(kind, clean(to));
  if (bounds.lower !== undefined && bounds.upper !== undefined && bounds.lower > bounds.upper)
    throw invalid(keyword, 'the range ends before it starts');
  return bounds;
}

function condition(
  key: QueryKey,
  build: (column: string) => string,
  params: SqlValue[],
): SqlCondition {
  const column = key.column as string;
  return {
    keyword: key.keyword,
    level: key.level,
    sql: (alias) => build(`${alias}.${column}`),
    params,
  };
}

/** Single value (exact, case-sensitive) or wildcard (GLOB) match of one alternative. */
function textCondition(key: QueryKey, alternatives: string[]): SqlCondition {
  const parts = alternatives.map((v) => (hasWildcard(v) ? 'GLOB' : '='));
  const values = alternatives.map((v) => (hasWildcard(v) ? wildcardToGlob(v) : v));
  return condition(key, (c) => `(${parts.map((op) => `${c} ${op} ?`).join(' OR ')})`, values);
}

/** QIDO fuzzy PN: case-insensitive, the value a prefix of any name component (PS3.18 8.3.4.1). */
function fuzzyNameCondition(key: QueryKey, value: string): SqlCondition {
  const lowered = value.replace(/[A-Z]/g, (c) => c.toLowerCase());
  const pattern = `%^${wildcardToLike(lowered)}%`;
  return condition(
    key,
    (c) => `('^' || lower(replace(replace(${c}, '=', '^'), ' ', '^'))) LIKE ? ESCAPE '\\'`,
    [pattern],
  );
}

function rangeCondition(key: QueryKey, bounds: RangeBounds): SqlCondition {
  if (bounds.lower !== undefined && bounds.lower === bounds.upper)
    return condition(key, (c) => `${c} = ?`, [bounds.lower]);
  const params: SqlValue[] = [];
  const tests: string[] = [];
  if (bounds.lower !== undefined) {
    tests.push('>= ?');
    params.push(bounds.lower);
  }
  if (bounds.upper !== undefined) {
    tests.push('<= ?');
    params.push(bounds.upper);
  }
  return condition(key, (c) => `(${tests.map((t) => `${c} ${t}`).join(' AND ')})`, params);
}

function uidList(key: QueryKey, value: string): string[] {
  const uids = value.split('\\').map((u) => u.trim().replace(/\0+$/, ''));
  for (const uid of uids)
    if (!isUid(uid))
      throw new VeilError('VEIL_E_UID_INVALID', `Query key ${key.keyword} holds an invalid UID`, {
        keyword: key.keyword,
      });
  return [...new Set(uids)];
}

function inList(count: number): string {
  return `(${new Array<string>(count).fill('?').join(', ')})`;
}

function compileKey(key: QueryKey, raw: string, options: MatchOptions): SqlCondition {
  // Trailing padding is never significant; leading spaces are for all but the text VRs (PS3.5 6.2)
  const value = key.kind === 'text' || key.kind === 'pn' ? raw.replace(/[\0 ]+$/, '') : raw.trim();
  switch (key.kind) {
    case 'uid': {
      const uids = uidList(key, value);
      return condition(key, (c) => `${c} IN ${inList(uids.length)}`, uids);
    }
    case 'date':
    case 'time':
    case 'datetime':
      return rangeCondition(key, parseRange(key.kind, value, key.keyword));
    case 'pn':
      return options.fuzzy ? fuzzyNameCondition(key, value) : textCondition(key, [value]);
    case 'text':
      return textCondition(key, [value]);
    case 'code':
      return textCondition(key, [...new Set(value.split('\\').map((v) => v.trim()))]);
    case 'integer-string':
      if (!/^[+-]?\d{1,12}$/.test(value)) throw invalid(key.keyword, 'expects an integer');
      return condition(key, (c) => `CAST(${c} AS INTEGER) = ?`, [Number.parseInt(value, 10)]);
    case 'number':
      if (!/^\d{1,12}$/.test(value)) throw invalid(key.keyword, 'expects an integer');
      return condition(key, (c) => `${c} = ?`, [Number.parseInt(value, 10)]);
    case 'modalities': {
      // A study matches when any of its series has one of the modalities (PS3.4 C.6.2.1.2)
      const modalities = [...new Set(value.split('\\').map((v) => v.trim()))];
      const state = options.state ?? 'archived';
      const anyOf = modalities.map((m) =>
        hasWildcard(m) ? 'm.modality GLOB ?' : 'm.modality = ?',
      );
      const params = modalities.map((m) => (hasWildcard(m) ? wildcardToGlob(m) : m));
      return {
        keyword: key.keyword,
        level: key.level,
        sql: (alias) =>
          `${alias}.study_instance_uid IN (SELECT m.study_instance_uid FROM instances m ` +
          `WHERE m.state = ? AND (${anyOf.join(' OR ')}))`,
        params: [state, ...params],
      };
    }
    case 'count':
      throw new Error(`count key ${key.keyword} cannot be compiled`);
  }
}

/**
 * Compiles the match keys of a query. Universal values (empty, `*`) add no condition; unknown
 * keys and non-empty count keys are reported, not matched. Throws VEIL_E_QUERY_INVALID or
 * VEIL_E_UID_INVALID for values their matching type does not allow.
 */
export function compileMatch(
  match: Readonly<Record<string, string>>,
  options: MatchOptions = {},
): CompiledMatch {
  const conditions: SqlCondition[] = [];
  const unknownKeys: string[] = [];
  const ignoredKeys: string[] = [];
  for (const [keyword, raw] of Object.entries(match)) {
    const key = QUERY_KEYS.get(keyword);
    if (key === undefined) {
      unknownKeys.push(keyword);
      continue;
    }
    const value = String(raw ?? '');
    if (isUniversal(value.trim())) continue;
    if (key.kind === 'count') {
      ignoredKeys.push(keyword);
      continue;
    }
    conditions.push(compileKey(key, value, options));
  }
  return { conditions, unknownKeys, ignoredKeys };
}
