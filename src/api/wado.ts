/**
 * WADO-RS (PS3.18 10.4): a study, series or instance as multipart/related; type="application/dicom",
 * each instance streamed as soon as a worker revealed it; the /metadata variants as DICOM JSON;
 * the frames of an instance as multipart/related pixel data (frames.ts); and one frame rendered
 * or as a thumbnail, as PNG (rendered.ts).
 * An instance that does not reveal (tampered, no key) is never delivered: see docs/http-api.md.
 */
import fs from 'node:fs';
import { Router, type Request, type RequestHandler, type Response } from 'express';
import { isUid, type InstanceRef } from '../archive/archive';
import { parsePart10 } from '../dicom/parse';
import { TransferSyntax } from '../dicom/tags';
import { isEncapsulated } from '../dicom/transfer-syntax';
import { ERROR_CODES, VeilError, type ErrorCode } from '../errors';
import type { InstanceRecord } from '../index/catalogue';
import { closing, newBoundary, partHead } from '../http/multipart';
import type { RetrieveOptions, Retrieved } from '../pipeline/contracts';
import type { GatewayDeps } from '../pipeline/gateway-deps';
import { principalOf } from './auth';
import { dataSetToJson, isBinaryVr, tagKey } from './dicom-json';
import { dicomWebRoot, retrieveUrl } from './urls';
import { type FramePartType, framesOf, negotiateFrames, parseFrameList } from './frames';
import { acceptRendered, renderOptions } from './rendered';
import { THUMBNAIL_SIDE, type RenderSpec, assertRenderable } from '../analysis/render-frame';
import { covers, parseAccept } from './media-type';
import { requestLog } from './request-log';
import type { Role } from './tokens';

export type Failure = Extract<Retrieved, { ok: false }>;

/**
 * Writes and resolves once the chunk was handed to the socket (backpressure, and a buffer passed in
 * may be reused afterwards), or early when the client has gone (the caller then stops).
 */
function write(res: Response, chunk: Buffer): Promise<void> {
  return new Promise<void>((resolve) => {
    if (res.destroyed) {
      resolve();
      return;
    }
    const done = (): void => {
      res.off('close', done);
      resolve();
    };
    res.once('close', done);
    res.write(chunk, () => done());
  });
}

/** Most bytes read from a revealed file at a time. */
const READ_CHUNK = 1 << 20;

/**
 * Streams a revealed file of `length` bytes into the response through one buffer per response
 * (`reuse`): each chunk is handed to the socket before the buffer is read into again. A fresh
 * buffer per read (fs.ReadStream) made V8 collect the gateway heap for the external memory alone.
 */
export async function streamFile(
  res: Response,
  file: string,
  length: number,
  reuse: { buffer?: Buffer },
): Promise<void> {
  const handle = await fs.promises.open(file, 'r');
  try {
    const buffer = (reuse.buffer ??= Buffer.allocUnsafe(READ_CHUNK));
    for (let position = 0; position < length;) {
      if (res.destroyed) return;
      const want = Math.min(buffer.length, length - position);
      const { bytesRead } = await handle.read(buffer, 0, want, position);
      if (bytesRead === 0) {
        throw new VeilError('VEIL_E_IO', 'A revealed file is shorter than it was reported.');
      }
      position += bytesRead;
      await write(res, buffer.subarray(0, bytesRead));
    }
  } finally {
    await handle.close();
  }
}

/** The scope of the request, UIDs validated (400 VEIL_E_UID_INVALID). */
function scopeOf(req: Request): {
  studyInstanceUID: string;
  seriesInstanceUID?: string;
  sopInstanceUID?: string;
} {
  const { study, series, sop } = req.params as Record<string, string | undefined>;
  for (const uid of [study, series, sop]) {
    if (uid !== undefined && !isUid(uid))
      throw new VeilError('VEIL_E_UID_INVALID', 'A UID in the path is not a valid UID');
  }
  return {
    studyInstanceUID: study!,
    ...(series !== undefined ? { seriesInstanceUID: series } : {}),
    ...(sop !== undefined ? { sopInstanceUID: sop } : {}),
  };
}

/**
 * Accept negotiation for instances: multipart/related with type application/dicom (or wildcards).
 * Instances go out in the transfer syntax they were received in (bit-exact reveal), so a
 * transfer-syntax parameter other than '*' is acceptable only when every instance has it.
 */
function acceptsInstances(header: string | undefined, records: InstanceRecord[]): boolean {
  return parseAccept(header).some((m) => {
    if (m.type === '*/*' || m.type === 'multipart/*') return true;
    if (m.type !== 'multipart/related') return false;
    const type = m.params.type?.toLowerCase();
    if (
      type !== undefined &&
      type !== 'application/dicom' &&
      type !== 'application/*' &&
      type !== '*/*'
    )
      return false;
    const ts = m.params['transfer-syntax'];
    return ts === undefined || ts === '*' || records.every((r) => r.transferSyntaxUID === ts);
  });
}

export function refOf(r: InstanceRecord): InstanceRef {
  return {
    studyInstanceUID: r.studyInstanceUID,
    seriesInstanceUID: r.seriesInstanceUID,
    sopInstanceUID: r.sopInstanceUID,
  };
}

function failuresBody(failures: Failure[]): { sopInstanceUID: string; code: string }[] {
  return failures.map((f) => ({ sopInstanceUID: f.ref.sopInstanceUID, code: f.code }));
}

/** When nothing could be revealed: the first failure's status, and every failed instance's code. */
export function sendAllFailed(res: Response, failures: Failure[]): void {
  if (failures.length === 0)
    throw new VeilError('VEIL_E_ARCHIVE_NOT_FOUND', 'No instance came back from the archive');
  const first = failures[0]!.code;
  const status = first in ERROR_CODES ? ERROR_CODES[first as ErrorCode].http : 500;
  res.status(status).json({
    code: first,
    // One instance: the worker's own message (no patient data), e.g. why a frame cannot be drawn.
    message:
      failures.length === 1
        ? failures[0]!.message
        : `None of the ${failures.length} instances could be revealed`,
    failed: failuresBody(failures),
  });
}

/** Sends multipart/related parts, each made of one or more buffers, then the closing boundary. */
async function sendParts(res: Response, part: FramePartType, parts: Buffer[][]): Promise<void> {
  const boundary = newBoundary();
  res
    .status(200)
    .setHeader(
      'Content-Type',
      `multipart/related; type="${part.multipartType}"; boundary=${boundary}`,
    );
  for (const buffers of parts) {
    if (res.destroyed) return;
    const length = buffers.reduce((n, b) => n + b.length, 0);
    await write(
      res,
      partHead(boundary, { 'Content-Type': part.contentType, 'Content-Length': String(length) }),
    );
    for (const bytes of buffers) await write(res, bytes);
  }
  if (res.destroyed) return;
  await write(res, closing(boundary));
  res.end();
}

/** Records a retrieval in the audit log: DICOMInstancesTransferred, action R, with its outcome. */
export function auditTransfer(
  deps: GatewayDeps,
  req: Request,
  res: Response,
  refs: InstanceRef[],
  delivered: string[],
  failures: Failure[],
): void {
  deps.audit.record({
    type: 'DICOMInstancesTransferred',
    action: 'R',
    outcome:
      failures.length === 0 && delivered.length === refs.length
        ? 'success'
        : delivered.length > 0
          ? 'minor-failure'
          : 'serious-failure',
    user: principalOf(res).name,
    address: req.socket.remoteAddress,
    studyInstanceUIDs: [...new Set(refs.map((r) => r.studyInstanceUID))],
    sopInstanceUIDs: delivered,
    errorCode: failures[0]?.code,
  });
}

/**
 * Has a worker reveal the one instance of `refs` (or render a frame of it, `options.render`) and
 * hands its file to `send`, which answers the request (or throws a VeilError before answering:
 * the error handler answers then). Audits the retrieval either way: the instance as delivered once
 * `send` finished with the client still there, or nothing with the first failure. When no file
 * came back, answers with the first failure's status.
 */
export async function deliverOne(
  deps: GatewayDeps,
  req: Request,
  res: Response,
  refs: InstanceRef[],
  send: (file: Extract<Retrieved, { ok: true }>) => Promise<void>,
  options: RetrieveOptions = {},
): Promise<void> {
  const failures: Failure[] = [];
  let delivered = false;
  let audited = false;
  // Once, as soon as the outcome is known (before the revealed file is removed).
  const audit = (): void => {
    if (audited) return;
    audited = true;
    auditTransfer(deps, req, res, refs, delivered ? [refs[0]!.sopInstanceUID] : [], failures);
  };
  try {
    for await (const item of deps.retriever.retrieve(refs, principalOf(res).name, options)) {
      if (!item.ok) {
        failures.push(item);
        continue;
      }
      try {
        await send(item);
        delivered = !res.destroyed;
        audit();
      } finally {
        await item.release();
      }
    }
  } finally {
    audit();
  }
  if (!delivered && !res.headersSent) sendAllFailed(res, failures);
}

/** deliverOne with the revealed instance read and parsed (frames and bulk data cut from it). */
function deliverParsed(
  deps: GatewayDeps,
  req: Request,
  res: Response,
  refs: InstanceRef[],
  send: (parsed: ReturnType<typeof parsePart10>) => Promise<void>,
): Promise<void> {
  return deliverOne(deps, req, res, refs, async (file) =>
    send(parsePart10(await fs.promises.readFile(file.path))),
  );
}

/**
 * Has a worker reveal the one instance of `records` and render frame `spec.frame` of it (the PNG
 * is drawn in the worker child, never on this thread), then sends the PNG. What the catalogue
 * already tells (compressed pixels, a frame beyond the last, 1- or 32-bit samples) is refused
 * before anything is revealed; what only the pixels tell comes back as the worker's refusal.
 */
export async function sendRendered(
  deps: GatewayDeps,
  req: Request,
  res: Response,
  records: InstanceRecord[],
  spec: RenderSpec,
): Promise<void> {
  const record = records[0]!;
  assertRenderable(
    {
      compressed: isEncapsulated(record.transferSyntaxUID),
      frames: record.numberOfFrames,
      bitsAllocated: record.bitsAllocated,
    },
    spec.frame,
  );
  await deliverOne(
    deps,
    req,
    res,
    records.map(refOf),
    async (file) => {
      res
        .status(200)
        .type('image/png')
        .send(await fs.promises.readFile(file.path));
    },
    { render: spec },
  );
}

/** Router for WADO-RS retrieval and metadata, mounted under /dicom-web. */
export function wadoRouter(
  deps: GatewayDeps,
  requireRole: (...roles: Role[]) => RequestHandler,
): Router {
  const router = Router();

  const lookup = (req: Request): InstanceRecord[] => {
    const records = deps.catalogue.instancesOf(scopeOf(req));
    if (records.length === 0)
      throw new VeilError('VEIL_E_NOT_FOUND', 'No such study, series or instance');
    return records;
  };

  const retrieve = async (req: Request, res: Response): Promise<void> => {
    const records = lookup(req);
    if (!acceptsInstances(req.get('accept'), records)) {
      throw new VeilError(
        'VEIL_E_HTTP_NOT_ACCEPTABLE',
        'WADO-RS answers multipart/related; type="application/dicom" in the received transfer syntax',
      );
    }
    const refs = records.map(refOf);
    const boundary = newBoundary();
    const failures: Failure[] = [];
    const delivered: string[] = [];
    const reuse: { buffer?: Buffer } = {};
    let started = false;
    for await (const item of deps.retriever.retrieve(refs, principalOf(res).name)) {
      if (!item.ok) {
        failures.push(item);
        continue;
      }
      try {
        if (res.destroyed) continue;
        // Headers wait for the first revealed instance, so a request where nothing reveals
        // still gets a proper error status instead of an empty 200.
        if (!started) {
          res
            .status(200)
            .setHeader(
              'Content-Type',
              `multipart/related; type="application/dicom"; boundary=${boundary}`,
            );
          started = true;
        }
        await write(
          res,
          partHead(boundary, {
            'Content-Type': 'application/dicom',
            'Content-Length': String(item.bytes),
          }),
        );
        await streamFile(res, item.path, item.bytes, reuse);
        if (!res.destroyed) delivered.push(item.ref.sopInstanceUID);
      } finally {
        await item.release();
      }
      if (res.destroyed) break;
    }
    auditTransfer(deps, req, res, refs, delivered, failures);
    if (res.destroyed) {
      requestLog(res)?.info(
        { delivered: delivered.length, of: refs.length },
        'client left during WADO-RS',
      );
      return;
    }
    if (!started) {
      sendAllFailed(res, failures);
      return;
    }
    if (failures.length > 0) {
      // Status and headers are long gone: the last part reports what was withheld (RFC 9457).
      const problem = {
        type: 'https://veil.invalid/problems/instances-not-revealed',
        title: 'Some instances could not be revealed and were not delivered',
        status: 422,
        failed: failuresBody(failures),
      };
      await write(res, partHead(boundary, { 'Content-Type': 'application/problem+json' }));
      await write(res, Buffer.from(JSON.stringify(problem)));
    }
    await write(res, closing(boundary));
    res.end();
  };

  const metadata = async (req: Request, res: Response): Promise<void> => {
    const records = lookup(req);
    const accept = parseAccept(req.get('accept'));
    if (!accept.some((m) => covers(m, 'application/dicom+json') || covers(m, 'application/json'))) {
      throw new VeilError(
        'VEIL_E_HTTP_NOT_ACCEPTABLE',
        'Metadata is answered as application/dicom+json only',
      );
    }
    const refs = records.map(refOf);
    const failures: Failure[] = [];
    const delivered: string[] = [];
    const out: string[] = [];
    for await (const item of deps.retriever.retrieve(refs, principalOf(res).name)) {
      if (!item.ok) {
        failures.push(item);
        continue;
      }
      try {
        const { dataset } = parsePart10(await fs.promises.readFile(item.path));
        const { studyInstanceUID, seriesInstanceUID, sopInstanceUID } = item.ref;
        const instanceUrl = retrieveUrl(
          dicomWebRoot(req),
          studyInstanceUID,
          seriesInstanceUID,
          sopInstanceUID,
        );
        out.push(
          JSON.stringify(
            dataSetToJson(dataset, { bulkDataUri: (tag) => `${instanceUrl}/bulk/${tagKey(tag)}` }),
          ),
        );
        delivered.push(item.ref.sopInstanceUID);
      } finally {
        await item.release();
      }
    }
    auditTransfer(deps, req, res, refs, delivered, failures);
    if (delivered.length === 0) {
      sendAllFailed(res, failures);
      return;
    }
    if (failures.length > 0) {
      const codes = [...new Set(failures.map((f) => f.code))].join(', ');
      res.setHeader(
        'Warning',
        `299 - "${failures.length} instances could not be revealed: ${codes}"`,
      );
    }
    res
      .status(200)
      .type('application/dicom+json')
      .send(`[${out.join(',')}]`);
  };

  const frames = async (req: Request, res: Response): Promise<void> => {
    const frameNumbers = parseFrameList(String(req.params.frames));
    const records = lookup(req);
    // Negotiated before anything is revealed (a 406 costs no reveal): reveal restores native
    // pixels in Explicit VR Little Endian and keeps compressed ones in the received syntax. The
    // revealed instance's own syntax decides in the end (pixels decoded at intake are native).
    const received = records[0]!.transferSyntaxUID;
    negotiateFrames(
      req.get('accept'),
      isEncapsulated(received) ? received : TransferSyntax.ExplicitVRLittleEndian,
    );
    await deliverParsed(deps, req, res, records.map(refOf), async (parsed) => {
      const part = negotiateFrames(req.get('accept'), parsed.transferSyntaxUID);
      const instance = framesOf(parsed.dataset, parsed.transferSyntaxUID);
      const beyond = frameNumbers.find((n) => n > instance.count);
      if (beyond !== undefined) {
        throw new VeilError(
          'VEIL_E_NOT_FOUND',
          `Frame ${beyond} is beyond the instance's ${instance.count} frames`,
        );
      }
      await sendParts(
        res,
        part,
        frameNumbers.map((n) => instance.frame(n)),
      );
    });
  };

  /**
   * Bulk data of one top-level attribute (the BulkDataURI of /metadata): Pixel Data as its frames
   * would be answered (all of them; native pixels as one part), any other binary value as one
   * application/octet-stream part, in the revealed instance's byte order (little endian).
   */
  const bulk = async (req: Request, res: Response): Promise<void> => {
    const key = String(req.params.tag);
    if (!/^[0-9A-Fa-f]{8}$/.test(key)) {
      throw new VeilError('VEIL_E_HTTP_BAD_REQUEST', 'The bulk data tag is 8 hexadecimal digits.');
    }
    const tag = Number.parseInt(key, 16);
    const accept = req.get('accept');
    await deliverParsed(deps, req, res, lookup(req).map(refOf), async (parsed) => {
      const el = parsed.dataset.get(tag);
      if (
        el === undefined ||
        (el.fragments === undefined && (el.value === undefined || !isBinaryVr(el.vr)))
      ) {
        throw new VeilError('VEIL_E_NOT_FOUND', 'The instance has no bulk data under that tag.');
      }
      const part = negotiateFrames(accept, parsed.transferSyntaxUID);
      if (el.fragments === undefined) {
        await sendParts(res, part, [[el.value!]]);
        return;
      }
      const instance = framesOf(parsed.dataset, parsed.transferSyntaxUID);
      await sendParts(
        res,
        part,
        Array.from({ length: instance.count }, (_, i) => instance.frame(i + 1)),
      );
    });
  };

  /** /rendered (frame 1, or the one frame of /frames/{n}/rendered) and /thumbnail, as PNG. */
  const rendered =
    (thumbnail: boolean) =>
    async (req: Request, res: Response): Promise<void> => {
      const frameList =
        req.params.frames === undefined ? [1] : parseFrameList(String(req.params.frames));
      if (frameList.length !== 1) {
        throw new VeilError('VEIL_E_HTTP_BAD_REQUEST', 'A rendered image shows one frame.');
      }
      const options = renderOptions(req.query as Record<string, unknown>);
      if (thumbnail && options.viewport === undefined) {
        options.viewport = { width: THUMBNAIL_SIDE, height: THUMBNAIL_SIDE };
      }
      acceptRendered(req.get('accept'));
      await sendRendered(deps, req, res, lookup(req), { frame: frameList[0]!, ...options });
    };

  const guard = requireRole('workstation');
  router.get('/studies/:study', guard, retrieve);
  router.get('/studies/:study/series/:series', guard, retrieve);
  router.get('/studies/:study/series/:series/instances/:sop', guard, retrieve);
  router.get('/studies/:study/metadata', guard, metadata);
  router.get('/studies/:study/series/:series/metadata', guard, metadata);
  router.get('/studies/:study/series/:series/instances/:sop/metadata', guard, metadata);
  router.get('/studies/:study/series/:series/instances/:sop/frames/:frames', guard, frames);
  router.get('/studies/:study/series/:series/instances/:sop/rendered', guard, rendered(false));
  router.get(
    '/studies/:study/series/:series/instances/:sop/frames/:frames/rendered',
    guard,
    rendered(false),
  );
  router.get('/studies/:study/series/:series/instances/:sop/thumbnail', guard, rendered(true));
  router.get('/studies/:study/series/:series/instances/:sop/bulk/:tag', guard, bulk);
  return router;
}
