/**
 * End to end with real peers: startGateway on free loopback ports with an embedded Redis, the
 * filesystem archive and sandboxed workers; DCMTK echoscu / storescu / findscu / movescu (into a
 * DCMTK storescp) / getscu, and STOW-RS, QIDO-RS, WADO-RS over HTTP.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { hashToken } from '../../src/api/tokens';
import { CONFIG_DIR } from '../../src/cli/settings';
import { Tags, parsePart10 } from '../../src/dicom';
import { silentLogger } from '../../src/log';
import { freePort } from '../../src/pipeline/embedded-redis';
import { type Gateway, startGateway } from '../../src/pipeline/gateway';
import { generateCtSeries } from '../../samples/generate';
import { assertSameInstance } from '../helpers/compare';
import { pydicomCorpusDir } from '../helpers/pydicom-corpus';
import { tempDir } from '../helpers/tools';
import { eventually, testConfig } from '../pipeline/harness';
import { assertSameDataSet, dcmtk, multipartParts, receivedIn, sopOf } from './e2e-tools';

const TOKENS = { modality: 'e2e-modality-token', workstation: 'e2e-workstation-token' };
const PYDICOM_NATIVE = ['CT_small.dcm', 'MR_small.dcm', 'SC_rgb_small_odd.dcm'];

describe('e2e/gateway (embedded Redis, DCMTK, DICOMweb)', function () {
  this.timeout(300_000);
  let tmp: ReturnType<typeof tempDir>;
  let gateway: Gateway;
  let storescp: ChildProcess | undefined;
  let storescpPort: number;
  const pushed = new Map<string, Buffer>();
  let studyUID: string;

  before(async () => {
    tmp = tempDir('veil-e2e-');
    storescpPort = await freePort();
    const config = testConfig(path.join(tmp.dir, 'data'), {
      VEIL_HTTP__HOST: '127.0.0.1',
      VEIL_HTTP__PORT: '0',
      VEIL_DIMSE__HOST: '127.0.0.1',
      VEIL_DIMSE__PORT: '0',
      VEIL_WORKERS__PROCESSES: '1',
      VEIL_WORKERS__CONCURRENCY: '2',
      VEIL_DIMSE__DESTINATIONS: `STORESCP@127.0.0.1:${storescpPort}`,
      VEIL_HTTP__TOKENS: [
        `pacs:modality:${hashToken(TOKENS.modality)}`,
        `viewer:workstation:${hashToken(TOKENS.workstation)}`,
      ].join(','),
    });
    gateway = await startGateway(config, silentLogger, {
      configDir: CONFIG_DIR,
      notice: () => undefined,
    });
  });
  after(async () => {
    storescp?.kill('SIGTERM');
    await gateway?.close();
    tmp.cleanup();
  });

  async function waitArchived(count: number): Promise<void> {
    await eventually(
      () => (gateway.deps.catalogue.counts().archived >= count ? true : undefined),
      `${count} archived instances`,
      240_000,
    );
  }

  it('answers C-ECHO', async () => {
    assert.match(
      await dcmtk('echoscu', ['-v', '-aec', 'VEIL', '127.0.0.1', String(gateway.dimsePort)]),
      /Echo Response \(Success\)/,
    );
  });

  it('says it is ready on /readyz once its prewarmed worker children started', async () => {
    const checks = await eventually(async () => {
      const res = await fetch(`http://127.0.0.1:${gateway.httpPort}/readyz`);
      const body = (await res.json()) as { checks: { name: string; ok: boolean }[] };
      return res.status === 200 ? body.checks : undefined;
    }, '/readyz 200');
    assert.deepEqual(checks.map((c) => c.name).sort(), [
      'archive',
      'index',
      'keys',
      'redis',
      'spool',
      'workers',
    ]);
  });

  it('accepts a generated CT study and pydicom files from storescu and archives them protected', async () => {
    const inDir = path.join(tmp.dir, 'push');
    mkdirSync(inDir);
    const series = generateCtSeries({ slices: 4, rows: 64, columns: 64 });
    studyUID = parsePart10(series[0]).dataset.string(Tags.StudyInstanceUID)!;
    const files: string[] = [];
    series.forEach((bytes, i) => {
      const file = path.join(inDir, `ct${i}.dcm`);
      writeFileSync(file, bytes);
      files.push(file);
      pushed.set(sopOf(bytes), bytes);
    });
    const corpus = pydicomCorpusDir();
    if (corpus) {
      for (const name of PYDICOM_NATIVE) {
        const bytes = readFileSync(path.join(corpus, name));
        pushed.set(sopOf(bytes), bytes);
        files.push(path.join(corpus, name));
      }
    }
    await dcmtk('storescu', ['-aec', 'VEIL', '127.0.0.1', String(gateway.dimsePort), ...files]);
    await waitArchived(pushed.size);
    for (const sop of pushed.keys())
      assert.equal(gateway.deps.catalogue.get(sop)?.state, 'archived');
  });

  it('finds the study with findscu', async () => {
    const out = await dcmtk('findscu', [
      '-v',
      '-S',
      '-aec',
      'VEIL',
      '-k',
      'QueryRetrieveLevel=STUDY',
      '-k',
      `StudyInstanceUID=${studyUID}`,
      '-k',
      'NumberOfStudyRelatedInstances',
      '127.0.0.1',
      String(gateway.dimsePort),
    ]);
    assert.ok(out.includes(studyUID));
    assert.match(out, /IS \[4 ?\]\s+#\s+\d+, 1 NumberOfStudyRelatedInstances/);
  });

  it('moves the study into a DCMTK storescp: the originals, element for element', async () => {
    const outDir = path.join(tmp.dir, 'moved');
    mkdirSync(outDir);
    storescp = spawn('storescp', ['-aet', 'STORESCP', '-od', outDir, String(storescpPort)], {
      stdio: 'ignore',
    });
    await eventually(async () => {
      const ok = await dcmtk('echoscu', [
        '-aec',
        'STORESCP',
        '127.0.0.1',
        String(storescpPort),
      ]).then(
        () => true,
        () => undefined,
      );
      return ok;
    }, 'storescp');
    await dcmtk('movescu', [
      '-S',
      '-aec',
      'VEIL',
      '-aem',
      'STORESCP',
      '-k',
      'QueryRetrieveLevel=STUDY',
      '-k',
      `StudyInstanceUID=${studyUID}`,
      '127.0.0.1',
      String(gateway.dimsePort),
    ]);
    const received = receivedIn(outDir);
    assert.equal(received.size, 4);
    for (const [sop, bytes] of received) assertSameDataSet(pushed.get(sop)!, bytes);
  });

  it('returns every pushed instance by C-GET to getscu', async () => {
    const outDir = path.join(tmp.dir, 'got');
    mkdirSync(outDir);
    for (const bytes of pushed.values()) {
      const header = parsePart10(bytes, { stopAtPixelData: true }).dataset;
      const study = header.string(Tags.StudyInstanceUID)!;
      const series = header.string(Tags.SeriesInstanceUID)!;
      await dcmtk('getscu', [
        '-S',
        '-aec',
        'VEIL',
        '-od',
        outDir,
        '-k',
        'QueryRetrieveLevel=IMAGE',
        '-k',
        `StudyInstanceUID=${study}`,
        '-k',
        `SeriesInstanceUID=${series}`,
        '-k',
        `SOPInstanceUID=${sopOf(bytes)}`,
        '127.0.0.1',
        String(gateway.dimsePort),
      ]);
    }
    const received = receivedIn(outDir);
    assert.equal(received.size, pushed.size);
    for (const [sop, bytes] of received) assertSameDataSet(pushed.get(sop)!, bytes);
  });

  it('stores over STOW-RS, finds over QIDO-RS and returns the original over WADO-RS', async () => {
    const [instance] = generateCtSeries({ slices: 1, rows: 32, columns: 32, seed: 7 });
    const ds = parsePart10(instance).dataset;
    const study = ds.string(Tags.StudyInstanceUID)!;
    const series = ds.string(Tags.SeriesInstanceUID)!;
    const sop = ds.string(Tags.SOPInstanceUID)!;
    const base = `http://127.0.0.1:${gateway.httpPort}/dicom-web`;
    const boundary = 'veil-e2e-boundary';
    const body = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`),
      instance,
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const stored = await fetch(`${base}/studies`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${TOKENS.modality}`,
        'content-type': `multipart/related; type="application/dicom"; boundary=${boundary}`,
        accept: 'application/dicom+json',
      },
      body,
    });
    assert.equal(stored.status, 200, await stored.clone().text());
    await eventually(
      () => (gateway.deps.catalogue.get(sop)?.state === 'archived' ? true : undefined),
      'the STOW instance archived',
      240_000,
    );

    const auth = { authorization: `Bearer ${TOKENS.workstation}` };
    const qido = await fetch(`${base}/studies/${study}/series/${series}/instances`, {
      headers: { ...auth, accept: 'application/dicom+json' },
    });
    assert.equal(qido.status, 200);
    const rows = (await qido.json()) as Array<Record<string, { Value?: unknown[] }>>;
    assert.ok(rows.some((r) => r['00080018']?.Value?.[0] === sop));

    const wado = await fetch(`${base}/studies/${study}/series/${series}/instances/${sop}`, {
      headers: { ...auth, accept: 'multipart/related; type="application/dicom"' },
    });
    assert.equal(wado.status, 200);
    const parts = multipartParts(
      Buffer.from(await wado.arrayBuffer()),
      wado.headers.get('content-type')!,
    );
    assert.equal(parts.length, 1);
    assertSameInstance(instance, parts[0]);
  });
});
