/**
 * Load on loopback, bounded: more DIMSE associations than dimse.maxAssociations, and more STOW-RS
 * requests at once than http.maxConcurrentStow, against the real gateway (sandboxed workers,
 * filesystem archive). Associations beyond the limit get an A-ASSOCIATE-RJ "rejected-transient,
 * local limit exceeded" (PS3.8 9.3.4), read byte by byte and as storescu reports it; STOW-RS
 * requests beyond it 503 VEIL_E_BUSY with Retry-After; every acknowledged instance is archived exactly
 * once; the gateway's memory (this process plus its worker children) stays bounded; C-ECHO and
 * /healthz still answer afterwards.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { log as dimseLog } from 'dcmjs-dimse';
import type { Gateway } from '../../src/pipeline/gateway';
import { dcmtk } from '../e2e/e2e-tools';
import { tempDir } from '../helpers/tools';
import { eventually } from '../pipeline/harness';
import { descendants } from './fault-tools';
import {
  type StorescuRun,
  type StowResult,
  startFaultGateway,
  storeStatuses,
  storescu,
  stow,
  waitArchived,
  writeSeries,
} from './gateway-fixture';
import { IMPLICIT_LE, RawPeer, VERIFICATION, associateRq, releaseRq } from './raw-pdu';

const LIMIT = 8;
const GiB = 1024 * 1024 * 1024;

/**
 * Resident memory of the gateway: this process and its worker children (the DCMTK peers this
 * test spawns are not the gateway's), in bytes.
 */
function treeRss(): number {
  let kib = 0;
  const workers = descendants(process.pid).filter((p) => !/^(storescu|echoscu)\b/.test(p.command));
  for (const pid of [process.pid, ...workers.map((p) => p.pid)]) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
      kib += Number(m?.[1] ?? 0);
    } catch {
      // gone meanwhile
    }
  }
  return kib * 1024;
}

/** Samples treeRss() until stopped; returns the largest value seen. */
function sampleRss(): { stop(): number } {
  let peak = treeRss();
  const timer = setInterval(() => (peak = Math.max(peak, treeRss())), 500);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, treeRss());
    },
  };
}

/** A storescu run was refused at association: A-ASSOCIATE-RJ, transient, local limit exceeded. */
function rejectedForLimit(run: StorescuRun): boolean {
  return /Association Rejected/i.test(run.output) && /Local Limit Exceeded/i.test(run.output);
}

/** Protect runs the gateway counted (each archived protection of an instance). */
async function protectedCount(gateway: Gateway): Promise<number> {
  return (await gateway.deps.metrics.instancesProtected.get()).values[0]?.value ?? 0;
}

describe(`faults/load: more associations than dimse.maxAssociations (${LIMIT}) and many STOW-RS requests (real gateway, storescu)`, function () {
  this.timeout(900_000);
  let tmp: ReturnType<typeof tempDir>;
  let gateway: Gateway | undefined;
  const held: RawPeer[] = [];

  before(async () => {
    dimseLog.setLevel('silent');
    tmp = tempDir('veil-faults-load-');
    gateway = await startFaultGateway(path.join(tmp.dir, 'data'), {
      VEIL_DIMSE__MAX_ASSOCIATIONS: String(LIMIT),
      VEIL_HTTP__MAX_CONCURRENT_STOW: String(LIMIT),
    });
  });
  after(async () => {
    for (const peer of held) peer.destroy();
    await gateway?.close();
    tmp?.cleanup();
  });

  it('answers the association beyond the limit with A-ASSOCIATE-RJ (rejected-transient, local limit exceeded)', async () => {
    const gw = gateway!;
    const before = await protectedCount(gw);
    const contexts = [{ id: 1, abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT_LE] }];
    for (let i = 0; i < LIMIT; i++) {
      const peer = await RawPeer.connect(gw.dimsePort);
      held.push(peer);
      await peer.write(associateRq('VEIL', `HOLD${i}`, contexts));
      assert.equal((await peer.next())?.type, 0x02, `association ${i + 1} accepted`);
    }
    const extra = await RawPeer.connect(gw.dimsePort);
    await extra.write(associateRq('VEIL', 'EXTRA', contexts));
    const rj = await extra.next();
    extra.destroy();
    // PS3.8 9.3.4: reserved, result 2 (rejected-transient), source 3 (service-provider,
    // presentation related), reason 2 (local-limit-exceeded).
    assert.equal(rj?.type, 0x03, 'A-ASSOCIATE-RJ');
    assert.deepEqual([...rj!.body.subarray(1, 4)], [2, 3, 2]);
    const series = writeSeries(path.join(tmp.dir, 'limit'), 1001, 1);
    const refused = await storescu(gw.dimsePort, series.files);
    assert.ok(rejectedForLimit(refused), refused.output);

    // Released associations free their slots.
    for (const peer of held.splice(0)) {
      await peer.write(releaseRq());
      await peer.closedByPeer();
    }
    const accepted = await eventually(async () => {
      const run = await storescu(gw.dimsePort, series.files);
      return storeStatuses(run.output)[0] === 'Success' ? run : undefined;
    }, 'an association after the release');
    assert.equal(accepted.code, 0);
    await waitArchived(gw, series.bytes.keys());
    // The index says archived before the job's 'completed' event reaches the metrics: wait for
    // it here, or the next test's baseline would miss it and its count would end one too high.
    await eventually(
      async () => ((await protectedCount(gw)) - before === 1 ? true : undefined),
      'protect count of the instance',
    );
  });

  it('holds 30 storescu at once: the excess rejected for the limit, every accepted instance archived once', async () => {
    const gw = gateway!;
    const before = await protectedCount(gw);
    const pushes = Array.from({ length: 30 }, (_, i) =>
      writeSeries(path.join(tmp.dir, `dimse${i}`), 1100 + i, 4, 256),
    );
    const rss = sampleRss();
    const baseline = treeRss();
    const runs = await Promise.all(pushes.map((p) => storescu(gw.dimsePort, p.files)));
    const acknowledged = new Set<string>();
    let rejected = 0;
    runs.forEach((run, i) => {
      const statuses = storeStatuses(run.output);
      if (statuses.length === 0) {
        assert.ok(rejectedForLimit(run), run.output);
        rejected += 1;
        return;
      }
      assert.deepEqual(statuses, ['Success', 'Success', 'Success', 'Success'], run.output);
      for (const sop of pushes[i]!.bytes.keys()) acknowledged.add(sop);
    });
    assert.ok(acknowledged.size >= 4, 'at least one association was served');
    // The rejected modalities send again later, as a modality does after a transient rejection.
    for (const [i, run] of runs.entries()) {
      if (storeStatuses(run.output).length > 0) continue;
      const again = await storescu(gw.dimsePort, pushes[i]!.files);
      assert.deepEqual(storeStatuses(again.output), ['Success', 'Success', 'Success', 'Success']);
      for (const sop of pushes[i]!.bytes.keys()) acknowledged.add(sop);
    }
    await waitArchived(gw, acknowledged);
    const peak = rss.stop();
    assert.equal(acknowledged.size, 120);
    await eventually(
      async () => ((await protectedCount(gw)) - before === 120 ? true : undefined),
      'protect counts',
    );
    assert.ok(peak - baseline < GiB, `memory grew by ${peak - baseline} bytes`);
    process.stdout.write(
      `      (30 storescu: ${30 - rejected} served at once, ${rejected} rejected for the limit; ` +
        `RSS ${Math.round(baseline / 2 ** 20)} -> peak ${Math.round(peak / 2 ** 20)} MiB)\n`,
    );
  });

  it('holds 40 STOW-RS requests at once: the excess refused as busy, each acknowledged instance archived once, memory bounded', async () => {
    const gw = gateway!;
    const before = await protectedCount(gw);
    const pushes = Array.from({ length: 40 }, (_, i) =>
      writeSeries(path.join(tmp.dir, `stow${i}`), 1200 + i, 3, 512),
    );
    const rss = sampleRss();
    const baseline = treeRss();
    const results = await Promise.all(pushes.map((p) => stow(gw.httpPort, [...p.bytes.values()])));
    // Beyond http.maxConcurrentStow: 503 VEIL_E_BUSY with Retry-After, nothing of it stored.
    const refused = (r: StowResult): boolean => {
      if (r.status === 200) return false;
      assert.equal(r.status, 503, r.body.slice(0, 200));
      assert.equal((JSON.parse(r.body) as { code: string }).code, 'VEIL_E_BUSY');
      assert.equal(r.headers.get('retry-after'), '1');
      return true;
    };
    let pending = pushes.flatMap((_, i) => (refused(results[i]!) ? [i] : []));
    const busy = pending.length;
    // The refused senders send again after Retry-After, all at once, as STOW-RS clients do.
    for (let wave = 0; pending.length > 0; wave += 1) {
      assert.ok(wave < 40, `still refused after ${wave} waves`);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const again = await Promise.all(
        pending.map((i) => stow(gw.httpPort, [...pushes[i]!.bytes.values()])),
      );
      pending = pending.filter((_, k) => refused(again[k]!));
    }
    const acknowledged = pushes.flatMap((p) => [...p.bytes.keys()]);
    await waitArchived(gw, acknowledged);
    const peak = rss.stop();
    await eventually(
      async () => ((await protectedCount(gw)) - before === acknowledged.length ? true : undefined),
      'protect counts',
    );
    assert.ok(peak - baseline < GiB, `memory grew by ${peak - baseline} bytes`);
    process.stdout.write(
      `      (40 STOW-RS: ${40 - busy} taken, ${busy} refused as busy and sent again; ` +
        `${acknowledged.length} instances; RSS ${Math.round(baseline / 2 ** 20)}` +
        ` -> peak ${Math.round(peak / 2 ** 20)} MiB)\n`,
    );
  });

  it('still answers C-ECHO and /healthz afterwards', async () => {
    const gw = gateway!;
    await dcmtk('echoscu', ['-aec', 'VEIL', '127.0.0.1', String(gw.dimsePort)]);
    const health = await fetch(`http://127.0.0.1:${gw.httpPort}/healthz`);
    assert.equal(health.status, 200);
    assert.equal(gw.deps.catalogue.counts().failed, 0);
  });
});
