import assert from 'node:assert/strict';
import { promises as fs, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { generateCtSeries } from '../../samples/generate';
import { parsePart10 } from '../../src/dicom';
import { TransferSyntax } from '../../src/dicom/tags';
import { startDimseServer, type DimseServer } from '../../src/dimse/server';
import { VeilError } from '../../src/errors';
import { listCorpusFiles } from '../helpers/pydicom-corpus';
import { tempDir } from '../helpers/tools';
import {
  assertSameDataSet,
  datasetBytes,
  dimseTestBed,
  filesIn,
  runAsync,
  type DimseTestBed,
} from './harness';

const SAMPLES = path.resolve(__dirname, '..', '..', 'samples');

/** pydicom corpus files in native transfer syntaxes that are well-formed storage instances. */
function nativeCorpusFiles(): string[] {
  const native = new Set<string>([
    TransferSyntax.ImplicitVRLittleEndian,
    TransferSyntax.ExplicitVRLittleEndian,
    TransferSyntax.ExplicitVRBigEndian,
  ]);
  // Several variants of one image share a SOP Instance UID (MR_small*): keep the first of each.
  const seen = new Set<string>();
  return listCorpusFiles().filter((file) => {
    try {
      const parsed = parsePart10(readFileSync(file));
      const sopClass = parsed.meta.string(0x00020002) ?? '';
      const sop = parsed.dataset.string(0x00080018);
      if (sop === undefined || seen.has(sop)) return false;
      const ok =
        native.has(parsed.transferSyntaxUID) &&
        parsed.meta.size > 0 &&
        sopClass.startsWith('1.2.840.10008.5.1.4.1.1.');
      if (ok) seen.add(sop);
      return ok;
    } catch {
      return false;
    }
  });
}

describe('dimse/server C-ECHO and C-STORE (DCMTK echoscu, storescu)', function () {
  this.timeout(120_000);
  let tmp: ReturnType<typeof tempDir>;
  let bed: DimseTestBed;
  let server: DimseServer;
  let port: string;

  before(async () => {
    tmp = tempDir('veil-dimse-store-');
    bed = dimseTestBed(tmp.dir, { allowedCallingAETitles: ['MODALITY', 'ECHO'] });
    server = await startDimseServer(bed.deps);
    port = String(server.port);
  });

  after(async () => {
    await server.close();
    bed.close();
    tmp.cleanup();
  });

  it('answers C-ECHO', async () => {
    const run = await runAsync('echoscu', ['-aet', 'ECHO', '-aec', 'VEIL', '127.0.0.1', port]);
    assert.equal(run.status, 0, run.stderr);
  });

  it('spools a generated CT series and the samples byte for byte, acknowledging each', async () => {
    const dir = path.join(tmp.dir, 'push');
    await fs.mkdir(dir, { recursive: true });
    const files = generateCtSeries({ slices: 6, rows: 96, columns: 96, seed: 7 }).map(
      (bytes, i) => {
        const file = path.join(dir, `ct-${i}.dcm`);
        writeFileSync(file, bytes);
        return file;
      },
    );
    const samples = (await filesIn(SAMPLES)).filter((f) => f.endsWith('.dcm'));
    const before = bed.intake.accepted.length;
    const run = await runAsync('storescu', [
      '-aet',
      'MODALITY',
      '-aec',
      'VEIL',
      '127.0.0.1',
      port,
      ...files,
      ...samples,
    ]);
    assert.equal(run.status, 0, run.stderr);
    const got = bed.intake.accepted.slice(before);
    assert.equal(got.length, files.length + samples.length);
    for (const file of [...files, ...samples]) {
      const original = readFileSync(file);
      const sop = parsePart10(original).dataset.string(0x00080018);
      const received = got.find((a) => a.result.sopInstanceUID === sop);
      assert.ok(received, `${path.basename(file)} reached the intake`);
      assert.deepEqual(received.source, { kind: 'dimse', who: 'MODALITY', address: '127.0.0.1' });
      const spooled = readFileSync(received.path);
      // Explicit VR LE in, Explicit VR LE accepted: the data set is the very same bytes.
      assert.ok(
        datasetBytes(spooled).equals(datasetBytes(original)),
        `${path.basename(file)} bytes`,
      );
      assertSameDataSet(original, spooled);
      assert.equal(parsePart10(spooled).transferSyntaxUID, TransferSyntax.ExplicitVRLittleEndian);
    }
  });

  it('spools the pydicom native files element for element, private tags included', async () => {
    const corpus = nativeCorpusFiles();
    assert.ok(corpus.length > 10, 'python3-pydicom test files are installed');
    const before = bed.intake.accepted.length;
    // -R: propose exactly the file's own transfer syntax, so nothing is converted on the way.
    const run = await runAsync('storescu', [
      '-R',
      '-aet',
      'MODALITY',
      '-aec',
      'VEIL',
      '127.0.0.1',
      port,
      ...corpus,
    ]);
    const got = bed.intake.accepted.slice(before);
    assert.ok(
      got.length >= corpus.length - 2,
      `${got.length} of ${corpus.length} stored: ${run.stderr.slice(0, 2000)}`,
    );
    for (const file of corpus) {
      const original = readFileSync(file);
      const parsed = parsePart10(original);
      const received = got.find(
        (a) => a.result.sopInstanceUID === parsed.dataset.string(0x00080018),
      );
      if (!received) continue;
      // storescu re-encodes what it reads (group lengths, padding): equal element for element.
      assertSameDataSet(original, readFileSync(received.path), path.basename(file));
    }
  });

  it('answers a refused instance with the intake error status and keeps the association for the next', async () => {
    const files = ['ct-slice.dcm', 'mono8.dcm'].map((f) => path.join(SAMPLES, f));
    bed.intake.failNext.push(new VeilError('VEIL_E_SPOOL_FULL', 'Spool full (test).'));
    const before = bed.intake.accepted.length;
    // -nh: DCMTK halts after a refused instance by default; a modality would go on.
    const run = await runAsync('storescu', [
      '-v',
      '-nh',
      '-aet',
      'MODALITY',
      '-aec',
      'VEIL',
      '127.0.0.1',
      port,
      ...files,
    ]);
    assert.match(run.stderr + run.stdout, /Refused: OutOfResources/);
    const got = bed.intake.accepted.slice(before);
    assert.equal(got.length, 1, 'the second instance was stored on the same association');
    assert.equal(
      path.basename(got[0].path),
      `${parsePart10(readFileSync(files[1])).dataset.string(0x00080018)}.dcm`,
    );
    assert.deepEqual(
      await filesIn(path.join(tmp.dir, 'spool', 'incoming')),
      [],
      'no temp file left',
    );
  });

  it('answers 0xA700 when the spool cannot be written, without reaching the intake', async () => {
    bed.intake.brokenSpool = true;
    const before = bed.intake.accepted.length;
    try {
      const run = await runAsync('storescu', [
        '-v',
        '-aet',
        'MODALITY',
        '-aec',
        'VEIL',
        '127.0.0.1',
        port,
        path.join(SAMPLES, 'tiny-8x8.dcm'),
      ]);
      assert.match(run.stderr + run.stdout, /Refused: OutOfResources/);
    } finally {
      bed.intake.brokenSpool = false;
    }
    assert.equal(bed.intake.accepted.length, before);
    const failures = await bed.deps.metrics.failures.get();
    assert.ok(
      failures.values.some((v) => v.labels.code === 'VEIL_E_IO' && v.labels.stage === 'intake'),
    );
  });

  it('records one DICOMInstancesTransferred audit event per study, with UIDs only', () => {
    const stored = bed.audit.filter(
      (e) => e.type === 'DICOMInstancesTransferred' && e.action === 'C',
    );
    assert.ok(stored.length > 0);
    for (const e of stored) {
      assert.equal(e.user, 'MODALITY');
      assert.ok(!JSON.stringify(e).includes('^'), 'no person names');
    }
  });
});
