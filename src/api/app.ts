/**
 * The HTTP door: DICOMweb (STOW-RS, QIDO-RS, WADO-RS), admin (Bull Board, /admin/api), health and
 * metrics, built from the gateway's dependencies. It never listens itself: `veil serve` and the
 * tests do, so the same app runs in-process in tests.
 */
import express from 'express';
import type { GatewayDeps } from '../pipeline/gateway-deps';
import { mountAdmin } from './admin';
import { createAuth } from './auth';
import { corsFor } from './cors';
import { errorHandler, notFoundHandler } from './error-handler';
import { healthRouter } from './health';
import { qidoRouter } from './qido';
import { requestLogger } from './request-log';
import { stowRouter } from './stow';
import { wadoRouter } from './wado';
import { wadoUriRouter } from './wado-uri';

/** Builds the express app for `deps`; reads the token list once (http.tokens, http.tokensFile). */
export function createApp(deps: GatewayDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  // Behind a proxy the operator sets this via express itself; the default trusts no one.
  app.set('trust proxy', false);
  app.set('query parser', 'simple');
  const requireRole = createAuth(deps);

  app.use(requestLogger(deps.log));
  app.use(healthRouter(deps));
  if (deps.config.http.corsOrigins.length > 0)
    app.use(['/dicom-web', '/wado'], corsFor(deps.config.http.corsOrigins));
  app.use('/dicom-web', stowRouter(deps, requireRole));
  app.use('/dicom-web', qidoRouter(deps, requireRole));
  app.use('/dicom-web', wadoRouter(deps, requireRole));
  app.use(wadoUriRouter(deps, requireRole));
  mountAdmin(app, deps, requireRole);
  app.use(notFoundHandler);
  app.use(errorHandler(deps.log));
  return app;
}
