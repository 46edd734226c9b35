import assert from 'node:assert/strict';
import { promises as fs, writeFileSync } from 'node:fs';
import path from 'node:path';
import { generateCtSeries } from '../../samples/generate';
import { DataSet, keywordOf, parsePart10 } from '../../src/dicom';
import { startDimseServer, type DimseServer } from '../../src/dimse/server';
import { pydicomCorpusDir } from '../helpers/pydicom-corpus';
import { tempDir } from '../helpers/tools';
import { dimseTestBed, filesIn, runAsync, type DimseTestBed } from './harness';

const SAMPLES = path.resolve(__dirname, '..', '..', 'samples');

describe('dimse/server C-FIND (DCMTK findscu, SQLite catalogue)', function () {
  this.timeout(120_000);
  let tmp: ReturnType<typeof tempDir>;
  let bed: DimseTestBed;
  let server: DimseServer;
  let ctStudy: string;
  let ctSeries: string;
  let runs = 0;

  /** Runs findscu (-P Patient Root, -S Study Root) and returns the response identifiers. */
  async function find(
    model: '-P' | '-S',
    keys: string[],
  ): Promise<{ status: number | null; out: string; rows: DataSet[] }> {
    const dir = path.join(tmp.dir, `find-${++runs}`);
    await fs.mkdir(dir);
    const args = [model, '-v', '-X', '-od', dir, '-aet', 'WS1', '-aec', 'VEIL', '127.0.0.1'];
    const run = await runAsync('findscu', [
      ...args,
      String(server.port),
      ...keys.flatMap((k) => ['-k', k]),
    ]);
    const rows = await Promise.all(
      (await filesIn(dir)).map(async (f) => parsePart10(await fs.readFile(f)).dataset),
    );
    return { status: run.status, out: run.stdout + run.stderr, rows };
  }

  const keywords = (ds: DataSet) => ds.tags().map((t) => keywordOf(t));

  before(async () => {
    tmp = tempDir('veil-dimse-find-');
    bed = dimseTestBed(tmp.dir);
    const pushed = path.join(tmp.dir, 'pushed');
    await fs.mkdir(pushed);
    const series = generateCtSeries({
      slices: 4,
      rows: 64,
      columns: 64,
      seed: 11,
      patient: { name: 'DOE^JANE', id: 'P-0011' },
    });
    for (const [i, bytes] of series.entries()) {
      const file = path.join(pushed, `ct-${i}.dcm`);
      writeFileSync(file, bytes);
      const ref = await bed.archiveOriginal(file);
      ctStudy = ref.studyInstanceUID;
      ctSeries = ref.seriesInstanceUID;
    }
    for (const f of ['dx-12bit.dcm', 'mono8.dcm']) await bed.archiveOriginal(path.join(SAMPLES, f));
    for (const f of ['CT_small.dcm', 'MR_small.dcm'])
      await bed.archiveOriginal(path.join(pydicomCorpusDir() ?? '', f));
    server = await startDimseServer(bed.deps);
  });

  after(async () => {
    await server.close();
    bed.close();
    tmp.cleanup();
  });

  it('finds studies by patient name wildcard and returns only the requested keys', async () => {
    const { rows } = await find('-S', [
      'QueryRetrieveLevel=STUDY',
      'PatientName=DOE*',
      'StudyInstanceUID',
      'StudyDate',
      'NumberOfStudyRelatedInstances',
    ]);
    const names = rows.map((r) => r.string(0x00100010)).sort();
    assert.deepEqual(names, ['DOE^JANE', 'DOE^JOHN']);
    for (const row of rows) {
      assert.deepEqual(
        keywords(row).filter((k) => k !== 'SpecificCharacterSet'),
        [
          'StudyDate',
          'QueryRetrieveLevel',
          'PatientName',
          'StudyInstanceUID',
          'NumberOfStudyRelatedInstances',
        ],
      );
    }
    const ct = rows.find((r) => r.string(0x0020000d) === ctStudy);
    assert.equal(ct?.string(0x00201208), '4');
  });

  it('matches date ranges (open and closed)', async () => {
    const recent = await find('-S', [
      'QueryRetrieveLevel=STUDY',
      'StudyDate=20240101-20241231',
      'PatientID',
    ]);
    assert.equal(recent.rows.length, 3);
    const old = await find('-S', ['QueryRetrieveLevel=STUDY', 'StudyDate=-20100101', 'PatientID']);
    assert.equal(old.rows.length, 2);
    const none = await find('-S', ['QueryRetrieveLevel=STUDY', 'StudyDate=20300101-', 'PatientID']);
    assert.equal(none.rows.length, 0);
    assert.equal(none.status, 0);
  });

  it('answers PATIENT level in the Patient Root model', async () => {
    const { rows } = await find('-P', [
      'QueryRetrieveLevel=PATIENT',
      'PatientID=VEIL-SAMPLE-000?',
      'PatientName',
    ]);
    assert.deepEqual(rows.map((r) => r.string(0x00100010)).sort(), ['DOE^JOHN', 'ROE^RICHARD']);
  });

  it('refuses PATIENT level in the Study Root model (0xA900)', async () => {
    const { rows, out } = await find('-S', ['QueryRetrieveLevel=PATIENT', 'PatientID=*']);
    assert.equal(rows.length, 0);
    assert.match(out, /Final Find Response \(Error: DataSetDoesNotMatchSOPClass\)/);
  });

  it('finds series and images of a study', async () => {
    const series = await find('-S', [
      'QueryRetrieveLevel=SERIES',
      `StudyInstanceUID=${ctStudy}`,
      'SeriesInstanceUID',
      'Modality',
      'NumberOfSeriesRelatedInstances',
    ]);
    assert.equal(series.rows.length, 1);
    assert.equal(series.rows[0].string(0x0020000e), ctSeries);
    assert.equal(series.rows[0].string(0x00080060), 'CT');
    assert.equal(series.rows[0].string(0x00201209), '4');
    const images = await find('-S', [
      'QueryRetrieveLevel=IMAGE',
      `StudyInstanceUID=${ctStudy}`,
      `SeriesInstanceUID=${ctSeries}`,
      'SOPInstanceUID',
      'InstanceNumber',
    ]);
    assert.deepEqual(images.rows.map((r) => r.string(0x00200013)).sort(), ['1', '2', '3', '4']);
  });

  it('audits each query with the level and matching keywords, never the values', () => {
    const queries = bed.audit.filter((e) => e.type === 'Query');
    assert.ok(queries.length >= 6);
    const byName = queries.find((e) => e.query?.keys.includes('PatientName'));
    assert.equal(byName?.query?.level, 'STUDY');
    assert.equal(byName?.user, 'WS1');
    assert.ok(!JSON.stringify(queries).includes('DOE'), 'no patient values in the audit trail');
  });
});
