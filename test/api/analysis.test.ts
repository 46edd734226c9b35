/** The security analysis of an archived instance over the admin API (needs redis-server). */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Tags, parsePart10 } from '../../src/dicom';
import { eventually } from '../pipeline/harness';
import { bearer, startGateway, type TestGateway } from './harness';
import { multipartBody } from './multipart-helpers';

describe('api/admin analysis (GET /admin/api/analysis/...; redis-server)', function () {
  this.timeout(180_000);
  let gw: TestGateway;
  const bytes = readFileSync(path.join(__dirname, '..', '..', 'samples', 'mono8.dcm'));
  const ds = parsePart10(bytes).dataset;
  const [study, series, sop] = [
    Tags.StudyInstanceUID,
    Tags.SeriesInstanceUID,
    Tags.SOPInstanceUID,
  ].map((t) => ds.string(t)!);
  const route = `/admin/api/analysis/studies/${study}/series/${series}/instances/${sop}`;
  const name = ds.string(Tags.PatientName)!;

  before(async () => {
    gw = await startGateway();
    const { body, contentType } = multipartBody([{ bytes }]);
    const res = await fetch(`${gw.url}/dicom-web/studies`, {
      method: 'POST',
      headers: { ...bearer('modality'), 'content-type': contentType },
      body,
    });
    assert.equal(res.status, 200);
    await eventually(
      () => (gw.deps.catalogue.get(sop)?.state === 'archived' ? true : undefined),
      'archived',
    );
  });
  after(async () => {
    await gw?.close();
  });

  it('reveals the instance in a worker and answers the metrics table for both ciphers', async () => {
    const res = await fetch(`${gw.url}${route}`, { headers: bearer('admin') });
    assert.equal(res.status, 200);
    const text = await res.text();
    const body = JSON.parse(text) as {
      rows: { cipher: string; pass: boolean | null }[];
      verdict: Record<'veil' | 'textbook', { pass: number; fail: number }>;
      framesAnalysed: number[];
      instance: { rows: number; bitsStored: number };
    };
    assert.deepEqual(body.framesAnalysed, [0]);
    assert.equal(body.instance.bitsStored, 8);
    assert.ok(
      body.rows.some((r) => r.cipher === 'veil') && body.rows.some((r) => r.cipher === 'textbook'),
    );
    // The paper's cipher fails by orders of magnitude; Veil's fails at most a chance test or two.
    assert.ok(body.verdict.textbook.fail > 5, `textbook fails ${body.verdict.textbook.fail}`);
    assert.ok(body.verdict.veil.fail <= 3, `veil fails ${body.verdict.veil.fail}`);
    assert.ok(!text.includes(name), 'no patient name in the answer');
    assert.ok(gw.audits.some((a) => a.action === 'R' && a.sopInstanceUIDs?.includes(sop)));
  });

  it('is for administrators only, and answers 404 for an unknown instance', async () => {
    assert.equal(
      (await fetch(`${gw.url}${route}`, { headers: bearer('workstation') })).status,
      403,
    );
    assert.equal((await fetch(`${gw.url}${route}`)).status, 401);
    const unknown = await fetch(
      `${gw.url}/admin/api/analysis/studies/${study}/series/${series}/instances/1.2.3`,
      {
        headers: bearer('admin'),
      },
    );
    assert.equal(unknown.status, 404);
    const bad = await fetch(`${gw.url}${route}?maxFrames=x`, { headers: bearer('admin') });
    assert.equal(bad.status, 400);
  });
});
