import assert from 'node:assert/strict';
import { promises as fs, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { generateCtSeries } from '../../samples/generate';
import { Tags, parsePart10 } from '../../src/dicom';
import { startDimseServer, type DimseServer } from '../../src/dimse/server';
import { startGateway, type TestGateway } from '../api/harness';
import { eventually } from '../pipeline/harness';
import { tempDir } from '../helpers/tools';
import { assertSameDataSet, datasetBytes, filesIn, runAsync, startStorescp } from './harness';

/**
 * The whole path over DIMSE with the real pipeline (private Redis, SpoolIntake, protect and
 * reveal workers, FilesystemArchive, SqliteCatalogue, QueueRetriever): push, protect, find,
 * move, get, and a tampered archive object.
 */
describe('dimse end to end (storescu → protect → findscu / movescu / getscu, Redis + workers)', function () {
  this.timeout(180_000);
  let tmp: ReturnType<typeof tempDir>;
  let gw: TestGateway;
  let server: DimseServer;
  let storescp: { port: number; stop(): Promise<void> };
  const originals = new Map<string, Buffer>();
  let study = '';
  let runs = 0;

  async function assertDelivered(dir: string, expected: number): Promise<void> {
    const files = await filesIn(dir);
    assert.equal(files.length, expected);
    for (const file of files) {
      const received = readFileSync(file);
      const sop = parsePart10(received).dataset.string(Tags.SOPInstanceUID) ?? '';
      const original = originals.get(sop) ?? assert.fail('unexpected instance');
      assertSameDataSet(original, received, path.basename(file));
      assert.ok(
        datasetBytes(received).equals(datasetBytes(original)),
        'revealed bytes equal pushed',
      );
    }
  }

  before(async () => {
    tmp = tempDir('veil-dimse-e2e-');
    storescp = await startStorescp('WSDEST', path.join(tmp.dir, 'dest'));
    gw = await startGateway({
      VEIL_DIMSE__HOST: '127.0.0.1',
      VEIL_DIMSE__PORT: '0',
      VEIL_DIMSE__DESTINATIONS: JSON.stringify([`WSDEST@127.0.0.1:${storescp.port}`]),
    });
    server = await startDimseServer(gw.deps);
  });

  after(async () => {
    await server?.close();
    await gw?.close();
    await storescp?.stop();
    tmp.cleanup();
  });

  it('acknowledges pushed instances, which workers protect into the archive', async () => {
    const pushed = path.join(tmp.dir, 'pushed');
    await fs.mkdir(pushed);
    const files = generateCtSeries({ slices: 4, rows: 64, columns: 64, seed: 31 }).map((b, i) => {
      const file = path.join(pushed, `ct-${i}.dcm`);
      writeFileSync(file, b);
      const ds = parsePart10(b).dataset;
      originals.set(ds.string(Tags.SOPInstanceUID) ?? '', b);
      study = ds.string(Tags.StudyInstanceUID) ?? '';
      return file;
    });
    const run = await runAsync('storescu', [
      '-aet',
      'CT1',
      '-aec',
      'VEIL',
      '127.0.0.1',
      String(server.port),
      ...files,
    ]);
    assert.equal(run.status, 0, run.stderr);
    for (const sop of originals.keys()) {
      await eventually(
        () => (gw.deps.catalogue.get(sop)?.state === 'archived' ? true : undefined),
        'protected',
      );
      const record = gw.deps.catalogue.get(sop);
      assert.ok(record);
      const stored = parsePart10(await gw.deps.archive.get(record));
      const original = parsePart10(originals.get(sop) ?? Buffer.alloc(0));
      assert.ok(
        !stored.dataset
          .get(Tags.PixelData)
          ?.value?.equals(original.dataset.get(Tags.PixelData)?.value ?? Buffer.alloc(0)),
        'archived pixels are not the original',
      );
      assert.notEqual(
        stored.dataset.string(Tags.PatientName),
        original.dataset.string(Tags.PatientName),
      );
    }
  });

  it('finds the study by patient ID', async () => {
    const dir = path.join(tmp.dir, `find-${++runs}`);
    await fs.mkdir(dir);
    const patientID = parsePart10([...originals.values()][0]).dataset.string(Tags.PatientID);
    await runAsync('findscu', [
      '-S',
      '-X',
      '-od',
      dir,
      '-aet',
      'WS1',
      '-aec',
      'VEIL',
      '127.0.0.1',
      String(server.port),
      '-k',
      'QueryRetrieveLevel=STUDY',
      '-k',
      `PatientID=${patientID}`,
      '-k',
      'StudyInstanceUID',
      '-k',
      'NumberOfStudyRelatedInstances',
    ]);
    const rows = await Promise.all(
      (await filesIn(dir)).map(async (f) => parsePart10(await fs.readFile(f)).dataset),
    );
    assert.equal(rows.length, 1);
    assert.equal(rows[0].string(Tags.StudyInstanceUID), study);
    assert.equal(rows[0].string(0x00201208), '4');
  });

  it('moves the revealed originals to a workstation, byte for byte', async () => {
    const run = await runAsync('movescu', [
      '-S',
      '-aet',
      'WS1',
      '-aec',
      'VEIL',
      '-aem',
      'WSDEST',
      '127.0.0.1',
      String(server.port),
      '-k',
      'QueryRetrieveLevel=STUDY',
      '-k',
      `StudyInstanceUID=${study}`,
    ]);
    assert.equal(run.status, 0, run.stderr);
    await assertDelivered(path.join(tmp.dir, 'dest'), 4);
  });

  it('gets the revealed originals over C-GET, byte for byte', async () => {
    const dir = path.join(tmp.dir, `get-${++runs}`);
    await fs.mkdir(dir);
    const run = await runAsync('getscu', [
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
    await assertDelivered(dir, 4);
  });

  it('reports a tampered archive object as a failed sub-operation, never delivering it', async () => {
    const [sop] = [...originals.keys()];
    const record = gw.deps.catalogue.get(sop);
    assert.ok(record);
    const bytes = await gw.deps.archive.get(record);
    bytes[bytes.length - 10] ^= 0xff; // inside the encrypted Pixel Data
    await gw.deps.archive.put(record, bytes);
    const dir = path.join(tmp.dir, `get-${++runs}`);
    await fs.mkdir(dir);
    const run = await runAsync('getscu', [
      '-d',
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
    assert.match(run.stdout + run.stderr, /Failed Suboperations\s*:\s*1\n/);
    const delivered = await filesIn(dir);
    assert.equal(delivered.length, 3);
    for (const f of delivered)
      assert.notEqual(parsePart10(readFileSync(f)).dataset.string(Tags.SOPInstanceUID), sop);
    assert.ok(
      gw.audits.some((e) => e.type === 'SecurityAlert' && e.sopInstanceUIDs?.includes(sop)),
    );
  });
});
