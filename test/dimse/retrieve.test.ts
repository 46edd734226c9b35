import assert from 'node:assert/strict';
import { promises as fs, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { generateCtSeries } from '../../samples/generate';
import { isPrivateTag, parsePart10 } from '../../src/dicom';
import { startDimseServer, type DimseServer } from '../../src/dimse/server';
import { pydicomCorpusDir } from '../helpers/pydicom-corpus';
import { tempDir } from '../helpers/tools';
import {
  assertSameDataSet,
  datasetBytes,
  dimseTestBed,
  filesIn,
  runAsync,
  startStorescp,
  type DimseTestBed,
} from './harness';

describe('dimse/server C-MOVE and C-GET (DCMTK movescu into storescp, getscu)', function () {
  this.timeout(120_000);
  let tmp: ReturnType<typeof tempDir>;
  let bed: DimseTestBed;
  let server: DimseServer;
  let storescp: { port: number; stop(): Promise<void> };
  let study: string;
  let series: string;
  const originals = new Map<string, string>();
  let runs = 0;

  /** Every received file must equal its original element for element, private tags included. */
  async function assertReceived(dir: string, expected: number): Promise<void> {
    const files = await filesIn(dir);
    assert.equal(files.length, expected, 'number of instances received');
    for (const file of files) {
      const received = readFileSync(file);
      const sop = parsePart10(received).dataset.string(0x00080018) ?? '';
      const original = readFileSync(originals.get(sop) ?? assert.fail(`unexpected ${sop}`));
      assertSameDataSet(original, received, path.basename(file));
      if (parsePart10(original).transferSyntaxUID === parsePart10(received).transferSyntaxUID)
        assert.ok(datasetBytes(received).equals(datasetBytes(original)), 'same bytes');
    }
  }

  before(async () => {
    tmp = tempDir('veil-dimse-retrieve-');
    storescp = await startStorescp('DEST', path.join(tmp.dir, 'dest'));
    bed = dimseTestBed(tmp.dir, {
      destinations: [`DEST@127.0.0.1:${storescp.port}`, 'GONE@127.0.0.1:1'],
    });
    const pushed = path.join(tmp.dir, 'pushed');
    await fs.mkdir(pushed);
    const slices = generateCtSeries({ slices: 5, rows: 64, columns: 64, seed: 21 });
    for (const [i, bytes] of slices.entries()) {
      const file = path.join(pushed, `ct-${i}.dcm`);
      writeFileSync(file, bytes);
      const ref = await bed.archiveOriginal(file);
      originals.set(ref.sopInstanceUID, file);
      study = ref.studyInstanceUID;
      series = ref.seriesInstanceUID;
    }
    // An Implicit VR LE original travels in its own syntax when the peer accepts it.
    for (const f of ['MR_small_implicit.dcm']) {
      const file = path.join(pydicomCorpusDir() ?? '', f);
      const ref = await bed.archiveOriginal(file);
      originals.set(ref.sopInstanceUID, file);
    }
    server = await startDimseServer(bed.deps);
  });

  after(async () => {
    await server.close();
    await storescp.stop();
    bed.close();
    tmp.cleanup();
  });

  const move = (dest: string, keys: string[]) =>
    runAsync('movescu', [
      '-d',
      '-S',
      '-aet',
      'WS1',
      '-aec',
      'VEIL',
      '-aem',
      dest,
      '127.0.0.1',
      String(server.port),
      ...keys.flatMap((k) => ['-k', k]),
    ]);

  it('moves a study to a configured destination, every element and private tag intact', async () => {
    const run = await move('DEST', ['QueryRetrieveLevel=STUDY', `StudyInstanceUID=${study}`]);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout + run.stderr, /Completed Suboperations\s*:\s*5\n/);
    await assertReceived(path.join(tmp.dir, 'dest'), 5);
    const first = parsePart10(readFileSync((await filesIn(path.join(tmp.dir, 'dest')))[0]));
    assert.ok(first.dataset.tags().some(isPrivateTag), 'private tags arrived');
  });

  it('moves single images and an implicit VR original', async () => {
    await fs.rm(path.join(tmp.dir, 'dest'), { recursive: true, force: true });
    await fs.mkdir(path.join(tmp.dir, 'dest'));
    const mr = [...originals.entries()].find(([, f]) => f.includes('MR_small'));
    assert.ok(mr);
    const mrRef = parsePart10(readFileSync(mr[1])).dataset;
    const run = await move('DEST', [
      'QueryRetrieveLevel=IMAGE',
      `StudyInstanceUID=${mrRef.string(0x0020000d)}`,
      `SeriesInstanceUID=${mrRef.string(0x0020000e)}`,
      `SOPInstanceUID=${mr[0]}`,
    ]);
    assert.equal(run.status, 0, run.stderr);
    await assertReceived(path.join(tmp.dir, 'dest'), 1);
  });

  it('reports a tampered instance as a failed sub-operation and delivers the rest', async () => {
    await fs.rm(path.join(tmp.dir, 'dest'), { recursive: true, force: true });
    await fs.mkdir(path.join(tmp.dir, 'dest'));
    const tampered = [...originals.keys()][2];
    bed.retriever.tampered.add(tampered);
    try {
      const run = await move('DEST', [
        'QueryRetrieveLevel=SERIES',
        `StudyInstanceUID=${study}`,
        `SeriesInstanceUID=${series}`,
      ]);
      const out = run.stdout + run.stderr;
      assert.match(out, /Failed Suboperations\s*:\s*1\n/);
      assert.match(out, /Completed Suboperations\s*:\s*4\n/);
      assert.match(out, /DIMSE Status\s*:\s*0xb000/);
      assert.match(out, /FailedSOPInstanceUIDList/);
      const files = await filesIn(path.join(tmp.dir, 'dest'));
      assert.equal(files.length, 4);
      for (const f of files)
        assert.notEqual(parsePart10(readFileSync(f)).dataset.string(0x00080018), tampered);
    } finally {
      bed.retriever.tampered.delete(tampered);
    }
  });

  it('answers 0xA801 for an unknown destination and fails sub-operations to an unreachable one', async () => {
    const unknown = await move('NOBODY', ['QueryRetrieveLevel=STUDY', `StudyInstanceUID=${study}`]);
    assert.match(unknown.stdout + unknown.stderr, /MoveDestinationUnknown|a801/i);
    const gone = await move('GONE', ['QueryRetrieveLevel=STUDY', `StudyInstanceUID=${study}`]);
    assert.match(gone.stdout + gone.stderr, /Failed Suboperations\s*:\s*5\n/);
    assert.match(gone.stdout + gone.stderr, /VEIL_E_DIMSE_PEER_UNAVAILABLE/);
  });

  it('delivers a study over C-GET on the requesting association', async () => {
    const dir = path.join(tmp.dir, `get-${++runs}`);
    await fs.mkdir(dir);
    const run = await runAsync('getscu', [
      '-v',
      '-S',
      '-aet',
      'WS1',
      '-aec',
      'VEIL',
      '-od',
      dir,
      '127.0.0.1',
      String(server.port),
      '-k',
      'QueryRetrieveLevel=STUDY',
      '-k',
      `StudyInstanceUID=${study}`,
    ]);
    assert.equal(run.status, 0, run.stderr);
    await assertReceived(dir, 5);
  });

  it('audits retrievals with UIDs, never patient values', () => {
    const done = bed.audit.filter(
      (e) => e.type === 'DICOMInstancesTransferred' && e.action === 'R',
    );
    assert.ok(done.length >= 3);
    assert.ok(done.some((e) => e.outcome === 'minor-failure'));
    assert.ok(!JSON.stringify(bed.audit).includes('^'), 'no person names');
  });
});
