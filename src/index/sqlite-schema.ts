/**
 * The catalogue's SQLite schema as numbered migrations, applied in order inside one transaction
 * and recorded in schema_migrations, so an older index file is upgraded in place on open.
 */
import type Database from 'better-sqlite3';
import { VeilError } from '../errors';

/** One schema step; never edit a released one, add the next. */
export interface Migration {
  readonly version: number;
  readonly description: string;
  readonly sql: string;
}

/**
 * One denormalised row per instance: C-FIND / QIDO-RS levels are GROUP BYs over it, and a
 * re-sent instance replaces its row (the newest copy wins, and gets the highest id).
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'instances table and matching-key indexes',
    sql: `
      CREATE TABLE instances (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        sop_instance_uid TEXT NOT NULL UNIQUE,
        study_instance_uid TEXT NOT NULL,
        series_instance_uid TEXT NOT NULL,
        sop_class_uid TEXT NOT NULL,
        patient_key TEXT NOT NULL,
        patient_id TEXT,
        patient_name TEXT,
        patient_birth_date TEXT,
        patient_sex TEXT,
        issuer_of_patient_id TEXT,
        study_date TEXT,
        study_time TEXT,
        study_description TEXT,
        study_id TEXT,
        accession_number TEXT,
        referring_physician_name TEXT,
        modality TEXT,
        series_number TEXT,
        series_description TEXT,
        body_part_examined TEXT,
        instance_number TEXT,
        rows INTEGER,
        columns INTEGER,
        number_of_frames INTEGER,
        bits_allocated INTEGER,
        transfer_syntax_uid TEXT NOT NULL,
        bytes INTEGER,
        state TEXT NOT NULL CHECK (state IN ('received', 'archived', 'failed')),
        error_code TEXT,
        received_at TEXT NOT NULL,
        archived_at TEXT
      );
      CREATE INDEX instances_study ON instances (study_instance_uid, state);
      CREATE INDEX instances_series ON instances (series_instance_uid, state);
      CREATE INDEX instances_patient ON instances (patient_key, state);
      CREATE INDEX instances_state ON instances (state);
      CREATE INDEX instances_patient_id ON instances (patient_id);
      CREATE INDEX instances_patient_name ON instances (patient_name);
      CREATE INDEX instances_study_date ON instances (study_date);
      CREATE INDEX instances_accession_number ON instances (accession_number);
      CREATE INDEX instances_modality ON instances (modality, study_instance_uid);
    `,
  },
  {
    // Replay detection and key usage (docs/index.md): the header MAC of the protected object
    // Veil archived last (and of one being written right now), and the key ids it is wrapped for.
    version: 2,
    description: 'protection MAC, pending MAC and key ids of the archived object',
    sql: `
      ALTER TABLE instances ADD COLUMN protection_mac TEXT;
      ALTER TABLE instances ADD COLUMN pending_mac TEXT;
      ALTER TABLE instances ADD COLUMN key_ids TEXT;
    `,
  },
  {
    // Storage commitment transactions waiting for their report (docs/dimse.md), so that a
    // restart resumes them: UIDs and a deadline, no patient data.
    version: 3,
    description: 'pending storage commitment transactions',
    sql: `
      CREATE TABLE storage_commitments (
        calling_ae TEXT NOT NULL,
        transaction_uid TEXT NOT NULL,
        items TEXT NOT NULL,
        deadline INTEGER NOT NULL,
        PRIMARY KEY (calling_ae, transaction_uid)
      );
    `,
  },
];

/** Creates schema_migrations and applies every migration newer than the file's version. */
export function migrate(db: Database.Database): number {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    description TEXT NOT NULL,
    applied_at TEXT NOT NULL
  )`);
  const row = db.prepare('SELECT max(version) AS v FROM schema_migrations').get() as {
    v: number | null;
  };
  const current = row.v ?? 0;
  const latest = MIGRATIONS[MIGRATIONS.length - 1]!.version;
  if (current > latest)
    throw new VeilError(
      'VEIL_E_IO',
      `The index file has schema version ${current}, newer than this Veil (${latest}); upgrade Veil`,
    );
  const record = db.prepare(
    'INSERT INTO schema_migrations (version, description, applied_at) VALUES (?, ?, ?)',
  );
  db.transaction(() => {
    for (const m of MIGRATIONS) {
      if (m.version <= current) continue;
      db.exec(m.sql);
      record.run(m.version, m.description, new Date().toISOString());
    }
  }).immediate();
  return latest;
}
