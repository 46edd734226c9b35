import assert from 'node:assert/strict';
import type { CatalogueQuery, QueryLevel } from '../../src/index/catalogue';
import { RETURN_KEYS } from '../../src/index/query-keys';
import type { SqliteCatalogue } from '../../src/index/sqlite-catalogue';
import { STUDIES, filledCatalogue, uidsOf } from './fixtures';

const A = uidsOf(STUDIES.A);
const B = uidsOf(STUDIES.B);
const C = uidsOf(STUDIES.C);
const D = uidsOf(STUDIES.D);
const OBRIEN_STUDY = '1.2.3.900';
const OBRIEN_ID = "X%_1'; DROP TABLE instances; --";

describe('index/query', () => {
  let catalogue: SqliteCatalogue;
  before(() => {
    catalogue = filledCatalogue();
  });
  after(() => catalogue.close());

  const find = (
    level: QueryLevel,
    match: Record<string, string>,
    extra: Partial<CatalogueQuery> = {},
  ) => catalogue.query({ level, match, ...extra });
  const studies = (match: Record<string, string>, extra: Partial<CatalogueQuery> = {}) =>
    find('STUDY', match, extra).map((r) => r.StudyInstanceUID);
  const sorted = (values: unknown[]) => [...values].sort();

  describe('levels and return keys', () => {
    it('returns one row per patient with the patient keys and counts', () => {
      const rows = find('PATIENT', {});
      assert.deepEqual(
        rows.map((r) => r.PatientID),
        ['P001', 'P002', OBRIEN_ID, 'P003'],
      );
      assert.deepEqual(rows[0], {
        PatientName: 'DOE^JANE',
        PatientID: 'P001',
        PatientBirthDate: '19700101',
        PatientSex: 'F',
        NumberOfPatientRelatedStudies: 2,
        NumberOfPatientRelatedSeries: 3,
        NumberOfPatientRelatedInstances: 5,
      });
    });

    it('returns every study key with ModalitiesInStudy and the counts', () => {
      const [row] = find('STUDY', { StudyInstanceUID: A.study });
      assert.deepEqual(row, {
        PatientName: 'DOE^JANE',
        PatientID: 'P001',
        PatientBirthDate: '19700101',
        PatientSex: 'F',
        StudyInstanceUID: A.study,
        StudyDate: '20240115',
        StudyTime: '101500',
        AccessionNumber: 'ACC-A',
        StudyID: '11',
        StudyDescription: 'Veil sample study',
        ReferringPhysicianName: 'REFERRER^SAMPLE',
        ModalitiesInStudy: 'CT\\SR',
        NumberOfStudyRelatedSeries: 2,
        NumberOfStudyRelatedInstances: 4,
      });
    });

    it('carries the return keys of each level (PS3.4 C.6, PS3.18 Table 10.6.3-3)', () => {
      const absent = new Set(['IssuerOfPatientID', 'NumberOfFrames']);
      for (const level of ['PATIENT', 'STUDY', 'SERIES', 'IMAGE'] as const) {
        const [row] = find(level, { PatientID: 'P003' });
        assert.ok(row, level);
        for (const key of RETURN_KEYS[level])
          if (!absent.has(key)) assert.ok(key in row, `${level} row lacks ${key}`);
      }
    });

    it('counts series and instances at the series level', () => {
      const rows = find('SERIES', { StudyInstanceUID: A.study });
      assert.deepEqual(
        rows.map((r) => [r.SeriesNumber, r.Modality, r.NumberOfSeriesRelatedInstances]),
        [
          ['1', 'CT', 3],
          ['2', 'SR', 1],
        ],
      );
      assert.equal(rows[0]!.SeriesInstanceUID, A.series);
    });

    it('returns image rows with geometry and the transfer syntax', () => {
      const [row] = find('IMAGE', { SOPInstanceUID: C.sops[4]! });
      assert.equal(row!.InstanceNumber, '5');
      assert.equal(row!.Rows, 16);
      assert.equal(row!.Columns, 16);
      assert.equal(row!.BitsAllocated, 16);
      assert.equal(row!.SOPClassUID, '1.2.840.10008.5.1.4.1.1.2');
      assert.equal(row!.AvailableTransferSyntaxUID, '1.2.840.10008.1.2.1');
      assert.equal(row!.SeriesInstanceUID, C.series);
      assert.equal(row!.StudyInstanceUID, C.study);
    });

    it('orders studies newest first, then series and instances numerically', () => {
      assert.deepEqual(studies({}), [C.study, A.study, B.study, D.study, OBRIEN_STUDY]);
      const images = find('IMAGE', { StudyInstanceUID: C.study });
      assert.deepEqual(
        images.map((r) => r.InstanceNumber),
        ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '11', '12'],
      );
    });

    it('pages with limit and offset', () => {
      assert.deepEqual(studies({}, { limit: 2, offset: 1 }), [A.study, B.study]);
      assert.deepEqual(studies({}, { limit: 0 }), []);
      assert.deepEqual(studies({}, { offset: 4 }), [OBRIEN_STUDY]);
      const page = find('IMAGE', { StudyInstanceUID: C.study }, { limit: 3, offset: 9 });
      assert.deepEqual(
        page.map((r) => r.InstanceNumber),
        ['10', '11', '12'],
      );
    });

    it('sees only archived instances unless another state is asked for', () => {
      assert.deepEqual(studies({ PatientID: 'P900' }), []);
      assert.deepEqual(studies({ PatientID: 'P900' }, { state: 'received' }), ['1.2.3.901']);
      const failed = find('IMAGE', {}, { state: 'failed' });
      assert.deepEqual(
        failed.map((r) => r.PatientName),
        ['BROKEN^PAT'],
      );
    });
  });

  describe('matching (PS3.4 C.2.2.2)', () => {
    it('matches a single value exactly and case-sensitively', () => {
      assert.deepEqual(studies({ PatientID: 'P002' }), [B.study]);
      assert.deepEqual(studies({ PatientName: 'DOE^JOHN' }), [B.study]);
      assert.deepEqual(studies({ PatientName: 'doe^john' }), []);
      assert.deepEqual(studies({ AccessionNumber: 'ACC-C' }), [C.study]);
      assert.deepEqual(studies({ PatientName: 'DOE' }), []);
    });

    it('treats empty and * values as universal matching', () => {
      const all = studies({});
      assert.deepEqual(studies({ PatientName: '', StudyDate: '', AccessionNumber: '*' }), all);
      assert.deepEqual(studies({ StudyInstanceUID: '*', ModalitiesInStudy: '' }), all);
    });

    it('matches wildcards * and ? case-sensitively', () => {
      assert.deepEqual(
        sorted(studies({ PatientName: 'DOE*' })),
        sorted([A.study, B.study, D.study]),
      );
      assert.deepEqual(studies({ PatientName: 'DOE^J?HN' }), [B.study]);
      assert.deepEqual(studies({ PatientName: '*ANNA*' }), [C.study]);
      assert.deepEqual(studies({ PatientName: 'doe*' }), []);
      assert.deepEqual(studies({ PatientID: 'P00?' }).length, 4);
    });

    it('keeps SQL LIKE and GLOB specials literal', () => {
      assert.deepEqual(studies({ PatientID: 'X%_1*' }), [OBRIEN_STUDY]);
      assert.deepEqual(studies({ PatientID: '%' }), []);
      assert.deepEqual(studies({ PatientID: '_%' }), []);
      assert.deepEqual(studies({ PatientID: 'P%' }), []);
      assert.deepEqual(studies({ StudyDescription: '*[a]*' }), [OBRIEN_STUDY]);
      assert.deepEqual(studies({ StudyDescription: '*100% _under_' }), [OBRIEN_STUDY]);
      assert.deepEqual(studies({ StudyDescription: 'Brackets ?a? and*' }), [OBRIEN_STUDY]);
      assert.deepEqual(studies({ StudyDescription: '*[ab]*' }), []);
    });

    it('matches date ranges A-, -B, A-B and single dates', () => {
      assert.deepEqual(studies({ StudyDate: '20240101-' }), [C.study, A.study]);
      assert.deepEqual(studies({ StudyDate: '-20231231' }), [B.study, D.study, OBRIEN_STUDY]);
      assert.deepEqual(studies({ StudyDate: '20231201-20240115' }), [A.study, B.study]);
      assert.deepEqual(studies({ StudyDate: '20240115' }), [A.study]);
      assert.deepEqual(studies({ StudyDate: '2024.01.15' }), [A.study]);
      assert.deepEqual(studies({ PatientBirthDate: '19500101-19691231' }), [B.study]);
    });

    it('matches time ranges with partial times meaning the whole minute or hour', () => {
      assert.deepEqual(studies({ StudyTime: '1000-1100' }), [A.study]);
      assert.deepEqual(studies({ StudyTime: '-0930' }), [B.study, D.study]);
      assert.deepEqual(studies({ StudyTime: '1545' }), [C.study]);
      assert.deepEqual(studies({ StudyTime: '15:45:00-' }), [C.study]);
    });

    it('combines keys with AND', () => {
      assert.deepEqual(studies({ PatientID: 'P001', StudyDate: '-20230101' }), [D.study]);
      assert.deepEqual(studies({ PatientID: 'P001', StudyDate: '20240301' }), []);
    });

    it('matches a list of UIDs', () => {
      assert.deepEqual(studies({ StudyInstanceUID: `${A.study}\\${C.study}` }), [C.study, A.study]);
      assert.deepEqual(studies({ StudyInstanceUID: '1.2.3.4' }), []);
      const images = find('IMAGE', { SOPInstanceUID: `${C.sops[0]}\\${B.sops[1]}` });
      assert.deepEqual(sorted(images.map((r) => r.SOPInstanceUID)), sorted([C.sops[0], B.sops[1]]));
    });

    it('matches ModalitiesInStudy when any series of the study has the modality', () => {
      assert.deepEqual(studies({ ModalitiesInStudy: 'SR' }), [A.study]);
      assert.deepEqual(studies({ ModalitiesInStudy: 'CT\\SR' }), [
        C.study,
        A.study,
        B.study,
        D.study,
      ]);
      assert.deepEqual(studies({ ModalitiesInStudy: 'MR' }), []);
      assert.deepEqual(studies({ ModalitiesInStudy: 'MR' }, { state: 'received' }), ['1.2.3.901']);
      // the study row still lists all its modalities
      assert.equal(find('STUDY', { ModalitiesInStudy: 'SR' })[0]!.ModalitiesInStudy, 'CT\\SR');
      assert.deepEqual(
        find('SERIES', { ModalitiesInStudy: 'SR' }).map((r) => r.Modality),
        ['CT', 'SR'],
      );
    });

    it('matches Modality and code strings with a list of alternatives', () => {
      assert.deepEqual(
        find('SERIES', { Modality: 'SR' }).map((r) => r.SeriesInstanceUID),
        ['1.2.3.100.2'],
      );
      assert.equal(find('SERIES', { Modality: 'SR\\OT' }).length, 2);
      assert.equal(find('SERIES', { PatientSex: 'M' }).length, 1);
    });

    it('matches integer strings and numbers numerically', () => {
      const rows = find('IMAGE', { StudyInstanceUID: C.study, InstanceNumber: '10' });
      assert.deepEqual(
        rows.map((r) => r.SOPInstanceUID),
        [C.sops[9]],
      );
      assert.equal(find('IMAGE', { StudyInstanceUID: C.study, InstanceNumber: '010' }).length, 1);
      assert.equal(find('SERIES', { SeriesNumber: '2' }).length, 1);
      assert.equal(find('IMAGE', { Rows: '16', Columns: '16' }).length, 18);
      assert.equal(find('IMAGE', { Rows: '512' }).length, 0);
    });

    it('fuzzy-matches person names case-insensitively by component prefix', () => {
      const fuzzy = { fuzzy: true };
      assert.deepEqual(studies({ PatientName: 'jo' }, fuzzy), [B.study]);
      assert.deepEqual(studies({ PatientName: 'anna' }, fuzzy), [C.study]);
      assert.deepEqual(studies({ PatientName: 'Marie' }, fuzzy), [C.study]);
      assert.deepEqual(studies({ PatientName: 'smi' }, fuzzy), [C.study]);
      assert.deepEqual(studies({ PatientName: 'doe^ja' }, fuzzy), [A.study, D.study]);
      assert.deepEqual(studies({ PatientName: 'mith' }, fuzzy), []);
      assert.deepEqual(studies({ PatientName: "o'b" }, fuzzy), [OBRIEN_STUDY]);
      assert.deepEqual(studies({ PatientName: '%' }, fuzzy), []);
      assert.deepEqual(studies({ PatientName: 'j_hn' }, fuzzy), []);
      assert.deepEqual(studies({ PatientName: 'j?hn' }, fuzzy), [B.study]);
      // fuzzy applies to PN only: other keys stay exact
      assert.deepEqual(studies({ AccessionNumber: 'acc-c' }, fuzzy), []);
    });

    it('lets upper levels be matched on lower-level keys and lower levels on upper ones', () => {
      assert.deepEqual(studies({ SeriesDescription: 'Report' }), [A.study]);
      assert.deepEqual(
        find('PATIENT', { StudyDate: '20220101-20221231' }).map((r) => r.PatientID),
        ['P001'],
      );
      // the patient row still counts all the patient's studies
      assert.equal(
        find('PATIENT', { StudyDate: '20220101-20221231' })[0]!.NumberOfPatientRelatedStudies,
        2,
      );
      assert.equal(find('SERIES', { PatientID: 'P001' }).length, 3);
      assert.equal(find('IMAGE', { PatientName: 'SMITH*' }).length, 12);
    });
  });

  describe('keys that do not match', () => {
    it('reports unknown keys and ignores them for matching', () => {
      const report = catalogue.queryWithReport({
        level: 'STUDY',
        match: { PatientAge: '030Y', PatientID: 'P002', NumberOfStudyRelatedInstances: '3' },
      });
      assert.deepEqual(
        report.rows.map((r) => r.StudyInstanceUID),
        [B.study],
      );
      assert.deepEqual(report.unknownKeys, ['PatientAge']);
      assert.deepEqual(report.ignoredKeys, ['NumberOfStudyRelatedInstances']);
    });

    it('rejects values their matching type does not allow', () => {
      const invalid = { code: 'VEIL_E_QUERY_INVALID' };
      assert.throws(() => studies({ StudyDate: 'yesterday' }), invalid);
      assert.throws(() => studies({ StudyDate: '2024-01' }), invalid);
      assert.throws(() => studies({ StudyDate: '20240201-20240101' }), invalid);
      assert.throws(() => studies({ StudyDate: '-' }), invalid);
      assert.throws(() => studies({ StudyTime: '25h' }), invalid);
      assert.throws(() => find('IMAGE', { InstanceNumber: 'ten' }), invalid);
      assert.throws(() => find('IMAGE', { Rows: '1 OR 1=1' }), invalid);
      assert.throws(() => studies({}, { limit: -1 }), invalid);
      assert.throws(() => studies({}, { offset: 1.5 }), invalid);
      assert.throws(() => studies({ StudyInstanceUID: '1.2.x' }), { code: 'VEIL_E_UID_INVALID' });
      assert.throws(() => studies({ StudyInstanceUID: `${A.study}\\` }), {
        code: 'VEIL_E_UID_INVALID',
      });
    });

    it('keeps SQL injection strings inert', () => {
      const before = catalogue.counts();
      const attacks = [
        "x' OR '1'='1",
        "' OR 1=1 --",
        "'; DROP TABLE instances; --",
        '" OR ""="',
        "*' UNION SELECT * FROM schema_migrations --",
      ];
      for (const attack of attacks) {
        assert.deepEqual(studies({ PatientName: attack }), []);
        assert.deepEqual(studies({ PatientName: attack }, { fuzzy: true }), []);
        assert.deepEqual(studies({ PatientID: attack, AccessionNumber: attack }), []);
        assert.throws(() => studies({ StudyInstanceUID: attack }), { code: 'VEIL_E_UID_INVALID' });
        assert.throws(() => studies({ StudyDate: attack }), { code: 'VEIL_E_QUERY_INVALID' });
        const report = catalogue.queryWithReport({ level: 'STUDY', match: { [attack]: 'x' } });
        assert.equal(report.rows.length, 5);
        assert.deepEqual(report.unknownKeys, [attack]);
      }
      // a stored value that looks like SQL is found literally, and nothing was dropped
      assert.deepEqual(studies({ PatientID: OBRIEN_ID }), [OBRIEN_STUDY]);
      assert.deepEqual(catalogue.counts(), before);
    });
  });
});
