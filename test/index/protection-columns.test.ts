import assert from 'node:assert/strict';
import path from 'node:path';
import Database from 'better-sqlite3';
import { MIGRATIONS } from '../../src/index/sqlite-schema';
import { SqliteCatalogue } from '../../src/index/sqlite-catalogue';
import { tempDir } from '../helpers/tools';
import { handRecord } from './fixtures';

const KEY_A = 'a'.repeat(64);
const KEY_B = 'b'.repeat(64);
const KEY_AB = `${'a'.repeat(32)}${'b'.repeat(32)}`;

describe('index/sqlite-catalogue: protection MAC and key ids (replay detection, key usage)', () => {
  let tmp: ReturnType<typeof tempDir>;
  let catalogue: SqliteCatalogue;
  beforeEach(() => {
    tmp = tempDir('veil-catalogue-protection-');
    catalogue = SqliteCatalogue.open(':memory:');
  });
  afterEach(() => {
    catalogue.close();
    tmp.cleanup();
  });

  it('keeps the archived MAC and key ids of an instance, and a re-sent copy replaces them', () => {
    const first = handRecord({ sopInstanceUID: '1.2.3.9.1', protectionMac: 'M1', keyIds: [KEY_A] });
    catalogue.upsert(first);
    assert.deepEqual(catalogue.get('1.2.3.9.1'), first);
    catalogue.upsert({ ...first, protectionMac: 'M2', keyIds: [KEY_A, KEY_B] });
    const got = catalogue.get('1.2.3.9.1')!;
    assert.equal(got.protectionMac, 'M2');
    assert.deepEqual(got.keyIds, [KEY_A, KEY_B]);
  });

  it('a pending MAC is recorded for a known instance only, and the next upsert clears it', () => {
    catalogue.upsert(handRecord({ sopInstanceUID: '1.2.3.9.2', protectionMac: 'M1' }));
    catalogue.setPending('1.2.3.9.2', 'M2');
    catalogue.setPending('1.2.3.9.404', 'M2');
    assert.equal(catalogue.get('1.2.3.9.2')!.pendingMac, 'M2');
    assert.equal(catalogue.get('1.2.3.9.404'), undefined);
    catalogue.upsert(handRecord({ sopInstanceUID: '1.2.3.9.2', protectionMac: 'M2' }));
    assert.equal(catalogue.get('1.2.3.9.2')!.pendingMac, undefined);
  });

  it('records a rewrap only when the catalogue still expects the old MAC (compare and set)', () => {
    catalogue.upsert(
      handRecord({ sopInstanceUID: '1.2.3.9.3', protectionMac: 'M1', keyIds: [KEY_A], bytes: 10 }),
    );
    const update = { previousMac: 'M0', protectionMac: 'M9', keyIds: [KEY_B] };
    assert.equal(catalogue.setProtection('1.2.3.9.3', update), false, 'stale expectation');
    assert.equal(catalogue.setProtection('1.2.3.9.404', update), false, 'unknown instance');
    assert.equal(catalogue.get('1.2.3.9.3')!.protectionMac, 'M1');
    const ok = catalogue.setProtection('1.2.3.9.3', { ...update, previousMac: 'M1', bytes: 12 });
    assert.equal(ok, true);
    const got = catalogue.get('1.2.3.9.3')!;
    assert.equal(got.protectionMac, 'M9');
    assert.deepEqual(got.keyIds, [KEY_B]);
    assert.equal(got.bytes, 12);
  });

  it('lists archived instances wrapped for a key by whole key id, never by substring', () => {
    catalogue.upsert(handRecord({ sopInstanceUID: '1.2.3.9.4', keyIds: [KEY_A] }));
    catalogue.upsert(handRecord({ sopInstanceUID: '1.2.3.9.5', keyIds: [KEY_B, KEY_A] }));
    catalogue.upsert(handRecord({ sopInstanceUID: '1.2.3.9.6', keyIds: [KEY_AB] }));
    catalogue.upsert(handRecord({ sopInstanceUID: '1.2.3.9.7', keyIds: [KEY_A], state: 'failed' }));
    catalogue.upsert(handRecord({ sopInstanceUID: '1.2.3.9.8' }));
    const wrapped = catalogue.archivedProtections(KEY_A);
    assert.deepEqual(
      wrapped.map((p) => p.sopInstanceUID),
      ['1.2.3.9.4', '1.2.3.9.5'],
    );
    assert.deepEqual(wrapped[1], {
      studyInstanceUID: '1.2.3.900',
      seriesInstanceUID: '1.2.3.900.1',
      sopInstanceUID: '1.2.3.9.5',
      keyIds: [KEY_B, KEY_A],
    });
    assert.deepEqual(
      catalogue.archivedProtections(KEY_A.slice(0, 32)).map((p) => p.sopInstanceUID),
      [],
    );
    const all = catalogue.archivedProtections();
    assert.equal(all.length, 4);
    assert.deepEqual(all.find((p) => p.sopInstanceUID === '1.2.3.9.8')!.keyIds, []);
  });

  it('upgrades a version 1 index in place: old rows keep their data and have no expectation', () => {
    const file = path.join(tmp.dir, 'v1.sqlite');
    const db = new Database(file);
    const v1 = MIGRATIONS.filter((m) => m.version === 1);
    db.exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY,
      description TEXT NOT NULL, applied_at TEXT NOT NULL)`);
    db.exec(v1[0]!.sql);
    db.prepare('INSERT INTO schema_migrations VALUES (1, ?, ?)').run('v1', 'now');
    db.prepare(
      `INSERT INTO instances (sop_instance_uid, study_instance_uid, series_instance_uid,
        sop_class_uid, patient_key, transfer_syntax_uid, state, received_at)
       VALUES ('1.2.3.9.10', '1.2.3', '1.2.3.4', '1.2.840.10008.5.1.4.1.1.7', '\\', '1.2.840.10008.1.2.1', 'archived', 'now')`,
    ).run();
    db.close();
    const upgraded = SqliteCatalogue.open(file);
    try {
      const old = upgraded.get('1.2.3.9.10')!;
      assert.equal(old.state, 'archived');
      assert.equal(old.protectionMac, undefined);
      assert.equal(old.keyIds, undefined);
    } finally {
      upgraded.close();
    }
    const versions = new Database(file, { readonly: true });
    try {
      const rows = versions.prepare('SELECT version FROM schema_migrations').all();
      assert.deepEqual(
        rows,
        MIGRATIONS.map((m) => ({ version: m.version })),
      );
    } finally {
      versions.close();
    }
  });
});
