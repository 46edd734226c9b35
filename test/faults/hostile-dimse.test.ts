/**
 * Hostile DIMSE peers against the real listener over the real pipeline (private redis-server,
 * in-process workers): unknown calling AE, unsupported SOP class and transfer syntax, C-STOREs
 * aborted mid-transfer, slow-loris peers, garbage and oversized PDUs, written as raw PDUs (PS3.8
 * 9.3). After each: the listener still answers, a good instance is acknowledged and archived.
 */
import assert from 'node:assert/strict';
import { readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { startDimseServer, type DimseServer } from '../../src/dimse/server';
import { sopOf, dcmtk } from '../e2e/e2e-tools';
import { startGateway, type TestGateway } from '../api/harness';
import { datasetBytes, runAsync } from '../dimse/harness';
import { syntheticInstance } from '../helpers/synthetic';
import { protectJobId } from '../../src/pipeline/jobs';
import { eventually } from '../pipeline/harness';
import {
  EXPLICIT_LE,
  IMPLICIT_LE,
  RawPeer,
  SECONDARY_CAPTURE,
  VERIFICATION,
  aAbort,
  associateRq,
  cStoreRq,
  contextResults,
  pData,
  responseStatus,
} from './raw-pdu';

const GOOD_AE = 'GOODSCU';

describe('faults/hostile DIMSE peers (redis-server, DCMTK)', function () {
  this.timeout(300_000);
  let gw: TestGateway;
  let dimse: DimseServer;
  const acked = new Set<string>();

  before(async () => {
    gw = await startGateway({
      VEIL_DIMSE__HOST: '127.0.0.1',
      VEIL_DIMSE__PORT: '0',
      VEIL_DIMSE__ALLOWED_CALLING_AETITLES: GOOD_AE,
      VEIL_DIMSE__TIMEOUT_SECONDS: '2',
    });
    dimse = await startDimseServer(gw.deps);
  });
  after(async () => {
    await dimse?.close();
    await gw?.close();
  });

  const incoming = () => readdirSync(path.join(gw.config.spool.dir, 'incoming'));
  const associate = async (contexts: Parameters<typeof associateRq>[2], calling = GOOD_AE) => {
    const peer = await RawPeer.connect(dimse.port);
    await peer.write(associateRq('VEIL', calling, contexts));
    return { peer, answer: await peer.next() };
  };

  /** Proof the listener still serves: storescu's instance acknowledged and archived. */
  async function stillServes(): Promise<void> {
    const file = path.join(gw.dir, `good-${Date.now()}.dcm`);
    const bytes = syntheticInstance();
    writeFileSync(file, bytes);
    await dcmtk('storescu', [
      '-aet',
      GOOD_AE,
      '-aec',
      'VEIL',
      '127.0.0.1',
      String(dimse.port),
      file,
    ]);
    const sop = sopOf(bytes);
    acked.add(sop);
    await eventually(
      () => (gw.deps.catalogue.get(sop)?.state === 'archived' ? true : undefined),
      'the good instance archived',
    );
  }

  it('rejects an unknown calling AE (A-ASSOCIATE-RJ permanent, calling AE not recognized) and audits it', async () => {
    const echo = await runAsync('echoscu', [
      '-aet',
      'INTRUDER',
      '-aec',
      'VEIL',
      '127.0.0.1',
      String(dimse.port),
    ]);
    assert.notEqual(echo.status, 0);
    assert.match(echo.stdout + echo.stderr, /Calling AE Title Not Recognized/i);
    const { peer, answer } = await associate(
      [{ id: 1, abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT_LE] }],
      'INTRUDER',
    );
    // PS3.8 9.3.4: type 0x03; result 1 permanent, source 1 service user, reason 3.
    assert.equal(answer?.type, 0x03);
    assert.deepEqual([...answer!.body.subarray(1, 4)], [1, 1, 3]);
    await peer.closedByPeer();
    const alerts = gw.audits.filter(
      (a) => a.type === 'SecurityAlert' && a.errorCode === 'VEIL_E_DIMSE_AE_REJECTED',
    );
    assert.ok(alerts.length >= 2, 'both rejections audited');
    await stillServes();
  });

  it('rejects an unsupported SOP class and an unsupported transfer syntax context by context', async () => {
    const { peer, answer } = await associate([
      { id: 1, abstractSyntax: '1.2.3.999.1', transferSyntaxes: [EXPLICIT_LE] },
      { id: 3, abstractSyntax: SECONDARY_CAPTURE, transferSyntaxes: ['1.2.3.4.5.6'] },
      { id: 5, abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT_LE] },
    ]);
    assert.equal(answer?.type, 0x02, 'A-ASSOCIATE-AC');
    // PS3.8 9.3.3.2: 3 abstract syntax not supported, 4 transfer syntaxes not supported, 0 accept.
    assert.deepEqual(
      [...contextResults(answer!)],
      [
        [1, 3],
        [3, 4],
        [5, 0],
      ],
    );
    peer.destroy();
    // storescu with a file of a made-up SOP class finds no accepted context and sends nothing.
    const file = path.join(gw.dir, 'unknown-class.dcm');
    writeFileSync(
      file,
      syntheticInstance({
        extra: (ds) => ds.set({ tag: 0x00080016, vr: 'UI', value: Buffer.from('1.2.3.999.2\0') }),
      }),
    );
    const store = await runAsync('storescu', [
      '-aet',
      GOOD_AE,
      '-aec',
      'VEIL',
      '-R',
      '127.0.0.1',
      String(dimse.port),
      file,
    ]);
    assert.notEqual(store.status, 0);
    await stillServes();
  });

  /** Associates for Secondary Capture and sends the command and `parts` of the data set PDVs. */
  async function storeRaw(bytes: Buffer, fraction: number) {
    const { peer, answer } = await associate([
      { id: 1, abstractSyntax: SECONDARY_CAPTURE, transferSyntaxes: [EXPLICIT_LE] },
    ]);
    assert.equal(answer?.type, 0x02);
    await peer.write(pData(1, true, true, cStoreRq(SECONDARY_CAPTURE, sopOf(bytes))));
    const data = datasetBytes(bytes);
    const end = Math.floor(data.length * fraction);
    for (let at = 0; at < end; at += 16_000) {
      const chunk = data.subarray(at, Math.min(at + 16_000, end));
      await peer.write(pData(1, false, at + chunk.length >= data.length, chunk));
    }
    return peer;
  }

  it('acknowledges a whole C-STORE sent as raw PDUs (the helper itself is sound)', async () => {
    const bytes = syntheticInstance({ rows: 128, columns: 128 });
    const peer = await storeRaw(bytes, 1);
    const rsp = await peer.next();
    assert.equal(rsp?.type, 0x04);
    assert.equal(responseStatus(rsp!), 0x0000);
    acked.add(sopOf(bytes));
    peer.destroy();
  });

  it('leaves no .part and queues nothing when a C-STORE is aborted or dropped mid-transfer', async () => {
    for (const [how, fraction] of [
      ['A-ABORT', 0.5],
      ['socket destroyed', 0.5],
      ['A-ABORT', 0],
      ['socket destroyed', 0.95],
    ] as const) {
      const bytes = syntheticInstance({ rows: 128, columns: 128 });
      const peer = await storeRaw(bytes, fraction);
      if (how === 'A-ABORT') await peer.write(aAbort());
      peer.destroy();
      await eventually(() => (incoming().length === 0 ? true : undefined), `no .part after ${how}`);
      const job = await gw.deps.queues.protect.getJob(protectJobId(sopOf(bytes)));
      assert.equal(job, undefined, `nothing queued after ${how} at ${fraction}`);
      assert.equal(gw.deps.catalogue.get(sopOf(bytes)), undefined);
    }
    await stillServes();
  });

  it('releases silent and dribbling peers after dimse.timeoutSeconds while serving others', async () => {
    const silent = await RawPeer.connect(dimse.port);
    const dribbler = await RawPeer.connect(dimse.port);
    const { peer: idle, answer } = await associate([
      { id: 1, abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT_LE] },
    ]);
    assert.equal(answer?.type, 0x02);
    const rq = associateRq('VEIL', GOOD_AE, [
      { id: 1, abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT_LE] },
    ]);
    let sent = 0;
    const dribbling = (async () => {
      // One byte every 300 ms: the whole request would take a minute; the timeout is 2 s.
      while (!dribbler.gone && sent < rq.length) {
        await dribbler.write(rq.subarray(sent, sent + 1));
        sent++;
        await new Promise((r) => setTimeout(r, 300));
      }
    })();
    await stillServes();
    const idlePdus = await idle.closedByPeer();
    await silent.closedByPeer();
    await dribbler.closedByPeer();
    await dribbling;
    assert.ok(sent < rq.length, 'the dribbler was cut off before it finished');
    // The associated idle peer is told: A-ABORT (0x07) before the close.
    assert.deepEqual(
      idlePdus.map((p) => p.type),
      [0x07],
    );
    await stillServes();
  });

  it('drops garbage, unknown PDU types and oversized PDU lengths and keeps serving', async () => {
    const cases: Record<string, Buffer> = {
      'HTTP on the DICOM port': Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
      'unknown PDU type 0x09': Buffer.from([0x09, 0, 0, 0, 0, 4, 1, 2, 3, 4]),
      'P-DATA before association': pData(1, true, true, Buffer.alloc(20)),
      'A-ASSOCIATE-RQ cut short': Buffer.from([0x01, 0, 0, 0, 0, 10, 0, 1, 0, 0]),
    };
    for (const [name, bytes] of Object.entries(cases)) {
      const peer = await RawPeer.connect(dimse.port);
      await peer.write(bytes);
      const answers = await peer.closedByPeer();
      assert.ok(
        answers.every((p) => p.type === 0x07),
        `${name}: only A-ABORT, got ${answers.map((p) => p.type)}`,
      );
    }
    await stillServes();
  });

  it('aborts at once a PDU declaring more than the maximum PDU length (A-ABORT provider, reason 6)', async () => {
    for (const type of [0x01, 0x04]) {
      const peer = await RawPeer.connect(dimse.port);
      const head = Buffer.from([type, 0, 0xff, 0xff, 0xff, 0xf0]);
      await peer.write(Buffer.concat([head, Buffer.alloc(65536)]));
      // Keep streaming: without the guard the listener would buffer all of it until the timeout.
      let sent = 0;
      while (!peer.gone && sent < 256 * 1024 * 1024) {
        await peer.write(Buffer.alloc(1024 * 1024));
        sent += 1024 * 1024;
      }
      const answers = await peer.closedByPeer();
      assert.ok(sent < 256 * 1024 * 1024, 'closed before 256 MiB were sent');
      // PS3.8 9.3.8: source 2 (service provider), reason 6 (invalid PDU parameter value); an idle
      // timeout before association would close without any A-ABORT.
      assert.equal(answers[0]?.type, 0x07, `type ${type}: A-ABORT`);
      assert.deepEqual([...answers[0]!.body.subarray(2, 4)], [2, 6]);
    }
    await stillServes();
  });

  it('survives fast-check mutations of an A-ASSOCIATE-RQ and random bytes (answers or closes, keeps serving)', async () => {
    const rq = associateRq('VEIL', GOOD_AE, [
      { id: 1, abstractSyntax: SECONDARY_CAPTURE, transferSyntaxes: [EXPLICIT_LE] },
      { id: 3, abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT_LE] },
    ]);
    const answered = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ minLength: 1, maxLength: 600 }).map((b) => Buffer.from(b)),
          fc
            .array(fc.tuple(fc.nat(rq.length - 1), fc.integer({ min: 0, max: 255 })), {
              minLength: 1,
              maxLength: 6,
            })
            .map((edits) => {
              const bytes = Buffer.from(rq);
              for (const [at, value] of edits) bytes[at] = value;
              return bytes;
            }),
        ),
        async (bytes) => {
          const peer = await RawPeer.connect(dimse.port);
          await peer.write(bytes);
          // Whatever it answers, the listener must end this connection (timeout 2 s at most) or
          // accept it; an accepted one is released by us.
          const first = await peer.next();
          const kind = first === undefined ? 'closed' : `0x0${first.type}`;
          answered.set(kind, (answered.get(kind) ?? 0) + 1);
          if (first?.type === 0x02) await peer.write(aAbort());
          peer.destroy();
          return first === undefined || [0x02, 0x03, 0x07].includes(first.type);
        },
      ),
      { numRuns: 40 },
    );
    assert.ok(answered.size > 1, JSON.stringify([...answered]));
    await stillServes();
  });

  it('archives every acknowledged instance and leaves the spool empty (census)', async () => {
    await eventually(
      () =>
        [...acked].every((s) => gw.deps.catalogue.get(s)?.state === 'archived') ? true : undefined,
      'every acknowledged instance archived',
      120_000,
    );
    const counts = gw.deps.catalogue.counts();
    assert.deepEqual(counts, { received: 0, archived: acked.size, failed: 0 });
    assert.deepEqual(incoming(), []);
  });
});
