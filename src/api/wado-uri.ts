/**
 * WADO-URI (PS3.18 Chapter 9, the URI service): `GET /wado?requestType=WADO&studyUID=…&seriesUID=…
 * &objectUID=…&contentType=…`, what older viewers, EHR links and reporting systems use. Veil answers
 * contentType=application/dicom with the revealed original (in the transfer syntax it was received
 * in) and image/png with one rendered frame (rendered.ts). It has no JPEG or GIF encoder and does
 * not de-identify on the way out, so those requests are refused with a clear code.
 */
import { Router, type Request, type RequestHandler, type Response } from 'express';
import { isUid } from '../archive/archive';
import { VeilError } from '../errors';
import type { GatewayDeps } from '../pipeline/gateway-deps';
import { parseFrameList } from './frames';
import { parseMediaType } from './media-type';
import type { RenderOptions } from '../analysis/render-frame';
import { singleParam } from './rendered';
import type { Role } from './tokens';
import { deliverOne, refOf, sendRendered, streamFile } from './wado';

const badRequest = (message: string) => new VeilError('VEIL_E_HTTP_BAD_REQUEST', message);

/** Parameters Veil cannot honour: answering without them would give something else than asked. */
const UNSUPPORTED = ['annotation', 'region', 'presentationUID', 'presentationSeriesUID'];

/** A parsed WADO-URI request. */
export interface WadoUriRequest {
  studyInstanceUID: string;
  seriesInstanceUID: string;
  sopInstanceUID: string;
  contentType: 'application/dicom' | 'image/png';
  /** application/dicom: the transfer syntax asked for, if any. */
  transferSyntaxUID?: string;
  /** image/png: the frame (from 1) and the rendering. */
  frameNumber: number;
  render: RenderOptions;
}

/** Reads and checks the query of a WADO-URI request (express 'simple' parser). */
export function parseWadoUri(query: Record<string, unknown>): WadoUriRequest {
  const one = (name: string) => singleParam(query, name);
  if (one('requestType') !== 'WADO') throw badRequest('requestType must be WADO.');
  const uid = (name: string): string => {
    const value = one(name);
    if (value === undefined) throw badRequest(`${name} is required.`);
    if (!isUid(value)) throw new VeilError('VEIL_E_UID_INVALID', `${name} is not a valid UID.`);
    return value;
  };
  const request = {
    studyInstanceUID: uid('studyUID'),
    seriesInstanceUID: uid('seriesUID'),
    sopInstanceUID: uid('objectUID'),
  };
  for (const name of UNSUPPORTED) {
    if (one(name) !== undefined) throw badRequest(`Veil does not support the ${name} parameter.`);
  }
  if ((one('anonymize') ?? 'no').toLowerCase() === 'yes') {
    throw badRequest('Veil does not de-identify on retrieval (anonymize=yes).');
  }
  // contentType is a list, best first (PS3.18 9.4.1.2.1: media types with optional q).
  const asked = (one('contentType') ?? '')
    .split(',')
    .map((t) => parseMediaType(t.trim()))
    .filter((m) => m !== undefined && m.q > 0)
    .sort((a, b) => b!.q - a!.q)
    .map((m) => m!.type);
  const contentType = asked.find(
    (t): t is WadoUriRequest['contentType'] => t === 'application/dicom' || t === 'image/png',
  );
  if (contentType === undefined) {
    throw new VeilError(
      'VEIL_E_HTTP_NOT_ACCEPTABLE',
      'Veil answers WADO-URI with contentType=application/dicom or image/png (no JPEG or GIF encoder).',
    );
  }
  const transferSyntaxUID = one('transferSyntax');
  if (transferSyntaxUID !== undefined && !isUid(transferSyntaxUID)) {
    throw new VeilError('VEIL_E_UID_INVALID', 'transferSyntax is not a valid UID.');
  }
  const frame = one('frameNumber');
  const frames = frame === undefined ? [1] : parseFrameList(frame);
  if (frames.length !== 1) throw badRequest('frameNumber names one frame.');
  const render: RenderOptions = {};
  const center = one('windowCenter');
  const width = one('windowWidth');
  if ((center === undefined) !== (width === undefined)) {
    throw badRequest('windowCenter and windowWidth go together.');
  }
  if (center !== undefined && width !== undefined) {
    const c = Number(center);
    const w = Number(width);
    if (!Number.isFinite(c) || !Number.isFinite(w) || w < 1) {
      throw badRequest('windowCenter and windowWidth must be numbers, the width at least 1.');
    }
    render.window = { center: c, width: w };
  }
  const side = (name: string): number | undefined => {
    const value = one(name);
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > 4096) throw badRequest(`${name} is 1 to 4096.`);
    return n;
  };
  const rows = side('rows');
  const columns = side('columns');
  if (rows !== undefined || columns !== undefined) {
    render.viewport = { width: columns ?? 4096, height: rows ?? 4096 };
  }
  return {
    ...request,
    contentType,
    ...(transferSyntaxUID !== undefined ? { transferSyntaxUID } : {}),
    frameNumber: frames[0]!,
    render,
  };
}

/** Router for WADO-URI, mounted at the root: GET /wado. */
export function wadoUriRouter(
  deps: GatewayDeps,
  requireRole: (...roles: Role[]) => RequestHandler,
): Router {
  const router = Router();
  router.get('/wado', requireRole('workstation'), async (req: Request, res: Response) => {
    const asked = parseWadoUri(req.query as Record<string, unknown>);
    const records = deps.catalogue.instancesOf({
      studyInstanceUID: asked.studyInstanceUID,
      seriesInstanceUID: asked.seriesInstanceUID,
      sopInstanceUID: asked.sopInstanceUID,
    });
    if (records.length === 0) throw new VeilError('VEIL_E_NOT_FOUND', 'No such instance');
    const refs = records.map(refOf);
    if (asked.contentType === 'image/png') {
      await sendRendered(deps, req, res, records, { frame: asked.frameNumber, ...asked.render });
      return;
    }
    // Instances go out in the syntax they were received in (a bit-exact reveal), never transcoded.
    if (
      asked.transferSyntaxUID !== undefined &&
      asked.transferSyntaxUID !== records[0]!.transferSyntaxUID
    ) {
      throw new VeilError(
        'VEIL_E_HTTP_NOT_ACCEPTABLE',
        'The instance is delivered in the transfer syntax it was received in; Veil does not transcode.',
      );
    }
    await deliverOne(deps, req, res, refs, async (file) => {
      res
        .status(200)
        .setHeader('Content-Type', 'application/dicom')
        .setHeader('Content-Length', String(file.bytes));
      await streamFile(res, file.path, file.bytes, {});
      res.end();
    });
  });
  return router;
}
