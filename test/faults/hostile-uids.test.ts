/**
 * UIDs that are not UIDs (path traversal, separators, NUL, too long, empty components...) in every
 * place Veil takes one: WADO/QIDO path segments and query keys, the STOW target study, the UIDs
 * inside an instance sent by STOW-RS and C-STORE (they become spool and archive file names), C-FIND,
 * C-MOVE and C-GET identifiers, the admin retry and analysis routes. Each answers a stable code,
 * no file appears outside the data folder, and the gateway keeps serving (redis-server, DCMTK).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { startDimseServer, type DimseServer } from '../../src/dimse/server';
import { textElement } from '../../src/dicom';
import { Tags } from '../../src/dicom/tags';
import { TOKENS, startGateway, type TestGateway } from '../api/harness';
import { multipartBody } from '../api/multipart-helpers';
import { runAsync } from '../dimse/harness';
import { sopOf } from '../e2e/e2e-tools';
import { syntheticInstance } from '../helpers/synthetic';
import { eventually } from '../pipeline/harness';

// dcmjs reduces a UI value to its digits and dots; Veil checks identifier UIDs in the received
// bytes (src/dimse/identifier-uids.ts), so even a value with no digit at all ('nodigits', which
// dcmjs turns into an empty key, a universal match) is refused.
const MARK = `veil-escape-7${randomBytes(4).toString('hex')}`;
/** Not UIDs; those that could name a file elsewhere carry MARK so an escape can be searched for. */
const BAD_UIDS = [
  '..',
  `../../${MARK}`,
  `../../../../../../tmp/${MARK}`,
  `/tmp/${MARK}`,
  `..\\..\\${MARK}`,
  `1.2.3/../../${MARK}`,
  `.${MARK}`,
  '.1.2.3',
  '1..2',
  '1.2.',
  '1.2.abc',
  '01.2',
  '1.2.3 4',
  `1.${'2'.repeat(64)}`,
  '1.2'.repeat(30),
  'nodigits',
];
const GOOD = '1.2.3.4';
type Json = { code?: string } & Record<string, { Value: Record<string, { Value: unknown[] }>[] }>;

/** Every file and folder name under `dir` (bounded depth), to look for MARK. */
function namesUnder(dir: string, depth: number): string[] {
  let entries: import('node:fs').Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.flatMap((e) => [
    path.join(dir, e.name),
    ...(e.isDirectory() && depth > 0 ? namesUnder(path.join(dir, e.name), depth - 1) : []),
  ]);
}

describe('faults/hostile UIDs at every door (redis-server, DCMTK)', function () {
  this.timeout(300_000);
  let gw: TestGateway;
  let dimse: DimseServer;

  before(async () => {
    // A C-MOVE destination nobody listens on: the identifier is refused before any connection.
    gw = await startGateway({
      VEIL_DIMSE__HOST: '127.0.0.1',
      VEIL_DIMSE__PORT: '0',
      VEIL_DIMSE__DESTINATIONS: 'SINK@127.0.0.1:9',
    });
    dimse = await startDimseServer(gw.deps);
  });
  after(async () => {
    await dimse?.close();
    await gw?.close();
  });

  /** A request whose path is sent exactly as given (fetch would normalise "..", "\" and "%2e"). */
  function raw(method: string, rawPath: string, role: keyof typeof TOKENS, body?: Buffer) {
    const url = new URL(gw.url);
    return new Promise<{ status: number; json: Json }>((resolve, reject) => {
      const req = http.request(
        { host: url.hostname, port: url.port, method, path: rawPath },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let json: Json = {};
            try {
              json = JSON.parse(text) as Json;
            } catch {
              // multipart or empty
            }
            resolve({ status: res.statusCode ?? 0, json });
          });
        },
      );
      req.setHeader('authorization', `Bearer ${TOKENS[role]}`);
      if (body)
        req.setHeader('content-type', 'multipart/related; type="application/dicom"; boundary=b');
      req.on('error', reject);
      req.end(body);
    });
  }

  async function stillServes(): Promise<void> {
    const good = syntheticInstance();
    const { body, contentType } = multipartBody([{ bytes: good }]);
    const res = await fetch(`${gw.url}/dicom-web/studies`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKENS.modality}`, 'content-type': contentType },
      body,
    });
    assert.equal(res.status, 200);
    await eventually(
      () => (gw.deps.catalogue.get(sopOf(good))?.state === 'archived' ? true : undefined),
      'archived',
    );
  }
  function noEscape(): void {
    const places = [
      ...namesUnder(os.tmpdir(), 1),
      ...namesUnder(gw.dir, 6),
      ...namesUnder('/', 0),
      ...namesUnder(process.cwd(), 1),
    ];
    assert.deepEqual(
      places.filter((p) => p.includes(MARK)),
      [],
      'a file named by a bad UID',
    );
  }

  it('answers WADO-RS, WADO-URI and QIDO-RS path segments that are not UIDs with 400 VEIL_E_UID_INVALID', async () => {
    const patterns = [
      '/dicom-web/studies/:u',
      '/dicom-web/studies/:u/metadata',
      '/dicom-web/studies/:u/series',
      '/dicom-web/studies/:u/instances',
      `/dicom-web/studies/${GOOD}/series/:u`,
      `/dicom-web/studies/${GOOD}/series/:u/metadata`,
      `/dicom-web/studies/${GOOD}/series/:u/instances`,
      `/dicom-web/studies/${GOOD}/series/${GOOD}/instances/:u`,
      `/dicom-web/studies/${GOOD}/series/${GOOD}/instances/:u/metadata`,
      `/dicom-web/studies/${GOOD}/series/${GOOD}/instances/:u/frames/1`,
      `/dicom-web/studies/${GOOD}/series/${GOOD}/instances/:u/frames/1/rendered`,
      `/dicom-web/studies/${GOOD}/series/${GOOD}/instances/:u/rendered`,
      `/dicom-web/studies/${GOOD}/series/${GOOD}/instances/:u/thumbnail`,
      `/dicom-web/studies/${GOOD}/series/${GOOD}/instances/:u/bulk/7FE00010`,
      `/wado?requestType=WADO&studyUID=${GOOD}&seriesUID=${GOOD}&contentType=application/dicom&objectUID=:u`,
    ];
    let checked = 0;
    for (const pattern of patterns) {
      for (const uid of [...BAD_UIDS, '%2e%2e', `..%2f${MARK}`, '1.2%003']) {
        const encoded = /%/.test(uid) ? uid : encodeURIComponent(uid);
        const res = await raw('GET', pattern.replace(':u', encoded), 'workstation');
        assert.deepEqual(
          [res.status, res.json.code],
          [400, 'VEIL_E_UID_INVALID'],
          `${pattern} ${uid}`,
        );
        checked++;
      }
      // Sent raw, "/" and ".." change the route itself: then no route (404), never a file.
      for (const uid of ['..', `../../${MARK}`, `%2e%2e/${MARK}`]) {
        const res = await raw('GET', pattern.replace(':u', uid), 'workstation');
        assert.ok([400, 404].includes(res.status), `${pattern} raw ${uid}: ${res.status}`);
      }
    }
    assert.ok(checked > 100);
    noEscape();
    await stillServes();
  });

  it('answers QIDO-RS UID query keys that are not UIDs with 400 VEIL_E_UID_INVALID', async () => {
    for (const key of ['StudyInstanceUID', 'SeriesInstanceUID', 'SOPInstanceUID', '0020000D']) {
      for (const uid of BAD_UIDS) {
        const res = await raw(
          'GET',
          `/dicom-web/instances?${key}=${encodeURIComponent(uid)}`,
          'workstation',
        );
        assert.deepEqual([res.status, res.json.code], [400, 'VEIL_E_UID_INVALID'], `${key}=${uid}`);
      }
    }
    await stillServes();
  });

  it('refuses a STOW-RS target study that is not a UID (400) and instances whose UIDs are not UIDs', async () => {
    const { body } = { body: Buffer.from('--b\r\n\r\nx\r\n--b--') };
    for (const uid of BAD_UIDS) {
      const res = await raw(
        'POST',
        `/dicom-web/studies/${encodeURIComponent(uid)}`,
        'modality',
        body,
      );
      assert.deepEqual([res.status, res.json.code], [400, 'VEIL_E_UID_INVALID'], uid);
    }
    const tags = [
      Tags.SOPInstanceUID,
      Tags.StudyInstanceUID,
      Tags.SOPClassUID,
      Tags.SeriesInstanceUID,
    ];
    const instances = tags.flatMap((tag) =>
      BAD_UIDS.map((uid) =>
        syntheticInstance({ extra: (ds) => ds.set(textElement(tag, 'UI', uid)) }),
      ),
    );
    const good = syntheticInstance();
    const { body: mixed, contentType } = multipartBody(
      [...instances, good].map((bytes) => ({ bytes })),
    );
    const res = await fetch(`${gw.url}/dicom-web/studies`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKENS.modality}`, 'content-type': contentType },
      body: mixed,
    });
    const json = (await res.json()) as Json;
    assert.equal(res.status, 202);
    const referenced = (json['00081199']?.Value ?? []).map((i) => i['00081155']!.Value[0]);
    assert.deepEqual(referenced, [sopOf(good)], 'only the good instance acknowledged');
    const failed = json['00081198']!.Value;
    assert.equal(failed.length, instances.length);
    assert.ok(failed.every((f) => f['00081197']!.Value[0] === 0xc000));
    await eventually(
      () => (gw.deps.catalogue.get(sopOf(good))?.state === 'archived' ? true : undefined),
      'archived',
    );
    assert.deepEqual(readdirSync(path.join(gw.config.spool.dir, 'incoming')), []);
    noEscape();
  });

  it('refuses C-STORE of instances whose UIDs are not UIDs (0xC000 cannot understand)', async () => {
    const files = [Tags.SOPInstanceUID, Tags.StudyInstanceUID, Tags.SeriesInstanceUID].flatMap(
      (tag, t) =>
        // DCMTK drops spaces inside a UI value itself ("1.2.3 4" leaves as "1.2.34", a UID).
        // The C-STORE-RSP echoes the SOP Instance UID as sent ('nodigits' too: dcmjs reads it
        // as empty, and an empty echo was a "Badly formed message" to DCMTK).
        BAD_UIDS.filter((u) => !u.includes('\\') && !u.includes(' ')).map((uid, i) => {
          const file = path.join(gw.dir, `bad-${t}-${i}.dcm`);
          writeFileSync(
            file,
            syntheticInstance({ extra: (ds) => ds.set(textElement(tag, 'UI', uid)) }),
          );
          return file;
        }),
    );
    const store = await runAsync('storescu', [
      '-v',
      '-nh',
      '-aec',
      'VEIL',
      '127.0.0.1',
      String(dimse.port),
      ...files,
    ]);
    const out = store.stdout + store.stderr;
    // Every one refused with 0xC000 (DCMTK: "CannotUnderstand"), storescu going on after each.
    const refused = out.match(/Received Store Response \(Error: CannotUnderstand\)/g) ?? [];
    assert.equal(refused.length, files.length, out.slice(-2000));
    assert.equal(
      (out.match(/Received Store Response \(Success\)/g) ?? []).length,
      0,
      'none stored',
    );
    assert.deepEqual(readdirSync(path.join(gw.config.spool.dir, 'incoming')), []);
    noEscape();
    await stillServes();
  });

  it('answers C-FIND, C-MOVE and C-GET identifiers holding non-UIDs with a failure status', async () => {
    let n = 0;
    for (const uid of BAD_UIDS) {
      // The identifier as a file made by dump2dcm: findscu's -k reads "/" as a path of its own.
      const dump = path.join(gw.dir, `query-${++n}.txt`);
      writeFileSync(dump, `(0008,0052) CS [STUDY]\n(0020,000d) UI [${uid}]\n`);
      const made = await runAsync('dump2dcm', [dump, `${dump}.dcm`]);
      assert.equal(made.status, 0, made.stderr);
      const key = [`${dump}.dcm`];
      const find = await runAsync('findscu', [
        '-v',
        '-S',
        '-aec',
        'VEIL',
        '127.0.0.1',
        String(dimse.port),
        ...key,
      ]);
      // Refused as sent, not as dcmjs's digits-and-dots reading of it: 0xC000, "Failed:
      // UnableToProcess" in DCMTK's words (PS3.4 C.4.1.1.4). dump2dcm itself drops the space of
      // "1.2.3 4", which then arrives as the valid UID 1.2.34 and matches nothing.
      const strict = !uid.includes(' ');
      const refusedQr = /\((Failed: UnableToProcess|Error: DataSetDoesNotMatchSOPClass)\)/;
      const findOut = find.stdout + find.stderr;
      assert.doesNotMatch(findOut, /Find Response: \d+ \(Pending/, `find ${uid}: ${findOut}`);
      if (strict) assert.match(findOut, /Final Find Response \(Failed: UnableToProcess\)/, uid);
      const get = await runAsync('getscu', [
        '-v',
        '-S',
        '-aec',
        'VEIL',
        '-od',
        gw.dir,
        '127.0.0.1',
        String(dimse.port),
        ...key,
      ]);
      const getOut = get.stdout + get.stderr;
      assert.doesNotMatch(getOut, /Received Store Request/, `get ${uid}: nothing sent`);
      if (strict) assert.match(getOut, new RegExp(`C-GET Response ${refusedQr.source}`), uid);
      const move = await runAsync('movescu', [
        '-v',
        '-S',
        '-aec',
        'VEIL',
        '-aem',
        'SINK',
        '127.0.0.1',
        String(dimse.port),
        ...key,
      ]);
      const moveOut = move.stdout + move.stderr;
      if (strict) assert.match(moveOut, new RegExp(`Final Move Response ${refusedQr.source}`), uid);
      else assert.doesNotMatch(moveOut, /Completed Suboperations\s*:\s*[1-9]/, uid);
    }
    noEscape();
    await stillServes();
  });

  it('answers the admin retry and analysis routes for non-UID / traversal ids with 404 and touches nothing', async () => {
    for (const id of BAD_UIDS) {
      const e = encodeURIComponent(id);
      const retry = await raw('POST', `/admin/api/jobs/protect/${e}/retry`, 'admin');
      assert.deepEqual([retry.status, retry.json.code], [404, 'VEIL_E_NOT_FOUND'], id);
      const queue = await raw('POST', `/admin/api/jobs/${e}/x/retry`, 'admin');
      assert.deepEqual([queue.status, queue.json.code], [404, 'VEIL_E_NOT_FOUND'], id);
      const analysis = await raw(
        'GET',
        `/admin/api/analysis/studies/${e}/series/${GOOD}/instances/${e}`,
        'admin',
      );
      assert.ok([400, 404].includes(analysis.status), `analysis ${id}: ${analysis.status}`);
    }
    noEscape();
    await stillServes();
  });
});
