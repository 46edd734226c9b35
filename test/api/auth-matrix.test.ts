/**
 * The auth matrix: every route the express app registers (walked from its router, Bull Board
 * included, so a new route cannot be forgotten) × {missing, malformed, wrong, expired, wrong-role,
 * right-role} tokens, health and metrics public, token expiry from `veil token create` to 401
 * VEIL_E_AUTH_EXPIRED (needs redis-server).
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import express from 'express';
import { createApp } from '../../src/api/app';
import { createAuth } from '../../src/api/auth';
import { errorHandler } from '../../src/api/error-handler';
import { formatTokenEntry } from '../../src/api/tokens';
import { runTool } from '../helpers/tools';
import { TOKENS, startGateway, type TestGateway } from './harness';

type Role = keyof typeof TOKENS;
const ROLES: Role[] = ['modality', 'workstation', 'admin'];
const ROOT = path.resolve(__dirname, '..', '..');

/** Who may use each non-admin route; everything under /admin/ is admin only. */
const WORKSTATION: Role[] = ['workstation'];
const EXPECTED: Record<string, Role[] | 'public'> = {
  'GET /healthz': 'public',
  'GET /readyz': 'public',
  'GET /metrics': 'public',
  'POST /dicom-web/studies': ['modality'],
  'POST /dicom-web/studies/:study': ['modality'],
  'GET /dicom-web/studies': WORKSTATION,
  'GET /dicom-web/series': WORKSTATION,
  'GET /dicom-web/instances': WORKSTATION,
  'GET /dicom-web/studies/:study/series': WORKSTATION,
  'GET /dicom-web/studies/:study/instances': WORKSTATION,
  'GET /dicom-web/studies/:study/series/:series/instances': WORKSTATION,
  'GET /dicom-web/studies/:study': WORKSTATION,
  'GET /dicom-web/studies/:study/series/:series': WORKSTATION,
  'GET /dicom-web/studies/:study/series/:series/instances/:sop': WORKSTATION,
  'GET /dicom-web/studies/:study/metadata': WORKSTATION,
  'GET /dicom-web/studies/:study/series/:series/metadata': WORKSTATION,
  'GET /dicom-web/studies/:study/series/:series/instances/:sop/metadata': WORKSTATION,
  'GET /dicom-web/studies/:study/series/:series/instances/:sop/frames/:frames': WORKSTATION,
  'GET /dicom-web/studies/:study/series/:series/instances/:sop/rendered': WORKSTATION,
  'GET /dicom-web/studies/:study/series/:series/instances/:sop/frames/:frames/rendered':
    WORKSTATION,
  'GET /dicom-web/studies/:study/series/:series/instances/:sop/thumbnail': WORKSTATION,
  'GET /dicom-web/studies/:study/series/:series/instances/:sop/bulk/:tag': WORKSTATION,
  'GET /wado': WORKSTATION,
};

interface RouteLayer {
  name: string;
  rawPath?: string | string[];
  route?: { path: string | string[]; methods: Record<string, boolean> };
  handle: { stack?: RouteLayer[]; router?: { stack: RouteLayer[] } };
}

const routerStack = (app: express.Express) =>
  (app as unknown as { router: { stack: RouteLayer[] } }).router.stack;

/** Bull Board's express app built as src/api/admin.ts builds it (express hides the mounted one). */
function bullBoardApp(gw: TestGateway): express.Express {
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath('/admin/queues');
  createBullBoard({
    queues: [gw.deps.queues.protect, gw.deps.queues.reveal].map((q) => new BullMQAdapter(q)),
    serverAdapter,
  });
  return serverAdapter.getRouter() as express.Express;
}

/** Every METHOD + path pattern the app answers, walked through routers and mounted apps. */
export function registeredRoutes(
  app: express.Express,
  mounted: Record<string, express.Express> = {},
): { method: string; pattern: string }[] {
  const out: { method: string; pattern: string }[] = [];
  const join = (a: string, b: string) => `${a}${b === '/' ? '' : b}`.replace(/\/+/g, '/') || '/';
  const paths = (p: string | string[] | undefined) => (Array.isArray(p) ? p : [p ?? '/']);
  const walk = (stack: RouteLayer[], prefix: string): void => {
    for (const layer of stack) {
      if (layer.route) {
        for (const p of paths(layer.route.path))
          for (const m of Object.keys(layer.route.methods))
            out.push({ method: m.toUpperCase(), pattern: join(prefix, p) });
        continue;
      }
      for (const p of paths(layer.rawPath)) {
        const at = join(prefix, p);
        // express wraps a mounted sub-app in a closure; the caller hands it in by mount path.
        const sub = layer.name === 'mounted_app' ? mounted[at] : undefined;
        if (layer.name === 'mounted_app' && !sub) throw new Error(`sub-app at ${at} not given`);
        const inner = sub ? routerStack(sub) : (layer.handle.router?.stack ?? layer.handle.stack);
        if (inner) walk(inner, at);
        // A static file server mounted on a path (Bull Board's assets) is a GET route too.
        else if (layer.name === 'serveStatic')
          out.push({ method: 'GET', pattern: join(prefix, p) });
      }
    }
  };
  walk(routerStack(app), '');
  return out;
}

/** A concrete path for a pattern: valid UIDs for DICOM params, a queue that does not exist. */
function instantiate(pattern: string): string {
  return pattern
    .replace(/:(study|series|sop)\b/g, '1.2.3.4')
    .replace(/:queue(Name)?\b/g, 'no-such-queue')
    .replace(/:[A-Za-z]+/g, 'x')
    .replace(/\{?\*[A-Za-z]+\}?|\*/g, 'x');
}

function expectedRoles(method: string, pattern: string): Role[] | 'public' {
  const listed = EXPECTED[`${method} ${pattern}`];
  if (listed !== undefined) return listed;
  if (pattern.startsWith('/admin/')) return [];
  throw new Error(`route ${method} ${pattern} is in no auth class: add it to EXPECTED`);
}

describe('api/auth matrix over every registered route (redis-server)', function () {
  this.timeout(300_000);
  let gw: TestGateway;
  let routes: { method: string; path: string; roles: Role[] | 'public' }[];
  /** Tokens made by the real `veil token create`, with and without expiry. */
  const cli: Record<string, string> = {};
  const expired = (role: Role) => `expired-${role}-token`;

  before(async () => {
    const make = (name: string, ...args: string[]) => {
      const run = runTool('node', [
        path.join(ROOT, 'bin', 'veil'),
        'token',
        'create',
        '--name',
        name,
        '--json',
        ...args,
      ]);
      assert.equal(run.status, 0, run.stderr);
      return JSON.parse(run.stdout) as { token: string; entry: string; expiresAt?: string };
    };
    const later = make('cli-later', '--role', 'workstation', '--expires-in', '2h');
    const fixed = make('cli-fixed', '--role', 'modality', '--expires', '2100-01-01T00:00:00+01:00');
    assert.match(later.entry, /^cli-later:workstation:[0-9a-f]{64}:\d{4}-.*Z$/);
    assert.equal(fixed.expiresAt, '2099-12-31T23:00:00.000Z');
    cli.later = later.token;
    cli.fixed = fixed.token;
    const entries = [
      ...ROLES.map((role) => formatTokenEntry(role, role, TOKENS[role])),
      ...ROLES.map((role) =>
        formatTokenEntry(`old-${role}`, role, expired(role), new Date(Date.now() - 60_000)),
      ),
      later.entry,
      fixed.entry,
    ];
    gw = await startGateway({ VEIL_HTTP__TOKENS: JSON.stringify(entries) });
    const found = registeredRoutes(createApp(gw.deps), { '/admin/queues': bullBoardApp(gw) });
    routes = found.map(({ method, pattern }) => ({
      method,
      path: instantiate(pattern),
      roles: expectedRoles(method, pattern),
    }));
  });
  after(async () => {
    await gw?.close();
  });

  const call = (method: string, p: string, authorization?: string) =>
    fetch(`${gw.url}${p}`, {
      method,
      headers: authorization === undefined ? {} : { authorization },
    });
  const refusal = async (res: Response) => {
    const body = (await res.json()) as { code: string };
    assert.deepEqual(Object.keys(body).sort(), ['code', 'message']);
    return { status: res.status, code: body.code };
  };

  it('finds the DICOMweb, admin API, analysis and Bull Board routes in the app', () => {
    const paths = routes.map((r) => `${r.method} ${r.path}`);
    for (const key of Object.keys(EXPECTED)) {
      const [method, pattern] = key.split(' ') as [string, string];
      assert.ok(
        routes.some((r) => r.method === method && r.path === instantiate(pattern)),
        `${key} registered`,
      );
    }
    assert.ok(paths.includes('GET /admin/queues/api/queues'), 'Bull Board API walked');
    assert.ok(
      paths.some((p) => p.startsWith('PUT /admin/queues/api/')),
      'Bull Board actions',
    );
    assert.ok(
      paths.some((p) => p.startsWith('GET /admin/api/analysis/')),
      'analysis route',
    );
    assert.ok(paths.includes('POST /admin/api/jobs/no-such-queue/x/retry'), 'retry route');
  });

  it('keeps /healthz, /readyz and /metrics public whatever token is sent', async () => {
    const pub = routes.filter((r) => r.roles === 'public');
    assert.equal(pub.length, 3);
    for (const r of pub) {
      for (const auth of [undefined, 'Bearer nope', `Bearer ${expired('admin')}`, 'Basic x']) {
        const res = await call(r.method, r.path, auth);
        await res.arrayBuffer();
        assert.ok(![401, 403].includes(res.status), `${r.path} with ${auth}: ${res.status}`);
      }
    }
    assert.equal((await call('GET', '/healthz')).status, 200);
  });

  it('answers 401 VEIL_E_AUTH_MISSING without a token on every other route', async () => {
    for (const r of routes.filter((x) => x.roles !== 'public')) {
      for (const auth of [undefined, '', '   ']) {
        const got = await refusal(await call(r.method, r.path, auth));
        assert.deepEqual(
          got,
          { status: 401, code: 'VEIL_E_AUTH_MISSING' },
          `${r.method} ${r.path}`,
        );
      }
    }
  });

  it('answers 401 VEIL_E_AUTH_INVALID for malformed and wrong tokens on every other route', async () => {
    const bad = [
      'Bearer',
      `Basic ${TOKENS.admin}`,
      `Token ${TOKENS.admin}`,
      `Bearer ${TOKENS.admin} ${TOKENS.admin}`,
      `Bearer ${TOKENS.admin}x`,
      `Bearer ${TOKENS.admin.toUpperCase()}`,
      'Bearer veil_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
      `Bearer ${'a'.repeat(4096)}`,
    ];
    for (const r of routes.filter((x) => x.roles !== 'public')) {
      for (const auth of bad) {
        const got = await refusal(await call(r.method, r.path, auth));
        assert.deepEqual(got, { status: 401, code: 'VEIL_E_AUTH_INVALID' }, `${r.path} ${auth}`);
      }
    }
  });

  it('answers 401 VEIL_E_AUTH_EXPIRED for an expired token of any role, admin included', async () => {
    for (const r of routes.filter((x) => x.roles !== 'public')) {
      for (const role of ROLES) {
        const got = await refusal(await call(r.method, r.path, `Bearer ${expired(role)}`));
        assert.deepEqual(got, { status: 401, code: 'VEIL_E_AUTH_EXPIRED' }, `${role} ${r.path}`);
      }
    }
    const audited = gw.audits.filter((a) => a.errorCode === 'VEIL_E_AUTH_EXPIRED');
    assert.ok(audited.length >= 3);
    assert.ok(audited.every((a) => a.type === 'UserAuthentication' && a.outcome !== 'success'));
    assert.deepEqual([...new Set(audited.map((a) => a.user))].sort(), [
      'old-admin',
      'old-modality',
      'old-workstation',
    ]);
    const metrics = await (await call('GET', '/metrics')).text();
    assert.match(metrics, /veil_failures_total\{code="VEIL_E_AUTH_EXPIRED",stage="auth"\} [1-9]/);
    assert.ok(!gw.logText().includes(expired('admin')), 'the token never reaches the log');
  });

  it('answers 403 VEIL_E_AUTH_FORBIDDEN for a role the route does not allow', async () => {
    let checked = 0;
    for (const r of routes) {
      if (r.roles === 'public') continue;
      for (const role of ['modality', 'workstation'] as const) {
        if (r.roles.includes(role)) continue;
        const got = await refusal(await call(r.method, r.path, `Bearer ${TOKENS[role]}`));
        assert.deepEqual(got, { status: 403, code: 'VEIL_E_AUTH_FORBIDDEN' }, `${role} ${r.path}`);
        checked++;
      }
    }
    assert.ok(checked > routes.length, 'every admin route refused to two roles');
  });

  it('lets the allowed roles, admin and unexpired CLI tokens past auth', async () => {
    for (const r of routes) {
      if (r.roles === 'public') continue;
      const tokens: string[] = [...r.roles, 'admin' as const].map((role) => TOKENS[role]);
      if (r.roles.includes('workstation')) tokens.push(cli.later!);
      if (r.roles.includes('modality')) tokens.push(cli.fixed!);
      for (const token of tokens) {
        const res = await call(r.method, r.path, `Bearer ${token}`);
        await res.arrayBuffer();
        assert.ok(![401, 403].includes(res.status), `${r.method} ${r.path}: ${res.status}`);
      }
    }
  });
});

describe('api/auth expiry is checked per request (no restart)', function () {
  this.timeout(120_000);
  it('accepts a token until its expiry instant and refuses it from then on', async () => {
    const gw = await startGateway();
    let server: Server | undefined;
    try {
      const at = new Date('2030-06-01T12:00:00Z');
      let clock = at.getTime() - 1;
      const config = {
        ...gw.config,
        http: { ...gw.config.http, tokens: [formatTokenEntry('soon', 'workstation', 'soon', at)] },
      };
      const requireRole = createAuth({ ...gw.deps, config }, () => clock);
      const app = express();
      app.get('/x', requireRole('workstation'), (_req, res) => void res.json({ ok: true }));
      app.use(errorHandler(gw.deps.log));
      server = await new Promise<Server>((resolve) => {
        const s = app.listen(0, '127.0.0.1', () => resolve(s));
      });
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/x`;
      const get = () => fetch(url, { headers: { authorization: 'Bearer soon' } });
      assert.equal((await get()).status, 200);
      clock = at.getTime();
      const res = await get();
      assert.equal(res.status, 401);
      assert.equal(((await res.json()) as { code: string }).code, 'VEIL_E_AUTH_EXPIRED');
    } finally {
      server?.close();
      await gw.close();
    }
  });
});
