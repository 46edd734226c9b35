/**
 * STOW-RS (PS3.18 10.5): POST /dicom-web/studies[/{study}] with multipart/related;
 * type="application/dicom". Each part streams to a spool temp file (bounded memory, fsynced by the
 * SpoolWriter), then the intake renames and enqueues it; the reply lists stored and failed
 * instances.
 */
import fs from 'node:fs';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Router, type Request, type Response } from 'express';
import { isUid } from '../archive/archive';
import { ERROR_CODES, VeilError, isVeilError } from '../errors';
import type { GatewayDeps } from '../pipeline/gateway-deps';
import { spoolWriteError } from '../pipeline/spool';
import { boundaryOf, parseContentType, readMultipart } from '../http/multipart';
import type { Role } from './tokens';
import type { RequestHandler } from 'express';
import { principalOf } from './auth';
import type { DicomJsonObject } from './dicom-json';
import { peekUids, type PeekedUids } from './header-peek';
import { SpoolWriter } from '../pipeline/spool-writer';
import { requestLog } from './request-log';
import { dicomWebRoot, retrieveUrl } from './urls';

/** PS3.18 Table 10.5.3-2 failure reasons Veil reports in FailureReason (0008,1197). */
export const StowFailure = {
  OutOfResources: 0xa700,
  DataSetDoesNotMatchSOPClass: 0xa900,
  CannotUnderstand: 0xc000,
  StudyInstanceUIDMismatch: 0xc122,
  ProcessingFailure: 0x0110,
} as const;

interface Stored {
  sopClassUID: string;
  sopInstanceUID: string;
  studyInstanceUID: string;
  seriesInstanceUID?: string;
}
interface Failed {
  uids: PeekedUids;
  reason: number;
  code: string;
}

/** The FailureReason of an error: the DIMSE status of its code when PS3.18 lists it, else 0x0110. */
export function failureReasonOf(err: unknown): number {
  if (!isVeilError(err)) return StowFailure.ProcessingFailure;
  const dimse = ERROR_CODES[err.code].dimse;
  const listed: number[] = [
    StowFailure.OutOfResources,
    StowFailure.DataSetDoesNotMatchSOPClass,
    StowFailure.CannotUnderstand,
  ];
  return listed.includes(dimse) ? dimse : StowFailure.ProcessingFailure;
}

/**
 * Passes bytes through and fails the stream once more than `max` have passed, naming the config
 * key: http.maxUploadBytes (the whole request) or http.maxInstanceBytes (one part alone fails).
 */
function sizeLimit(max: number, key: 'maxUploadBytes' | 'maxInstanceBytes'): Transform {
  const what = key === 'maxUploadBytes' ? 'The request body' : 'An instance';
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length;
      if (seen > max)
        done(new VeilError('VEIL_E_HTTP_TOO_LARGE', `${what} exceeds http.${key}`, { [key]: max }));
      else done(null, chunk);
    },
  });
}

/** True for a part over http.maxInstanceBytes (not the whole-request limit, which ends the request). */
const isInstanceTooLarge = (err: unknown): boolean =>
  isVeilError(err, 'VEIL_E_HTTP_TOO_LARGE') && err.details.maxInstanceBytes !== undefined;

const ui = (uid: string) => ({ vr: 'UI', Value: [uid] });

/** The STOW-RS response body (PS3.18 10.5.3, DICOM JSON). */
function responseBody(
  root: string,
  stored: Stored[],
  failed: Failed[],
  pathStudy?: string,
): DicomJsonObject {
  const body: DicomJsonObject = {};
  const studies = new Set(stored.map((s) => s.studyInstanceUID));
  const study = pathStudy ?? (studies.size === 1 ? [...studies][0] : undefined);
  if (study !== undefined) body['00081190'] = { vr: 'UR', Value: [retrieveUrl(root, study)] };
  if (failed.length > 0) {
    body['00081198'] = {
      vr: 'SQ',
      Value: failed.map((f) => {
        const item: DicomJsonObject = {};
        if (f.uids.sopClassUID) item['00081150'] = ui(f.uids.sopClassUID);
        if (f.uids.sopInstanceUID) item['00081155'] = ui(f.uids.sopInstanceUID);
        item['00081197'] = { vr: 'US', Value: [f.reason] };
        return item;
      }),
    };
  }
  if (stored.length > 0) {
    body['00081199'] = {
      vr: 'SQ',
      Value: stored.map((s) => {
        const item: DicomJsonObject = {
          '00081150': ui(s.sopClassUID),
          '00081155': ui(s.sopInstanceUID),
        };
        if (s.seriesInstanceUID) {
          item['00081190'] = {
            vr: 'UR',
            Value: [retrieveUrl(root, s.studyInstanceUID, s.seriesInstanceUID, s.sopInstanceUID)],
          };
        }
        return item;
      }),
    };
  }
  return body;
}

/** True when a write failed because the volume is full. */
function isVolumeFull(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

async function removeQuietly(file: string): Promise<void> {
  await fs.promises.rm(file, { force: true }).catch(() => undefined);
}

/**
 * Destroys `req` once its socket has been silent for `idleMs` while the body is still coming: a
 * sender that stops mid-body would otherwise hold its STOW-RS slot for ever. Not once the body is
 * in (storing may take a while; after the response the server's keep-alive timeout takes over the
 * socket). Returns the function that stops watching (idempotent).
 */
function dropWhenSilent(req: Request, idleMs: number, onDrop: () => void): () => void {
  const socket = req.socket;
  const onIdle = (): void => {
    onDrop();
    req.destroy(new Error('STOW-RS body idle timeout'));
  };
  let watching = true;
  const unwatch = (): void => {
    if (!watching) return;
    watching = false;
    socket.off('timeout', onIdle);
    socket.setTimeout(0);
  };
  socket.setTimeout(idleMs);
  socket.on('timeout', onIdle);
  req.once('end', unwatch);
  return unwatch;
}

/** Router for POST /studies and /studies/{study}, mounted under /dicom-web with the auth guard. */
export function stowRouter(
  deps: GatewayDeps,
  requireRole: (...roles: Role[]) => RequestHandler,
): Router {
  const router = Router();
  const maxUpload = deps.config.http.maxUploadBytes;
  const maxInstance = deps.config.http.maxInstanceBytes;

  const store = async (req: Request, res: Response): Promise<void> => {
    const log = requestLog(res) ?? deps.log;
    const pathStudy = req.params.study as string | undefined;
    if (pathStudy !== undefined && !isUid(pathStudy)) {
      throw new VeilError('VEIL_E_UID_INVALID', 'The study UID in the path is not a valid UID');
    }
    const contentType = req.get('content-type');
    const boundary = boundaryOf(contentType);
    const type = parseContentType(contentType!).params.type?.toLowerCase();
    if (type !== 'application/dicom') {
      throw new VeilError(
        'VEIL_E_HTTP_UNSUPPORTED_MEDIA',
        'STOW-RS accepts multipart/related; type="application/dicom" only',
      );
    }
    const declared = Number(req.get('content-length'));
    if (Number.isFinite(declared) && declared > maxUpload) {
      res.setHeader('Connection', 'close');
      throw new VeilError('VEIL_E_HTTP_TOO_LARGE', 'The request body exceeds http.maxUploadBytes', {
        maxUploadBytes: maxUpload,
      });
    }
    // Refuse up front (503 / 507) when nothing could be acknowledged now (counted: an operator
    // alerts on refusals for a full spool or a dead Redis).
    await deps.intake.checkAccepting().catch((err: unknown) => {
      if (isVeilError(err)) deps.metrics.failures.inc({ code: err.code, stage: 'intake' });
      throw err;
    });

    const principal = principalOf(res);
    const source = {
      kind: 'stow' as const,
      who: principal.name,
      address: req.socket.remoteAddress,
    };
    const stored: Stored[] = [];
    const failed: Failed[] = [];
    // The intake counts its own acceptances and failures; the door counts what never reached it.
    const fail = (uids: PeekedUids, err: unknown, counted = false): void => {
      const code = isVeilError(err) ? err.code : 'internal';
      if (!isVeilError(err)) log.error({ err }, 'STOW-RS part failed');
      if (!counted) deps.metrics.failures.inc({ code, stage: 'intake' });
      failed.push({ uids, reason: failureReasonOf(err), code });
    };

    const body: Readable = req.pipe(sizeLimit(maxUpload, 'maxUploadBytes'));
    req.on('error', (err) => body.destroy(err));
    let bodyError: unknown;
    try {
      for await (const part of readMultipart(body, boundary, { maxPartBytes: maxUpload })) {
        const partType = part.headers['content-type'];
        if (
          partType !== undefined &&
          parseContentType(partType).mediaType !== 'application/dicom'
        ) {
          part.body.destroy();
          fail(
            {},
            new VeilError('VEIL_E_HTTP_UNSUPPORTED_MEDIA', 'A part is not application/dicom'),
          );
          continue;
        }
        const temp = deps.intake.tempPath();
        // fsynced before the pipeline ends, its head kept: intake neither reopens nor re-reads it.
        const file = new SpoolWriter(temp);
        try {
          await pipeline(part.body, sizeLimit(maxInstance, 'maxInstanceBytes'), file);
        } catch (err) {
          // The open may still be in flight when the part fails: removing before the stream has
          // closed would leave the file it is about to create behind.
          if (!file.closed)
            await new Promise<void>((resolve) => file.once('close', () => resolve()));
          await removeQuietly(temp);
          // One oversized instance fails alone; readMultipart skips the rest of its bytes.
          if (isInstanceTooLarge(err)) {
            fail({}, err);
            continue;
          }
          // A full spool volume is VEIL_E_SPOOL_FULL (507), not a 500.
          throw isVolumeFull(err) ? spoolWriteError(err, 'A part could not be spooled.') : err;
        }
        const uids = await peekUids(temp).catch((): PeekedUids => ({}));
        if (
          pathStudy !== undefined &&
          uids.studyInstanceUID !== undefined &&
          uids.studyInstanceUID !== pathStudy
        ) {
          await removeQuietly(temp);
          deps.metrics.failures.inc({ code: 'study-mismatch', stage: 'intake' });
          failed.push({
            uids,
            reason: StowFailure.StudyInstanceUIDMismatch,
            code: 'study-mismatch',
          });
          continue;
        }
        try {
          const result = await deps.intake.accept(temp, source, file.written());
          stored.push({ ...result, seriesInstanceUID: uids.seriesInstanceUID });
        } catch (err) {
          await removeQuietly(temp);
          fail(uids, err, true);
        }
      }
    } catch (err) {
      bodyError = err;
    }
    if (bodyError !== undefined) {
      res.setHeader('Connection', 'close');
      // Nothing acknowledged: the whole request failed (400 malformed, 413 too large, 507 full).
      if (stored.length === 0) {
        if (isVeilError(bodyError, 'VEIL_E_SPOOL_FULL')) {
          deps.metrics.failures.inc({ code: bodyError.code, stage: 'intake' });
        }
        throw bodyError;
      }
      fail({}, bodyError);
    }
    if (stored.length === 0 && failed.length === 0) {
      throw new VeilError('VEIL_E_HTTP_BAD_REQUEST', 'The multipart body holds no parts');
    }
    if (stored.length === 0 && failed.every((f) => f.code === 'VEIL_E_HTTP_TOO_LARGE')) {
      // Nothing stored and only size refusals: the plain 413 says more than a 409 would.
      throw new VeilError('VEIL_E_HTTP_TOO_LARGE', 'The instance exceeds http.maxInstanceBytes', {
        maxInstanceBytes: maxInstance,
      });
    }
    deps.audit.record({
      type: 'DICOMInstancesTransferred',
      action: 'C',
      outcome:
        failed.length === 0 ? 'success' : stored.length > 0 ? 'minor-failure' : 'serious-failure',
      user: principal.name,
      address: req.socket.remoteAddress,
      studyInstanceUIDs: [...new Set(stored.map((s) => s.studyInstanceUID))],
      sopInstanceUIDs: stored.map((s) => s.sopInstanceUID),
      errorCode: failed[0]?.code,
    });
    const status = failed.length === 0 ? 200 : stored.length > 0 ? 202 : 409;
    res
      .status(status)
      .type('application/dicom+json')
      .send(JSON.stringify(responseBody(dicomWebRoot(req), stored, failed, pathStudy)));
  };

  // At most http.maxConcurrentStow requests are read at once; more are refused before their body
  // is read (each one read holds a spool file and competes for fsync; the sender retries).
  const maxConcurrent = deps.config.http.maxConcurrentStow;
  const idleMs = deps.config.http.idleTimeoutSeconds * 1000;
  let active = 0;
  const limited = async (req: Request, res: Response): Promise<void> => {
    if (active >= maxConcurrent) {
      deps.metrics.failures.inc({ code: 'VEIL_E_BUSY', stage: 'intake' });
      res.setHeader('Retry-After', '1');
      res.setHeader('Connection', 'close');
      throw new VeilError(
        'VEIL_E_BUSY',
        'The gateway is reading as many STOW-RS requests as http.maxConcurrentStow allows',
        { maxConcurrentStow: maxConcurrent },
      );
    }
    active += 1;
    const unwatch = dropWhenSilent(req, idleMs, () =>
      (requestLog(res) ?? deps.log).info(
        { idleSeconds: idleMs / 1000 },
        'STOW-RS body silent; connection dropped',
      ),
    );
    try {
      await store(req, res);
    } finally {
      unwatch();
      active -= 1;
    }
  };
  router.post('/studies', requireRole('modality'), limited);
  router.post('/studies/:study', requireRole('modality'), limited);
  return router;
}
