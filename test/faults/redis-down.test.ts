/**
 * Faults: Redis goes away during ingest and comes back, once with its data (SHUTDOWN saves the
 * append-only file) and once empty (SIGKILL and its data deleted). The real gateway (startGateway,
 * sandboxed workers) on the test's own redis-server; storescu and STOW-RS push before, during and
 * after the outage. While Redis is down nothing is acknowledged (C-STORE 0xA700 or the association
 * refused, STOW 503 VEIL_E_QUEUE_UNAVAILABLE), nothing of it stays on the spool, /readyz names
 * redis; afterwards the gateway recovers by itself and every acknowledged instance is archived
 * exactly once, including those whose jobs an empty Redis lost.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { log as dimseLog } from 'dcmjs-dimse';
import { type EmbeddedRedis, startEmbeddedRedis } from '../../src/pipeline/embedded-redis';
import type { Gateway } from '../../src/pipeline/gateway';
import { freePort } from '../helpers/orthanc';
import { tempDir } from '../helpers/tools';
import { eventually } from '../pipeline/harness';
import {
  assertRefusedAtBothDoors,
  readyz,
  spoolFiles,
  startFaultGateway,
  storeStatuses,
  storescu,
  stow,
  waitArchived,
  writeSeries,
} from './gateway-fixture';

/** True while something accepts TCP connections on 127.0.0.1:port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** How each outage ends. */
const OUTAGES = [
  { name: 'restarted with its data (SHUTDOWN)', keepsData: true, seed: 501 },
  { name: 'restarted empty (SIGKILL, data deleted)', keepsData: false, seed: 502 },
] as const;

for (const outage of OUTAGES) {
  describe(`faults/redis-down: Redis ${outage.name} (real redis-server, storescu, STOW-RS)`, function () {
    this.timeout(600_000);
    let tmp: ReturnType<typeof tempDir>;
    let redisDir: string;
    let redisPort: number;
    let redis: EmbeddedRedis | undefined;
    let gateway: Gateway | undefined;
    let spoolDir: string;

    before(async () => {
      dimseLog.setLevel('silent');
      tmp = tempDir('veil-faults-redis-');
      redisDir = path.join(tmp.dir, 'redis');
      redisPort = await freePort();
      redis = await startEmbeddedRedis({ dir: redisDir, port: redisPort });
      spoolDir = path.join(tmp.dir, 'data', 'spool');
      gateway = await startFaultGateway(path.join(tmp.dir, 'data'), {
        VEIL_REDIS__URL: redis.url,
      });
    });
    after(async () => {
      await gateway?.close();
      await redis?.stop();
      tmp?.cleanup();
    });

    it('refuses while Redis is down, recovers by itself, and archives every acknowledged instance once', async () => {
      const gw = gateway!;
      const before = writeSeries(path.join(tmp.dir, 'before'), outage.seed, 6);
      const during = writeSeries(path.join(tmp.dir, 'during'), outage.seed + 100, 4);
      const after = writeSeries(path.join(tmp.dir, 'after'), outage.seed + 200, 4);

      // Acknowledged before the outage, but not yet protected: the protect queue is paused, so
      // the jobs sit in Redis when it dies (an empty restart loses them).
      await gw.deps.queues.protect.pause();
      const first = await storescu(gw.dimsePort, before.files.slice(0, 4));
      assert.deepEqual(storeStatuses(first.output), ['Success', 'Success', 'Success', 'Success']);
      const beforeStow = await stow(gw.httpPort, [...before.bytes.values()].slice(4));
      assert.equal(beforeStow.status, 200, beforeStow.body);
      assert.equal(spoolFiles(spoolDir).queued.length, 6, 'six acknowledged instances spooled');

      // The outage.
      if (outage.keepsData) {
        await redis!.stop();
      } else {
        process.kill(redis!.pid, 'SIGKILL');
        await eventually(async () => ((await listening(redisPort)) ? undefined : true), 'the kill');
        await redis!.stop(); // reaps the child
        rmSync(redisDir, { recursive: true, force: true });
      }
      redis = undefined;

      const down = await eventually(async () => {
        const r = await readyz(gw.httpPort);
        return r.status === 503 && r.failing.includes('redis') ? r : undefined;
      }, '/readyz naming redis');
      assert.deepEqual(down.failing, ['redis']);
      await assertRefusedAtBothDoors(
        gw,
        [...during.bytes.values()].slice(0, 2),
        during.files.slice(2),
        { status: 503, code: 'VEIL_E_QUEUE_UNAVAILABLE' },
      );
      const spool = spoolFiles(spoolDir);
      assert.deepEqual(spool.incoming, [], 'no half-written file of a refused instance');
      assert.equal(spool.queued.length, 6, 'only the acknowledged instances are spooled');
      assert.ok(!spool.queued.some((n) => [...during.bytes.keys()].some((s) => n.startsWith(s))));

      // Redis is back on the same port (with or without its data); nobody tells the gateway.
      redis = await startEmbeddedRedis({ dir: redisDir, port: redisPort });
      await eventually(
        async () => ((await readyz(gw.httpPort)).status === 200 ? true : undefined),
        '/readyz 200 after the restart',
      );
      // With its data, Redis remembers the pause: resume. Empty, there is nothing to resume.
      await gw.deps.queues.protect.resume();

      const third = await storescu(gw.dimsePort, after.files.slice(0, 2));
      assert.deepEqual(storeStatuses(third.output), ['Success', 'Success']);
      const afterStow = await stow(gw.httpPort, [...after.bytes.values()].slice(2));
      assert.equal(afterStow.status, 200, afterStow.body);
      // The refused instances, sent again, are taken now.
      const resent = await stow(gw.httpPort, [...during.bytes.values()]);
      assert.equal(resent.status, 200, resent.body);

      const acknowledged = [...before.bytes.keys(), ...after.bytes.keys(), ...during.bytes.keys()];
      await waitArchived(gw, acknowledged);
      await eventually(
        () => (spoolFiles(spoolDir).queued.length === 0 ? true : undefined),
        'an empty spool',
      );
      // A job's 'completed' event (which the metric counts) follows its spool file's removal:
      // wait until no protect job is left, then the count is final.
      const protectedCount = await eventually(async () => {
        const c = await gw.deps.queues.protect.getJobCounts('waiting', 'active', 'delayed');
        const n = (await gw.deps.metrics.instancesProtected.get()).values[0]?.value ?? 0;
        return c.waiting + c.active + c.delayed === 0 && n >= acknowledged.length ? n : undefined;
      }, 'every protect job finished');
      assert.equal(protectedCount, acknowledged.length, 'each instance protected exactly once');
      assert.equal(gw.deps.catalogue.counts().archived, acknowledged.length);
    });
  });
}
