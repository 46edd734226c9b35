/**
 * Storage commitment (PS3.4 Annex J) against a real SCU: Orthanc asks Veil over DIMSE (N-ACTION)
 * whether Veil took responsibility for instances storescu pushed, and receives Veil's report
 * (N-EVENT-REPORT) on an association Veil opens to it; Orthanc's REST API tells what it was told.
 * Malformed and unknown requests are sent with dcmjs-dimse's own client.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Client, Dataset, constants, log as dimseLog, requests } from 'dcmjs-dimse';
import { Tags, parsePart10 } from '../../src/dicom';
import { STORAGE_COMMITMENT_INSTANCE, STORAGE_COMMITMENT_PUSH } from '../../src/dimse/sop-classes';
import type { Gateway } from '../../src/pipeline/gateway';
import { startFaultGateway } from '../faults/gateway-fixture';
import { type RunningOrthanc, freePort, startOrthanc } from '../helpers/orthanc';
import { tempDir } from '../helpers/tools';
import { eventually, waitArchived } from '../pipeline/harness';
import { dcmtk } from './e2e-tools';

const SAMPLES = path.join(__dirname, '..', '..', 'samples');
const FILES = ['ct-slice.dcm', 'mono8.dcm', 'us-rgb-multiframe.dcm'].map((f) =>
  path.join(SAMPLES, f),
);

interface OrthancReport {
  Status: string;
  Success?: { SOPClassUID: string; SOPInstanceUID: string }[];
  Failures?: { SOPClassUID: string; SOPInstanceUID: string; FailureReason: number }[];
}

function uidsOf(file: string): { sopClassUID: string; sopInstanceUID: string } {
  const { dataset } = parsePart10(readFileSync(file), { stopAtPixelData: true });
  return {
    sopClassUID: dataset.string(Tags.SOPClassUID)!,
    sopInstanceUID: dataset.string(Tags.SOPInstanceUID)!,
  };
}

/** Sends one N-ACTION with dcmjs-dimse's client as `callingAe`; resolves with its status. */
function nAction(
  port: number,
  callingAe: string,
  elements: Record<string, unknown>,
  actionTypeId = 1,
): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    const request = new requests.NActionRequest(
      STORAGE_COMMITMENT_PUSH,
      STORAGE_COMMITMENT_INSTANCE,
      actionTypeId,
    );
    request.setDataset(new Dataset(elements, constants.TransferSyntax.ImplicitVRLittleEndian));
    let status: number | undefined;
    request.on('response', (r: { getStatus(): number }) => (status = r.getStatus()));
    client.addRequest(request);
    client.on('networkError', reject);
    client.on('closed', () => resolve(status));
    client.send('127.0.0.1', port, callingAe, 'VEIL');
  });
}

describe('e2e/storage-commitment (Orthanc as the modality asking for commitment; redis-server, Orthanc, DCMTK)', function () {
  this.timeout(240_000);
  let tmp: ReturnType<typeof tempDir>;
  let orthanc: RunningOrthanc;
  let gateway: Gateway;
  /** VEIL_* settings of the gateway, the same after its restart. */
  let settings: Record<string, string>;
  const stored = FILES.map(uidsOf);

  /** Orthanc sends the N-ACTION; resolves with the REST path of its report. */
  const requestCommitment = async (
    instances: { sopClassUID: string; sopInstanceUID: string }[],
  ): Promise<string> => {
    const res = await fetch(`${orthanc.httpUrl}/modalities/veil/storage-commitment`, {
      method: 'POST',
      body: JSON.stringify({
        DicomInstances: instances.map((i) => ({
          SOPClassUID: i.sopClassUID,
          SOPInstanceUID: i.sopInstanceUID,
        })),
      }),
    });
    assert.equal(res.status, 200, await res.clone().text());
    return ((await res.json()) as { Path: string }).Path;
  };
  /** What Orthanc was told, once it was told. */
  const reportAt = (Path: string): Promise<OrthancReport> =>
    eventually(async () => {
      const report = (await (await fetch(`${orthanc.httpUrl}${Path}`)).json()) as OrthancReport;
      return report.Status === 'Pending' ? undefined : report;
    }, 'the storage commitment report reaches Orthanc');
  const askCommitment = async (
    instances: { sopClassUID: string; sopInstanceUID: string }[],
  ): Promise<OrthancReport> => reportAt(await requestCommitment(instances));

  before(async () => {
    dimseLog.setLevel('silent');
    tmp = tempDir('veil-e2e-commitment-');
    const dimsePort = await freePort();
    orthanc = await startOrthanc({ veil: { aeTitle: 'VEIL', host: '127.0.0.1', port: dimsePort } });
    settings = {
      VEIL_DIMSE__PORT: String(dimsePort),
      // Orthanc receives its reports here; an instance not archived within 5 s is reported failed.
      VEIL_DIMSE__DESTINATIONS: `${orthanc.aeTitle}@127.0.0.1:${orthanc.dicomPort}`,
      VEIL_DIMSE__STORAGE_COMMITMENT_TIMEOUT_SECONDS: '5',
    };
    gateway = await startFaultGateway(path.join(tmp.dir, 'data'), settings);
    await dcmtk('storescu', ['-aec', 'VEIL', '127.0.0.1', String(gateway.dimsePort), ...FILES]);
    await waitArchived(
      gateway,
      stored.map((s) => s.sopInstanceUID),
    );
  });
  after(async () => {
    await gateway?.close();
    await orthanc?.stop();
    tmp?.cleanup();
  });

  it('commits every archived instance: Orthanc is told Success for each', async () => {
    const report = await askCommitment(stored);
    assert.equal(report.Status, 'Success');
    assert.deepEqual(
      (report.Success ?? []).map((s) => s.SOPInstanceUID).sort(),
      stored.map((s) => s.sopInstanceUID).sort(),
    );
    assert.deepEqual(report.Failures ?? [], []);
    // Counted once the report's association is released (Orthanc may show it a moment before).
    await eventually(async () => {
      const metrics = await gateway.deps.metrics.registry.getSingleMetricAsString(
        'veil_storage_commitments_total',
      );
      return /veil_storage_commitments_total\{outcome="committed"\} [1-9]/.test(metrics)
        ? true
        : undefined;
    }, 'the committed report counted');
  });

  it('reports an unknown instance as no such object (0x0112) and a wrong SOP class as a conflict (0x0119), after the wait', async () => {
    const unknown = { sopClassUID: stored[0]!.sopClassUID, sopInstanceUID: '2.25.1234567890' };
    const otherClass = ['1.2.840.10008.5.1.4.1.1.4', '1.2.840.10008.5.1.4.1.1.1'].find(
      (c) => c !== stored[1]!.sopClassUID,
    )!;
    const wrongClass = { ...stored[1]!, sopClassUID: otherClass };
    const started = Date.now();
    const report = await askCommitment([stored[0]!, unknown, wrongClass]);
    assert.equal(report.Status, 'Failure');
    assert.deepEqual(
      (report.Success ?? []).map((s) => s.SOPInstanceUID),
      [stored[0]!.sopInstanceUID],
    );
    const reasons = new Map(
      (report.Failures ?? []).map((f) => [`${f.SOPClassUID}/${f.SOPInstanceUID}`, f.FailureReason]),
    );
    assert.equal(reasons.get(`${unknown.sopClassUID}/${unknown.sopInstanceUID}`), 0x0112);
    assert.equal(reasons.get(`${wrongClass.sopClassUID}/${wrongClass.sopInstanceUID}`), 0x0119);
    // The unknown one was waited for (it could still have been on its way), up to the timeout.
    assert.ok(Date.now() - started >= 4_000, 'waited for the unknown instance');
  });

  it('refuses malformed requests, other actions and AEs it cannot report to, and keeps serving', async () => {
    const port = gateway.dimsePort;
    const item = {
      ReferencedSOPClassUID: stored[0]!.sopClassUID,
      ReferencedSOPInstanceUID: stored[0]!.sopInstanceUID,
    };
    // No Transaction UID: invalid argument value.
    assert.equal(await nAction(port, orthanc.aeTitle, { ReferencedSOPSequence: [item] }), 0x0115);
    // No referenced instance.
    assert.equal(await nAction(port, orthanc.aeTitle, { TransactionUID: '2.25.77' }), 0x0115);
    // An action other than "request storage commitment".
    assert.equal(
      await nAction(
        port,
        orthanc.aeTitle,
        { TransactionUID: '2.25.78', ReferencedSOPSequence: [item] },
        2,
      ),
      0x0123,
    );
    // An AE without an address in dimse.destinations: nowhere to send the report.
    assert.equal(
      await nAction(port, 'NOWHERE', { TransactionUID: '2.25.79', ReferencedSOPSequence: [item] }),
      0x0110,
    );
    const failures =
      await gateway.deps.metrics.registry.getSingleMetricAsString('veil_failures_total');
    assert.match(failures, /code="VEIL_E_COMMITMENT_INVALID",stage="commitment"\} 2/);
    // Still serving: a valid request is taken and reported.
    const report = await askCommitment([stored[2]!]);
    assert.equal(report.Status, 'Success');
  });

  it('keeps a pending transaction across a restart of the gateway, and reports it then', async () => {
    const unknown = { sopClassUID: stored[0]!.sopClassUID, sopInstanceUID: '2.25.987654321' };
    // The unknown instance keeps the transaction waiting (up to 5 s): the gateway stops meanwhile.
    const reportPath = await requestCommitment([stored[0]!, unknown]);
    await eventually(
      () => (gateway.deps.catalogue.pendingCommitments().length === 1 ? true : undefined),
      'the transaction kept in the catalogue',
    );
    await gateway.close();
    gateway = await startFaultGateway(path.join(tmp.dir, 'data'), settings);
    const report = await reportAt(reportPath);
    assert.equal(report.Status, 'Failure');
    assert.deepEqual(
      (report.Success ?? []).map((s) => s.SOPInstanceUID),
      [stored[0]!.sopInstanceUID],
    );
    assert.deepEqual(
      (report.Failures ?? []).map((f) => [f.SOPInstanceUID, f.FailureReason]),
      [[unknown.sopInstanceUID, 0x0112]],
    );
    await eventually(
      () => (gateway.deps.catalogue.pendingCommitments().length === 0 ? true : undefined),
      'the reported transaction forgotten',
    );
  });
});
