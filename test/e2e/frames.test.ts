/**
 * WADO-RS Retrieve Frames against a real peer: the same originals go to Veil (STOW-RS, protected,
 * archived, revealed by a worker on retrieval) and straight into a plain Orthanc with its DICOMweb
 * plugin; the frames Veil answers must be the bytes Orthanc answers, frame for frame. Native
 * multi-frame and single-frame samples, and compressed ones from pydicom's corpus (JPEG baseline,
 * JPEG-LS, JPEG 2000, RLE with two frames) when python3-pydicom is installed. Rendered frames and
 * thumbnails (PNG) are compared with DCMTK's dcm2pnm rendering of the original.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Tags, parsePart10 } from '../../src/dicom';
import { bearer, startGateway, type TestGateway } from '../api/harness';
import { multipartBody, readParts, type ReceivedPart } from '../api/multipart-helpers';
import { launchChromium } from '../helpers/chromium';
import { assertSameInstance } from '../helpers/compare';
import { type Picture, decodePng, decodePnm } from '../helpers/images';
import { pydicomCorpusDir } from '../helpers/pydicom-corpus';
import { runTool, tempDir } from '../helpers/tools';
import { type RunningOrthanc, startOrthanc } from '../helpers/orthanc';
import { eventually } from '../pipeline/harness';

const SAMPLES = path.join(__dirname, '..', '..', 'samples');
const CORPUS = [
  'SC_rgb_jpeg_dcmtk.dcm',
  'MR_small_jpeg_ls_lossless.dcm',
  'JPEG2000.dcm',
  'SC_rgb_rle_16bit_2frame.dcm',
];
const ANY_SYNTAX = 'multipart/related; type="application/octet-stream"; transfer-syntax=*';
const NATIVE = 'multipart/related; type="application/octet-stream"';
/** A web viewer's origin, allowed by http.corsOrigins. */
const VIEWER = 'https://viewer.example:3000';

interface Instance {
  name: string;
  bytes: Buffer;
  path: string;
  frames: number;
  syntax: string;
}

function instanceOf(file: string): Instance {
  const bytes = readFileSync(file);
  const { dataset, transferSyntaxUID } = parsePart10(bytes);
  const study = dataset.string(Tags.StudyInstanceUID)!;
  const series = dataset.string(Tags.SeriesInstanceUID)!;
  const sop = dataset.string(Tags.SOPInstanceUID)!;
  return {
    name: path.basename(file),
    bytes,
    path: `/studies/${study}/series/${series}/instances/${sop}`,
    frames: Number(dataset.string(Tags.NumberOfFrames) ?? '1'),
    syntax: transferSyntaxUID,
  };
}

/** The web origin of a local page server. */
function originOf(server: http.Server): string {
  return `http://127.0.0.1:${(server.address() as import('node:net').AddressInfo).port}`;
}

describe('e2e/frames (WADO-RS Retrieve Frames, Veil against a real Orthanc; redis-server, Orthanc)', function () {
  this.timeout(240_000);
  let gw: TestGateway;
  let orthanc: RunningOrthanc;
  const pageServers: http.Server[] = [];
  const corpus = pydicomCorpusDir();
  const files = [
    path.join(SAMPLES, 'us-rgb-multiframe.dcm'),
    path.join(SAMPLES, 'ct-slice.dcm'),
    path.join(SAMPLES, 'us-rgb-planar.dcm'),
    ...(corpus ? CORPUS.map((f) => path.join(corpus, f)).filter((f) => existsSync(f)) : []),
  ];
  const instances = files.map(instanceOf);
  /** The compressed instances Veil keeps compressed (all but RLE, decoded at intake by default). */
  const keptCompressed = instances.filter((i) => i.syntax.startsWith('1.2.840.10008.1.2.4'));

  const fromVeil = async (p: string, accept?: string) => {
    const res = await fetch(`${gw.url}/dicom-web${p}`, {
      headers: { ...bearer('workstation'), ...(accept ? { accept } : {}) },
    });
    return { res, body: Buffer.from(await res.arrayBuffer()) };
  };
  const fromOrthanc = async (p: string, accept: string) => {
    const res = await fetch(`${orthanc.dicomWebUrl}${p}`, { headers: { accept } });
    return { res, body: Buffer.from(await res.arrayBuffer()) };
  };
  const partsOf = async (r: { res: Response; body: Buffer }): Promise<ReceivedPart[]> => {
    assert.equal(r.res.status, 200, r.body.toString('utf8', 0, 300));
    return readParts(r.res.headers.get('content-type')!, r.body);
  };

  before(async () => {
    orthanc = await startOrthanc();
    // Two web origins serving an empty page: one allowed by http.corsOrigins, one not.
    for (const _ of [0, 1]) {
      const server = http.createServer((_req, res) =>
        res.end('<!doctype html><title>viewer</title>'),
      );
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      pageServers.push(server);
    }
    gw = await startGateway({
      VEIL_HTTP__CORS_ORIGINS: JSON.stringify([VIEWER, originOf(pageServers[0]!)]),
    });
    const { body, contentType } = multipartBody(instances.map((i) => ({ bytes: i.bytes })));
    const stow = await fetch(`${gw.url}/dicom-web/studies`, {
      method: 'POST',
      headers: { ...bearer('modality'), 'content-type': contentType },
      body,
    });
    assert.equal(stow.status, 200, await stow.text());
    for (const i of instances) {
      const res = await fetch(`${orthanc.httpUrl}/instances`, { method: 'POST', body: i.bytes });
      assert.equal(res.status, 200, `Orthanc stores ${i.name}`);
      const sop = i.path.split('/').pop()!;
      await eventually(
        () => (gw.deps.catalogue.get(sop)?.state === 'archived' ? true : undefined),
        `${i.name} archived`,
      );
    }
  });
  after(async () => {
    await gw?.close();
    await orthanc?.stop();
    for (const server of pageServers) server.close();
  });

  it('answers every frame of every instance with the bytes Orthanc answers for the original', async () => {
    assert.ok(
      instances.some((i) => i.frames > 1),
      'a multi-frame instance is among them',
    );
    for (const i of instances) {
      const list = Array.from({ length: i.frames }, (_, n) => n + 1).join(',');
      const veil = await partsOf(await fromVeil(`${i.path}/frames/${list}`, ANY_SYNTAX));
      assert.equal(veil.length, i.frames, i.name);
      // RLE is decoded at intake by default (protection.compressed.byTransferSyntax), so Veil's
      // frames of it are native: compare them with Orthanc's decoded frames.
      const native = veil[0]!.headers['content-type']!.endsWith(
        'transfer-syntax=1.2.840.10008.1.2.1',
      );
      assert.equal(native, !keptCompressed.includes(i), i.name);
      const peer = await partsOf(
        await fromOrthanc(`${i.path}/frames/${list}`, native ? NATIVE : ANY_SYNTAX),
      );
      assert.equal(peer.length, i.frames, i.name);
      for (let f = 0; f < i.frames; f++) {
        assert.ok(
          veil[f]!.bytes.equals(peer[f]!.bytes),
          `${i.name} frame ${f + 1} differs from Orthanc's`,
        );
        assert.match(veil[f]!.headers['content-type']!, /transfer-syntax=1\.2\.840\.10008\./);
        assert.equal(veil[f]!.headers['content-length'], String(veil[f]!.bytes.length));
      }
    }
  });

  it('points /metadata at the pixels (BulkDataURI), which answer the frames Orthanc answers', async () => {
    for (const i of instances) {
      const meta = await fromVeil(`${i.path}/metadata`);
      const [json] = JSON.parse(meta.body.toString()) as Record<string, { BulkDataURI?: string }>[];
      const uri = json!['7FE00010']!.BulkDataURI!;
      assert.equal(uri, `${gw.url}/dicom-web${i.path}/bulk/7FE00010`, i.name);
      const veil = await partsOf(await fromVeil(`${i.path}/bulk/7FE00010`, ANY_SYNTAX));
      const native = !keptCompressed.includes(i);
      const list = Array.from({ length: i.frames }, (_, n) => n + 1).join(',');
      const peer = await partsOf(
        await fromOrthanc(`${i.path}/frames/${list}`, native ? NATIVE : ANY_SYNTAX),
      );
      // Native pixels are one part (all frames); compressed ones one part per frame.
      const got = native ? [Buffer.concat(veil.map((p) => p.bytes))] : veil.map((p) => p.bytes);
      const want = native ? [Buffer.concat(peer.map((p) => p.bytes))] : peer.map((p) => p.bytes);
      assert.equal(veil.length, native ? 1 : i.frames, i.name);
      assert.equal(got.length, want.length, i.name);
      got.forEach((b, k) => assert.ok(b.equals(want[k]!), `${i.name} part ${k + 1}`));
    }
  });

  it('answers native frames as application/octet-stream by default, in the order asked, each once', async () => {
    const multi = instances.find((i) => i.frames > 1 && !keptCompressed.includes(i))!;
    const { res, body } = await fromVeil(`${multi.path}/frames/2,1,2`);
    const parts = await partsOf({ res, body });
    assert.match(
      res.headers.get('content-type')!,
      /^multipart\/related; type="application\/octet-stream"/,
    );
    const peer = await partsOf(await fromOrthanc(`${multi.path}/frames/2,1`, ANY_SYNTAX));
    assert.equal(parts.length, 2);
    assert.ok(parts[0]!.bytes.equals(peer[0]!.bytes) && parts[1]!.bytes.equals(peer[1]!.bytes));
    assert.equal(
      parts[0]!.headers['content-type'],
      'application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1',
    );
  });

  it('answers compressed frames under their own media type, and 406 to a client that wants them decoded', async function () {
    if (keptCompressed.length === 0) this.skip();
    const jpeg = keptCompressed.find((i) => i.syntax === '1.2.840.10008.1.2.4.50');
    if (jpeg) {
      const r = await fromVeil(`${jpeg.path}/frames/1`, 'multipart/related; type="image/jpeg"');
      const [part] = await partsOf(r);
      assert.equal(
        part!.headers['content-type'],
        'image/jpeg; transfer-syntax=1.2.840.10008.1.2.4.50',
      );
      assert.deepEqual([...part!.bytes.subarray(0, 2)], [0xff, 0xd8], 'a JPEG stream (SOI)');
    }
    for (const i of keptCompressed) {
      const r = await fromVeil(
        `${i.path}/frames/1`,
        'multipart/related; type="application/octet-stream"',
      );
      assert.equal(r.res.status, 406, i.name);
      assert.equal(JSON.parse(r.body.toString()).code, 'VEIL_E_HTTP_NOT_ACCEPTABLE');
    }
  });

  it('refuses a bad frame list with 400, a frame beyond the last with 404, and audits only what it delivered', async () => {
    const single = instances.find((i) => i.name === 'ct-slice.dcm')!;
    for (const list of ['0', '1,,2', 'a', '-1', '1.5']) {
      const r = await fromVeil(`${single.path}/frames/${list}`);
      assert.equal(r.res.status, 400, list);
      assert.equal(JSON.parse(r.body.toString()).code, 'VEIL_E_HTTP_BAD_REQUEST');
    }
    const before = gw.audits.length;
    const beyond = await fromVeil(`${single.path}/frames/1,2`);
    assert.equal(beyond.res.status, 404);
    assert.equal(JSON.parse(beyond.body.toString()).code, 'VEIL_E_NOT_FOUND');
    const event = gw.audits.slice(before).find((a) => a.type === 'DICOMInstancesTransferred');
    assert.equal(event?.outcome, 'serious-failure');
    assert.deepEqual(event?.sopInstanceUIDs, []);
    const ok = await fromVeil(`${single.path}/frames/1`);
    assert.equal(ok.res.status, 200);
    const delivered = gw.audits.at(-1);
    assert.equal(delivered?.outcome, 'success');
    assert.deepEqual(delivered?.sopInstanceUIDs, [single.path.split('/').pop()]);
    const unknown = await fromVeil(
      `${single.path.replace(/instances\/.*/, 'instances/1.2.3.999')}/frames/1`,
    );
    assert.equal(unknown.res.status, 404);
  });

  it('lets a web viewer on an allowed origin call DICOMweb from a browser (CORS), with its token', async () => {
    const url = `${gw.url}/dicom-web${instances[0]!.path}/frames/1`;
    const preflight = await fetch(url, {
      method: 'OPTIONS',
      headers: {
        origin: VIEWER,
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'authorization, accept',
      },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get('access-control-allow-origin'), VIEWER);
    assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /Authorization/);
    assert.match(preflight.headers.get('access-control-allow-methods') ?? '', /GET/);
    const real = await fetch(url, {
      headers: { origin: VIEWER, accept: ANY_SYNTAX, ...bearer('workstation') },
    });
    assert.equal(real.status, 200);
    assert.equal(real.headers.get('access-control-allow-origin'), VIEWER);
    assert.match(real.headers.get('access-control-expose-headers') ?? '', /Content-Type/);
    assert.match(real.headers.get('vary') ?? '', /Origin/);
    await real.arrayBuffer();
    // The origin opens no door: without a token it is still 401 (readable by the page).
    const anonymous = await fetch(url, { headers: { origin: VIEWER } });
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.headers.get('access-control-allow-origin'), VIEWER);
    // Another origin gets no CORS headers, on the preflight or the request.
    for (const method of ['OPTIONS', 'GET']) {
      const other = await fetch(url, {
        method,
        headers: {
          origin: 'https://elsewhere.example',
          'access-control-request-method': 'GET',
          ...bearer('workstation'),
        },
      });
      assert.equal(other.headers.get('access-control-allow-origin'), null, method);
      assert.notEqual(other.status, 204, method);
      await other.arrayBuffer();
    }
  });

  /** DCMTK's own rendering of the original (dcm2pnm), 8-bit PGM or PPM. */
  const dcmtkRendering = (i: Instance, args: string[]): Picture => {
    const dir = tempDir('veil-dcm2pnm-');
    try {
      const input = path.join(dir.dir, 'in.dcm');
      const output = path.join(dir.dir, 'out.pnm');
      writeFileSync(input, i.bytes);
      const run = runTool('dcm2pnm', [...args, input, output]);
      assert.equal(run.status, 0, run.stderr);
      return decodePnm(readFileSync(output));
    } finally {
      dir.cleanup();
    }
  };
  const renderedBy = async (p: string, accept?: string): Promise<Picture> => {
    const r = await fromVeil(p, accept);
    assert.equal(r.res.status, 200, r.body.toString('utf8', 0, 300));
    assert.equal(r.res.headers.get('content-type'), 'image/png');
    return decodePng(r.body);
  };
  /** Largest difference of one sample between two pictures of the same shape. */
  const maxDifference = (a: Picture, b: Picture): number => {
    assert.deepEqual([a.width, a.height, a.channels], [b.width, b.height, b.channels]);
    let max = 0;
    for (let k = 0; k < a.data.length; k++) max = Math.max(max, Math.abs(a.data[k]! - b.data[k]!));
    return max;
  };

  it('renders a CT slice as PNG the way DCMTK renders it: header window, or the one asked for', async () => {
    const ct = instances.find((i) => i.name === 'ct-slice.dcm')!;
    const byHeader = await renderedBy(`${ct.path}/rendered`, 'image/png');
    assert.ok(maxDifference(byHeader, dcmtkRendering(ct, ['+Wi', '1'])) <= 1, 'header window');
    const asked = await renderedBy(`${ct.path}/rendered?window=-600,1500,linear`);
    assert.ok(
      maxDifference(asked, dcmtkRendering(ct, ['+Ww', '-600', '1500'])) <= 1,
      'asked window',
    );
    assert.ok(maxDifference(asked, byHeader) > 100, 'the window changes the picture');
    const thumb = await renderedBy(`${ct.path}/thumbnail`);
    assert.deepEqual([thumb.width, thumb.height, thumb.channels], [128, 128, 1]);
    const viewport = await renderedBy(`${ct.path}/thumbnail?viewport=64,32`);
    assert.deepEqual([viewport.width, viewport.height], [32, 32]);
  });

  it('renders RGB frames in colour, colour-by-plane too, one frame at a time', async () => {
    const multi = instances.find((i) => i.name === 'us-rgb-multiframe.dcm')!;
    const second = await renderedBy(`${multi.path}/frames/2/rendered`);
    const [octets] = await partsOf(await fromVeil(`${multi.path}/frames/2`));
    assert.equal(second.channels, 3);
    assert.ok(second.data.equals(octets!.bytes), 'frame 2 as stored (colour-by-pixel)');
    const planar = instances.find((i) => i.name === 'us-rgb-planar.dcm')!;
    const picture = await renderedBy(`${planar.path}/rendered`);
    assert.equal(maxDifference(picture, dcmtkRendering(planar, [])), 0);
    const two = await fromVeil(`${multi.path}/frames/1,2/rendered`);
    assert.equal(two.res.status, 400);
  });

  it('refuses to render what it cannot decode, other media, bad parameters and missing frames', async () => {
    const ct = instances.find((i) => i.name === 'ct-slice.dcm')!;
    const refused = async (p: string, status: number, code: string, accept?: string) => {
      const r = await fromVeil(p, accept);
      assert.equal(r.res.status, status, p);
      assert.equal(JSON.parse(r.body.toString()).code, code, p);
    };
    await refused(`${ct.path}/rendered`, 406, 'VEIL_E_HTTP_NOT_ACCEPTABLE', 'image/jpeg');
    await refused(`${ct.path}/rendered?window=40`, 400, 'VEIL_E_HTTP_BAD_REQUEST');
    await refused(`${ct.path}/rendered?window=40,0`, 400, 'VEIL_E_HTTP_BAD_REQUEST');
    await refused(`${ct.path}/thumbnail?viewport=0,10`, 400, 'VEIL_E_HTTP_BAD_REQUEST');
    await refused(`${ct.path}/frames/2/rendered`, 404, 'VEIL_E_NOT_FOUND');
    for (const i of keptCompressed) {
      await refused(`${i.path}/rendered`, 406, 'VEIL_E_HTTP_NOT_ACCEPTABLE');
    }
  });

  it('answers WADO-URI with the original instance (application/dicom) or a rendered frame (image/png)', async () => {
    const ct = instances.find((i) => i.name === 'ct-slice.dcm')!;
    const [, study, , series, , sop] = ct.path.split('/').slice(1);
    const uri = (params: string) =>
      `${gw.url}/wado?requestType=WADO&studyUID=${study}&seriesUID=${series}&objectUID=${sop}${params}`;
    const get = async (params: string, headers: Record<string, string> = bearer('workstation')) => {
      const res = await fetch(uri(params), { headers });
      return { res, body: Buffer.from(await res.arrayBuffer()) };
    };
    const dicom = await get('&contentType=application/dicom');
    assert.equal(dicom.res.status, 200);
    assert.equal(dicom.res.headers.get('content-type'), 'application/dicom');
    assertSameInstance(ct.bytes, dicom.body);
    const withSyntax = await get(
      '&contentType=image/jpeg;q=0.5,application/dicom&transferSyntax=1.2.840.10008.1.2.1',
    );
    assert.equal(withSyntax.res.status, 200);
    const png = await get('&contentType=image/png&windowCenter=-600&windowWidth=1500');
    assert.equal(png.res.headers.get('content-type'), 'image/png');
    const picture = decodePng(png.body);
    assert.ok(maxDifference(picture, dcmtkRendering(ct, ['+Ww', '-600', '1500'])) <= 1);
    const small = decodePng((await get('&contentType=image/png&rows=64')).body);
    assert.deepEqual([small.width, small.height], [64, 64]);
    const refusals: [string, number, string][] = [
      ['&contentType=image/jpeg', 406, 'VEIL_E_HTTP_NOT_ACCEPTABLE'],
      ['', 406, 'VEIL_E_HTTP_NOT_ACCEPTABLE'],
      [
        '&contentType=application/dicom&transferSyntax=1.2.840.10008.1.2.4.50',
        406,
        'VEIL_E_HTTP_NOT_ACCEPTABLE',
      ],
      ['&contentType=application/dicom&anonymize=yes', 400, 'VEIL_E_HTTP_BAD_REQUEST'],
      ['&contentType=image/png&windowCenter=40', 400, 'VEIL_E_HTTP_BAD_REQUEST'],
      ['&contentType=image/png&frameNumber=2', 404, 'VEIL_E_NOT_FOUND'],
    ];
    for (const [params, status, code] of refusals) {
      const r = await get(params);
      assert.equal(r.res.status, status, params);
      assert.equal(JSON.parse(r.body.toString()).code, code, params);
    }
    const noType = await fetch(
      `${gw.url}/wado?studyUID=${study}&seriesUID=${series}&objectUID=${sop}`,
      {
        headers: bearer('workstation'),
      },
    );
    assert.equal(noType.status, 400);
    await noType.arrayBuffer();
    const unknown = await fetch(uri('&contentType=application/dicom').replace(sop!, '1.2.3.999'), {
      headers: bearer('workstation'),
    });
    assert.equal(unknown.status, 404);
    await unknown.arrayBuffer();
    assert.equal((await get('&contentType=application/dicom', {})).res.status, 401);
    assert.equal((await get('&contentType=application/dicom', bearer('modality'))).res.status, 403);
  });

  it('serves a page in real Chromium on an allowed origin (CORS preflight with the token), and not on another', async () => {
    const profile = tempDir('veil-chromium-');
    const context = await launchChromium(profile.dir);
    try {
      const ct = instances.find((i) => i.name === 'ct-slice.dcm')!;
      const fetchFrom = async (origin: string) => {
        const page = await context.newPage();
        await page.goto(`${origin}/`);
        return page.evaluate(
          async ({ url, authorization, accept }) => {
            try {
              const res = await fetch(url, { headers: { authorization, accept } });
              const body = await res.arrayBuffer();
              return `${res.status} ${body.byteLength} ${res.headers.get('content-type')}`;
            } catch (err) {
              return `blocked: ${(err as Error).name}`;
            }
          },
          {
            url: `${gw.url}/dicom-web${ct.path}/frames/1`,
            authorization: bearer('workstation').authorization!,
            accept: ANY_SYNTAX,
          },
        );
      };
      const allowed = await fetchFrom(originOf(pageServers[0]!));
      assert.match(allowed, /^200 \d+ multipart\/related; type="application\/octet-stream"/);
      assert.ok(Number(allowed.split(' ')[1]) > 512 * 512 * 2, 'the frame itself was read');
      assert.equal(await fetchFrom(originOf(pageServers[1]!)), 'blocked: TypeError');
    } finally {
      await context.close();
      profile.cleanup();
    }
  });

  it('keeps the frames behind the workstation role', async () => {
    const single = instances[0]!;
    const anonymous = await fetch(`${gw.url}/dicom-web${single.path}/frames/1`);
    assert.equal(anonymous.status, 401);
    const modality = await fetch(`${gw.url}/dicom-web${single.path}/frames/1`, {
      headers: bearer('modality'),
    });
    assert.equal(modality.status, 403);
  });
});
