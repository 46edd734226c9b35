/**
 * DICOMweb end to end over the real pipeline (needs redis-server): STOW-RS of the samples,
 * protection by in-process workers, QIDO-RS from the catalogue, WADO-RS of revealed instances.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { Tags, parsePart10, textElement } from '../../src/dicom';
import { spoolLayout } from '../../src/pipeline/spool';
import { assertSameInstance } from '../helpers/compare';
import { syntheticInstance } from '../helpers/synthetic';
import { eventually } from '../pipeline/harness';
import { bearer, startGateway, type TestGateway } from './harness';
import { multipartBody, readParts } from './multipart-helpers';

const SAMPLES = ['ct-slice.dcm', 'mono8.dcm', 'us-rgb-multiframe.dcm', 'us-rgb-planar.dcm'];
const PATIENT_NAMES = ['DOE^JANE', 'DOE^JOHN', 'POE^MARY'];

interface Sample {
  bytes: Buffer;
  sop: string;
  sopClass: string;
  study: string;
  series: string;
}

function sampleOf(file: string): Sample {
  const bytes = readFileSync(path.join(__dirname, '..', '..', 'samples', file));
  const { dataset } = parsePart10(bytes);
  return {
    bytes,
    sop: dataset.string(Tags.SOPInstanceUID)!,
    sopClass: dataset.string(Tags.SOPClassUID)!,
    study: dataset.string(Tags.StudyInstanceUID)!,
    series: dataset.string(Tags.SeriesInstanceUID)!,
  };
}

type Json = Record<string, { vr: string; Value?: unknown[] }>;

describe('api/dicomweb (STOW-RS, QIDO-RS, WADO-RS over the real pipeline; redis-server)', function () {
  this.timeout(180_000);
  let gw: TestGateway;
  const samples = SAMPLES.map(sampleOf);
  const [ct, mono, usA, usB] = samples as [Sample, Sample, Sample, Sample];
  const bodies: string[] = [];

  const stow = async (parts: { bytes: Buffer; type?: string }[], study?: string) => {
    const { body, contentType } = multipartBody(parts);
    const res = await fetch(`${gw.url}/dicom-web/studies${study ? `/${study}` : ''}`, {
      method: 'POST',
      headers: {
        ...bearer('modality'),
        'content-type': contentType,
        accept: 'application/dicom+json',
      },
      body,
    });
    const text = await res.text();
    bodies.push(text);
    return { res, json: text ? (JSON.parse(text) as Json) : {} };
  };
  const get = async (p: string, headers: Record<string, string> = {}) => {
    const res = await fetch(`${gw.url}${p}`, { headers: { ...bearer('workstation'), ...headers } });
    const bytes = Buffer.from(await res.arrayBuffer());
    if (!(res.headers.get('content-type') ?? '').startsWith('multipart/'))
      bodies.push(bytes.toString('utf8'));
    return { res, bytes };
  };
  const archived = (sop: string) =>
    eventually(
      () => (gw.deps.catalogue.get(sop)?.state === 'archived' ? true : undefined),
      `${sop} archived`,
    );

  before(async () => {
    gw = await startGateway();
  });
  after(async () => {
    await gw?.close();
  });

  it('stores the samples with STOW-RS: 200 and a ReferencedSOPSequence item per instance', async () => {
    const { res, json } = await stow(samples.map((s) => ({ bytes: s.bytes })));
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/dicom\+json/);
    const refs = json['00081199']!.Value as Json[];
    assert.equal(refs.length, samples.length);
    for (const [i, s] of samples.entries()) {
      assert.deepEqual(refs[i]!['00081155'], { vr: 'UI', Value: [s.sop] });
      assert.deepEqual(refs[i]!['00081150'], { vr: 'UI', Value: [s.sopClass] });
      assert.equal(
        (refs[i]!['00081190']!.Value as string[])[0],
        `${gw.url}/dicom-web/studies/${s.study}/series/${s.series}/instances/${s.sop}`,
      );
    }
    assert.equal(json['00081198'], undefined);
    for (const s of samples) await archived(s.sop);
    const stored = gw.audits.find(
      (a) => a.type === 'DICOMInstancesTransferred' && a.action === 'C',
    );
    assert.equal(stored?.user, 'modality');
    assert.deepEqual(
      stored?.sopInstanceUIDs,
      samples.map((s) => s.sop),
    );
  });

  it('answers QIDO-RS /studies with DICOM JSON, PN as {Alphabetic}, [] when nothing matches', async () => {
    const { res, bytes } = await get('/dicom-web/studies?PatientName=DOE*');
    assert.equal(res.status, 200);
    const studies = JSON.parse(bytes.toString()) as Json[];
    assert.deepEqual(
      studies.map((s) => (s['0020000D']!.Value as string[])[0]).sort(),
      [ct.study, mono.study].sort(),
    );
    const jane = studies.find((s) => (s['0020000D']!.Value as string[])[0] === ct.study)!;
    assert.deepEqual(jane['00100010'], { vr: 'PN', Value: [{ Alphabetic: 'DOE^JANE' }] });
    assert.deepEqual(jane['00201208'], { vr: 'IS', Value: [1] });
    assert.equal(
      (jane['00081190']!.Value as string[])[0],
      `${gw.url}/dicom-web/studies/${ct.study}`,
    );
    assert.equal(jane['00081030'], undefined, 'StudyDescription is not a default attribute');
    const none = await get('/dicom-web/studies?PatientName=NOBODY');
    assert.equal(none.res.status, 200);
    assert.deepEqual(JSON.parse(none.bytes.toString()), []);
    const audit = gw.audits.find((a) => a.type === 'Query');
    assert.deepEqual(audit?.query, { level: 'STUDY', keys: ['PatientName'] });
  });

  it('matches by tag, honours includefield, limit and offset, and lists series and instances', async () => {
    const byTag = await get(
      `/dicom-web/studies?0020000D=${usA.study}&includefield=StudyDescription,00081030`,
    );
    const [study] = JSON.parse(byTag.bytes.toString()) as Json[];
    assert.ok(study && '00081030' in study, 'includefield adds StudyDescription');
    const all = JSON.parse(
      (await get(`/dicom-web/studies/${usA.study}/series?includefield=all`)).bytes.toString(),
    ) as Json[];
    assert.deepEqual(
      all.map((s) => (s['0020000E']!.Value as string[])[0]).sort(),
      [usA.series, usB.series].sort(),
    );
    const page1 = JSON.parse(
      (await get('/dicom-web/studies?limit=2&offset=0')).bytes.toString(),
    ) as Json[];
    const page2 = JSON.parse(
      (await get('/dicom-web/studies?limit=2&offset=2')).bytes.toString(),
    ) as Json[];
    assert.equal(page1.length, 2);
    assert.equal(page2.length, 1, 'three studies: the two US series share one');
    const instances = JSON.parse(
      (
        await get(`/dicom-web/studies/${usA.study}/series/${usA.series}/instances`)
      ).bytes.toString(),
    ) as Json[];
    assert.deepEqual(
      instances.map((i) => (i['00080018']!.Value as string[])[0]),
      [usA.sop],
    );
    const acrossStudies = JSON.parse(
      (await get(`/dicom-web/instances?SOPInstanceUID=${ct.sop},${mono.sop}`)).bytes.toString(),
    ) as Json[];
    assert.equal(acrossStudies.length, 2);
    const fuzzy = JSON.parse(
      (await get('/dicom-web/studies?PatientName=poe&fuzzymatching=true')).bytes.toString(),
    ) as Json[];
    assert.deepEqual(
      fuzzy.map((s) => (s['0020000D']!.Value as string[])[0]),
      [usA.study],
    );
  });

  it('rejects bad QIDO-RS parameters with 400 and unacceptable media with 406', async () => {
    for (const q of [
      'NoSuchKeyword=1',
      'limit=-1',
      'offset=x',
      'fuzzymatching=maybe',
      'includefield=Bogus',
      'StudyInstanceUID=1..2',
    ]) {
      const { res, bytes } = await get(`/dicom-web/studies?${q}`);
      assert.equal(res.status, 400, q);
      assert.match(JSON.parse(bytes.toString()).code, /^VEIL_E_/);
    }
    const { res } = await get('/dicom-web/studies', { accept: 'application/dicom+xml' });
    assert.equal(res.status, 406);
  });

  it('streams WADO-RS instances equal to the originals, private tags included', async () => {
    const { res, bytes } = await get(`/dicom-web/studies/${usA.study}`, {
      accept: 'multipart/related; type="application/dicom"',
    });
    assert.equal(res.status, 200);
    const parts = await readParts(res.headers.get('content-type')!, bytes);
    assert.equal(parts.length, 2);
    const byUid = new Map([usA, usB].map((s) => [s.sop, s]));
    for (const part of parts) {
      assert.equal(part.headers['content-type'], 'application/dicom');
      const sop = parsePart10(part.bytes).dataset.string(Tags.SOPInstanceUID)!;
      assertSameInstance(byUid.get(sop)!.bytes, part.bytes);
    }
    const one = await get(`/dicom-web/studies/${ct.study}/series/${ct.series}/instances/${ct.sop}`);
    const [ctPart] = await readParts(one.res.headers.get('content-type')!, one.bytes);
    assertSameInstance(ct.bytes, ctPart!.bytes);
    const original = parsePart10(ct.bytes).dataset;
    const revealed = parsePart10(ctPart!.bytes).dataset;
    const privates = original.tags().filter((t) => (t >>> 16) % 2 === 1);
    assert.ok(privates.length > 0);
    for (const t of privates) assert.deepEqual(revealed.get(t)?.value, original.get(t)?.value);
    const series = await get(`/dicom-web/studies/${usA.study}/series/${usB.series}`);
    const [seriesPart] = await readParts(series.res.headers.get('content-type')!, series.bytes);
    assertSameInstance(usB.bytes, seriesPart!.bytes);
  });

  it('keeps serving after a client leaves in the middle of a WADO-RS, and leaves no revealed file', async () => {
    const url = new URL(`${gw.url}/dicom-web/studies/${usA.study}`);
    await new Promise<void>((resolve, reject) => {
      const req = http.get(
        url,
        {
          headers: {
            ...bearer('workstation'),
            accept: 'multipart/related; type="application/dicom"',
          },
        },
        (res) => {
          assert.equal(res.statusCode, 200);
          // The first bytes of the first instance, then the client goes away.
          res.once('data', () => {
            req.destroy();
            resolve();
          });
        },
      );
      req.on('error', (err) => (req.destroyed ? undefined : reject(err)));
    });
    const outgoing = spoolLayout(gw.config.spool.dir).outgoing;
    await eventually(
      () => (readdirSync(outgoing).length === 0 ? true : undefined),
      'revealed files released',
    );
    const { res, bytes } = await get(`/dicom-web/studies/${usA.study}`, {
      accept: 'multipart/related; type="application/dicom"',
    });
    assert.equal(res.status, 200);
    assert.equal((await readParts(res.headers.get('content-type')!, bytes)).length, 2);
  });

  it('answers /metadata with the revealed header as DICOM JSON, bulk data by BulkDataURI', async () => {
    const { res, bytes } = await get(
      `/dicom-web/studies/${ct.study}/series/${ct.series}/instances/${ct.sop}/metadata`,
    );
    assert.equal(res.status, 200);
    const [meta] = JSON.parse(bytes.toString()) as (Json &
      Record<string, { BulkDataURI?: string }>)[];
    assert.deepEqual(meta!['00100010'], { vr: 'PN', Value: [{ Alphabetic: 'DOE^JANE' }] });
    assert.deepEqual(meta!['00280010'], { vr: 'US', Value: [512] });
    const instanceUrl = `${gw.url}/dicom-web/studies/${ct.study}/series/${ct.series}/instances/${ct.sop}`;
    assert.deepEqual(meta!['7FE00010'], { vr: 'OW', BulkDataURI: `${instanceUrl}/bulk/7FE00010` });
    const pixels = await get(new URL(meta!['7FE00010']!.BulkDataURI!).pathname);
    assert.equal(pixels.res.status, 200);
    const [part] = await readParts(pixels.res.headers.get('content-type')!, pixels.bytes);
    assert.ok(part!.bytes.equals(parsePart10(ct.bytes).dataset.get(Tags.PixelData)!.value!));
  });

  it('serves a large private binary value as bulk data, small ones inline, and 404 for no bulk data', async () => {
    const blob = Buffer.alloc(100_000);
    for (let i = 0; i < blob.length; i++) blob[i] = (i * 7919) & 0xff;
    const small = Buffer.from('tiny-private-value');
    const bytes = syntheticInstance({
      patientName: 'SYN^BULK',
      extra: (ds) => {
        ds.set(textElement(0x00290010, 'LO', 'VEIL TEST BULK'));
        ds.set({ tag: 0x00291001, vr: 'OB', value: blob });
        ds.set({ tag: 0x00291002, vr: 'OB', value: small });
      },
    });
    const { dataset } = parsePart10(bytes);
    const [study, series, sop] = [
      Tags.StudyInstanceUID,
      Tags.SeriesInstanceUID,
      Tags.SOPInstanceUID,
    ].map((t) => dataset.string(t)!);
    assert.equal((await stow([{ bytes }])).res.status, 200);
    await archived(sop!);
    const path = `/dicom-web/studies/${study}/series/${series}/instances/${sop}`;
    const meta = (
      JSON.parse((await get(`${path}/metadata`)).bytes.toString()) as Record<
        string,
        { vr: string; BulkDataURI?: string; InlineBinary?: string }
      >[]
    )[0]!;
    assert.equal(meta['00291002']!.InlineBinary, small.toString('base64'));
    assert.equal(meta['00291001']!.BulkDataURI, `${gw.url}${path}/bulk/00291001`);
    const r = await get(`${path}/bulk/00291001`);
    assert.equal(r.res.status, 200);
    const parts = await readParts(r.res.headers.get('content-type')!, r.bytes);
    assert.equal(parts.length, 1);
    assert.match(parts[0]!.headers['content-type']!, /^application\/octet-stream/);
    assert.ok(parts[0]!.bytes.equals(blob), 'the private value, byte for byte');
    assert.equal((await get(`${path}/bulk/00100010`)).res.status, 404, 'text is no bulk data');
    assert.equal((await get(`${path}/bulk/00291003`)).res.status, 404, 'absent');
    assert.equal((await get(`${path}/bulk/7fe0`)).res.status, 400);
    assert.equal(
      (await get(`${path}/bulk/00291001`, { accept: 'application/dicom' })).res.status,
      406,
    );
  });

  it('refuses WADO-RS with 404 for unknown UIDs, 400 for invalid ones, 406 for other media', async () => {
    assert.equal((await get('/dicom-web/studies/1.2.3.4.5.6')).res.status, 404);
    // No http.corsOrigins: a page from another origin gets no CORS headers.
    const cross = await get(`/dicom-web/studies/${ct.study}/metadata`, {
      origin: 'https://a.example',
    });
    assert.equal(cross.res.status, 200);
    assert.equal(cross.res.headers.get('access-control-allow-origin'), null);
    const bad = await get('/dicom-web/studies/1.2.abc');
    assert.equal(bad.res.status, 400);
    assert.equal(JSON.parse(bad.bytes.toString()).code, 'VEIL_E_UID_INVALID');
    assert.equal(
      (await get(`/dicom-web/studies/${ct.study}`, { accept: 'image/jpeg' })).res.status,
      406,
    );
    const ts = await get(`/dicom-web/studies/${ct.study}`, {
      accept: 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.50',
    });
    assert.equal(ts.res.status, 406);
  });

  it('never delivers a tampered instance: an application/problem+json part names it, and it is audited', async () => {
    const ref = {
      studyInstanceUID: usA.study,
      seriesInstanceUID: usB.series,
      sopInstanceUID: usB.sop,
    };
    const stored = await gw.deps.archive.get(ref);
    const tampered = Buffer.from(stored);
    tampered[tampered.length - 11]! ^= 0x01;
    await gw.deps.archive.put(ref, tampered);
    const { res, bytes } = await get(`/dicom-web/studies/${usA.study}`);
    assert.equal(res.status, 200);
    const parts = await readParts(res.headers.get('content-type')!, bytes);
    const dicom = parts.filter((p) => p.headers['content-type'] === 'application/dicom');
    assert.equal(dicom.length, 1);
    assertSameInstance(usA.bytes, dicom[0]!.bytes);
    const problem = parts.at(-1)!;
    assert.equal(problem.headers['content-type'], 'application/problem+json');
    const report = JSON.parse(problem.bytes.toString()) as {
      failed: { sopInstanceUID: string; code: string }[];
    };
    assert.deepEqual(report.failed, [
      { sopInstanceUID: usB.sop, code: 'VEIL_E_REVEAL_PIXELS_TAMPERED' },
    ]);
    const alone = await get(`/dicom-web/studies/${usA.study}/series/${usB.series}`);
    assert.equal(alone.res.status, 422);
    assert.equal(JSON.parse(alone.bytes.toString()).code, 'VEIL_E_REVEAL_PIXELS_TAMPERED');
    const meta = await get(`/dicom-web/studies/${usA.study}/metadata`);
    assert.equal(meta.res.status, 200);
    assert.match(meta.res.headers.get('warning') ?? '', /^299 .*VEIL_E_REVEAL_PIXELS_TAMPERED/);
    assert.equal((JSON.parse(meta.bytes.toString()) as Json[]).length, 1);
    const transfer = gw.audits
      .filter((a) => a.type === 'DICOMInstancesTransferred' && a.action === 'R')
      .at(-3);
    assert.equal(transfer?.outcome, 'minor-failure');
    assert.equal(transfer?.errorCode, 'VEIL_E_REVEAL_PIXELS_TAMPERED');
    await gw.deps.archive.put(ref, stored);
  });

  it('reports a non-DICOM part in FailedSOPSequence (0xC000) while storing the others: 202', async () => {
    const good = syntheticInstance({ patientName: 'SYN^GOOD' });
    const { res, json } = await stow([
      { bytes: good },
      { bytes: Buffer.from('this is not DICOM at all') },
    ]);
    assert.equal(res.status, 202);
    assert.equal((json['00081199']!.Value as Json[]).length, 1);
    const failed = json['00081198']!.Value as Json[];
    assert.deepEqual(
      failed.map((f) => f['00081197']),
      [{ vr: 'US', Value: [0xc000] }],
    );
  });

  it('answers 409 when every part fails, with 0xC122 for a study UID other than the path', async () => {
    const other = syntheticInstance();
    const { res, json } = await stow([{ bytes: other }], ct.study);
    assert.equal(res.status, 409);
    const [item] = json['00081198']!.Value as Json[];
    assert.deepEqual(item!['00081197'], { vr: 'US', Value: [0xc122] });
    assert.equal(
      (item!['00081155']!.Value as string[])[0],
      parsePart10(other).dataset.string(Tags.SOPInstanceUID),
    );
    const ok = await stow([{ bytes: ct.bytes }], ct.study);
    assert.equal(ok.res.status, 200);
  });

  it('refuses a wrong content type with 415 and a broken multipart body with 400', async () => {
    const post = (contentType: string, body: Buffer) =>
      fetch(`${gw.url}/dicom-web/studies`, {
        method: 'POST',
        headers: { ...bearer('modality'), 'content-type': contentType },
        body,
      });
    const wrong = await post('application/dicom', ct.bytes);
    assert.equal(wrong.status, 415);
    assert.equal(((await wrong.json()) as { code: string }).code, 'VEIL_E_HTTP_UNSUPPORTED_MEDIA');
    const json = await post(
      'multipart/related; type="application/dicom+json"; boundary=x',
      Buffer.from('--x--'),
    );
    assert.equal(json.status, 415);
    const noBoundary = await post('multipart/related; type="application/dicom"', ct.bytes);
    assert.equal(noBoundary.status, 400);
    const cut = multipartBody([{ bytes: ct.bytes }]);
    const broken = await post(cut.contentType, cut.body.subarray(0, 5000));
    assert.equal(broken.status, 400);
    assert.equal(((await broken.json()) as { code: string }).code, 'VEIL_E_HTTP_BAD_REQUEST');
  });

  it('keeps patient names out of logs, metrics, audit and error bodies', async () => {
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    const audit = readFileSync(gw.config.audit.file, 'utf8');
    const errors = bodies.filter((b) => b.startsWith('{"code"')).join('\n');
    for (const name of [...PATIENT_NAMES, 'SYN^GOOD']) {
      assert.ok(!gw.logText().includes(name), `log holds ${name}`);
      assert.ok(!metrics.includes(name), `metrics hold ${name}`);
      assert.ok(!audit.includes(name), `audit holds ${name}`);
      assert.ok(!errors.includes(name), `an error body holds ${name}`);
    }
    assert.ok(gw.logText().includes('"path":"/dicom-web/studies"'), 'requests are logged');
    assert.ok(!gw.logText().includes('PatientName=DOE'), 'query strings are not logged');
  });
});

describe('api/dicomweb limits (redis-server)', function () {
  this.timeout(120_000);
  it('refuses an oversized body with 413 and a full spool with 507, before reading any part', async () => {
    const gw = await startGateway({
      VEIL_HTTP__MAX_UPLOAD_BYTES: '4096',
      VEIL_SPOOL__MIN_FREE_BYTES: '1099511627776',
    });
    try {
      const post = async (bytes: Buffer) => {
        const { body, contentType } = multipartBody([{ bytes }]);
        const res = await fetch(`${gw.url}/dicom-web/studies`, {
          method: 'POST',
          headers: { ...bearer('modality'), 'content-type': contentType },
          body,
        });
        return { status: res.status, code: ((await res.json()) as { code: string }).code };
      };
      assert.deepEqual(await post(sampleOf('ct-slice.dcm').bytes), {
        status: 413,
        code: 'VEIL_E_HTTP_TOO_LARGE',
      });
      assert.deepEqual(await post(Buffer.alloc(100)), { status: 507, code: 'VEIL_E_SPOOL_FULL' });
    } finally {
      await gw.close();
    }
  });
});
