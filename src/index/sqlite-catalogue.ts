/**
 * The catalogue in one SQLite file (better-sqlite3 12, WAL). SECURITY: this file is the only
 * clear copy of patient identity at rest (names, IDs, birth dates are needed for C-FIND/QIDO
 * matching); it is created mode 0600 — keep it on an encrypted volume (docs/index.md).
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { VeilError } from '../errors';
import type {
  ArchivedProtection,
  Catalogue,
  CatalogueQuery,
  CatalogueRow,
  InstanceRecord,
  InstanceState,
  PendingCommitment,
} from './catalogue';
import { levelSql, rowOf } from './level-query';
import { type CompiledMatch, compileMatch } from './matching';
import { migrate } from './sqlite-schema';

type Row = Record<string, unknown>;

/** InstanceRecord field → column, in the table's order. */
const FIELDS: readonly (readonly [keyof InstanceRecord, string])[] = [
  ['sopInstanceUID', 'sop_instance_uid'],
  ['studyInstanceUID', 'study_instance_uid'],
  ['seriesInstanceUID', 'series_instance_uid'],
  ['sopClassUID', 'sop_class_uid'],
  ['patientID', 'patient_id'],
  ['patientName', 'patient_name'],
  ['patientBirthDate', 'patient_birth_date'],
  ['patientSex', 'patient_sex'],
  ['issuerOfPatientID', 'issuer_of_patient_id'],
  ['studyDate', 'study_date'],
  ['studyTime', 'study_time'],
  ['studyDescription', 'study_description'],
  ['studyID', 'study_id'],
  ['accessionNumber', 'accession_number'],
  ['referringPhysicianName', 'referring_physician_name'],
  ['modality', 'modality'],
  ['seriesNumber', 'series_number'],
  ['seriesDescription', 'series_description'],
  ['bodyPartExamined', 'body_part_examined'],
  ['instanceNumber', 'instance_number'],
  ['rows', 'rows'],
  ['columns', 'columns'],
  ['numberOfFrames', 'number_of_frames'],
  ['bitsAllocated', 'bits_allocated'],
  ['transferSyntaxUID', 'transfer_syntax_uid'],
  ['bytes', 'bytes'],
  ['state', 'state'],
  ['errorCode', 'error_code'],
  ['receivedAt', 'received_at'],
  ['archivedAt', 'archived_at'],
  ['protectionMac', 'protection_mac'],
  ['pendingMac', 'pending_mac'],
  ['keyIds', 'key_ids'],
];

/** Key ids are stored space separated (hex ids never contain a space). */
function keyIdsColumn(keyIds: readonly string[] | undefined): string | null {
  return keyIds === undefined ? null : keyIds.join(' ');
}

function keyIdsOf(value: unknown): string[] {
  return typeof value === 'string' && value !== '' ? value.split(' ') : [];
}

const STATES: readonly InstanceState[] = ['received', 'archived', 'failed'];

/** Groups instances of one patient: Patient ID qualified by its issuer (PS3.3 C.7.1.1). */
function patientKey(record: InstanceRecord): string {
  return `${record.patientID ?? ''}\\${record.issuerOfPatientID ?? ''}`;
}

function recordOf(row: Row): InstanceRecord {
  const out: Record<string, unknown> = {};
  for (const [field, column] of FIELDS) {
    const value = row[column];
    if (value === null || value === undefined) continue;
    out[field] = field === 'keyIds' ? keyIdsOf(value) : value;
  }
  return out as unknown as InstanceRecord;
}

/** Opens the file 0600 (creating it and its folder), so the WAL and SHM files inherit 0600. */
function prepareFile(file: string): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true, mode: 0o700 });
  fs.closeSync(fs.openSync(file, 'a', 0o600));
  fs.chmodSync(file, 0o600);
}

/**
 * SQLite implementation of Catalogue: one denormalised row per instance, levels by GROUP BY.
 * Holds patient identity in clear (matching needs it): file mode 0600, disk encryption advised.
 */
export class SqliteCatalogue implements Catalogue {
  private readonly db: Database.Database;
  private readonly statements: {
    upsert: Database.Statement;
    get: Database.Statement;
    setState: Database.Statement;
    counts: Database.Statement;
    setPending: Database.Statement;
    setProtection: Database.Statement;
    saveCommitment: Database.Statement;
    removeCommitment: Database.Statement;
    pendingCommitments: Database.Statement;
  };
  private closed = false;

  private constructor(db: Database.Database) {
    this.db = db;
    const columns = ['patient_key', ...FIELDS.map(([, c]) => c)];
    this.statements = {
      // REPLACE deletes the old row and inserts a new one with a higher id: the newest copy wins
      upsert: db.prepare(
        `INSERT OR REPLACE INTO instances (${columns.join(', ')}) ` +
          `VALUES (${columns.map((c) => `@${c}`).join(', ')})`,
      ),
      get: db.prepare('SELECT * FROM instances WHERE sop_instance_uid = ?'),
      setState: db.prepare(
        'UPDATE instances SET state = @state, error_code = @errorCode, ' +
          "archived_at = CASE WHEN @state = 'archived' THEN coalesce(archived_at, @now) " +
          'ELSE archived_at END WHERE sop_instance_uid = @uid',
      ),
      counts: db.prepare('SELECT state, count(*) AS n FROM instances GROUP BY state'),
      setPending: db.prepare(
        'UPDATE instances SET pending_mac = @mac WHERE sop_instance_uid = @uid',
      ),
      setProtection: db.prepare(
        'UPDATE instances SET protection_mac = @mac, pending_mac = NULL, key_ids = @keyIds, ' +
          'bytes = coalesce(@bytes, bytes) WHERE sop_instance_uid = @uid AND ' +
          '(protection_mac = @previous OR pending_mac = @previous)',
      ),
      saveCommitment: db.prepare(
        'INSERT OR IGNORE INTO storage_commitments (calling_ae, transaction_uid, items, deadline) ' +
          'VALUES (@ae, @uid, @items, @deadline)',
      ),
      removeCommitment: db.prepare(
        'DELETE FROM storage_commitments WHERE calling_ae = @ae AND transaction_uid = @uid',
      ),
      pendingCommitments: db.prepare(
        'SELECT calling_ae, transaction_uid, items, deadline FROM storage_commitments ' +
          'ORDER BY rowid',
      ),
    };
  }

  /**
   * Opens (creating when absent, mode 0600, parent folder included) and migrates the catalogue
   * at `file`; ':memory:' gives a private in-memory catalogue for tests.
   */
  static open(file: string): SqliteCatalogue {
    const memory = file === ':memory:';
    if (!memory) prepareFile(file);
    let db: Database.Database;
    try {
      db = new Database(file);
    } catch (err) {
      throw new VeilError('VEIL_E_IO', 'The index file cannot be opened', {}, { cause: err });
    }
    try {
      if (!memory) db.pragma('journal_mode = WAL');
      // WAL with synchronous NORMAL is durable across process crashes, the case that matters here
      db.pragma('synchronous = NORMAL');
      db.pragma('busy_timeout = 5000');
      migrate(db);
    } catch (err) {
      db.close();
      if (err instanceof VeilError) throw err;
      throw new VeilError(
        'VEIL_E_IO',
        'The index file is not a Veil catalogue',
        {},
        { cause: err },
      );
    }
    return new SqliteCatalogue(db);
  }

  upsert(record: InstanceRecord): void {
    const values: Record<string, unknown> = { patient_key: patientKey(record) };
    for (const [field, column] of FIELDS) values[column] = record[field] ?? null;
    values.key_ids = keyIdsColumn(record.keyIds);
    this.statements.upsert.run(values);
  }

  setPending(sopInstanceUID: string, protectionMac: string): void {
    this.statements.setPending.run({ uid: sopInstanceUID, mac: protectionMac });
  }

  setProtection(
    sopInstanceUID: string,
    update: { previousMac: string; protectionMac: string; keyIds: string[]; bytes?: number },
  ): boolean {
    const result = this.statements.setProtection.run({
      uid: sopInstanceUID,
      mac: update.protectionMac,
      keyIds: keyIdsColumn(update.keyIds),
      bytes: update.bytes ?? null,
      previous: update.previousMac,
    });
    return result.changes > 0;
  }

  /** Archived instances (UIDs, MAC, key ids only: no patient data), by study, series, SOP UID. */
  archivedProtections(keyId?: string): ArchivedProtection[] {
    let sql =
      'SELECT study_instance_uid, series_instance_uid, sop_instance_uid, protection_mac, key_ids ' +
      "FROM instances WHERE state = 'archived'";
    const params: string[] = [];
    if (keyId !== undefined) {
      // Whole-word match in the space separated list.
      sql += " AND instr(' ' || key_ids || ' ', ' ' || ? || ' ') > 0";
      params.push(keyId);
    }
    sql += ' ORDER BY study_instance_uid, series_instance_uid, sop_instance_uid';
    return (this.db.prepare(sql).all(...params) as Row[]).map((row) => ({
      studyInstanceUID: row.study_instance_uid as string,
      seriesInstanceUID: row.series_instance_uid as string,
      sopInstanceUID: row.sop_instance_uid as string,
      ...(typeof row.protection_mac === 'string' ? { protectionMac: row.protection_mac } : {}),
      keyIds: keyIdsOf(row.key_ids),
    }));
  }

  /** Throws VEIL_E_NOT_FOUND when the catalogue has no such instance. */
  setState(sopInstanceUID: string, state: InstanceState, errorCode?: string): void {
    if (!STATES.includes(state))
      throw new VeilError('VEIL_E_QUERY_INVALID', 'Unknown instance state', { state });
    const result = this.statements.setState.run({
      uid: sopInstanceUID,
      state,
      errorCode: state === 'failed' ? (errorCode ?? null) : null,
      now: new Date().toISOString(),
    });
    if (result.changes === 0)
      throw new VeilError('VEIL_E_NOT_FOUND', 'No such instance in the index');
  }

  get(sopInstanceUID: string): InstanceRecord | undefined {
    const row = this.statements.get.get(sopInstanceUID) as Row | undefined;
    return row === undefined ? undefined : recordOf(row);
  }

  query(query: CatalogueQuery): CatalogueRow[] {
    return this.queryWithReport(query).rows;
  }

  /**
   * Like query(), and also says which keys took no part in matching (unknown to the index, or
   * return-only keys given a value), so a door can answer 400 or a warning.
   */
  queryWithReport(
    query: CatalogueQuery,
  ): { rows: CatalogueRow[] } & Pick<CompiledMatch, 'unknownKeys' | 'ignoredKeys'> {
    const state = query.state ?? 'archived';
    const compiled = compileMatch(query.match, { fuzzy: query.fuzzy ?? false, state });
    const { sql, params } = levelSql(query, compiled);
    const rows = (this.db.prepare(sql).all(...params) as Row[]).map((r) => rowOf(query.level, r));
    return { rows, unknownKeys: compiled.unknownKeys, ignoredKeys: compiled.ignoredKeys };
  }

  /** Archived instances of the scope, by series (SeriesNumber, UID) then InstanceNumber numerically. */
  instancesOf(scope: {
    studyInstanceUID: string;
    seriesInstanceUID?: string;
    sopInstanceUID?: string;
  }): InstanceRecord[] {
    const params: string[] = [scope.studyInstanceUID];
    let sql = "SELECT * FROM instances WHERE state = 'archived' AND study_instance_uid = ?";
    if (scope.seriesInstanceUID !== undefined) {
      sql += ' AND series_instance_uid = ?';
      params.push(scope.seriesInstanceUID);
    }
    if (scope.sopInstanceUID !== undefined) {
      sql += ' AND sop_instance_uid = ?';
      params.push(scope.sopInstanceUID);
    }
    sql +=
      ' ORDER BY CAST(series_number AS INTEGER) NULLS LAST, series_instance_uid, ' +
      'CAST(instance_number AS INTEGER) NULLS LAST, instance_number, sop_instance_uid';
    return (this.db.prepare(sql).all(...params) as Row[]).map(recordOf);
  }

  counts(): Record<InstanceState, number> {
    const out: Record<InstanceState, number> = { received: 0, archived: 0, failed: 0 };
    for (const row of this.statements.counts.all() as { state: InstanceState; n: number }[])
      out[row.state] = row.n;
    return out;
  }

  saveCommitment(c: PendingCommitment): void {
    this.statements.saveCommitment.run({
      ae: c.callingAeTitle,
      uid: c.transactionUID,
      items: JSON.stringify(c.items.map((i) => [i.sopClassUID, i.sopInstanceUID])),
      deadline: c.deadline,
    });
  }

  removeCommitment(callingAeTitle: string, transactionUID: string): void {
    this.statements.removeCommitment.run({ ae: callingAeTitle, uid: transactionUID });
  }

  pendingCommitments(): PendingCommitment[] {
    const rows = this.statements.pendingCommitments.all() as {
      calling_ae: string;
      transaction_uid: string;
      items: string;
      deadline: number;
    }[];
    return rows.map((r) => ({
      callingAeTitle: r.calling_ae,
      transactionUID: r.transaction_uid,
      items: (JSON.parse(r.items) as [string, string][]).map(([sopClassUID, sopInstanceUID]) => ({
        sopClassUID,
        sopInstanceUID,
      })),
      deadline: r.deadline,
    }));
  }

  /** Closes the database; safe to call twice. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }
}
