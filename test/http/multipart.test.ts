import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Readable } from 'node:stream';
import { ReadableStream } from 'node:stream/web';
import { finished } from 'node:stream/promises';
import fc from 'fast-check';
import { isVeilError, type ErrorCode } from '../../src/errors';
import {
  boundaryOf,
  closing,
  newBoundary,
  parseContentType,
  partHead,
  readMultipart,
  readMultipartBuffers,
  type MultipartOptions,
} from '../../src/http/multipart';

interface Part {
  headers: Record<string, string>;
  body: Buffer;
}

function encode(boundary: string, parts: Part[], preamble = '', epilogue = ''): Buffer {
  const out: Buffer[] = [Buffer.from(preamble, 'latin1')];
  for (const p of parts) out.push(partHead(boundary, p.headers), p.body);
  out.push(closing(boundary), Buffer.from(epilogue, 'latin1'));
  return Buffer.concat(out);
}

/** Splits `bytes` at the given offsets into a stream of chunks. */
function feed(bytes: Buffer, cuts: number[] = []): Readable {
  const points = [...new Set(cuts.map((c) => Math.min(Math.max(c, 0), bytes.length)))].sort(
    (a, b) => a - b,
  );
  const chunks: Buffer[] = [];
  let from = 0;
  for (const p of [...points, bytes.length]) {
    if (p > from) chunks.push(bytes.subarray(from, p));
    from = p;
  }
  return Readable.from(chunks, { objectMode: false });
}

async function parse(stream: Readable, boundary: string, options?: MultipartOptions) {
  const parts: Part[] = [];
  for await (const part of readMultipart(stream, boundary, options)) {
    const chunks: Buffer[] = [];
    for await (const c of part.body) chunks.push(c as Buffer);
    parts.push({ headers: part.headers, body: Buffer.concat(chunks) });
  }
  return parts;
}

async function rejectsWith(p: Promise<unknown>, code: ErrorCode): Promise<void> {
  await assert.rejects(p, (err: unknown) => isVeilError(err, code));
}

const B = 'veil-test-boundary';
const text = (s: string) => Buffer.from(s, 'latin1');

/** Body pieces that look like parts of a delimiter but are not one. */
function bodyArb(boundary: string) {
  const piece = fc.oneof(
    fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)),
    fc
      .constantFrom(
        '\r',
        '\n',
        '\r\n',
        '\r\n\r\n',
        '--',
        `--${boundary}`,
        `--${boundary}--`,
        `\r\n-`,
        `\r\n--`,
        `\r\n--${boundary.slice(0, -1)}`,
        `\n--${boundary}`,
        `\r--${boundary}`,
        `${boundary}\r\n`,
      )
      .map(text),
  );
  return fc
    .array(piece, { maxLength: 12 })
    .map((ps) => Buffer.concat(ps))
    .filter((b) => !b.includes(`\r\n--${boundary}`));
}

const headersArb = fc.dictionary(
  fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/),
  fc.stringMatching(/^[!-~]([ -~]{0,30}[!-~])?$/),
  { maxKeys: 4 },
);

describe('http/multipart', () => {
  describe('round trips', () => {
    it('reads back any parts written with partHead/closing, fed in any chunking', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.record({ headers: headersArb, body: bodyArb(B) }), { maxLength: 5 }),
          bodyArb(B).filter((b) => !b.subarray(0, B.length + 2).equals(text(`--${B}`))),
          fc.uint8Array({ maxLength: 30 }),
          fc.array(fc.nat({ max: 2000 }), { maxLength: 8 }),
          async (parts, preamble, epilogue, cuts) => {
            const bytes = encode(B, parts, preamble.toString('latin1'));
            const all = Buffer.concat([bytes, Buffer.from(epilogue)]);
            const expected = parts.map((p) => ({ headers: { ...p.headers }, body: p.body }));
            assert.deepEqual(await parse(feed(all, cuts), B), expected);
          },
        ),
        { numRuns: 300 },
      );
    });

    it('readMultipartBuffers gives the same parts, whole, from a Readable or a web stream', async () => {
      const whole = async (body: AsyncIterable<unknown>, options?: MultipartOptions) => {
        const parts: Part[] = [];
        for await (const p of readMultipartBuffers(body, B, options))
          parts.push({ headers: p.headers, body: p.bytes });
        return parts;
      };
      /** The same chunks as a web ReadableStream of Uint8Arrays (what fetch gives). */
      const web = (stream: Readable) =>
        ReadableStream.from(
          (async function* () {
            for await (const c of stream) yield new Uint8Array(c as Buffer);
          })(),
        );
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.record({ headers: headersArb, body: bodyArb(B) }), { maxLength: 5 }),
          fc.array(fc.nat({ max: 2000 }), { maxLength: 8 }),
          async (parts, cuts) => {
            const bytes = encode(B, parts, 'preamble');
            const expected = await parse(feed(bytes, cuts), B);
            assert.deepEqual(await whole(feed(bytes, cuts)), expected);
            assert.deepEqual(await whole(web(feed(bytes, cuts))), expected);
          },
        ),
        { numRuns: 200 },
      );
      const big = encode(B, [{ headers: {}, body: Buffer.alloc(5000, 2) }]);
      await rejectsWith(whole(feed(big, [100]), { maxPartBytes: 4999 }), 'VEIL_E_HTTP_TOO_LARGE');
      await rejectsWith(whole(feed(big.subarray(0, 3000))), 'VEIL_E_HTTP_BAD_REQUEST');
    });

    it('parses correctly when the body is split at every single byte position', async () => {
      const parts: Part[] = [
        { headers: { 'content-type': 'application/dicom' }, body: text(`a--${B}x\r\n`) },
        { headers: {}, body: Buffer.alloc(0) },
        { headers: { 'content-location': '/x' }, body: text(`\r\n--${B.slice(0, 5)}\r`) },
      ];
      const bytes = encode(B, parts, 'preamble\r\n', 'epilogue');
      for (let i = 0; i <= bytes.length; i++) {
        assert.deepEqual(await parse(feed(bytes, [i]), B), parts, `split at ${i}`);
      }
      const bytewise = Array.from({ length: bytes.length }, (_, i) => i);
      assert.deepEqual(await parse(feed(bytes, bytewise), B), parts);
    });

    it('reads a first boundary with no CRLF before it, transport padding and folded headers', async () => {
      const raw = text(
        `--${B} \t\r\nContent-Type: application/dicom\r\nX-Long: one\r\n  two\r\n\r\nBODY1` +
          `\r\n--${B}\r\n\r\nBODY2\r\n--${B}--`,
      );
      assert.deepEqual(await parse(feed(raw), B), [
        {
          headers: { 'content-type': 'application/dicom', 'x-long': 'one two' },
          body: text('BODY1'),
        },
        { headers: {}, body: text('BODY2') },
      ]);
    });

    it('reads an empty multipart body (close delimiter only) as no parts', async () => {
      assert.deepEqual(await parse(feed(closing(B)), B), []);
    });

    it('writes heads and closings with the boundary and headers', () => {
      assert.equal(
        partHead('b1', { 'Content-Type': 'application/dicom' }).toString(),
        '\r\n--b1\r\nContent-Type: application/dicom\r\n\r\n',
      );
      assert.equal(closing('b1').toString(), '\r\n--b1--\r\n');
      assert.throws(() => partHead('b1', { 'X-A': 'v\r\nX-B: injected' }), TypeError);
    });

    it('makes fresh boundaries that boundaryOf accepts', () => {
      const a = newBoundary();
      assert.notEqual(a, newBoundary());
      assert.equal(boundaryOf(`multipart/related; boundary=${a}`), a);
    });
  });

  describe('streaming', () => {
    /** A lazily produced input: `total` bytes of 0x41 in 64 KiB chunks, counting what was produced. */
    function lazyPart(total: number) {
      const counter = { produced: 0 };
      async function* gen() {
        const head = partHead(B, { 'content-type': 'application/dicom' });
        counter.produced += head.length;
        yield head;
        const chunk = Buffer.alloc(65536, 0x41);
        for (let sent = 0; sent < total; sent += chunk.length) {
          counter.produced += chunk.length;
          yield chunk;
        }
        yield closing(B);
      }
      return { stream: Readable.from(gen(), { objectMode: false }), counter };
    }

    it('streams a 64 MiB part without buffering it', async () => {
      const total = 64 * 1024 * 1024;
      const { stream, counter } = lazyPart(total);
      let received = 0;
      let producedAtFirstChunk = -1;
      let largest = 0;
      for await (const part of readMultipart(stream, B)) {
        for await (const c of part.body) {
          if (producedAtFirstChunk < 0) producedAtFirstChunk = counter.produced;
          received += (c as Buffer).length;
          largest = Math.max(largest, (c as Buffer).length);
        }
      }
      assert.equal(received, total);
      assert.ok(producedAtFirstChunk < 1024 * 1024, 'first bytes came before the input was read');
      assert.ok(largest <= 65536 + 64, 'chunks are passed through, not accumulated');
    });

    it('stops reading the input while the consumer does not read the part body', async () => {
      const { stream, counter } = lazyPart(16 * 1024 * 1024);
      const it = readMultipart(stream, B);
      const first = await it.next();
      assert.ok(!first.done);
      const body = first.value.body;
      await once(body, 'readable');
      assert.ok(body.read() !== null);
      for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
      assert.ok(counter.produced < 1024 * 1024, `produced ${counter.produced}`);
      body.destroy();
      const rest = await it.next();
      assert.equal(rest.done, true);
    });

    it('ends an unread body as a premature close and moves on to the next part', async () => {
      const parts: Part[] = [
        { headers: {}, body: Buffer.alloc(100000, 1) },
        { headers: { a: 'b' }, body: text('second') },
      ];
      const it = readMultipart(feed(encode(B, parts), [10, 5000, 70000]), B);
      const first = await it.next();
      assert.ok(!first.done);
      const second = await it.next();
      assert.ok(!second.done);
      await assert.rejects(finished(first.value.body), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
      const chunks: Buffer[] = [];
      for await (const c of second.value.body) chunks.push(c as Buffer);
      assert.equal(Buffer.concat(chunks).toString(), 'second');
      assert.equal((await it.next()).done, true);
    });
  });

  describe('limits and malformed bodies', () => {
    it('rejects a part over maxPartBytes with VEIL_E_HTTP_TOO_LARGE, in the body and the iterator', async () => {
      const bytes = encode(B, [{ headers: {}, body: Buffer.alloc(5000, 2) }]);
      await rejectsWith(
        parse(feed(bytes, [100, 1000]), B, { maxPartBytes: 4999 }),
        'VEIL_E_HTTP_TOO_LARGE',
      );
      assert.equal((await parse(feed(bytes), B, { maxPartBytes: 5000 }))[0].body.length, 5000);
      const it = readMultipart(feed(bytes, [100]), B, { maxPartBytes: 10 });
      const part = await it.next();
      assert.ok(!part.done);
      part.value.body.resume();
      await assert.rejects(finished(part.value.body), (e: unknown) =>
        isVeilError(e, 'VEIL_E_HTTP_TOO_LARGE'),
      );
      await rejectsWith(it.next(), 'VEIL_E_HTTP_TOO_LARGE');
    });

    it('rejects skipped parts over maxPartBytes too', async () => {
      const bytes = encode(B, [
        { headers: {}, body: Buffer.alloc(5000) },
        { headers: {}, body: text('x') },
      ]);
      const it = readMultipart(feed(bytes), B, { maxPartBytes: 100 });
      assert.ok(!(await it.next()).done);
      await rejectsWith(it.next(), 'VEIL_E_HTTP_TOO_LARGE');
    });

    const malformed: Array<[string, string]> = [
      ['no boundary at all', 'just some bytes'],
      ['a boundary of another message', `--other\r\n\r\nx\r\n--other--`],
      ['an end right after a boundary', `--${B}`],
      ['characters after a boundary', `--${B}x\r\n\r\nbody\r\n--${B}--`],
      ['padding without CRLF at the end', `--${B}   `],
      ['an end inside the header', `--${B}\r\nContent-Type: a`],
      ['a header line without a colon', `--${B}\r\nno colon here\r\n\r\nbody\r\n--${B}--`],
      ['a header with an empty name', `--${B}\r\n: v\r\n\r\nbody\r\n--${B}--`],
      ['an end inside a body', `--${B}\r\n\r\nbody that never ends`],
      ['no close delimiter', `--${B}\r\n\r\nbody\r\n--${B}\r\n`],
    ];
    for (const [what, raw] of malformed) {
      it(`rejects ${what} with VEIL_E_HTTP_BAD_REQUEST`, async () => {
        await rejectsWith(parse(feed(text(raw)), B), 'VEIL_E_HTTP_BAD_REQUEST');
        await rejectsWith(
          parse(
            feed(
              text(raw),
              Array.from({ length: raw.length }, (_, i) => i),
            ),
            B,
          ),
          'VEIL_E_HTTP_BAD_REQUEST',
        );
      });
    }

    it('rejects a header block over maxHeaderBytes', async () => {
      const raw = text(`--${B}\r\nX-Big: ${'a'.repeat(5000)}\r\n\r\nbody\r\n--${B}--`);
      await rejectsWith(
        parse(feed(raw, [100, 200]), B, { maxHeaderBytes: 1024 }),
        'VEIL_E_HTTP_BAD_REQUEST',
      );
      assert.equal((await parse(feed(raw), B))[0].headers['x-big'].length, 5000);
    });

    it('rejects an invalid boundary argument', async () => {
      await rejectsWith(parse(feed(closing(B)), ''), 'VEIL_E_HTTP_BAD_REQUEST');
      await rejectsWith(parse(feed(closing(B)), 'a'.repeat(71)), 'VEIL_E_HTTP_BAD_REQUEST');
      await rejectsWith(parse(feed(closing(B)), 'bad\r\nboundary'), 'VEIL_E_HTTP_BAD_REQUEST');
    });

    it('passes an input stream error through', async () => {
      const broken = new Readable({
        read() {
          this.push(partHead(B, {}));
          this.destroy(new Error('socket reset'));
        },
      });
      await assert.rejects(parse(broken, B), /socket reset/);
    });
  });

  describe('boundaryOf', () => {
    it('returns the boundary of multipart/related, quoted or not, any case', () => {
      assert.equal(boundaryOf('multipart/related; type="application/dicom"; boundary=abc'), 'abc');
      assert.equal(
        boundaryOf('Multipart/Related;Boundary="a b:c"; type=application/dicom'),
        'a b:c',
      );
      assert.equal(boundaryOf('multipart/related; boundary="x\\"y"'.replace('\\"', '')), 'xy');
    });

    it('parses content type parameters', () => {
      assert.deepEqual(
        parseContentType(
          'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.1',
        ),
        {
          mediaType: 'multipart/related',
          params: { type: 'application/dicom', 'transfer-syntax': '1.2.840.10008.1.2.1' },
        },
      );
      assert.deepEqual(parseContentType('application/dicom'), {
        mediaType: 'application/dicom',
        params: {},
      });
      assert.throws(
        () => parseContentType('multipart/related; boundary'),
        (e: unknown) => isVeilError(e, 'VEIL_E_HTTP_BAD_REQUEST'),
      );
    });

    it('rejects a missing or non multipart/related type as VEIL_E_HTTP_UNSUPPORTED_MEDIA', () => {
      for (const ct of [undefined, '', 'application/dicom', 'multipart/form-data; boundary=x']) {
        assert.throws(
          () => boundaryOf(ct),
          (e: unknown) => isVeilError(e, 'VEIL_E_HTTP_UNSUPPORTED_MEDIA'),
        );
      }
    });

    it('rejects a missing or invalid boundary as VEIL_E_HTTP_BAD_REQUEST', () => {
      for (const ct of [
        'multipart/related',
        'multipart/related; type="application/dicom"',
        'multipart/related; boundary=""',
        `multipart/related; boundary=${'a'.repeat(71)}`,
        'multipart/related; boundary="ends with space "',
      ]) {
        assert.throws(
          () => boundaryOf(ct),
          (e: unknown) => isVeilError(e, 'VEIL_E_HTTP_BAD_REQUEST'),
          ct,
        );
      }
    });
  });
});
