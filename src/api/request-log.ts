/**
 * One child logger per request, carrying a request id (echoed as X-Request-Id). Only the method,
 * the path (segments that are not route words or UIDs masked) and the status are logged: query
 * strings can hold patient names (QIDO PatientName=), a mistaken path segment a patient ID.
 */
import { randomUUID } from 'node:crypto';
import type { RequestHandler, Response } from 'express';
import type { Logger } from '../log';

/**
 * A path segment is logged as is only when it is a route word, UID-shaped (PS3.5 9.1: digits and
 * dots) or a small frame number; anything else (a patient ID, numeric MRN or accession a client
 * put where a UID belongs) is masked.
 */
const LOGGABLE_SEGMENT = /^(?:[a-z][a-z-]{0,31}|[0-9]+(?:\.[0-9]+)+|[0-9]{1,4})$/;

/** The request path with every segment that might carry patient data masked, for the log. */
export function loggablePath(requestPath: string): string {
  return requestPath
    .split('/')
    .map((segment) => (segment === '' || LOGGABLE_SEGMENT.test(segment) ? segment : '*'))
    .join('/');
}

/** Client-chosen request ids are kept only when they are short and plainly safe to log. */
const SAFE_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** Middleware attaching `res.locals.log` and `res.locals.requestId`, and logging completion. */
export function requestLogger(log: Logger): RequestHandler {
  return (req, res, next) => {
    const offered = req.get('x-request-id');
    const requestId = offered !== undefined && SAFE_ID.test(offered) ? offered : randomUUID();
    const child = log.child({ reqId: requestId });
    res.locals.requestId = requestId;
    res.locals.log = child;
    res.setHeader('X-Request-Id', requestId);
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      child.info(
        {
          method: req.method,
          path: loggablePath(req.path),
          status: res.statusCode,
          ms: Math.round(ms),
        },
        'request',
      );
    });
    next();
  };
}

/** The request's child logger (undefined outside a request). */
export function requestLog(res: Response): Logger | undefined {
  return res.locals.log as Logger | undefined;
}

/** The request id, for error bodies an operator can match against the log. */
export function requestIdOf(res: Response): string | undefined {
  return res.locals.requestId as string | undefined;
}
