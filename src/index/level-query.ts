/**
 * Builds the SQL of one C-FIND / QIDO-RS query level over the denormalised instances table:
 * group by the level's key, take the newest instance of each group as its attributes, count the
 * members, order deterministically, page with LIMIT/OFFSET.
 */
import { VeilError } from '../errors';
import type { CatalogueQuery, CatalogueRow, QueryLevel } from './catalogue';
import type { CompiledMatch, SqlCondition, SqlValue } from './matching';
import { LEVEL_DEPTH, QUERY_KEYS } from './query-keys';

/** SQL text and its parameters in placeholder order. */
export interface LevelSql {
  readonly sql: string;
  readonly params: readonly SqlValue[];
}

const GROUP_COLUMN: Record<Exclude<QueryLevel, 'IMAGE'>, string> = {
  PATIENT: 'patient_key',
  STUDY: 'study_instance_uid',
  SERIES: 'series_instance_uid',
};

// Deterministic orders: newest studies first (what a worklist shows), then UIDs as tie breakers
const ORDER: Record<QueryLevel, string> = {
  PATIENT: 'i.patient_name NULLS LAST, i.patient_id NULLS LAST, i.patient_key',
  STUDY: 'i.study_date DESC NULLS LAST, i.study_time DESC NULLS LAST, i.study_instance_uid',
  SERIES:
    'i.study_date DESC NULLS LAST, i.study_instance_uid, ' +
    'CAST(i.series_number AS INTEGER) NULLS LAST, i.series_instance_uid',
  IMAGE:
    'i.study_date DESC NULLS LAST, i.study_instance_uid, ' +
    'CAST(i.series_number AS INTEGER) NULLS LAST, i.series_instance_uid, ' +
    'CAST(i.instance_number AS INTEGER) NULLS LAST, i.sop_instance_uid',
};

function pageValue(name: 'limit' | 'offset', value: number | undefined, none: number): number {
  if (value === undefined) return none;
  if (!Number.isSafeInteger(value) || value < 0)
    throw new VeilError('VEIL_E_QUERY_INVALID', `${name} must be a non-negative integer`, {
      [name]: String(value),
    });
  return value;
}

/** `AND`-joins the conditions on `alias`, appending their parameters to `params` in order. */
function where(conditions: readonly SqlCondition[], alias: string, params: SqlValue[]): string {
  return conditions
    .map((c) => {
      params.push(...c.params);
      return ` AND ${c.sql(alias)}`;
    })
    .join('');
}

/**
 * The SQL of `query`. Keys at or above the level are matched against each group's newest
 * instance (the newest copy wins); keys below it need any member to match (a study "has" a
 * series with SeriesDescription X), as relational queries allow (PS3.4 C.4.1.2.2).
 */
export function levelSql(query: CatalogueQuery, compiled: CompiledMatch): LevelSql {
  const state = query.state ?? 'archived';
  const limit = pageValue('limit', query.limit, -1);
  const offset = pageValue('offset', query.offset, 0);
  const params: SqlValue[] = [];
  if (query.level === 'IMAGE') {
    params.push(state);
    const conditions = where(compiled.conditions, 'i', params);
    params.push(limit, offset);
    return {
      sql:
        `SELECT i.* FROM instances i WHERE i.state = ?${conditions} ` +
        `ORDER BY ${ORDER.IMAGE} LIMIT ? OFFSET ?`,
      params,
    };
  }
  const depth = LEVEL_DEPTH[query.level];
  const own = compiled.conditions.filter((c) => LEVEL_DEPTH[c.level] <= depth);
  const below = compiled.conditions.filter((c) => LEVEL_DEPTH[c.level] > depth);
  const k = GROUP_COLUMN[query.level];

  params.push(state);
  const candidates =
    `cand AS (SELECT DISTINCT c.${k} AS k FROM instances c WHERE c.state = ?` +
    `${where(own, 'c', params)})`;
  params.push(state);
  const groups =
    `grp AS (SELECT g.${k} AS k, max(g.id) AS newest, count(*) AS n_instances, ` +
    'count(DISTINCT g.series_instance_uid) AS n_series, ' +
    'count(DISTINCT g.study_instance_uid) AS n_studies ' +
    `FROM instances g WHERE g.state = ? AND g.${k} IN (SELECT k FROM cand) GROUP BY g.${k})`;
  let modalities = '';
  if (query.level === 'STUDY') {
    params.push(state);
    modalities =
      ", (SELECT group_concat(mm.modality, '\\' ORDER BY mm.modality) FROM " +
      '(SELECT DISTINCT s.modality FROM instances s WHERE s.study_instance_uid = i.study_instance_uid ' +
      'AND s.state = ? AND s.modality IS NOT NULL) mm) AS modalities_in_study';
  }
  let filter = where(own, 'i', params);
  if (below.length > 0) {
    params.push(state);
    filter +=
      ` AND i.${k} IN (SELECT x.${k} FROM instances x WHERE x.state = ?` +
      `${where(below, 'x', params)})`;
  }
  params.push(limit, offset);
  return {
    sql:
      `WITH ${candidates}, ${groups} ` +
      `SELECT i.*, grp.n_instances, grp.n_series, grp.n_studies${modalities} ` +
      `FROM grp JOIN instances i ON i.id = grp.newest WHERE 1${filter} ` +
      `ORDER BY ${ORDER[query.level]} LIMIT ? OFFSET ?`,
    params,
  };
}

/** Counts and computed keys of a level, by keyword → result column. */
const COMPUTED: Record<QueryLevel, readonly (readonly [string, string])[]> = {
  PATIENT: [
    ['NumberOfPatientRelatedStudies', 'n_studies'],
    ['NumberOfPatientRelatedSeries', 'n_series'],
    ['NumberOfPatientRelatedInstances', 'n_instances'],
  ],
  STUDY: [
    ['ModalitiesInStudy', 'modalities_in_study'],
    ['NumberOfStudyRelatedSeries', 'n_series'],
    ['NumberOfStudyRelatedInstances', 'n_instances'],
  ],
  SERIES: [['NumberOfSeriesRelatedInstances', 'n_instances']],
  IMAGE: [],
};

/**
 * One result row: the attributes of the level and the levels above it (absent values left
 * out), then the level's counts.
 */
export function rowOf(level: QueryLevel, row: Record<string, unknown>): CatalogueRow {
  const out: Record<string, string | number> = {};
  const depth = LEVEL_DEPTH[level];
  for (const key of QUERY_KEYS.values()) {
    if (key.column === undefined || LEVEL_DEPTH[key.level] > depth) continue;
    const value = row[key.column];
    if (typeof value === 'string' || typeof value === 'number') out[key.keyword] = value;
  }
  for (const [keyword, column] of COMPUTED[level]) {
    const value = row[column];
    if (typeof value === 'string' || typeof value === 'number') out[keyword] = value;
  }
  return out;
}
