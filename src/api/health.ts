/**
 * Probes and metrics without authentication: /healthz (the process answers), /readyz (every
 * dependency ready, else 503 naming which) and /metrics (Prometheus text format).
 */
import { Router } from 'express';
import type { GatewayDeps, ReadinessCheck } from '../pipeline/gateway-deps';

/** Router for /healthz, /readyz and /metrics. */
export function healthRouter(deps: GatewayDeps): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    let checks: ReadinessCheck[];
    try {
      checks = await deps.readiness();
    } catch {
      // The readiness probe itself failing is "not ready", never a 500 the orchestrator ignores.
      checks = [{ name: 'redis', ok: false, detail: 'readiness check failed' }];
    }
    const ok = checks.every((c) => c.ok);
    res.status(ok ? 200 : 503).json({ status: ok ? 'ok' : 'unavailable', checks });
  });
  router.get('/metrics', async (_req, res) => {
    const text = await deps.metrics.registry.metrics();
    res.setHeader('Content-Type', deps.metrics.registry.contentType);
    res.send(text);
  });
  return router;
}
