/**
 * End to end with a real Orthanc as the archive, once over DICOMweb and once over DIMSE:
 * startGateway (embedded Redis, sandboxed workers) on free loopback ports; DCMTK storescu pushes a
 * generated CT study and samples/*.dcm; Orthanc, asked over its REST API, holds exactly those
 * instances, protected (no patient names, noise pixels, Patient Identity Removed YES); findscu,
 * movescu into storescp, getscu, STOW-RS and WADO-RS give back the originals element for element.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { log as dimseLog } from 'dcmjs-dimse';
import { hashToken } from '../../src/api/tokens';
import { CONFIG_DIR } from '../../src/cli/settings';
import { Tags, parsePart10 } from '../../src/dicom';
import { silentLogger } from '../../src/log';
import { type Gateway, startGateway } from '../../src/pipeline/gateway';
import { QueueName, type RevealJobData } from '../../src/pipeline/jobs';
import { redisConnection } from '../../src/pipeline/queues';
import { Queue } from 'bullmq';
import { generateCtSeries } from '../../samples/generate';
import { assertSameInstance } from '../helpers/compare';
import {
  type RunningOrthanc,
  freePort,
  orthancArchiveSettings,
  startOrthanc,
} from '../helpers/orthanc';
import { tempDir } from '../helpers/tools';
import { testConfig, waitArchived } from '../pipeline/harness';
import {
  assertSameDataSet,
  dcmtk,
  multipartParts,
  orthancInstances,
  receivedIn,
  sopOf,
  startStorescp,
  stopChild,
  stowBody,
} from './e2e-tools';

const TOKENS = { modality: 'orthanc-e2e-modality', workstation: 'orthanc-e2e-workstation' };
const SAMPLES_DIR = path.join(__dirname, '..', '..', 'samples');
// At least the retriever's seriesJobMin (16), so that DICOMweb retrievals take the series path.
const CT_SLICES = 20;
const CT_PATIENT = { name: 'ORTHANC^EVE', id: 'VEIL-ORTHANC-E2E' };

function headerOf(bytes: Buffer) {
  return parsePart10(bytes, { stopAtPixelData: true }).dataset;
}

/** The meta elements that name the object and its encoding agree (the writer's own may differ). */
function assertSameMetaIdentity(original: Buffer, received: Buffer): void {
  const a = parsePart10(original, { stopAtPixelData: true }).meta;
  const b = parsePart10(received, { stopAtPixelData: true }).meta;
  for (const tag of [0x00020002, 0x00020003, Tags.TransferSyntaxUID]) {
    assert.equal(b.string(tag), a.string(tag), `(0002,${(tag & 0xffff).toString(16)}) differs`);
  }
}

function orthancArchiveSuite(kind: 'dicomweb' | 'dimse'): void {
  describe(`e2e/orthanc-archive (archive.kind = ${kind}, real Orthanc)`, function () {
    this.timeout(300_000);
    let tmp: ReturnType<typeof tempDir>;
    let orthanc: RunningOrthanc;
    let gateway: Gateway;
    let storescp: ChildProcess | undefined;
    let storescpPort: number;
    /** Everything pushed so far, by SOP Instance UID. */
    const pushed = new Map<string, Buffer>();
    const series = generateCtSeries({
      slices: CT_SLICES + 1,
      rows: 96,
      columns: 96,
      seed: kind === 'dicomweb' ? 41 : 42,
      patient: CT_PATIENT,
    });
    const studyUID = headerOf(series[0]).string(Tags.StudyInstanceUID)!;

    before(async () => {
      dimseLog.setLevel('silent');
      tmp = tempDir(`veil-e2e-orthanc-${kind}-`);
      const dimsePort = await freePort();
      storescpPort = await freePort();
      // Orthanc knows Veil's AE (the C-GET requester of the DIMSE archive) at its real port.
      orthanc = await startOrthanc({
        veil: { aeTitle: 'VEIL', host: '127.0.0.1', port: dimsePort },
      });
      const config = testConfig(path.join(tmp.dir, 'data'), {
        VEIL_HTTP__HOST: '127.0.0.1',
        VEIL_HTTP__PORT: '0',
        VEIL_DIMSE__HOST: '127.0.0.1',
        VEIL_DIMSE__PORT: String(dimsePort),
        VEIL_WORKERS__PROCESSES: '1',
        VEIL_WORKERS__CONCURRENCY: '2',
        VEIL_DIMSE__DESTINATIONS: `STORESCP@127.0.0.1:${storescpPort}`,
        VEIL_HTTP__TOKENS: [
          `pacs:modality:${hashToken(TOKENS.modality)}`,
          `viewer:workstation:${hashToken(TOKENS.workstation)}`,
        ].join(','),
        ...orthancArchiveSettings(orthanc, kind),
      });
      gateway = await startGateway(config, silentLogger, {
        configDir: CONFIG_DIR,
        notice: () => undefined,
      });
      assert.equal(gateway.deps.archive.kind, kind);
    });
    after(async () => {
      await stopChild(storescp);
      await gateway?.close();
      await orthanc?.stop();
      tmp?.cleanup();
    });

    it('archives a CT study and the samples pushed by storescu', async () => {
      const inDir = path.join(tmp.dir, 'push');
      mkdirSync(inDir);
      const files: string[] = [];
      series.slice(0, CT_SLICES).forEach((bytes, i) => {
        const file = path.join(inDir, `ct${i}.dcm`);
        writeFileSync(file, bytes);
        files.push(file);
        pushed.set(sopOf(bytes), bytes);
      });
      for (const name of readdirSync(SAMPLES_DIR)
        .filter((n) => n.endsWith('.dcm'))
        .sort()) {
        const file = path.join(SAMPLES_DIR, name);
        pushed.set(sopOf(readFileSync(file)), readFileSync(file));
        files.push(file);
      }
      assert.equal(pushed.size, files.length, 'distinct SOP Instance UIDs');
      await dcmtk('storescu', ['-aec', 'VEIL', '127.0.0.1', String(gateway.dimsePort), ...files]);
      await waitArchived(gateway, pushed.keys());
    });

    it('leaves in Orthanc exactly the pushed instances, protected: no names, noise pixels, identity removed', async () => {
      const held = await orthancInstances(orthanc.httpUrl);
      assert.deepEqual(
        held.map((h) => h.tags.SOPInstanceUID as string).sort(),
        [...pushed.keys()].sort(),
      );
      const names = new Set([...pushed.values()].map((b) => headerOf(b).string(Tags.PatientName)!));
      const ids = new Set([...pushed.values()].map((b) => headerOf(b).string(Tags.PatientID)!));
      assert.ok(names.has(CT_PATIENT.name) && names.size >= 5);
      for (const h of held) {
        const original = pushed.get(h.tags.SOPInstanceUID as string)!;
        assert.equal(h.tags.PatientIdentityRemoved, 'YES');
        assert.ok(!names.has(h.tags.PatientName as string), 'original patient name in Orthanc');
        assert.ok(!ids.has(h.tags.PatientID as string), 'original patient ID in Orthanc');
        for (const name of names) {
          assert.equal(h.file.includes(Buffer.from(name)), false, 'a patient name in the file');
        }
        const storedSet = parsePart10(h.file).dataset;
        assert.ok(
          storedSet.tags().some((t) => t >>> 16 === 0x0009),
          'the private protection record (group 0009) is in Orthanc',
        );
        const before = parsePart10(original).dataset.get(Tags.PixelData)!.value!;
        const stored = storedSet.get(Tags.PixelData)!.value!;
        assert.equal(stored.length, before.length, 'pixel data length is preserved');
        assert.equal(stored.equals(before), false, 'Orthanc holds the original pixels');
      }
      // Orthanc's patient level shows pseudonyms only.
      const patients = (await (await fetch(`${orthanc.httpUrl}/patients?expand`)).json()) as Array<{
        MainDicomTags: { PatientName?: string; PatientID?: string };
      }>;
      for (const p of patients) {
        assert.ok(!names.has(p.MainDicomTags.PatientName ?? ''));
        assert.ok(!ids.has(p.MainDicomTags.PatientID ?? ''));
      }
    });

    it('finds the CT study with findscu', async () => {
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
        'PatientName',
        '-k',
        'NumberOfStudyRelatedInstances',
        '127.0.0.1',
        String(gateway.dimsePort),
      ]);
      assert.ok(out.includes(studyUID));
      assert.ok(out.includes(CT_PATIENT.name), 'the workstation sees the real name');
      assert.match(
        out,
        new RegExp(`IS \\[${CT_SLICES} ?\\]\\s+#\\s+\\d+, 1 NumberOfStudyRelatedInstances`),
      );
    });

    it('moves every pushed study into a DCMTK storescp: the originals, element for element', async () => {
      const outDir = path.join(tmp.dir, 'moved');
      mkdirSync(outDir);
      storescp = await startStorescp('STORESCP', storescpPort, outDir);
      const studies = new Set(
        [...pushed.values()].map((b) => headerOf(b).string(Tags.StudyInstanceUID)!),
      );
      for (const study of studies) {
        await dcmtk('movescu', [
          '-S',
          '-aec',
          'VEIL',
          '-aem',
          'STORESCP',
          '-k',
          'QueryRetrieveLevel=STUDY',
          '-k',
          `StudyInstanceUID=${study}`,
          '127.0.0.1',
          String(gateway.dimsePort),
        ]);
      }
      const received = receivedIn(outDir);
      assert.deepEqual([...received.keys()].sort(), [...pushed.keys()].sort());
      for (const [sop, bytes] of received) assertSameDataSet(pushed.get(sop)!, bytes);
    });

    it('returns every pushed instance by C-GET to getscu', async () => {
      const outDir = path.join(tmp.dir, 'got');
      mkdirSync(outDir);
      for (const bytes of pushed.values()) {
        const header = headerOf(bytes);
        await dcmtk('getscu', [
          '-S',
          '-aec',
          'VEIL',
          '-od',
          outDir,
          '-k',
          'QueryRetrieveLevel=IMAGE',
          '-k',
          `StudyInstanceUID=${header.string(Tags.StudyInstanceUID)!}`,
          '-k',
          `SeriesInstanceUID=${header.string(Tags.SeriesInstanceUID)!}`,
          '-k',
          `SOPInstanceUID=${header.string(Tags.SOPInstanceUID)!}`,
          '127.0.0.1',
          String(gateway.dimsePort),
        ]);
      }
      const received = receivedIn(outDir);
      assert.deepEqual([...received.keys()].sort(), [...pushed.keys()].sort());
      for (const [sop, bytes] of received) assertSameDataSet(pushed.get(sop)!, bytes);
    });

    it('stores one more slice over STOW-RS and returns the whole study over WADO-RS, as pushed', async () => {
      const extra = series[CT_SLICES];
      const sop = sopOf(extra);
      const base = `http://127.0.0.1:${gateway.httpPort}/dicom-web`;
      const boundary = 'veil-orthanc-e2e';
      const stored = await fetch(`${base}/studies/${studyUID}`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${TOKENS.modality}`,
          'content-type': `multipart/related; type="application/dicom"; boundary=${boundary}`,
          accept: 'application/dicom+json',
        },
        body: stowBody([extra], boundary),
      });
      assert.equal(stored.status, 200, await stored.clone().text());
      pushed.set(sop, extra);
      await waitArchived(gateway, [sop]);
      const held = await orthancInstances(orthanc.httpUrl);
      const inOrthanc = held.find((h) => h.tags.SOPInstanceUID === sop);
      assert.ok(inOrthanc, 'the STOW instance reached Orthanc');
      assert.equal(inOrthanc.file.includes(Buffer.from(CT_PATIENT.name)), false);

      const wado = await fetch(`${base}/studies/${studyUID}`, {
        headers: {
          authorization: `Bearer ${TOKENS.workstation}`,
          accept: 'multipart/related; type="application/dicom"',
        },
      });
      assert.equal(wado.status, 200);
      const parts = multipartParts(
        Buffer.from(await wado.arrayBuffer()),
        wado.headers.get('content-type')!,
      );
      const ct = series.map(sopOf);
      assert.deepEqual(parts.map(sopOf).sort(), [...ct].sort());
      for (const part of parts) {
        const original = pushed.get(sopOf(part))!;
        if (sopOf(part) === sop && kind === 'dicomweb') {
          // STOW-RS carries the whole file and Orthanc keeps the protected file as sent.
          assertSameInstance(original, part);
        } else {
          // DIMSE moves data sets only: the receiving side writes group 0002 itself (PS3.10 7.1).
          assertSameDataSet(original, part);
          assertSameMetaIdentity(original, part);
        }
      }
      // Over DICOMweb the CT series was read in series jobs (one WADO-RS request for the
      // series); the DIMSE archive has no series read and reveals instance by instance.
      const reveal = new Queue(QueueName.Reveal, { connection: redisConnection(gateway.redisUrl) });
      try {
        const jobs = await reveal.getJobs(['completed']);
        const seriesJobs = jobs.filter((j) => (j.data as RevealJobData).fromSeries === true);
        assert.ok(jobs.length > 0);
        assert.equal(seriesJobs.length > 0, kind === 'dicomweb');
      } finally {
        await reveal.close();
      }
    });
  });
}

orthancArchiveSuite('dicomweb');
orthancArchiveSuite('dimse');
