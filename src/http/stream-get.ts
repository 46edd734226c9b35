/**
 * A GET whose body is read as a Node stream (node:http / node:https), for large responses such as
 * a series-level WADO-RS. Its timeout is one of silence, not of the whole exchange: fetch's
 * AbortSignal.timeout also cuts a body that is still streaming, so a series larger than the
 * timeout's worth of transfer (a few thousand slices over a slow link) could never be read.
 * Measured on loopback: the raw body costs ~0.85 ms of CPU per MB here against ~2.2 ms through
 * fetch's web stream, but a series read with its multipart parsing costs about the same either
 * way (~1.3 ms per MB, docs/benchmarks.md).
 */
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';

/** What streamGet resolves to: status, headers and the body, not yet read. */
export interface StreamedResponse {
  status: number;
  /** A header value by lower-case name (the first one when repeated). */
  header(name: string): string | undefined;
  /** The body; iterate it, or destroy() it to drop the connection. */
  body: IncomingMessage;
}

/** Options of streamGet. */
export interface StreamGetOptions {
  headers?: Record<string, string>;
  /** Connection pool (keep-alive agent) for the URL's protocol. */
  agent?: http.Agent;
  /**
   * Longest silence in ms, waiting for the answer or between two chunks of its body; then the
   * request fails with an error named TimeoutError. A slow but steady large body is not cut.
   */
  idleTimeoutMs: number;
}

/**
 * GETs `url`; rejects on network failure or silence (TimeoutError) before the response head. A
 * kept-alive connection the server had closed meanwhile (ECONNRESET on a reused socket, before any
 * answer) is retried once on a new one, as Node's documentation advises for idempotent requests.
 */
export async function streamGet(url: string, o: StreamGetOptions): Promise<StreamedResponse> {
  try {
    return await getOnce(url, o);
  } catch (err) {
    if ((err as { reusedSocket?: boolean }).reusedSocket !== true) throw err;
    return getOnce(url, o);
  }
}

function getOnce(url: string, o: StreamGetOptions): Promise<StreamedResponse> {
  const target = new URL(url);
  const client = target.protocol === 'https:' ? https : http;
  return new Promise<StreamedResponse>((resolve, reject) => {
    const req = client.request(target, {
      method: 'GET',
      headers: o.headers ?? {},
      ...(o.agent ? { agent: o.agent } : {}),
    });
    req.setTimeout(o.idleTimeoutMs, () => {
      const err = new Error(`no answer for ${o.idleTimeoutMs} ms`);
      err.name = 'TimeoutError';
      req.destroy(err);
    });
    req.once('error', (err: NodeJS.ErrnoException) => {
      if (req.reusedSocket && err.code === 'ECONNRESET') Object.assign(err, { reusedSocket: true });
      reject(err);
    });
    req.once('response', (res) => {
      // From here on, errors (a reset, the idle timeout) surface on the body stream.
      req.removeAllListeners('error');
      req.on('error', (err) => {
        // Only a body still being read can fail; one already read whole has nothing to lose.
        if (!res.complete && !res.destroyed) res.destroy(err);
      });
      resolve({
        status: res.statusCode ?? 0,
        header: (name) => {
          const value = res.headers[name.toLowerCase()];
          return Array.isArray(value) ? value[0] : value;
        },
        body: res,
      });
    });
    req.end();
  });
}
