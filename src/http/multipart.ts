/**
 * multipart/related for DICOMweb (PS3.18 8.6.1.2, RFC 2387 over RFC 2046): a streaming parser
 * for STOW-RS requests and WADO-RS replies, and the few bytes a writer needs between parts.
 * Memory stays bounded: a part's body streams out as it arrives, never buffered whole.
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { VeilError } from '../errors';

/** One part of a multipart body: its headers (names in lower case) and its streaming body. */
export interface MultipartPart {
  headers: Record<string, string>;
  body: Readable;
}

/** Limits of readMultipart. */
export interface MultipartOptions {
  /** Largest body of one part in bytes; more is VEIL_E_HTTP_TOO_LARGE. Default: no limit. */
  maxPartBytes?: number;
  /** Largest header block of one part in bytes; more is VEIL_E_HTTP_BAD_REQUEST. Default 16 KiB. */
  maxHeaderBytes?: number;
}

/** A media type and its parameters (names in lower case, quoted values unquoted). */
export interface ContentType {
  mediaType: string;
  params: Record<string, string>;
}

const CRLF = Buffer.from('\r\n');
const HEADER_END = Buffer.from('\r\n\r\n');
/** RFC 2046 5.1.1: 1 to 70 bchars, not ending in a space. */
const BOUNDARY = /^[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]$/;
/** Transport padding (LWSP) tolerated after a boundary before its CRLF. */
const MAX_PADDING = 256;

const badRequest = (message: string) => new VeilError('VEIL_E_HTTP_BAD_REQUEST', message);

/** Splits a Content-Type header into media type and parameters (RFC 9110 8.3.1). */
export function parseContentType(contentType: string): ContentType {
  const re = /;\s*([^\s=;]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s;]*)\s*/gy;
  const semi = contentType.indexOf(';');
  const mediaType = (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
  const params: Record<string, string> = {};
  if (semi >= 0) {
    re.lastIndex = semi;
    let m: RegExpExecArray | null;
    while (re.lastIndex < contentType.length && (m = re.exec(contentType)) !== null) {
      const raw = m[2];
      params[m[1].toLowerCase()] = raw.startsWith('"')
        ? raw.slice(1, -1).replace(/\\(.)/g, '$1')
        : raw;
    }
    if (re.lastIndex < contentType.length && contentType.slice(re.lastIndex).trim() !== '') {
      throw badRequest('Content-Type parameters are malformed.');
    }
  }
  return { mediaType, params };
}

/** Boundary from a multipart Content-Type; VEIL_E_HTTP_UNSUPPORTED_MEDIA if not multipart/related, VEIL_E_HTTP_BAD_REQUEST if no boundary. */
export function boundaryOf(contentType: string | undefined): string {
  if (contentType === undefined || contentType.trim() === '') {
    throw new VeilError('VEIL_E_HTTP_UNSUPPORTED_MEDIA', 'Content-Type is missing.');
  }
  const semi = contentType.indexOf(';');
  const mediaType = (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
  if (mediaType !== 'multipart/related') {
    throw new VeilError('VEIL_E_HTTP_UNSUPPORTED_MEDIA', 'Expected a multipart/related body.', {
      mediaType: mediaType.slice(0, 100),
    });
  }
  const boundary = parseContentType(contentType).params.boundary;
  if (boundary === undefined || !BOUNDARY.test(boundary)) {
    throw badRequest('multipart/related Content-Type has no valid boundary parameter.');
  }
  return boundary;
}

/** Reads the RFC 2046 structure from a byte stream; one instance per multipart body. */
class MultipartScanner {
  /** Pending bytes; starts with a CRLF so that a boundary on the first line matches the delimiter. */
  private buf: Buffer = CRLF;
  private eof = false;
  private readonly input: AsyncIterator<unknown>;
  private readonly delimiter: Buffer;
  private partBytes = 0;
  /** True once the current part's closing delimiter was found. */
  partDone = true;

  constructor(
    body: AsyncIterable<unknown>,
    boundary: string,
    private readonly maxPartBytes: number,
    private readonly maxHeaderBytes: number,
  ) {
    this.input = body[Symbol.asyncIterator]();
    this.delimiter = Buffer.from(`\r\n--${boundary}`, 'latin1');
  }

  /** Appends the next input chunk to the buffer; false at the end of the input. */
  private async more(): Promise<boolean> {
    if (this.eof) return false;
    const r = await this.input.next();
    if (r.done) {
      this.eof = true;
      return false;
    }
    const value = r.value;
    // A web stream yields Uint8Arrays: viewed as a Buffer, not copied.
    const chunk = Buffer.isBuffer(value)
      ? value
      : value instanceof Uint8Array
        ? Buffer.from(value.buffer, value.byteOffset, value.byteLength)
        : Buffer.from(value as string);
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    return true;
  }

  private async ensure(n: number): Promise<boolean> {
    while (this.buf.length < n) if (!(await this.more())) return false;
    return true;
  }

  /** Skips the preamble up to and including the first delimiter. */
  async skipPreamble(): Promise<void> {
    for (;;) {
      const at = this.buf.indexOf(this.delimiter);
      if (at >= 0) {
        this.buf = this.buf.subarray(at + this.delimiter.length);
        return;
      }
      this.buf = this.buf.subarray(Math.max(0, this.buf.length - this.delimiter.length + 1));
      if (!(await this.more())) throw badRequest('The multipart body holds no boundary.');
    }
  }

  /** After a delimiter: true for the close delimiter ("--"), else consumes padding and CRLF. */
  async afterDelimiter(): Promise<boolean> {
    if (!(await this.ensure(2))) throw badRequest('The multipart body ends after a boundary.');
    if (this.buf[0] === 0x2d && this.buf[1] === 0x2d) {
      this.buf = this.buf.subarray(2);
      return true;
    }
    let i = 0;
    for (;;) {
      if (!(await this.ensure(i + 2)))
        throw badRequest('The multipart body ends after a boundary.');
      const c = this.buf[i];
      if (c === 0x0d && this.buf[i + 1] === 0x0a) break;
      if ((c !== 0x20 && c !== 0x09) || i >= MAX_PADDING) {
        throw badRequest('A multipart boundary line has trailing characters.');
      }
      i++;
    }
    this.buf = this.buf.subarray(i + 2);
    return false;
  }

  /** Reads and parses one part's header block (RFC 5322 fields, folded lines allowed). */
  async readHeaders(): Promise<Record<string, string>> {
    let end: number;
    for (;;) {
      if (this.buf.length >= 2 && this.buf[0] === 0x0d && this.buf[1] === 0x0a) {
        this.buf = this.buf.subarray(2);
        return {};
      }
      end = this.buf.indexOf(HEADER_END);
      if (end >= 0) break;
      if (this.buf.length > this.maxHeaderBytes) throw badRequest('A part header is too long.');
      if (!(await this.more())) throw badRequest('The multipart body ends inside a part header.');
    }
    if (end > this.maxHeaderBytes) throw badRequest('A part header is too long.');
    const text = this.buf.subarray(0, end).toString('latin1');
    this.buf = this.buf.subarray(end + HEADER_END.length);
    const headers: Record<string, string> = {};
    let last: string | undefined;
    for (const line of text.split('\r\n')) {
      if ((line.startsWith(' ') || line.startsWith('\t')) && last !== undefined) {
        headers[last] = `${headers[last]} ${line.trim()}`.trim();
        continue;
      }
      const colon = line.indexOf(':');
      const name = colon > 0 ? line.slice(0, colon).trim().toLowerCase() : '';
      if (!/^[!#$%&'*+\-.^_`|~0-9a-z]+$/.test(name))
        throw badRequest('A part header is malformed.');
      const value = line.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
      last = name;
    }
    return headers;
  }

  /** Starts a new part body. */
  openPart(): void {
    this.partDone = false;
    this.partBytes = 0;
  }

  /** The next bytes of the current part's body, or null at its end. */
  async pullBody(): Promise<Buffer | null> {
    for (;;) {
      if (this.partDone) return null;
      const at = this.buf.indexOf(this.delimiter);
      let out: Buffer;
      if (at >= 0) {
        out = this.buf.subarray(0, at);
        this.buf = this.buf.subarray(at + this.delimiter.length);
        this.partDone = true;
      } else {
        // Keep a tail that may be the start of a delimiter split across chunks.
        const keep = this.delimiter.length - 1;
        if (this.buf.length > keep) {
          out = this.buf.subarray(0, this.buf.length - keep);
          this.buf = this.buf.subarray(this.buf.length - keep);
        } else if (await this.more()) {
          continue;
        } else {
          throw badRequest('The multipart body ends inside a part.');
        }
      }
      this.partBytes += out.length;
      if (this.partBytes > this.maxPartBytes) {
        throw new VeilError('VEIL_E_HTTP_TOO_LARGE', 'A multipart part exceeds the size limit.', {
          maxPartBytes: this.maxPartBytes,
        });
      }
      if (out.length > 0) return out;
    }
  }

  /** Reads and drops the epilogue, so an HTTP request is read to its end. */
  async drainEpilogue(): Promise<void> {
    this.buf = Buffer.alloc(0);
    while (await this.more()) this.buf = Buffer.alloc(0);
  }
}

/** A part body that pulls from the scanner only when its reader asks (backpressure). */
class PartBody extends Readable {
  inflight: Promise<void> = Promise.resolve();
  failure: unknown;

  constructor(private readonly scanner: MultipartScanner) {
    super();
  }

  override _read(): void {
    this.inflight = this.scanner.pullBody().then(
      (chunk) => {
        if (!this.destroyed) this.push(chunk);
      },
      (err: unknown) => {
        this.failure = err;
        this.destroy(err as Error);
      },
    );
  }
}

/**
 * The structure both readers share: checks the boundary, skips the preamble, and for each part
 * yields its headers with the scanner positioned at its body; once the consumer asks for the next
 * part, whatever it left of the body is skipped. Ends after the epilogue.
 */
async function* scanParts(
  body: AsyncIterable<unknown>,
  boundary: string,
  options: MultipartOptions,
): AsyncGenerator<{ headers: Record<string, string>; scanner: MultipartScanner }> {
  if (!BOUNDARY.test(boundary)) throw badRequest('The multipart boundary is invalid.');
  const scanner = new MultipartScanner(
    body,
    boundary,
    options.maxPartBytes ?? Number.POSITIVE_INFINITY,
    options.maxHeaderBytes ?? 16 * 1024,
  );
  await scanner.skipPreamble();
  for (;;) {
    if (await scanner.afterDelimiter()) {
      await scanner.drainEpilogue();
      return;
    }
    const headers = await scanner.readHeaders();
    scanner.openPart();
    yield { headers, scanner };
    while ((await scanner.pullBody()) !== null);
  }
}

/** Streaming multipart parser (RFC 2046): yields parts in order; each part's body streams (bounded
 *  memory: never buffers a whole part); the consumer must consume/destroy part.body before asking
 *  for the next part. maxPartBytes → VEIL_E_HTTP_TOO_LARGE; malformed → VEIL_E_HTTP_BAD_REQUEST. */
export async function* readMultipart(
  body: Readable,
  boundary: string,
  options: MultipartOptions = {},
): AsyncGenerator<MultipartPart> {
  for await (const { headers, scanner } of scanParts(body, boundary, options)) {
    const part = new PartBody(scanner);
    yield { headers, body: part };
    await part.inflight;
    if (part.failure !== undefined) throw part.failure;
    // The consumer left the body unread: end it as a premature close (scanParts skips its bytes).
    if (!scanner.partDone && !part.destroyed) part.destroy();
  }
}

/**
 * The parts of a multipart body, each body whole in one Buffer: for a client that wants every part
 * in memory anyway (an archive's WADO-RS answer, instance by instance). The same parser as
 * readMultipart without a stream per part; `body` may be a Readable or a web ReadableStream.
 * maxPartBytes bounds each part (VEIL_E_HTTP_TOO_LARGE); malformed → VEIL_E_HTTP_BAD_REQUEST.
 */
export async function* readMultipartBuffers(
  body: AsyncIterable<unknown>,
  boundary: string,
  options: MultipartOptions = {},
): AsyncGenerator<{ headers: Record<string, string>; bytes: Buffer }> {
  for await (const { headers, scanner } of scanParts(body, boundary, options)) {
    const pieces: Buffer[] = [];
    let length = 0;
    for (let piece = await scanner.pullBody(); piece !== null; piece = await scanner.pullBody()) {
      pieces.push(piece);
      length += piece.length;
    }
    yield { headers, bytes: Buffer.concat(pieces, length) };
  }
}

/** Writing: the bytes that open a part (boundary line + headers + blank line) and close the body.
 *  Each head starts with the CRLF that ends the previous body (RFC 2046 delimiter = CRLF "--"
 *  boundary); before the first part that CRLF is an empty preamble, which the grammar allows. */
export function partHead(boundary: string, headers: Record<string, string>): Buffer {
  let text = `\r\n--${boundary}\r\n`;
  for (const [name, value] of Object.entries(headers)) {
    // A caller bug, not a request error: a line break would inject headers.
    if (/[\r\n]/.test(name + value)) throw new TypeError('A part header has a line break.');
    text += `${name}: ${value}\r\n`;
  }
  return Buffer.from(`${text}\r\n`, 'latin1');
}

/** The close delimiter that ends the last part's body and the multipart body. */
export function closing(boundary: string): Buffer {
  return Buffer.from(`\r\n--${boundary}--\r\n`, 'latin1');
}

/** A fresh random boundary (RFC 2046 bchars only) that will not occur in DICOM bytes by chance. */
export function newBoundary(): string {
  return `veil-${randomBytes(16).toString('hex')}`;
}
