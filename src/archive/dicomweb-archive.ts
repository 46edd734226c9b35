/**
 * Archive in any DICOMweb PACS (PS3.18): STOW-RS to store, WADO-RS to retrieve, QIDO-RS to look
 * up. DICOMweb has no standard delete; when the server is Orthanc, delete uses its REST API
 * (POST /tools/lookup, DELETE /instances/{id}). Objects travel as the exact Part 10 bytes.
 */
import http from 'node:http';
import https from 'node:https';
import { VeilError } from '../errors';
import {
  boundaryOf,
  closing,
  newBoundary,
  partHead,
  readMultipartBuffers,
} from '../http/multipart';
import { type StreamedResponse, streamGet } from '../http/stream-get';
import {
  type Archive,
  type ArchiveHealth,
  type InstanceRef,
  type SeriesRef,
  assertInstanceRef,
  assertSeriesRef,
} from './archive';

/** Where the DICOMweb archive is and how to reach it. */
export interface DicomWebArchiveOptions {
  /** DICOMweb root, e.g. http://orthanc:8042/dicom-web (no trailing slash needed). */
  url: string;
  /** HTTP basic credentials; none sent when username is absent or empty. */
  username?: string;
  password?: string;
  /** Orthanc REST root for delete; default: `url` without its trailing /dicom-web. */
  orthancUrl?: string;
  /**
   * Timeout in ms, default 60000: of a whole request, except WADO-RS reads, where it is the longest
   * silence (a large series streams for as long as it keeps coming).
   */
  timeoutMs?: number;
}

const DICOM_MULTIPART = 'multipart/related; type="application/dicom"';
/** Failed SOP Sequence (0008,1198) of a STOW-RS response (PS3.18 10.5.3). */
const FAILED_SOP_SEQUENCE = '00081198';
const FAILURE_REASON = '00081197';

/** The Archive backend that speaks DICOMweb (tested against Orthanc's DICOMweb plugin). */
export class DicomWebArchive implements Archive {
  readonly kind = 'dicomweb';
  private readonly url: string;
  private readonly restUrl: string | undefined;
  private readonly authorization: string | undefined;
  private readonly timeoutMs: number;
  private orthanc: Promise<boolean> | undefined;
  /** Kept-alive connections of the WADO-RS reads (streamGet); fetch pools its own. */
  private readonly agent: http.Agent;

  constructor(options: DicomWebArchiveOptions) {
    this.url = options.url.replace(/\/+$/, '');
    this.restUrl = (options.orthancUrl ?? this.url.replace(/\/dicom-web$/i, '')).replace(
      /\/+$/,
      '',
    );
    if (this.restUrl === this.url && options.orthancUrl === undefined) this.restUrl = undefined;
    this.authorization = options.username
      ? `Basic ${Buffer.from(`${options.username}:${options.password ?? ''}`).toString('base64')}`
      : undefined;
    this.timeoutMs = options.timeoutMs ?? 60000;
    this.agent = this.url.startsWith('https:')
      ? new https.Agent({ keepAlive: true })
      : new http.Agent({ keepAlive: true });
  }

  /** STOW-RS of one instance (PS3.18 10.5); a refused instance is VEIL_E_ARCHIVE_UNAVAILABLE. */
  async put(ref: InstanceRef, bytes: Buffer): Promise<void> {
    assertInstanceRef(ref);
    const boundary = newBoundary();
    const body = Buffer.concat([
      partHead(boundary, { 'Content-Type': 'application/dicom' }),
      bytes,
      closing(boundary),
    ]);
    const res = await this.request('POST', `${this.url}/studies`, {
      headers: {
        'Content-Type': `${DICOM_MULTIPART}; boundary=${boundary}`,
        Accept: 'application/dicom+json',
      },
      body,
    });
    const text = await res.text();
    if (!res.ok) throw refused('STOW-RS', res.status);
    // 200 may still carry failures (PS3.18 10.5.3.1): check the Failed SOP Sequence.
    const failed = failedReasons(text);
    if (failed.length > 0) {
      throw new VeilError(
        'VEIL_E_ARCHIVE_UNAVAILABLE',
        'The DICOMweb archive refused the instance.',
        {
          failureReasons: failed,
        },
      );
    }
  }

  /** WADO-RS of one instance as multipart/related application/dicom, as stored. */
  async get(ref: InstanceRef): Promise<Buffer> {
    assertInstanceRef(ref);
    let found: Buffer | undefined;
    for await (const part of this.wado(this.instanceUrl(ref), () => notFound(ref))) {
      found ??= part;
    }
    if (found === undefined) throw notFound(ref);
    return found;
  }

  /** Series-level WADO-RS (PS3.18 10.4): every object of the series in one response. */
  async *getSeries(series: SeriesRef): AsyncIterable<Buffer> {
    assertSeriesRef(series);
    const url = `${this.url}/studies/${series.studyInstanceUID}/series/${series.seriesInstanceUID}`;
    yield* this.wado(url, () => undefined);
  }

  /**
   * The parts of a WADO-RS multipart response, one Buffer each (only one part is held at a time);
   * 404/204 end with what `absent` returns (an error to throw, or undefined for nothing).
   */
  private async *wado(url: string, absent: () => VeilError | undefined): AsyncIterable<Buffer> {
    const res = await this.streamedGet(url, `${DICOM_MULTIPART}; transfer-syntax=*`);
    if (res.status === 404 || res.status === 204) {
      res.body.destroy();
      const err = absent();
      if (err) throw err;
      return;
    }
    if (res.status < 200 || res.status >= 300) {
      res.body.destroy();
      throw refused('WADO-RS', res.status);
    }
    const parts = readMultipartBuffers(res.body, boundaryOf(res.header('content-type')));
    try {
      for (;;) {
        let bytes: Buffer;
        try {
          const next = await parts.next();
          if (next.done) return;
          bytes = next.value.bytes;
        } catch (err) {
          throw new VeilError(
            'VEIL_E_ARCHIVE_UNAVAILABLE',
            'The DICOMweb archive sent an unreadable WADO-RS response.',
            {},
            { cause: err },
          );
        }
        yield bytes;
      }
    } finally {
      // The consumer stopped early or the response broke: let the connection go.
      await parts.return(undefined).catch(() => undefined);
      res.body.destroy();
    }
  }

  /** QIDO-RS at IMAGE level by SOP Instance UID (PS3.18 10.6). */
  async has(ref: InstanceRef): Promise<boolean> {
    assertInstanceRef(ref);
    const query = new URLSearchParams({
      StudyInstanceUID: ref.studyInstanceUID,
      SOPInstanceUID: ref.sopInstanceUID,
    });
    const res = await this.request('GET', `${this.url}/instances?${query}`, {
      headers: { Accept: 'application/dicom+json' },
    });
    const text = await res.text();
    if (res.status === 204 || res.status === 404) return false;
    if (!res.ok) throw refused('QIDO-RS', res.status);
    try {
      const matches = text.trim() === '' ? [] : (JSON.parse(text) as unknown[]);
      return Array.isArray(matches) && matches.length > 0;
    } catch (err) {
      throw new VeilError(
        'VEIL_E_ARCHIVE_UNAVAILABLE',
        'QIDO-RS answered with invalid JSON.',
        {},
        { cause: err },
      );
    }
  }

  /** Orthanc only: looks up the instance's Orthanc id and deletes it (DICOMweb has no delete). */
  async delete(ref: InstanceRef): Promise<void> {
    assertInstanceRef(ref);
    if (!(await this.isOrthanc())) {
      throw new VeilError(
        'VEIL_E_ARCHIVE_UNSUPPORTED',
        'DICOMweb has no standard delete and the archive is not Orthanc; delete in the PACS.',
      );
    }
    const lookup = await this.request('POST', `${this.restUrl}/tools/lookup`, {
      headers: { 'Content-Type': 'text/plain' },
      body: Buffer.from(ref.sopInstanceUID),
    });
    const text = await lookup.text();
    if (!lookup.ok) throw refused('Orthanc /tools/lookup', lookup.status);
    const hits = JSON.parse(text) as Array<{ Type?: string; ID?: string }>;
    for (const hit of hits) {
      if (hit.Type !== 'Instance' || typeof hit.ID !== 'string') continue;
      const res = await this.request(
        'DELETE',
        `${this.restUrl}/instances/${encodeURIComponent(hit.ID)}`,
        {},
      );
      await res.arrayBuffer();
      if (!res.ok && res.status !== 404) throw refused('Orthanc DELETE', res.status);
    }
  }

  /** Ok when a one-result QIDO-RS study query answers. */
  async health(): Promise<ArchiveHealth> {
    try {
      const res = await this.request('GET', `${this.url}/studies?limit=1`, {
        headers: { Accept: 'application/dicom+json' },
      });
      await res.arrayBuffer();
      return res.ok || res.status === 204
        ? { ok: true }
        : { ok: false, detail: `HTTP ${res.status}` };
    } catch (err) {
      return {
        ok: false,
        detail:
          err instanceof VeilError ? String(err.details.reason ?? err.message) : 'unreachable',
      };
    }
  }

  async close(): Promise<void> {
    // fetch's connection pool needs no closing; the WADO-RS connections do.
    this.agent.destroy();
  }

  private instanceUrl(ref: InstanceRef): string {
    return `${this.url}/studies/${ref.studyInstanceUID}/series/${ref.seriesInstanceUID}/instances/${ref.sopInstanceUID}`;
  }

  /** True when the REST root answers /system like Orthanc (cached after the first answer). */
  private isOrthanc(): Promise<boolean> {
    if (this.restUrl === undefined) return Promise.resolve(false);
    this.orthanc ??= this.request('GET', `${this.restUrl}/system`, {}).then(async (res) => {
      const text = await res.text();
      if (!res.ok) return false;
      try {
        const system = JSON.parse(text) as Record<string, unknown>;
        return typeof system.ApiVersion === 'number' && typeof system.DicomAet === 'string';
      } catch {
        return false;
      }
    });
    return this.orthanc.catch((err: unknown) => {
      this.orthanc = undefined;
      throw err;
    });
  }

  /**
   * A GET whose body streams (WADO-RS), cut after `timeoutMs` of silence rather than of transfer,
   * so a large series is read however long it takes while it keeps coming. Network failures are
   * VEIL_E_ARCHIVE_UNAVAILABLE; the status is the caller's to judge.
   */
  private async streamedGet(url: string, accept: string): Promise<StreamedResponse> {
    try {
      return await streamGet(url, {
        headers: this.headers({ Accept: accept }),
        agent: this.agent,
        idleTimeoutMs: this.timeoutMs,
      });
    } catch (err) {
      throw unreachable(err);
    }
  }

  /**
   * Request headers: credentials, and no compression. Encrypted pixels do not compress: asking for
   * gzip (fetch's default) only makes the archive spend ~40 ms per instance compressing noise
   * (measured with Orthanc on loopback).
   */
  private headers(extra: Record<string, string> = {}): Record<string, string> {
    const headers: Record<string, string> = { 'Accept-Encoding': 'identity', ...extra };
    if (this.authorization) headers.Authorization = this.authorization;
    return headers;
  }

  /** fetch with credentials and a timeout; network failures and 5xx become VEIL_E_ARCHIVE_UNAVAILABLE. */
  private async request(
    method: string,
    url: string,
    init: { headers?: Record<string, string>; body?: Buffer },
  ): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: this.headers(init.headers),
        body: init.body,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw unreachable(err);
    }
    if (res.status >= 500) {
      await res.body?.cancel();
      throw refused(`${method}`, res.status);
    }
    return res;
  }
}

function networkReason(err: unknown): string {
  const e = err as { name?: string; code?: string; cause?: { code?: string } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return 'timeout';
  return e?.code ?? e?.cause?.code ?? e?.name ?? 'network error';
}

/** A request that got no answer (refused, reset, timed out) as VEIL_E_ARCHIVE_UNAVAILABLE. */
function unreachable(err: unknown): VeilError {
  const reason = networkReason(err);
  return new VeilError(
    'VEIL_E_ARCHIVE_UNAVAILABLE',
    `The DICOMweb archive cannot be reached (${reason}).`,
    { reason },
    { cause: err },
  );
}

function refused(what: string, status: number): VeilError {
  return new VeilError(
    'VEIL_E_ARCHIVE_UNAVAILABLE',
    `The DICOMweb archive refused ${what} (HTTP ${status}).`,
    {
      status,
    },
  );
}

function notFound(ref: InstanceRef): VeilError {
  return new VeilError('VEIL_E_ARCHIVE_NOT_FOUND', 'The DICOMweb archive holds no such instance.', {
    sopInstanceUID: ref.sopInstanceUID,
  });
}

/** Failure Reason values (0008,1197) of the Failed SOP Sequence in a STOW-RS JSON response. */
function failedReasons(text: string): number[] {
  if (text.trim() === '') return [];
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return [];
  }
  const items = (
    json as Record<string, { Value?: Array<Record<string, { Value?: unknown[] }>> }>
  )?.[FAILED_SOP_SEQUENCE]?.Value;
  if (!Array.isArray(items)) return [];
  return items.map((item) => Number(item?.[FAILURE_REASON]?.Value?.[0] ?? 0x0110));
}
