/**
 * Fault: the real `node bin/veil serve` process is SIGKILLed right after DCMTK storescu saw the
 * last C-STORE acknowledged, before the workers are done; then it is restarted on the same data
 * folder. Once with a Redis the test started (VEIL_REDIS__URL) and Orthanc over DICOMweb as the
 * archive, once with the embedded Redis (redis.url empty) and the filesystem archive. Asserted: no
 * process of the killed gateway survives it (worker children, embedded redis-server); after the
 * restart every acknowledged instance is archived exactly once and revealed to the original,
 * nothing is left in spool queued/ and no protect job failed.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { hashToken } from '../../src/api/tokens';
import { Tags, parsePart10 } from '../../src/dicom';
import type { EmbeddedRedis } from '../../src/pipeline/embedded-redis';
import { assertSameDataSet, sopOf } from '../e2e/e2e-tools';
import { type RunningOrthanc, orthancArchiveSettings, startOrthanc } from '../helpers/orthanc';
import { tempDir } from '../helpers/tools';
import { eventually, startTestRedis } from '../pipeline/harness';
import { filesystemCensus, indexRows, orthancCensus, spoolFiles, wadoStudy } from './census';
import {
  type ProcessId,
  type Served,
  alive,
  descendants,
  killAll,
  sandboxChildren,
  spawnServe,
  storescu,
} from './fault-tools';
import { writeSeries } from './gateway-fixture';

const TOKEN = 'gateway-kill-workstation';
const SLICES = 20;

/** Protect jobs by state from the gateway's /metrics (veil_queue_jobs). */
async function protectDepths(httpPort: number): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^veil_queue_jobs\{queue="protect",state="(\w+)"\} (\d+)/gm)) {
    out[m[1]!] = Number(m[2]);
  }
  return out;
}

function gatewayKillSuite(redisKind: 'external' | 'embedded'): void {
  const peers =
    redisKind === 'external'
      ? 'a Redis of its own and Orthanc over DICOMweb'
      : 'the embedded Redis and the filesystem archive';
  describe(`faults/gateway-kill (SIGKILL of node bin/veil serve after the acks, ${peers})`, function () {
    this.timeout(300_000);
    let tmp: ReturnType<typeof tempDir>;
    let redis: EmbeddedRedis | undefined;
    let orthanc: RunningOrthanc | undefined;
    const started: Served[] = [];
    const trees: ProcessId[] = [];

    before(async () => {
      tmp = tempDir(`veil-fault-gateway-kill-${redisKind}-`);
      if (redisKind === 'external') {
        redis = await startTestRedis(tmp.dir);
        orthanc = await startOrthanc();
      }
    });
    after(async () => {
      for (const s of started) {
        if (s.child.exitCode === null && s.child.signalCode === null) {
          trees.push(...descendants(s.child.pid!));
          s.child.kill('SIGKILL');
          await s.exit;
        }
      }
      killAll(trees);
      await orthanc?.stop();
      await redis?.stop();
      tmp?.cleanup();
    });

    it('loses nothing acknowledged and archives nothing twice across the kill and a restart; no process outlives the killed gateway', async () => {
      const dataDir = path.join(tmp.dir, 'data');
      const env: Record<string, string> = {
        VEIL_HTTP__TOKENS: `viewer:workstation:${hashToken(TOKEN)}`,
        VEIL_WORKERS__PROCESSES: '1',
        VEIL_WORKERS__CONCURRENCY: '2',
        ...(redis ? { VEIL_REDIS__URL: redis.url } : {}),
        ...(orthanc ? orthancArchiveSettings(orthanc) : {}),
      };
      const pushed = writeSeries(path.join(tmp.dir, 'push'), 606, SLICES, 512);
      const files = pushed.files;
      const series = [...pushed.bytes.values()];
      const studyUID = parsePart10(series[0]!, { stopAtPixelData: true }).dataset.string(
        Tags.StudyInstanceUID,
      )!;
      const sops = series.map(sopOf);

      const first = await spawnServe({ dataDir, cwd: tmp.dir, env });
      started.push(first);
      const acknowledged = await storescu(first.dimsePort, files);
      const tree = descendants(first.child.pid!);
      first.child.kill('SIGKILL');
      await first.exit;
      trees.push(...tree);
      const queuedAtKill = spoolFiles(path.join(dataDir, 'spool'), 'queued').length;
      assert.equal(acknowledged, SLICES, 'storescu saw every C-STORE acknowledged');
      assert.ok(queuedAtKill > 0, 'the gateway died before its workers were done');
      assert.ok(sandboxChildren(tree).length > 0, 'worker children ran under the gateway');
      if (redisKind === 'embedded') {
        assert.ok(
          tree.some((p) => /redis-server/.test(p.command)),
          'the embedded redis-server ran under the gateway',
        );
      }
      await eventually(
        () => (tree.some(alive) ? undefined : true),
        'every process of the killed gateway gone',
        20_000,
      ).catch(() => {
        const left = tree.filter(alive).map((p) => `${p.pid} ${p.command}`);
        assert.fail(`processes outlived the killed gateway: ${left.join('; ')}`);
      });

      const second = await spawnServe({ dataDir, cwd: tmp.dir, env });
      started.push(second);
      const config = {
        index: path.join(dataDir, 'index.sqlite'),
        spool: path.join(dataDir, 'spool'),
      };
      // Jobs that were active when the gateway died wait for BullMQ's stall check (~30-60 s).
      await eventually(
        async () => {
          const depths = await protectDepths(second.httpPort);
          if ((depths.failed ?? 0) > 0) return depths; // fails below
          const rows = indexRows(config.index);
          return sops.every((s) => rows.get(s)?.[0] === 'archived') &&
            spoolFiles(config.spool, 'queued').length === 0
            ? depths
            : undefined;
        },
        'every acknowledged instance archived after the restart',
        180_000,
      );
      const depths = await protectDepths(second.httpPort);
      assert.equal(depths.failed ?? 0, 0, `no failed protect job: ${JSON.stringify(depths)}`);

      const census = orthanc
        ? await orthancCensus(orthanc.httpUrl)
        : filesystemCensus(path.join(dataDir, 'archive'));
      assert.deepEqual(census.strays, [], 'no temp files left in the archive');
      assert.deepEqual(
        [...census.copies.keys()].sort(),
        [...sops].sort(),
        'archive holds the study',
      );
      for (const [sop, n] of census.copies) assert.equal(n, 1, `${sop} archived ${n} times`);
      const rows = indexRows(config.index);
      for (const sop of sops) assert.deepEqual(rows.get(sop), ['archived']);
      assert.deepEqual(spoolFiles(config.spool, 'failed'), []);

      const revealed = await wadoStudy(second.httpPort, TOKEN, studyUID);
      for (const bytes of series) {
        const got = revealed.get(sopOf(bytes));
        assert.equal(got?.length, 1, 'one instance per SOP over WADO-RS');
        assertSameDataSet(bytes, got[0]!);
      }

      const secondTree = descendants(second.child.pid!);
      trees.push(...secondTree);
      second.child.kill('SIGTERM');
      assert.deepEqual(await second.exit, { code: 0, signal: null }, second.output());
      await eventually(
        () => (secondTree.some(alive) ? undefined : true),
        'the restarted gateway stopped with its tree',
        20_000,
      );
      // eslint-disable-next-line no-console
      console.log(
        `      gateway-kill/${redisKind}: ${acknowledged} acknowledged, ${queuedAtKill} still queued at the SIGKILL, ` +
          `${tree.length} processes of the killed gateway all gone, after restart ${census.copies.size} archived once each, 0 failed`,
      );
    });
  });
}

gatewayKillSuite('external');
gatewayKillSuite('embedded');
