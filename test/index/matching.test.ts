import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compileMatch, parseRange, wildcardToGlob, wildcardToLike } from '../../src/index/matching';
import { SqliteCatalogue } from '../../src/index/sqlite-catalogue';
import { handRecord } from './fixtures';

/** Reference wildcard matcher: `*` any run, `?` one character, everything else literal. */
function reference(pattern: string, before: string, after: string): RegExp {
  const body = [...pattern]
    .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')))
    .join('');
  return new RegExp(before + body + after, 's');
}

describe('index/matching', () => {
  describe('parseRange', () => {
    it('reads single dates and the three range forms (PS3.4 C.2.2.2.5)', () => {
      assert.deepEqual(parseRange('date', '20240115'), { lower: '20240115', upper: '20240115' });
      assert.deepEqual(parseRange('date', '20240101-'), { lower: '20240101' });
      assert.deepEqual(parseRange('date', '-20240131'), { upper: '20240131' });
      assert.deepEqual(parseRange('date', '20240101-20240131'), {
        lower: '20240101',
        upper: '20240131',
      });
      assert.deepEqual(parseRange('date', '2024.01.01-'), { lower: '20240101' });
    });

    it('extends partial upper times and datetimes to the end of their precision', () => {
      assert.deepEqual(parseRange('time', '-10'), { upper: '105959.999999' });
      assert.deepEqual(parseRange('time', '-1015'), { upper: '101559.999999' });
      assert.deepEqual(parseRange('time', '0800-101500.5'), {
        lower: '0800',
        upper: '101500.599999',
      });
      assert.deepEqual(parseRange('time', '10:15'), { lower: '1015', upper: '101559.999999' });
      assert.deepEqual(parseRange('datetime', '2024-'), { lower: '2024' });
      assert.deepEqual(parseRange('datetime', '-202402'), { upper: '20240231235959.999999' });
      assert.deepEqual(parseRange('datetime', '20240101120000+0100'), {
        lower: '20240101120000',
        upper: '20240101120000.999999',
      });
    });

    it('refuses malformed values, empty and reversed ranges', () => {
      for (const [kind, value] of [
        ['date', '2024011'],
        ['date', '2024-01-15'],
        ['date', 'today'],
        ['date', '-'],
        ['date', '20240201-20240101'],
        ['time', '1'],
        ['time', '10151'],
        ['time', '1015-0800'],
        ['datetime', '20x4'],
      ] as const)
        assert.throws(() => parseRange(kind, value), { code: 'VEIL_E_QUERY_INVALID' }, value);
    });
  });

  describe('wildcards', () => {
    it('turns DICOM wildcards into GLOB with brackets literal', () => {
      assert.equal(wildcardToGlob('DOE*^J?'), 'DOE*^J?');
      assert.equal(wildcardToGlob('[a]'), '[[]a[]]');
    });

    it('turns DICOM wildcards into LIKE with %, _ and \\ escaped', () => {
      assert.equal(wildcardToLike('do*e?'), 'do%e_');
      assert.equal(wildcardToLike('100%_\\'), '100\\%\\_\\\\');
    });
  });

  describe('compileMatch', () => {
    it('binds every value as a parameter and never puts it in the SQL text', () => {
      // characters no SQL template contains: if one shows up in the SQL, input leaked into it
      const sentinels = ['$', '#', '@', '{', '}', '~', '!', ';', '"', '`', '%', '['];
      const value = fc
        .array(fc.constantFrom(...sentinels, 'A', 'z', ' ', '*', '?', '\\', "'", '^'), {
          maxLength: 12,
        })
        .map((a) => a.join(''));
      fc.assert(
        fc.property(value, fc.boolean(), (v, fuzzy) => {
          const compiled = compileMatch(
            {
              PatientName: v,
              PatientID: v,
              StudyDescription: v,
              Modality: v,
              ModalitiesInStudy: v,
            },
            { fuzzy },
          );
          for (const condition of compiled.conditions) {
            const sql = condition.sql('i');
            assert.equal(sql.split('?').length - 1, condition.params.length);
            for (const c of sentinels) assert.ok(!sql.includes(c), sql);
          }
        }),
        { numRuns: 300 },
      );
    });

    it('skips universal values and reports unknown and return-only keys', () => {
      const compiled = compileMatch({
        PatientName: '',
        PatientID: '*',
        StudyDate: '**',
        Modality: 'CT',
        PatientAge: '',
        'DROP TABLE': 'x',
        NumberOfStudyRelatedInstances: '2',
        NumberOfSeriesRelatedInstances: '',
      });
      assert.deepEqual(
        compiled.conditions.map((c) => c.keyword),
        ['Modality'],
      );
      assert.deepEqual(compiled.unknownKeys, ['PatientAge', 'DROP TABLE']);
      assert.deepEqual(compiled.ignoredKeys, ['NumberOfStudyRelatedInstances']);
    });

    it('refuses wildcards in UIDs and non-integers in numbers', () => {
      assert.throws(() => compileMatch({ SOPInstanceUID: '1.2.*' }), {
        code: 'VEIL_E_UID_INVALID',
      });
      assert.throws(() => compileMatch({ SeriesNumber: '1*' }), { code: 'VEIL_E_QUERY_INVALID' });
      assert.throws(() => compileMatch({ Columns: '-1' }), { code: 'VEIL_E_QUERY_INVALID' });
      assert.throws(() => compileMatch({ StudyTime: '10?0' }), { code: 'VEIL_E_QUERY_INVALID' });
    });
  });

  describe('against SQLite', () => {
    const alphabet = fc.constantFrom('A', 'b', 'O', '%', '_', '[', ']', '^', "'", '"', '-', ' ');
    const text = (max: number) =>
      fc.array(alphabet, { minLength: 1, maxLength: max }).map((a) => a.join('').trim() || 'A');
    const pattern = fc
      .array(fc.oneof(alphabet, fc.constant('*'), fc.constant('?')), {
        minLength: 1,
        maxLength: 6,
      })
      .map((a) => a.join(''));

    function catalogueOf(values: string[], field: 'patientID' | 'patientName'): SqliteCatalogue {
      const catalogue = SqliteCatalogue.open(':memory:');
      values.forEach((value, i) =>
        catalogue.upsert(
          handRecord({
            studyInstanceUID: `1.2.${i + 1}`,
            seriesInstanceUID: `1.2.${i + 1}.1`,
            sopInstanceUID: `1.2.${i + 1}.1.1`,
            [field]: value,
          }),
        ),
      );
      return catalogue;
    }

    it('matches single values and wildcards exactly like the reference matcher', () => {
      fc.assert(
        fc.property(fc.array(text(6), { minLength: 1, maxLength: 8 }), pattern, (ids, query) => {
          const catalogue = catalogueOf(ids, 'patientID');
          try {
            const got = catalogue
              .query({ level: 'IMAGE', match: { PatientID: query } })
              .map((r) => r.PatientID);
            const universal = /^\**$/.test(query.trim());
            const q = query.replace(/[\0 ]+$/, '');
            const want = ids.filter((id) => universal || reference(q, '^', '$').test(id));
            assert.deepEqual([...got].sort(), [...want].sort());
          } finally {
            catalogue.close();
          }
        }),
        { numRuns: 150 },
      );
    });

    it('fuzzy-matches names by case-insensitive component prefix like the reference', () => {
      const names = fc
        .array(fc.constantFrom('DOE', 'Jane', 'jo', 'ANN', 'o%b', 'X_Y', '[z]'), {
          minLength: 1,
          maxLength: 3,
        })
        .map((parts) => parts.join('^'));
      const query = fc
        .array(fc.constantFrom('d', 'O', 'e', 'ja', 'J', 'n', '^', '%', '_', '[', '*', '?'), {
          minLength: 1,
          maxLength: 4,
        })
        .map((a) => a.join(''));
      fc.assert(
        fc.property(fc.array(names, { minLength: 1, maxLength: 6 }), query, (stored, q) => {
          const catalogue = catalogueOf(stored, 'patientName');
          try {
            const got = catalogue
              .query({ level: 'IMAGE', match: { PatientName: q }, fuzzy: true })
              .map((r) => r.PatientName);
            const universal = /^\**$/.test(q);
            const want = stored.filter(
              (name) =>
                universal ||
                reference(`^${q.toLowerCase()}`, '', '').test(`^${name.toLowerCase()}`),
            );
            assert.deepEqual([...got].sort(), [...want].sort());
          } finally {
            catalogue.close();
          }
        }),
        { numRuns: 150 },
      );
    });
  });
});
