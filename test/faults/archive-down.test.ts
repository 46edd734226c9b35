/**
 * Faults: the archive (a real Orthanc over DICOMweb) dies during ingest and comes back on the same
 * ports and storage. Ingest goes on being acknowledged while it is down (acknowledgement needs the
 * spool and Redis, not the archive); protect jobs fail with a transient error and back off;
 * /readyz names the archive; once Orthanc is back every acknowledged instance lands in it exactly
 * once and WADO-RS from Veil reveals each to the original.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { log as dimseLog } from 'dcmjs-dimse';
import { Tags, parsePart10 } from '../../src/dicom';
import type { Gateway } from '../../src/pipeline/gateway';
import { protectJobId } from '../../src/pipeline/jobs';
import { assertSameDataSet, multipartParts, orthancInstances, sopOf } from '../e2e/e2e-tools';
import { type RunningOrthanc, orthancArchiveSettings, startOrthanc } from '../helpers/orthanc';
import { tempDir } from '../helpers/tools';
import { eventually } from '../pipeline/harness';
import {
  WORKSTATION_TOKEN,
  readyz,
  spoolFiles,
  startFaultGateway,
  storeStatuses,
  storescu,
  stow,
  waitArchived,
  writeSeries,
} from './gateway-fixture';

describe('faults/archive-down: Orthanc (DICOMweb archive) killed during ingest and restarted', function () {
  this.timeout(600_000);
  let tmp: ReturnType<typeof tempDir>;
  let orthanc: RunningOrthanc | undefined;
  let gateway: Gateway | undefined;

  before(async () => {
    dimseLog.setLevel('silent');
    tmp = tempDir('veil-faults-archive-');
    orthanc = await startOrthanc();
    // Exponential backoff from 1 s over 8 attempts spans ~2 minutes: the outage fits in it.
    gateway = await startFaultGateway(path.join(tmp.dir, 'data'), {
      ...orthancArchiveSettings(orthanc),
      VEIL_JOBS__ATTEMPTS: '8',
      VEIL_JOBS__BACKOFF_MS: '1000',
    });
  });
  after(async () => {
    await gateway?.close();
    await orthanc?.stop();
    tmp?.cleanup();
  });

  it('keeps acknowledging, backs off, says so in /readyz, and lands everything once Orthanc is back', async () => {
    const gw = gateway!;
    const running = orthanc!;
    const first = writeSeries(path.join(tmp.dir, 'first'), 901, 3);
    const during = writeSeries(path.join(tmp.dir, 'during'), 902, 6);
    const ok = await storescu(gw.dimsePort, first.files);
    assert.deepEqual(storeStatuses(ok.output), ['Success', 'Success', 'Success']);
    await waitArchived(gw, first.bytes.keys());

    await running.crash();
    const down = await eventually(async () => {
      const r = await readyz(gw.httpPort);
      return r.status === 503 ? r : undefined;
    }, '/readyz 503 while the archive is down');
    assert.deepEqual(down.failing, ['archive']);

    // Acknowledged while the archive is down: four over DIMSE, two over STOW-RS.
    const dimse = await storescu(gw.dimsePort, during.files.slice(0, 4));
    assert.deepEqual(storeStatuses(dimse.output), ['Success', 'Success', 'Success', 'Success']);
    const stowed = await stow(gw.httpPort, [...during.bytes.values()].slice(4));
    assert.equal(stowed.status, 200, stowed.body);

    // Every protect job fails with a transient archive error, backs off and is tried again.
    const jobs = await eventually(async () => {
      const found = await Promise.all(
        [...during.bytes.keys()].map((sop) => gw.deps.queues.protect.getJob(protectJobId(sop))),
      );
      return found.every((j) => j !== undefined && j.attemptsMade >= 2) ? found : undefined;
    }, 'each protect job tried twice');
    for (const job of jobs) {
      assert.match(job!.failedReason, /^VEIL_E_ARCHIVE_UNAVAILABLE/);
      assert.ok(['delayed', 'active', 'waiting'].includes(await job!.getState()));
    }
    assert.equal((await gw.deps.queues.protect.getJobCounts('failed')).failed, 0);
    for (const sop of during.bytes.keys()) {
      assert.notEqual(gw.deps.catalogue.get(sop)?.state, 'archived');
    }
    assert.equal(spoolFiles(path.join(tmp.dir, 'data', 'spool')).queued.length, 6);

    await running.restart();
    await eventually(
      async () => ((await readyz(gw.httpPort)).status === 200 ? true : undefined),
      '/readyz 200 with the archive back',
    );
    const all = new Map([...first.bytes, ...during.bytes]);
    await waitArchived(gw, all.keys());
    assert.equal((await gw.deps.queues.protect.getJobCounts('failed')).failed, 0);

    // Orthanc holds each acknowledged instance exactly once, and nothing else.
    const held = await orthancInstances(running.httpUrl);
    const heldSops = held.map((h) => h.tags.SOPInstanceUID as string).sort();
    assert.deepEqual(heldSops, [...all.keys()].sort());
    assert.equal(new Set(heldSops).size, held.length);

    // And each reveals to the original through Veil (WADO-RS).
    const study = (bytes: Buffer) =>
      parsePart10(bytes, { stopAtPixelData: true }).dataset.string(Tags.StudyInstanceUID)!;
    const studies = new Set([...all.values()].map(study));
    const revealed = new Map<string, Buffer>();
    for (const studyUID of studies) {
      const res = await fetch(`http://127.0.0.1:${gw.httpPort}/dicom-web/studies/${studyUID}`, {
        headers: {
          authorization: `Bearer ${WORKSTATION_TOKEN}`,
          accept: 'multipart/related; type="application/dicom"',
        },
      });
      assert.equal(res.status, 200);
      const body = Buffer.from(await res.arrayBuffer());
      for (const part of multipartParts(body, res.headers.get('content-type')!)) {
        revealed.set(sopOf(part), part);
      }
    }
    assert.deepEqual([...revealed.keys()].sort(), [...all.keys()].sort());
    for (const [sop, bytes] of revealed) assertSameDataSet(all.get(sop)!, bytes);
  });
});
