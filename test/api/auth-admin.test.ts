/**
 * Auth matrix on every route (Bull Board included), the admin API over real BullMQ queues, and the
 * unauthenticated probes and metrics (needs redis-server).
 */
import assert from 'node:assert/strict';
import { protectJobId } from '../../src/pipeline/jobs';
import { syntheticInstance } from '../helpers/synthetic';
import { eventually } from '../pipeline/harness';
import { TOKENS, bearer, startGateway, type TestGateway } from './harness';
import { multipartBody } from './multipart-helpers';

type Role = keyof typeof TOKENS;

const UID = '1.2.3.4';
/** Every authenticated route and the roles that may use it (admin may use all). */
const ROUTES: { method: 'GET' | 'POST'; path: string; roles: Role[] }[] = [
  { method: 'POST', path: '/dicom-web/studies', roles: ['modality'] },
  { method: 'POST', path: `/dicom-web/studies/${UID}`, roles: ['modality'] },
  { method: 'GET', path: '/dicom-web/studies', roles: ['workstation'] },
  { method: 'GET', path: '/dicom-web/series', roles: ['workstation'] },
  { method: 'GET', path: '/dicom-web/instances', roles: ['workstation'] },
  { method: 'GET', path: `/dicom-web/studies/${UID}/series`, roles: ['workstation'] },
  { method: 'GET', path: `/dicom-web/studies/${UID}/instances`, roles: ['workstation'] },
  {
    method: 'GET',
    path: `/dicom-web/studies/${UID}/series/${UID}/instances`,
    roles: ['workstation'],
  },
  { method: 'GET', path: `/dicom-web/studies/${UID}`, roles: ['workstation'] },
  { method: 'GET', path: `/dicom-web/studies/${UID}/series/${UID}`, roles: ['workstation'] },
  {
    method: 'GET',
    path: `/dicom-web/studies/${UID}/series/${UID}/instances/${UID}`,
    roles: ['workstation'],
  },
  { method: 'GET', path: `/dicom-web/studies/${UID}/metadata`, roles: ['workstation'] },
  {
    method: 'GET',
    path: `/dicom-web/studies/${UID}/series/${UID}/metadata`,
    roles: ['workstation'],
  },
  {
    method: 'GET',
    path: `/dicom-web/studies/${UID}/series/${UID}/instances/${UID}/metadata`,
    roles: ['workstation'],
  },
  { method: 'GET', path: '/admin/queues', roles: [] },
  { method: 'GET', path: '/admin/queues/api/queues', roles: [] },
  { method: 'GET', path: '/admin/api/jobs?state=failed', roles: [] },
  { method: 'POST', path: '/admin/api/jobs/protect/nope/retry', roles: [] },
  { method: 'GET', path: '/admin/api/instances/counts', roles: [] },
  { method: 'GET', path: '/admin/api/storage-commitments', roles: [] },
];

describe('api/auth and admin (redis-server)', function () {
  this.timeout(180_000);
  let gw: TestGateway;
  const call = (method: string, p: string, headers: Record<string, string> = {}) =>
    fetch(`${gw.url}${p}`, { method, headers });

  before(async () => {
    gw = await startGateway();
  });
  after(async () => {
    await gw?.close();
  });

  it('answers 401 VEIL_E_AUTH_MISSING without a token on every route, and audits it', async () => {
    for (const r of ROUTES) {
      const res = await call(r.method, r.path);
      assert.equal(res.status, 401, `${r.method} ${r.path}`);
      assert.deepEqual(Object.keys((await res.json()) as object), ['code', 'message']);
    }
    const res = await call('GET', '/dicom-web/studies');
    assert.equal(((await res.json()) as { code: string }).code, 'VEIL_E_AUTH_MISSING');
    assert.ok(
      gw.audits.some(
        (a) => a.type === 'UserAuthentication' && a.errorCode === 'VEIL_E_AUTH_MISSING',
      ),
    );
  });

  it('answers 401 VEIL_E_AUTH_INVALID for an unknown token on every route', async () => {
    for (const r of ROUTES) {
      for (const header of ['Bearer not-a-token', `Basic ${TOKENS.admin}`, 'Bearer']) {
        const res = await call(r.method, r.path, { authorization: header });
        assert.equal(res.status, 401, `${r.method} ${r.path}`);
        assert.equal(((await res.json()) as { code: string }).code, 'VEIL_E_AUTH_INVALID');
      }
    }
  });

  it('answers 403 VEIL_E_AUTH_FORBIDDEN for a role without access, audited as a SecurityAlert', async () => {
    for (const r of ROUTES) {
      for (const role of ['modality', 'workstation'] as const) {
        if (r.roles.includes(role)) continue;
        const res = await call(r.method, r.path, bearer(role));
        assert.equal(res.status, 403, `${role} ${r.method} ${r.path}`);
        assert.equal(((await res.json()) as { code: string }).code, 'VEIL_E_AUTH_FORBIDDEN');
      }
    }
    const alert = gw.audits.find((a) => a.type === 'SecurityAlert');
    assert.equal(alert?.errorCode, 'VEIL_E_AUTH_FORBIDDEN');
    assert.ok(['modality', 'workstation'].includes(alert?.user ?? ''));
  });

  it('lets the allowed roles and admin through (past auth: no 401/403)', async () => {
    for (const r of ROUTES) {
      for (const role of [...r.roles, 'admin'] as Role[]) {
        const res = await call(r.method, r.path, bearer(role));
        await res.arrayBuffer();
        assert.ok(![401, 403].includes(res.status), `${role} ${r.method} ${r.path}: ${res.status}`);
      }
    }
    const board = await call('GET', '/admin/queues', bearer('admin'));
    assert.equal(board.status, 200);
    assert.match(await board.text(), /<html/i);
    const queues = await call('GET', '/admin/queues/api/queues', bearer('admin'));
    const names = ((await queues.json()) as { queues: { name: string }[] }).queues.map(
      (q) => q.name,
    );
    assert.deepEqual(
      names.sort(),
      [gw.deps.queues.protect.name, gw.deps.queues.reveal.name].sort(),
    );
  });

  it('lists failed jobs with their code and retries them; refuses to retry others', async () => {
    // Pixel Data shorter than its geometry: accepted at the door (header only), then failed
    // for good by the protect worker.
    const short = syntheticInstance({ pixels: Buffer.alloc(10) });
    const { body, contentType } = multipartBody([{ bytes: short }]);
    const stow = await fetch(`${gw.url}/dicom-web/studies`, {
      method: 'POST',
      headers: { ...bearer('modality'), 'content-type': contentType },
      body,
    });
    assert.equal(stow.status, 200);
    const list = async () => {
      const res = await call('GET', '/admin/api/jobs?state=failed', bearer('admin'));
      return ((await res.json()) as { jobs: Record<string, unknown>[] }).jobs;
    };
    const [job] = await eventually(
      async () => ((await list()).length > 0 ? list() : undefined),
      'a failed job',
    );
    assert.equal(job!.failedReason, 'VEIL_E_DICOM_PIXELS_SHORT');
    assert.equal(job!.queue, gw.deps.queues.protect.name);
    assert.equal(typeof job!.attemptsMade, 'number');
    assert.deepEqual(
      Object.keys(job!).filter(
        (k) =>
          ![
            'id',
            'queue',
            'name',
            'failedReason',
            'attemptsMade',
            'timestamp',
            'processedOn',
            'finishedOn',
            'sopInstanceUID',
          ].includes(k),
      ),
      [],
      'no job data beyond UIDs',
    );
    const retry = await call(
      'POST',
      `/admin/api/jobs/protect/${encodeURIComponent(String(job!.id))}/retry`,
      bearer('admin'),
    );
    assert.equal(retry.status, 202);
    // The retried job runs again and fails again: one more attempt on record.
    await eventually(async () => {
      const failed = await list();
      const rerun = failed.find((j) => j.id === job!.id);
      return rerun && (rerun.attemptsMade as number) > (job!.attemptsMade as number)
        ? true
        : undefined;
    }, 'the retried job failed again');
    // A completed job is not retried: 409 VEIL_E_JOB_NOT_FAILED.
    const good = multipartBody([{ bytes: syntheticInstance() }]);
    const stored = await fetch(`${gw.url}/dicom-web/studies`, {
      method: 'POST',
      headers: { ...bearer('modality'), 'content-type': good.contentType },
      body: good.body,
    });
    type Refs = Record<string, { Value: Record<string, { Value: string[] }>[] }>;
    const sop = ((await stored.json()) as Refs)['00081199']!.Value[0]!['00081155']!.Value[0]!;
    await eventually(
      () => (gw.deps.catalogue.get(sop)?.state === 'archived' ? true : undefined),
      'archived',
    );
    const completed = await call(
      'POST',
      `/admin/api/jobs/protect/${encodeURIComponent(protectJobId(sop))}/retry`,
      bearer('admin'),
    );
    assert.equal(completed.status, 409);
    assert.equal(((await completed.json()) as { code: string }).code, 'VEIL_E_JOB_NOT_FAILED');
    assert.equal(
      (await call('POST', '/admin/api/jobs/protect/no-such-job/retry', bearer('admin'))).status,
      404,
    );
    assert.equal(
      (await call('POST', '/admin/api/jobs/nosuchqueue/x/retry', bearer('admin'))).status,
      404,
    );
    assert.equal((await call('GET', '/admin/api/jobs?state=bogus', bearer('admin'))).status, 400);
    const counts = (await (
      await call('GET', '/admin/api/instances/counts', bearer('admin'))
    ).json()) as Record<string, number>;
    assert.deepEqual(Object.keys(counts).sort(), ['archived', 'failed', 'received']);
    gw.deps.catalogue.saveCommitment({
      callingAeTitle: 'MODALITY',
      transactionUID: '2.25.31',
      items: [{ sopClassUID: '1.2.840.10008.5.1.4.1.1.2', sopInstanceUID: '2.25.32' }],
      deadline: Date.UTC(2030, 0, 1),
    });
    const pending = await (
      await call('GET', '/admin/api/storage-commitments', bearer('admin'))
    ).json();
    assert.deepEqual(pending, {
      pending: [
        {
          callingAeTitle: 'MODALITY',
          transactionUID: '2.25.31',
          instances: 1,
          deadline: '2030-01-01T00:00:00.000Z',
        },
      ],
    });
    gw.deps.catalogue.removeCommitment('MODALITY', '2.25.31');
  });

  it('serves /healthz and /readyz without a token; /readyz is 503 naming the failing check', async () => {
    const health = await call('GET', '/healthz');
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: 'ok' });
    const ready = await call('GET', '/readyz');
    assert.equal(ready.status, 200);
    gw.setReadiness(async () => [
      { name: 'redis', ok: true },
      { name: 'spool', ok: false, detail: 'less than spool.minFreeBytes free' },
    ]);
    const down = await call('GET', '/readyz');
    assert.equal(down.status, 503);
    const body = (await down.json()) as { status: string; checks: { name: string; ok: boolean }[] };
    assert.equal(body.status, 'unavailable');
    assert.deepEqual(
      body.checks.filter((c) => !c.ok).map((c) => c.name),
      ['spool'],
    );
    gw.setReadiness(async () => {
      throw new Error('probe crashed');
    });
    assert.equal((await call('GET', '/readyz')).status, 503);
  });

  it('serves Prometheus metrics without a token, with the veil_ metrics', async () => {
    const res = await call('GET', '/metrics');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    const text = await res.text();
    for (const name of [
      'veil_instances_received_total',
      'veil_failures_total',
      'veil_queue_jobs',
      'veil_job_duration_seconds',
    ]) {
      assert.ok(text.includes(name), name);
    }
    assert.match(text, /veil_failures_total\{code="VEIL_E_AUTH_MISSING",stage="auth"\} [1-9]/);
  });

  it('answers unknown routes with 404 JSON and echoes a request id', async () => {
    const res = await call('GET', '/nowhere', { 'x-request-id': 'abc-123' });
    assert.equal(res.status, 404);
    assert.equal(res.headers.get('x-request-id'), 'abc-123');
    assert.equal(((await res.json()) as { code: string }).code, 'VEIL_E_NOT_FOUND');
  });
});

describe('api/auth disabled (http.authRequired false)', function () {
  this.timeout(120_000);
  it('lets every request through as the anonymous admin (documented as unsafe)', async () => {
    const gw = await startGateway({ VEIL_HTTP__AUTH_REQUIRED: 'false' });
    try {
      const res = await fetch(`${gw.url}/admin/api/instances/counts`);
      assert.equal(res.status, 200);
      assert.equal((await fetch(`${gw.url}/dicom-web/studies`)).status, 200);
    } finally {
      await gw.close();
    }
  });
});
