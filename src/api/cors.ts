/**
 * CORS for the DICOMweb routes and WADO-URI (Fetch standard, "CORS protocol"): a web viewer served
 * from another origin (OHIF, say) may call QIDO-RS, WADO-RS, WADO-URI and STOW-RS when its origin is in
 * http.corsOrigins. Preflights are answered here, without a token (browsers send none); every
 * real request still goes through bearer-token auth. Veil uses no cookies, so no credentials mode.
 */
import type { RequestHandler } from 'express';

/** Response headers a page may read: the multipart type, lengths, warnings, where STOW put things. */
const EXPOSED = 'Content-Type, Content-Length, Content-Location, Location, Warning, Retry-After';
/** Request headers a page may send: its token, what it sends and what it accepts. */
const ALLOWED_HEADERS = 'Authorization, Content-Type, Accept';
/** How long a browser may cache a preflight answer (seconds). */
const MAX_AGE = '600';

/** Middleware for http.corsOrigins (exact origins, or '*'); with none it does nothing at all. */
export function corsFor(origins: readonly string[]): RequestHandler {
  const any = origins.includes('*');
  const allowed = new Set(origins.map((o) => o.toLowerCase()));
  return (req, res, next) => {
    const origin = req.get('origin');
    res.vary('Origin');
    if (origin === undefined || (!any && !allowed.has(origin.toLowerCase()))) {
      next();
      return;
    }
    res.setHeader('Access-Control-Allow-Origin', any ? '*' : origin);
    res.setHeader('Access-Control-Expose-Headers', EXPOSED);
    if (req.method === 'OPTIONS' && req.get('access-control-request-method') !== undefined) {
      res.setHeader('Access-Control-Allow-Methods', 'GET, POST');
      res.setHeader('Access-Control-Allow-Headers', ALLOWED_HEADERS);
      res.setHeader('Access-Control-Max-Age', MAX_AGE);
      res.status(204).end();
      return;
    }
    next();
  };
}
