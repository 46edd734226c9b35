/**
 * Hostile STOW-RS requests against the real HTTP door and pipeline (private redis-server): wrong
 * content types, broken multipart bodies, oversized parts and bodies, clients that abort mid-part,
 * mixed good and bad parts, and fast-check generated bodies. After each: a stable code, nothing
 * half-written in the spool, and a good instance still acknowledged and archived.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import fc from 'fast-check';
import { syntheticInstance } from '../helpers/synthetic';
import { TOKENS, startGateway, type TestGateway } from '../api/harness';
import { protectJobId } from '../../src/pipeline/jobs';
import { eventually } from '../pipeline/harness';
import { sopOf } from '../e2e/e2e-tools';

const TYPE = 'multipart/related; type="application/dicom"; boundary=b0undary';
const MAX_INSTANCE = 64 * 1024;
const MAX_UPLOAD = 1024 * 1024;
type Seq = Record<string, { Value: Record<string, { Value: (string | number)[] }>[] }>;

/** A multipart body from raw pieces: each part is [headers text, bytes]. */
function body(parts: [string, Buffer][], close = '\r\n--b0undary--\r\n'): Buffer {
  const chunks: Buffer[] = [];
  for (const [headers, bytes] of parts)
    chunks.push(Buffer.from(`\r\n--b0undary\r\n${headers}\r\n\r\n`), bytes);
  chunks.push(Buffer.from(close));
  return Buffer.concat(chunks);
}
const dicomPart = (bytes: Buffer): [string, Buffer] => ['Content-Type: application/dicom', bytes];
/** http.maxConcurrentStow and http.idleTimeoutSeconds of this suite's gateway. */
const MAX_CONCURRENT = 4;
const IDLE_SECONDS = 2;

describe('faults/hostile STOW-RS (redis-server)', function () {
  this.timeout(300_000);
  let gw: TestGateway;
  /** Every SOP Instance UID the door acknowledged (Referenced SOP Sequence), fuzzed ones apart. */
  const acked = new Set<string>();
  const fuzzAcked = new Set<string>();

  before(async () => {
    gw = await startGateway({
      VEIL_HTTP__MAX_INSTANCE_BYTES: String(MAX_INSTANCE),
      VEIL_HTTP__MAX_UPLOAD_BYTES: String(MAX_UPLOAD),
      VEIL_HTTP__MAX_CONCURRENT_STOW: String(MAX_CONCURRENT),
      VEIL_HTTP__IDLE_TIMEOUT_SECONDS: String(IDLE_SECONDS),
    });
  });
  after(async () => {
    await gw?.close();
  });

  const incoming = () => readdirSync(path.join(gw.config.spool.dir, 'incoming'));
  async function post(payload: Buffer, contentType?: string, into = acked) {
    const headers: Record<string, string> = { authorization: `Bearer ${TOKENS.modality}` };
    if (contentType !== undefined) headers['content-type'] = contentType;
    const res = await fetch(`${gw.url}/dicom-web/studies`, {
      method: 'POST',
      headers,
      body: payload,
    });
    const text = await res.text();
    const json = (text ? JSON.parse(text) : {}) as Seq & { code?: string };
    for (const item of json['00081199']?.Value ?? []) into.add(String(item['00081155']!.Value[0]));
    return { status: res.status, json };
  }
  /** Proof the door still serves: a new instance is acknowledged, archived, spool left clean. */
  async function stillServes(): Promise<void> {
    const good = syntheticInstance();
    const res = await post(body([dicomPart(good)]), TYPE);
    assert.equal(res.status, 200);
    const sop = sopOf(good);
    await eventually(
      () => (gw.deps.catalogue.get(sop)?.state === 'archived' ? true : undefined),
      'the good instance archived',
    );
    await eventually(() => (incoming().length === 0 ? true : undefined), 'no .part left');
  }
  const failures = (json: Seq) =>
    (json['00081198']?.Value ?? []).map((i) => Number(i['00081197']!.Value[0]));

  it('answers 415 VEIL_E_HTTP_UNSUPPORTED_MEDIA for content types other than multipart/related DICOM', async () => {
    for (const type of [
      undefined,
      'application/dicom',
      'multipart/form-data; boundary=b0undary',
      'multipart/related; boundary=b0undary',
      'multipart/related; type="application/json"; boundary=b0undary',
      'text/plain',
    ]) {
      const res = await post(body([dicomPart(syntheticInstance())]), type);
      assert.deepEqual([res.status, res.json.code], [415, 'VEIL_E_HTTP_UNSUPPORTED_MEDIA'], type);
    }
    await stillServes();
  });

  it('answers 400 VEIL_E_HTTP_BAD_REQUEST for a missing or invalid boundary parameter', async () => {
    for (const type of [
      'multipart/related; type="application/dicom"',
      'multipart/related; type="application/dicom"; boundary=',
      `multipart/related; type="application/dicom"; boundary=${'x'.repeat(71)}`,
      'multipart/related; type="application/dicom"; boundary="ends in space "',
      'multipart/related; type="application/dicom"; boundary=b0undary; "broken',
    ]) {
      const res = await post(body([dicomPart(syntheticInstance())]), type);
      assert.deepEqual([res.status, res.json.code], [400, 'VEIL_E_HTTP_BAD_REQUEST'], type);
    }
    await stillServes();
  });

  it('answers 400 for broken multipart structure and stores nothing of it', async () => {
    const instance = syntheticInstance();
    const cases: Record<string, Buffer> = {
      'empty body': Buffer.alloc(0),
      'boundary never appears': Buffer.concat([Buffer.from('--other\r\n\r\n'), instance]),
      'no closing delimiter': body([dicomPart(instance)], ''),
      'ends right after a boundary': Buffer.from('--b0undary'),
      'close delimiter only': Buffer.from('--b0undary--\r\n'),
      'garbage on the boundary line': Buffer.concat([
        Buffer.from('--b0undary garbage\r\nContent-Type: application/dicom\r\n\r\n'),
        instance,
        Buffer.from('\r\n--b0undary--'),
      ]),
      'header line without a colon': body([['Content-Type application/dicom', instance]]),
      'header block of 20 KiB': body([[`X-Pad: ${'p'.repeat(20 * 1024)}`, instance]]),
      'ends inside the header block': Buffer.from('--b0undary\r\nContent-Type: appli'),
    };
    for (const [name, payload] of Object.entries(cases)) {
      const res = await post(payload, TYPE);
      assert.deepEqual([res.status, res.json.code], [400, 'VEIL_E_HTTP_BAD_REQUEST'], name);
    }
    assert.equal(gw.deps.catalogue.get(sopOf(instance)), undefined, 'nothing of it indexed');
    await stillServes();
  });

  it('keeps the good parts of a mixed request: Referenced and Failed SOP Sequences, good ones archived', async () => {
    const good = [syntheticInstance(), syntheticInstance()];
    const payload = body([
      dicomPart(good[0]!),
      dicomPart(Buffer.from('this is not DICOM at all')),
      ['Content-Type: text/plain', Buffer.from('hello')],
      dicomPart(good[1]!.subarray(0, 200)),
      dicomPart(good[1]!),
      dicomPart(Buffer.from('trailing garbage between parts\r\n--not-our-boundary')),
    ]);
    const res = await post(payload, TYPE);
    assert.equal(res.status, 202);
    const referenced = (res.json['00081199']?.Value ?? []).map((i) => i['00081155']!.Value[0]);
    assert.deepEqual(referenced.sort(), good.map(sopOf).sort());
    // 0xC000 cannot understand (not DICOM, not application/dicom, cut short).
    assert.deepEqual(failures(res.json), [0xc000, 0xc000, 0xc000, 0xc000]);
    for (const sop of good.map(sopOf)) {
      await eventually(
        () => (gw.deps.catalogue.get(sop)?.state === 'archived' ? true : undefined),
        'archived',
      );
    }
    await stillServes();
  });

  it('keeps what came before a body that breaks off after a complete part (202)', async () => {
    const good = syntheticInstance();
    const res = await post(body([dicomPart(good)], '\r\n--b0undary\r\nContent-Ty'), TYPE);
    assert.equal(res.status, 202);
    assert.deepEqual(failures(res.json), [0xc000]);
    assert.ok(acked.has(sopOf(good)));
    await stillServes();
  });

  it('refuses an instance over http.maxInstanceBytes alone (413), or as one failed part beside good ones', async () => {
    const big = syntheticInstance({ rows: 256, columns: 256 });
    assert.ok(big.length > MAX_INSTANCE);
    const alone = await post(body([dicomPart(big)]), TYPE);
    assert.deepEqual([alone.status, alone.json.code], [413, 'VEIL_E_HTTP_TOO_LARGE']);
    const good = syntheticInstance();
    const mixed = await post(body([dicomPart(big), dicomPart(good)]), TYPE);
    assert.equal(mixed.status, 202);
    assert.deepEqual(failures(mixed.json), [0xa700]);
    assert.ok(acked.has(sopOf(good)));
    assert.equal(gw.deps.catalogue.get(sopOf(big)), undefined);
    await stillServes();
  });

  it('refuses a body over http.maxUploadBytes: 413 when declared, the rest failed when streamed', async () => {
    const parts = Array.from({ length: 40 }, () =>
      dicomPart(syntheticInstance({ rows: 128, columns: 128 })),
    );
    const payload = body(parts);
    assert.ok(payload.length > MAX_UPLOAD);
    const declared = await post(payload, TYPE);
    assert.deepEqual([declared.status, declared.json.code], [413, 'VEIL_E_HTTP_TOO_LARGE']);
    // Chunked: no Content-Length, so the limit trips while parts are already being stored.
    const streamed = await rawPost(payload, { chunked: true });
    assert.ok([413, 202].includes(streamed.status), `streamed: ${streamed.status}`);
    await stillServes();
  });

  it('answers 503 VEIL_E_BUSY with Retry-After beyond http.maxConcurrentStow, then serves the held ones and new ones', async () => {
    const { instances, held } = await holdEverySlot();
    const busyBefore = await busyCount();
    const extra = syntheticInstance();
    const refused = await fetch(`${gw.url}/dicom-web/studies`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKENS.modality}`, 'content-type': TYPE },
      body: body([dicomPart(extra)]),
    });
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get('retry-after'), '1');
    assert.equal(((await refused.json()) as { code: string }).code, 'VEIL_E_BUSY');
    assert.equal(await busyCount(), busyBefore + 1, 'counted in veil_failures_total');
    assert.equal(gw.deps.catalogue.get(sopOf(extra)), undefined, 'nothing of it stored');
    // The held requests finish and are stored; the refused one, sent again, is taken.
    const statuses = await Promise.all(held.map((h) => h.finish()));
    assert.deepEqual(
      statuses,
      instances.map(() => 200),
    );
    for (const bytes of instances) acked.add(sopOf(bytes));
    const again = await post(body([dicomPart(extra)]), TYPE);
    assert.equal(again.status, 200);
    await stillServes();
  });

  it('drops senders that go silent mid-body after http.idleTimeoutSeconds, freeing their slots', async () => {
    const { instances, held } = await holdEverySlot();
    // Never finished: each connection is dropped by the gateway once silent for IDLE_SECONDS
    // (without the guard these promises never settle and the test times out).
    const outcomes = await Promise.all(
      held.map((h) =>
        h.status.then(
          (status) => `status ${status}`,
          (err: NodeJS.ErrnoException) => err.code ?? err.message,
        ),
      ),
    );
    assert.ok(
      outcomes.every((o) => /ECONNRESET|socket hang up/.test(o)),
      outcomes.join(', '),
    );
    await eventually(() => (incoming().length === 0 ? true : undefined), 'no .part left');
    for (const bytes of instances) assert.equal(gw.deps.catalogue.get(sopOf(bytes)), undefined);
    // The slots are free again.
    await stillServes();
  });

  it('leaves nothing behind when the client aborts in the middle of a part', async () => {
    const big = syntheticInstance({ rows: 128, columns: 128 });
    const payload = body([dicomPart(big)]);
    for (const cut of [20, 200, Math.floor(payload.length / 2), payload.length - 20]) {
      await rawPost(payload.subarray(0, cut), { abort: true });
      await eventually(() => (incoming().length === 0 ? true : undefined), `no .part (cut ${cut})`);
      const job = await gw.deps.queues.protect.getJob(protectJobId(sopOf(big)));
      assert.equal(job, undefined, 'nothing queued');
      assert.equal(gw.deps.catalogue.get(sopOf(big)), undefined);
    }
    await stillServes();
  });

  it('never answers 5xx to fast-check mutations of a multipart body, and keeps serving', async () => {
    const base = body([dicomPart(syntheticInstance()), dicomPart(syntheticInstance())]);
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.nat(base.length - 1), fc.uint8Array({ minLength: 0, maxLength: 8 })), {
          minLength: 1,
          maxLength: 4,
        }),
        fc.nat(base.length),
        async (edits, cut) => {
          let bytes = Buffer.from(base);
          for (const [at, insert] of edits)
            bytes = Buffer.concat([
              bytes.subarray(0, at),
              Buffer.from(insert),
              bytes.subarray(at + 1),
            ]);
          const res = await post(bytes.subarray(0, Math.max(cut, 1)), TYPE, fuzzAcked);
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          // Every temp file of the request is gone once it is answered.
          assert.deepEqual(incoming(), [], 'no .part left once answered');
          return [200, 202, 400, 409, 413, 415].includes(res.status);
        },
      ),
      { numRuns: 300 },
    );
    assert.ok(statuses.size > 1, `only ${[...statuses.keys()]}`);
    await stillServes();
  });

  it('archives every acknowledged instance and nothing else (census)', async () => {
    const final = (sop: string) =>
      ['archived', 'failed'].includes(gw.deps.catalogue.get(sop)?.state ?? '');
    await eventually(
      () => ([...acked, ...fuzzAcked].every(final) ? true : undefined),
      'every acknowledged instance protected or failed',
      120_000,
    );
    // Unmutated instances are all archived; a fuzzed one may be refused by the worker (a code).
    for (const sop of acked) assert.equal(gw.deps.catalogue.get(sop)?.state, 'archived', sop);
    const counts = gw.deps.catalogue.counts();
    assert.equal(
      counts.archived + counts.failed,
      acked.size + fuzzAcked.size,
      `no orphans: ${JSON.stringify(counts)} for ${acked.size} + ${fuzzAcked.size}`,
    );
    assert.equal(counts.received, 0);
    assert.deepEqual(incoming(), []);
    // A re-sent instance (the fuzzed bodies repeat two SOP Instance UIDs) may still have its
    // newest copy's job running after the catalogue shows the older one archived.
    const queued = path.join(gw.config.spool.dir, 'queued');
    await eventually(
      () => (readdirSync(queued).length === 0 ? true : undefined),
      `spool/queued empty (left: ${readdirSync(queued).join(', ')})`,
      120_000,
    );
  });

  /** POSTs raw bytes over a socket: chunked (no length), or aborting after the bytes are sent. */
  /**
   * MAX_CONCURRENT STOW-RS requests of one instance each that sent their headers and half the body,
   * then wait; resolves once the gateway is reading every one of them (a .part each).
   */
  async function holdEverySlot() {
    const instances = Array.from({ length: MAX_CONCURRENT }, () => syntheticInstance());
    const held = instances.map((bytes) => {
      const payload = body([dicomPart(bytes)]);
      return holdPost(payload, Math.floor(payload.length / 2));
    });
    await Promise.all(held.map((h) => h.started));
    await eventually(
      () => (incoming().length === MAX_CONCURRENT ? true : undefined),
      'every held request being read',
    );
    return { instances, held };
  }

  /** veil_failures_total{code="VEIL_E_BUSY"} so far. */
  async function busyCount(): Promise<number> {
    const metric = await gw.deps.metrics.failures.get();
    return metric.values.find((v) => v.labels.code === 'VEIL_E_BUSY')?.value ?? 0;
  }

  /**
   * A STOW-RS request that sends its headers and the first `first` bytes of `payload`, then waits
   * until finish() sends the rest; finish() resolves with the status.
   */
  function holdPost(payload: Buffer, first: number) {
    const url = new URL(`${gw.url}/dicom-web/studies`);
    const req = http.request({
      host: url.hostname,
      port: url.port,
      path: url.pathname,
      method: 'POST',
      headers: {
        authorization: `Bearer ${TOKENS.modality}`,
        'content-type': TYPE,
        'content-length': String(payload.length),
      },
    });
    const status = new Promise<number>((resolve, reject) => {
      req.on('response', (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
    });
    const started = new Promise<void>((resolve) =>
      req.write(payload.subarray(0, first), () => resolve()),
    );
    status.catch(() => undefined); // awaited by the caller, or dropped with the connection
    return {
      started,
      status,
      finish: () => {
        req.end(payload.subarray(first));
        return status;
      },
    };
  }

  function rawPost(payload: Buffer, o: { chunked?: boolean; abort?: boolean }) {
    return new Promise<{ status: number }>((resolve, reject) => {
      const url = new URL(`${gw.url}/dicom-web/studies`);
      const req = http.request({
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        headers: {
          authorization: `Bearer ${TOKENS.modality}`,
          'content-type': TYPE,
          ...(o.chunked ? {} : { 'content-length': String(payload.length + 1000) }),
        },
      });
      let status = 0;
      req.on('response', (res) => {
        status = res.statusCode ?? 0;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          // Instances stored before the limit tripped are acknowledged like any others.
          const text = Buffer.concat(chunks).toString('utf8');
          const json = (status === 202 ? JSON.parse(text) : {}) as Seq;
          for (const item of json['00081199']?.Value ?? [])
            acked.add(String(item['00081155']!.Value[0]));
          resolve({ status });
        });
      });
      // An abort, or a server that answered early and closed (413): the status seen, if any.
      req.on('error', (err) => (o.abort || status > 0 ? resolve({ status }) : reject(err)));
      req.write(payload, () => {
        if (o.abort) setTimeout(() => req.destroy(), 100);
        else req.end();
      });
    });
  }
});
