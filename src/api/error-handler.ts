/**
 * The one place HTTP errors are formatted: a VeilError becomes its status and {code, message};
 * anything else is a bug, logged with its stack and answered 500 without details.
 */
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { VeilError, isVeilError } from '../errors';
import type { Logger } from '../log';
import { requestLog, requestIdOf } from './request-log';

/** Answers unknown routes with 404 VEIL_E_NOT_FOUND (JSON like every other error). */
export const notFoundHandler: RequestHandler = (_req, _res, next) => {
  next(new VeilError('VEIL_E_NOT_FOUND', 'No such route'));
};

/** Express error middleware (registered last): VeilError → its status; others → 500. */
export function errorHandler(fallbackLog: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    const log = requestLog(res) ?? fallbackLog;
    const veil = isVeilError(err) ? err : asVeilError(err);
    if (res.headersSent) {
      // A streamed response cannot change its status any more: cut it, so the client sees an
      // incomplete multipart body rather than a silently short one.
      log.warn({ code: veil?.code, err: veil ? undefined : err }, 'error after response started');
      res.destroy();
      return;
    }
    if (veil) {
      if (veil.httpStatus >= 500) log.error({ code: veil.code }, veil.message);
      else log.info({ code: veil.code, status: veil.httpStatus }, 'request refused');
      res.status(veil.httpStatus).json({ code: veil.code, message: veil.message });
      return;
    }
    log.error({ err }, 'internal error');
    res.status(500).json({ message: 'Internal server error', requestId: requestIdOf(res) });
  };
}

/** Errors express and body readers raise themselves (bad JSON, aborted uploads) are client errors. */
function asVeilError(err: unknown): VeilError | undefined {
  const e = err as { status?: unknown; statusCode?: unknown; type?: unknown } | null;
  const status = typeof e?.status === 'number' ? e.status : e?.statusCode;
  if (status === 413) return new VeilError('VEIL_E_HTTP_TOO_LARGE', 'Request body too large');
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return new VeilError('VEIL_E_HTTP_BAD_REQUEST', 'Malformed request');
  }
  return undefined;
}
