import assert from 'node:assert/strict';
import { log as dimseLog } from 'dcmjs-dimse';
import { DimseArchive } from '../../src/archive/dimse-archive';
import { Tags, parsePart10 } from '../../src/dicom';
import { isVeilError } from '../../src/errors';
import { type RunningOrthanc, freePort, startOrthanc } from '../helpers/orthanc';
import { archiveContract } from './contract';
import { patientNameOf, protectedSamples } from './fixtures';

describe('archive/dimse-archive (real Orthanc over DIMSE)', () => {
  let orthanc: RunningOrthanc;
  let archive: DimseArchive;
  const options = (port: number, extra: { orthancUrl?: string } = {}) => ({
    aeTitle: 'ORTHANC',
    host: '127.0.0.1',
    port,
    callingAeTitle: 'VEIL',
    retrieve: 'cget' as const,
    timeoutMs: 20000,
    ...extra,
  });
  before(async () => {
    dimseLog.setLevel('silent');
    orthanc = await startOrthanc({ veil: { aeTitle: 'VEIL', host: '127.0.0.1', port: 11112 } });
    archive = new DimseArchive(options(orthanc.dicomPort, { orthancUrl: orthanc.httpUrl }));
  });
  after(async () => {
    await archive?.close();
    await archive?.close();
    await orthanc?.stop();
  });

  archiveContract(() => archive, { byteExact: false });

  it('keeps every private element (the protection record) through C-STORE and C-GET, and Orthanc holds no originals', async () => {
    for (const s of await protectedSamples()) {
      await archive.put(s.ref, s.protected);
      const sent = parsePart10(s.protected).dataset;
      const back = parsePart10(await archive.get(s.ref)).dataset;
      const privateTags = sent.tags().filter((t) => (t >>> 16) % 2 === 1);
      assert.ok(privateTags.length > 0);
      for (const t of privateTags)
        assert.ok(back.get(t)?.value?.equals(sent.get(t)?.value ?? Buffer.alloc(0)));
      const lookup = await fetch(`${orthanc.httpUrl}/tools/lookup`, {
        method: 'POST',
        body: s.ref.sopInstanceUID,
      });
      const [hit] = (await lookup.json()) as Array<{ ID: string }>;
      const tags = (await (
        await fetch(`${orthanc.httpUrl}/instances/${hit.ID}/simplified-tags`)
      ).json()) as Record<string, unknown>;
      const file = Buffer.from(
        await (await fetch(`${orthanc.httpUrl}/instances/${hit.ID}/file`)).arrayBuffer(),
      );
      assert.notEqual(tags.PatientName, patientNameOf(s.original));
      assert.equal(file.includes(Buffer.from(patientNameOf(s.original))), false);
      const original = parsePart10(s.original).dataset.get(Tags.PixelData)?.value;
      const held = parsePart10(file).dataset.get(Tags.PixelData)?.value;
      assert.ok(original && held && !held.equals(original));
    }
  });

  it('refuses delete with VEIL_E_ARCHIVE_UNSUPPORTED without an Orthanc REST URL', async () => {
    const [s] = await protectedSamples();
    const plain = new DimseArchive(options(orthanc.dicomPort));
    await assert.rejects(plain.delete(s.ref), (e: unknown) =>
      isVeilError(e, 'VEIL_E_ARCHIVE_UNSUPPORTED'),
    );
  });

  it('reports VEIL_E_ARCHIVE_UNAVAILABLE and unhealthy when the port is closed', async () => {
    const [s] = await protectedSamples();
    const closed = new DimseArchive(options(await freePort()));
    const unavailable = (e: unknown) => isVeilError(e, 'VEIL_E_ARCHIVE_UNAVAILABLE');
    await assert.rejects(closed.put(s.ref, s.protected), unavailable);
    await assert.rejects(closed.get(s.ref), unavailable);
    await assert.rejects(closed.has(s.ref), unavailable);
    const health = await closed.health();
    assert.equal(health.ok, false);
    assert.match(health.detail ?? '', /ECONNREFUSED/);
  });
});
