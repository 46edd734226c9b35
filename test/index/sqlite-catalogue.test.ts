import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { InstanceRecord } from '../../src/index/catalogue';
import { MIGRATIONS } from '../../src/index/sqlite-schema';
import { SqliteCatalogue } from '../../src/index/sqlite-catalogue';
import { tempDir } from '../helpers/tools';
import { STUDIES, filledCatalogue, handRecord, studyRecords, uidsOf } from './fixtures';

const FULL: InstanceRecord = {
  studyInstanceUID: '1.2.3.4',
  seriesInstanceUID: '1.2.3.4.5',
  sopInstanceUID: '1.2.3.4.5.6',
  sopClassUID: '1.2.840.10008.5.1.4.1.1.2',
  patientID: 'ID-1',
  patientName: 'Müller^Jörg=ミュラー^ヨルグ',
  patientBirthDate: '19800101',
  patientSex: 'M',
  issuerOfPatientID: 'HOSPITAL',
  studyDate: '20240101',
  studyTime: '120000.5',
  studyDescription: 'CT THORAX',
  studyID: 'S1',
  accessionNumber: 'A1',
  referringPhysicianName: 'WHO^DR',
  modality: 'CT',
  seriesNumber: '3',
  seriesDescription: 'Lung',
  bodyPartExamined: 'CHEST',
  instanceNumber: '7',
  rows: 512,
  columns: 256,
  numberOfFrames: 2,
  bitsAllocated: 16,
  transferSyntaxUID: '1.2.840.10008.1.2.4.70',
  bytes: 123456,
  state: 'received',
  receivedAt: '2024-01-01T12:00:00.000Z',
};

describe('index/sqlite-catalogue', () => {
  describe('records', () => {
    let catalogue: SqliteCatalogue;
    beforeEach(() => {
      catalogue = SqliteCatalogue.open(':memory:');
    });
    afterEach(() => catalogue.close());

    it('returns an upserted record field for field', () => {
      catalogue.upsert(FULL);
      assert.deepEqual(catalogue.get(FULL.sopInstanceUID), FULL);
      const minimal = handRecord({ sopInstanceUID: '9.9' });
      catalogue.upsert(minimal);
      assert.deepEqual(catalogue.get('9.9'), minimal);
      assert.equal(catalogue.get('9.8'), undefined);
    });

    it('replaces a re-sent instance: the newest copy wins', () => {
      const [first, second] = studyRecords(STUDIES.B);
      catalogue.upsert({ ...first!, state: 'archived' });
      catalogue.upsert({ ...second!, state: 'archived' });
      catalogue.upsert({ ...first!, patientName: 'DOE^JOHNNY', bytes: 1, state: 'archived' });
      assert.equal(catalogue.get(first!.sopInstanceUID)!.patientName, 'DOE^JOHNNY');
      assert.equal(catalogue.get(first!.sopInstanceUID)!.bytes, 1);
      assert.deepEqual(catalogue.counts(), { received: 0, archived: 2, failed: 0 });
      // study-level attributes come from the newest instance of the study
      const [study] = catalogue.query({ level: 'STUDY', match: {} });
      assert.equal(study!.PatientName, 'DOE^JOHNNY');
      assert.equal(study!.NumberOfStudyRelatedInstances, 2);
      assert.deepEqual(catalogue.query({ level: 'STUDY', match: { PatientName: 'DOE^JOHN' } }), []);
      // and a re-sent copy may drop optional attributes it no longer carries
      const { bytes: _bytes, ...withoutBytes } = first!;
      catalogue.upsert({ ...withoutBytes, state: 'received' });
      assert.equal(catalogue.get(first!.sopInstanceUID)!.bytes, undefined);
      assert.equal(catalogue.get(first!.sopInstanceUID)!.state, 'received');
    });

    it('sets states, archive time and error codes', () => {
      catalogue.upsert(FULL);
      catalogue.setState(FULL.sopInstanceUID, 'failed', 'VEIL_E_ARCHIVE_UNAVAILABLE');
      let record = catalogue.get(FULL.sopInstanceUID)!;
      assert.equal(record.state, 'failed');
      assert.equal(record.errorCode, 'VEIL_E_ARCHIVE_UNAVAILABLE');
      assert.equal(record.archivedAt, undefined);
      catalogue.setState(FULL.sopInstanceUID, 'archived');
      record = catalogue.get(FULL.sopInstanceUID)!;
      assert.equal(record.state, 'archived');
      assert.equal(record.errorCode, undefined);
      assert.ok(!Number.isNaN(Date.parse(record.archivedAt!)));
      const archivedAt = record.archivedAt;
      catalogue.setState(FULL.sopInstanceUID, 'archived');
      assert.equal(catalogue.get(FULL.sopInstanceUID)!.archivedAt, archivedAt);
    });

    it('refuses the state of an unknown instance and unknown states', () => {
      assert.throws(() => catalogue.setState('1.2.3', 'archived'), { code: 'VEIL_E_NOT_FOUND' });
      catalogue.upsert(FULL);
      assert.throws(
        () => catalogue.setState(FULL.sopInstanceUID, 'gone' as unknown as 'archived'),
        { code: 'VEIL_E_QUERY_INVALID' },
      );
      assert.equal(catalogue.get(FULL.sopInstanceUID)!.state, 'received');
    });

    it('counts instances per state', () => {
      assert.deepEqual(catalogue.counts(), { received: 0, archived: 0, failed: 0 });
      const filled = filledCatalogue();
      try {
        assert.deepEqual(filled.counts(), { received: 1, archived: 20, failed: 1 });
        filled.setState(uidsOf(STUDIES.B).sops[0]!, 'failed', 'VEIL_E_KEY_NOT_FOUND');
        assert.deepEqual(filled.counts(), { received: 1, archived: 19, failed: 2 });
      } finally {
        filled.close();
      }
    });

    it('is safe to close twice', () => {
      catalogue.close();
      catalogue.close();
    });
  });

  describe('instancesOf', () => {
    let catalogue: SqliteCatalogue;
    before(() => {
      catalogue = filledCatalogue();
    });
    after(() => catalogue.close());

    it('lists a study by series, then InstanceNumber numerically', () => {
      const a = uidsOf(STUDIES.A);
      assert.deepEqual(
        catalogue.instancesOf({ studyInstanceUID: a.study }).map((r) => r.sopInstanceUID),
        [...a.sops, '1.2.3.100.2.1'],
      );
      const c = uidsOf(STUDIES.C);
      const listed = catalogue.instancesOf({ studyInstanceUID: c.study });
      assert.deepEqual(
        listed.map((r) => r.instanceNumber),
        ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '11', '12'],
      );
      assert.equal(listed[0]!.patientName, 'SMITH^ANNA^MARIE');
    });

    it('narrows to a series or one instance', () => {
      const a = uidsOf(STUDIES.A);
      const series = catalogue.instancesOf({
        studyInstanceUID: a.study,
        seriesInstanceUID: '1.2.3.100.2',
      });
      assert.deepEqual(
        series.map((r) => r.sopInstanceUID),
        ['1.2.3.100.2.1'],
      );
      const one = catalogue.instancesOf({
        studyInstanceUID: a.study,
        seriesInstanceUID: a.series,
        sopInstanceUID: a.sops[1]!,
      });
      assert.deepEqual(
        one.map((r) => r.sopInstanceUID),
        [a.sops[1]],
      );
      // an instance under another study is not in this scope
      assert.deepEqual(
        catalogue.instancesOf({
          studyInstanceUID: uidsOf(STUDIES.B).study,
          sopInstanceUID: a.sops[1]!,
        }),
        [],
      );
    });

    it('lists archived instances only', () => {
      assert.deepEqual(catalogue.instancesOf({ studyInstanceUID: '1.2.3.901' }), []);
      assert.deepEqual(catalogue.instancesOf({ studyInstanceUID: '1.2.3.902' }), []);
      assert.deepEqual(catalogue.instancesOf({ studyInstanceUID: '9.9.9' }), []);
    });
  });

  describe('the index file', () => {
    let tmp: ReturnType<typeof tempDir>;
    beforeEach(() => {
      tmp = tempDir('veil-index-');
    });
    afterEach(() => tmp.cleanup());

    it('creates the file 0600 and its folder, and keeps data across reopening', () => {
      const file = path.join(tmp.dir, 'nested', 'deeper', 'index.sqlite');
      const catalogue = SqliteCatalogue.open(file);
      const records = studyRecords(STUDIES.C);
      for (const record of records) catalogue.upsert(record);
      catalogue.setState(records[0]!.sopInstanceUID, 'failed', 'VEIL_E_DICOM_MALFORMED');
      assert.equal(fs.statSync(file).mode & 0o777, 0o600);
      // SQLite gives the WAL and shared-memory files the database file's mode
      for (const suffix of ['-wal', '-shm'])
        assert.equal(fs.statSync(file + suffix).mode & 0o777, 0o600, suffix);
      catalogue.close();

      const reopened = SqliteCatalogue.open(file);
      try {
        assert.deepEqual(reopened.counts(), { received: 0, archived: 11, failed: 1 });
        assert.deepEqual(reopened.get(records[5]!.sopInstanceUID), records[5]);
        assert.equal(reopened.query({ level: 'IMAGE', match: { PatientID: 'P003' } }).length, 11);
      } finally {
        reopened.close();
      }
    });

    it('tightens the mode of an existing file to 0600', () => {
      const file = path.join(tmp.dir, 'index.sqlite');
      fs.writeFileSync(file, '', { mode: 0o644 });
      fs.chmodSync(file, 0o644);
      SqliteCatalogue.open(file).close();
      assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    });

    it('runs in WAL mode and records its schema version', () => {
      const file = path.join(tmp.dir, 'index.sqlite');
      SqliteCatalogue.open(file).close();
      const db = new Database(file, { readonly: true });
      try {
        assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
        const versions = db.prepare('SELECT version FROM schema_migrations ORDER BY version').all();
        assert.deepEqual(
          versions,
          MIGRATIONS.map((m) => ({ version: m.version })),
        );
        const indexes = db
          .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'instances'")
          .all()
          .map((r) => (r as { name: string }).name);
        for (const name of ['instances_study', 'instances_patient_name', 'instances_study_date'])
          assert.ok(indexes.includes(name), name);
      } finally {
        db.close();
      }
      // a second open applies nothing twice
      SqliteCatalogue.open(file).close();
    });

    it('refuses an index written by a newer schema', () => {
      const file = path.join(tmp.dir, 'index.sqlite');
      SqliteCatalogue.open(file).close();
      const db = new Database(file);
      db.prepare(
        "INSERT INTO schema_migrations (version, description, applied_at) VALUES (99, 'future', 'x')",
      ).run();
      db.close();
      assert.throws(
        () => SqliteCatalogue.open(file),
        (err: Error & { code?: string }) => {
          assert.equal(err.code, 'VEIL_E_IO');
          assert.match(err.message, /newer/);
          return true;
        },
      );
    });

    it('refuses a file that is not an SQLite database', () => {
      const file = path.join(tmp.dir, 'index.sqlite');
      fs.writeFileSync(
        file,
        'this is not a database, just some text that is long enough '.repeat(20),
      );
      assert.throws(() => SqliteCatalogue.open(file), { code: 'VEIL_E_IO' });
    });
  });
});
