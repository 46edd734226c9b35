import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { DicomWebArchive } from '../../src/archive/dicomweb-archive';
import { Tags, parsePart10 } from '../../src/dicom';
import { isVeilError } from '../../src/errors';
import { type RunningOrthanc, freePort, startOrthanc } from '../helpers/orthanc';
import { archiveContract } from './contract';
import { patientNameOf, protectedSamples, refOf } from './fixtures';
import { generateCtSeries } from '../../samples/generate';
import { protect } from '../../src/protection';
import { testKey } from '../helpers/keys';
import { protectOptions } from '../helpers/options';

/** What Orthanc's REST API says about an instance it holds. */
async function orthancInstance(orthanc: RunningOrthanc, sopInstanceUID: string) {
  const lookup = await fetch(`${orthanc.httpUrl}/tools/lookup`, {
    method: 'POST',
    body: sopInstanceUID,
  });
  const hits = (await lookup.json()) as Array<{ Type: string; ID: string }>;
  const id = hits.find((h) => h.Type === 'Instance')?.ID;
  assert.ok(id, 'Orthanc holds the instance');
  const tags = (await (
    await fetch(`${orthanc.httpUrl}/instances/${id}/simplified-tags`)
  ).json()) as Record<string, unknown>;
  const file = Buffer.from(
    await (await fetch(`${orthanc.httpUrl}/instances/${id}/file`)).arrayBuffer(),
  );
  return { id, tags, file };
}

/** Fraction of positions where two equally long buffers hold the same byte. */
function sameByteRatio(a: Buffer, b: Buffer): number {
  let same = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
  return same / a.length;
}

describe('archive/dicomweb-archive (real Orthanc with DICOMweb)', () => {
  let orthanc: RunningOrthanc;
  let archive: DicomWebArchive;
  before(async () => {
    orthanc = await startOrthanc();
    archive = new DicomWebArchive({ url: orthanc.dicomWebUrl });
  });
  after(async () => {
    await archive?.close();
    await orthanc?.stop();
  });

  archiveContract(() => archive, { byteExact: true });

  it('gives Orthanc only noise pixels and no patient names, and Orthanc keeps the file as sent', async () => {
    for (const s of await protectedSamples()) {
      await archive.put(s.ref, s.protected);
      const held = await orthancInstance(orthanc, s.ref.sopInstanceUID);
      assert.ok(held.file.equals(s.protected), `${s.name}: Orthanc stored other bytes`);
      const name = patientNameOf(s.original);
      assert.ok(name.length > 0);
      assert.notEqual(held.tags.PatientName, name);
      assert.equal(
        held.file.includes(Buffer.from(name)),
        false,
        'original patient name in the file',
      );
      const originalPixels = parsePart10(s.original).dataset.get(Tags.PixelData)?.value;
      const heldPixels = parsePart10(held.file).dataset.get(Tags.PixelData)?.value;
      assert.ok(originalPixels && heldPixels && heldPixels.length === originalPixels.length);
      assert.ok(
        sameByteRatio(originalPixels, heldPixels) < 0.05,
        `${s.name}: pixels look like the originals`,
      );
      assert.equal(held.tags.PatientIdentityRemoved, 'YES');
    }
  });

  it('streams a whole series in one WADO-RS request, each object as stored', async () => {
    const key = await testKey('archive');
    const series = generateCtSeries({ slices: 3, rows: 32, columns: 32 }).map((original) => {
      const bytes = protect(original, protectOptions([key])).bytes;
      return { bytes, ref: refOf(bytes) };
    });
    for (const s of series) await archive.put(s.ref, s.bytes);
    const streamed: Buffer[] = [];
    for await (const part of archive.getSeries(series[0]!.ref)) streamed.push(part);
    const bySop = new Map(streamed.map((b) => [refOf(b).sopInstanceUID, b]));
    assert.equal(streamed.length, 3);
    for (const s of series) assert.ok(bySop.get(s.ref.sopInstanceUID)?.equals(s.bytes));
    // A series the archive does not hold is an empty stream, not an error.
    const unknown = { ...series[0]!.ref, seriesInstanceUID: '1.2.826.0.1.3680043.99.404' };
    const none: Buffer[] = [];
    for await (const part of archive.getSeries(unknown)) none.push(part);
    assert.deepEqual(none, []);
    // A series that is not a UID is refused before any request.
    const notUid = archive.getSeries({ ...unknown, seriesInstanceUID: '../1' });
    await assert.rejects(notUid[Symbol.asyncIterator]().next(), (err) =>
      isVeilError(err, 'VEIL_E_UID_INVALID'),
    );
    // Stopping early lets the response go (the next request still works).
    for await (const part of archive.getSeries(series[0]!.ref)) {
      assert.ok(part.length > 0);
      break;
    }
    assert.ok((await archive.get(series[1]!.ref)).equals(series[1]!.bytes));
  });

  it('refuses delete with VEIL_E_ARCHIVE_UNSUPPORTED when the server is not known to be Orthanc', async () => {
    const [s] = await protectedSamples();
    const plain = new DicomWebArchive({ url: `http://127.0.0.1:${orthanc.dicomPort}/wado` });
    await assert.rejects(plain.delete(s.ref), (e: unknown) =>
      isVeilError(e, 'VEIL_E_ARCHIVE_UNSUPPORTED'),
    );
  });

  it('sends HTTP basic credentials when configured (Orthanc ignores them with auth off)', async () => {
    const [s] = await protectedSamples();
    const withAuth = new DicomWebArchive({
      url: orthanc.dicomWebUrl,
      username: 'veil',
      password: 'x',
    });
    await withAuth.put(s.ref, s.protected);
    assert.equal(await withAuth.has(s.ref), true);
  });

  it('reports VEIL_E_ARCHIVE_UNAVAILABLE and unhealthy when nothing listens', async () => {
    const [s] = await protectedSamples();
    const closed = new DicomWebArchive({ url: `http://127.0.0.1:${await freePort()}/dicom-web` });
    const unavailable = (e: unknown) => isVeilError(e, 'VEIL_E_ARCHIVE_UNAVAILABLE');
    await assert.rejects(closed.put(s.ref, s.protected), unavailable);
    await assert.rejects(closed.get(s.ref), unavailable);
    await assert.rejects(closed.has(s.ref), unavailable);
    await assert.rejects(closed.delete(s.ref), unavailable);
    const health = await closed.health();
    assert.equal(health.ok, false);
    assert.match(health.detail ?? '', /ECONNREFUSED/);
  });

  it('reports VEIL_E_ARCHIVE_UNAVAILABLE when Orthanc stops', async () => {
    const [s] = await protectedSamples();
    const own = await startOrthanc();
    const gone = new DicomWebArchive({ url: own.dicomWebUrl });
    await gone.put(s.ref, s.protected);
    assert.deepEqual(await gone.health(), { ok: true });
    await own.stop();
    const unavailable = (e: unknown) => isVeilError(e, 'VEIL_E_ARCHIVE_UNAVAILABLE');
    await assert.rejects(gone.get(s.ref), unavailable);
    await assert.rejects(gone.put(s.ref, s.protected), unavailable);
    assert.equal((await gone.health()).ok, false);
  });

  it('reads a slow WADO-RS answer whole, and reports VEIL_E_ARCHIVE_UNAVAILABLE when one breaks off or goes silent', async () => {
    const [s] = await protectedSamples();
    const boundary = 'veil-test-boundary';
    let mode: 'reset' | 'silent' | 'no-answer' | 'slow' = 'slow';
    const server = http.createServer((_req, res) => {
      if (mode === 'no-answer') return;
      if (mode === 'slow') {
        // The whole object in 10 pieces, 100 ms apart: 1 s in all, never 300 ms of silence.
        res.writeHead(200, {
          'Content-Type': `multipart/related; type="application/dicom"; boundary=${boundary}`,
        });
        const body = Buffer.concat([
          Buffer.from(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`),
          s.protected,
          Buffer.from(`\r\n--${boundary}--\r\n`),
        ]);
        const step = Math.ceil(body.length / 10);
        let at = 0;
        const timer = setInterval(() => {
          res.write(body.subarray(at, (at += step)));
          if (at >= body.length) {
            clearInterval(timer);
            res.end();
          }
        }, 100);
        return;
      }
      res.writeHead(200, {
        'Content-Type': `multipart/related; type="application/dicom"; boundary=${boundary}`,
      });
      // The head of a part and half of its object, then a reset or silence.
      res.write(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`);
      res.write(s.protected.subarray(0, s.protected.length >> 1));
      if (mode === 'reset') setTimeout(() => res.socket?.resetAndDestroy(), 20);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const broken = new DicomWebArchive({
      url: `http://127.0.0.1:${port}/dicom-web`,
      timeoutMs: 300,
    });
    try {
      // A read that takes longer than the timeout but never falls silent is not cut.
      const slow = await broken.get(s.ref);
      assert.ok(slow.equals(s.protected), 'the slow answer arrives whole');
      for (const m of ['reset', 'silent', 'no-answer'] as const) {
        mode = m;
        await assert.rejects(broken.get(s.ref), (e: unknown) => {
          assert.ok(isVeilError(e, 'VEIL_E_ARCHIVE_UNAVAILABLE'), `${m}: ${String(e)}`);
          if (m === 'no-answer') assert.equal(e.details.reason, 'timeout');
          return true;
        });
        const series = broken.getSeries!(s.ref)[Symbol.asyncIterator]();
        await assert.rejects(series.next(), (e: unknown) =>
          isVeilError(e, 'VEIL_E_ARCHIVE_UNAVAILABLE'),
        );
      }
    } finally {
      await broken.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
