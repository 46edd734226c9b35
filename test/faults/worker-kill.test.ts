/**
 * Fault: a sandboxed protect child is SIGKILLed in the middle of protecting. startGateway runs in
 * this process with a real Redis (startTestRedis) and one worker process of two sandbox children;
 * DCMTK storescu pushes a generated CT study; while protect jobs are active, every sandbox child
 * is SIGKILLed, several times. In the end every acknowledged instance is archived exactly once
 * (real Orthanc over DICOMweb, and the filesystem archive), indexed as archived, revealed to the
 * original, with nothing failed, nothing left in the spool and no process of the pool left over.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { log as dimseLog } from 'dcmjs-dimse';
import { Tags, parsePart10 } from '../../src/dicom';
import type { EmbeddedRedis } from '../../src/pipeline/embedded-redis';
import type { Gateway } from '../../src/pipeline/gateway';
import { protectJobId } from '../../src/pipeline/jobs';
import { assertSameDataSet, sopOf } from '../e2e/e2e-tools';
import { type RunningOrthanc, orthancArchiveSettings, startOrthanc } from '../helpers/orthanc';
import { tempDir } from '../helpers/tools';
import { eventually, startTestRedis } from '../pipeline/harness';
import {
  type ArchiveCensus,
  filesystemCensus,
  indexRows,
  orthancCensus,
  protectCounts,
  spoolFiles,
  wadoStudy,
} from './census';
import {
  type ProcessId,
  alive,
  descendants,
  killAll,
  sandboxChildren,
  storescu,
} from './fault-tools';
import { WORKSTATION_TOKEN, startFaultGateway, writeSeries } from './gateway-fixture';

/**
 * Enough instances that the push, and the protection that keeps pace with it, still run once the
 * children have been up for 2 s (a 'running' strike waits for that): 30 slices were all protected
 * before that on an idle machine, and the test then had nothing left to strike.
 */
const SLICES = 120;
const SIZE = 512;
/**
 * Strikes of "SIGKILL every sandbox child while a protect job is active": twice when the children
 * are protecting, once as soon as the pool has forked new ones (they are still loading).
 */
const STRIKES = ['running', 'running', 'starting'] as const;
/** Extra 'running' strikes, when a loaded machine let the first ones land on loading children. */
const MAX_STRIKES = 6;

/** Seconds since the process started (/proc: start time in clock ticks since boot, 100 Hz). */
function ageSeconds(p: ProcessId): number {
  const uptime = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
  return uptime - Number(p.start) / 100;
}

function workerKillSuite(kind: 'dicomweb' | 'filesystem'): void {
  const peers = kind === 'dicomweb' ? 'Redis, Orthanc over DICOMweb' : 'Redis, filesystem archive';
  describe(`faults/worker-kill (SIGKILL of protect children, real ${peers})`, function () {
    this.timeout(300_000);
    let tmp: ReturnType<typeof tempDir>;
    let redis: EmbeddedRedis;
    let orthanc: RunningOrthanc | undefined;
    let gateway: Gateway | undefined;
    const seen = new Map<number, ProcessId>();

    before(async () => {
      dimseLog.setLevel('silent');
      tmp = tempDir(`veil-fault-worker-kill-${kind}-`);
      redis = await startTestRedis(tmp.dir);
      if (kind === 'dicomweb') orthanc = await startOrthanc();
      const archive: Record<string, string> = orthanc ? orthancArchiveSettings(orthanc) : {};
      gateway = await startFaultGateway(path.join(tmp.dir, 'data'), {
        VEIL_REDIS__URL: redis.url,
        // The default attempts: each kill costs the job it strikes one attempt.
        VEIL_JOBS__ATTEMPTS: '8',
        ...archive,
      });
    });
    after(async () => {
      await gateway?.close();
      killAll([...seen.values()]);
      await orthanc?.stop();
      await redis?.stop();
      tmp?.cleanup();
    });

    /** The sandbox children now running under this process; remembered for the orphan check. */
    function children(): ProcessId[] {
      const now = sandboxChildren(descendants(process.pid));
      for (const p of now) seen.set(p.pid, p);
      return now;
    }

    it('archives every acknowledged instance exactly once, revealed to the original, after protect children are SIGKILLed mid-job', async () => {
      const g = gateway!;
      const { config } = g.deps;
      const pushedSeries = writeSeries(path.join(tmp.dir, 'push'), 505, SLICES, SIZE);
      const files = pushedSeries.files;
      const series = [...pushedSeries.bytes.values()];
      const studyUID = parsePart10(series[0]!, { stopAtPixelData: true }).dataset.string(
        Tags.StudyInstanceUID,
      )!;

      const pushed = storescu(g.dimsePort, files);
      let pushDone = false;
      void pushed.then(
        () => (pushDone = true),
        () => (pushDone = true),
      );
      const killed: ProcessId[] = [];
      /** Children seen up to the first strike. */
      const preStrike = new Set<number>();
      let completedAtKill = 0;
      const sops = series.map(sopOf);
      /** Jobs whose attempt failed with their child's SIGKILL mid-job / while it started. */
      const struck = async () => {
        let midJob = 0;
        let starting = 0;
        for (const sop of sops) {
          const job = await g.deps.queues.protect.getJob(protectJobId(sop));
          const trace = job?.stacktrace ?? [];
          if (trace.some((t) => /Unexpected exit code: null signal: SIGKILL/.test(t))) midJob += 1;
          if (trace.some((t) => /exited while starting/.test(t))) starting += 1;
        }
        return { midJob, starting };
      };
      for (let i = 0; i < MAX_STRIKES; i += 1) {
        const strike = STRIKES[i] ?? 'running';
        if (i >= STRIKES.length && (await struck()).midJob > 0) break;
        // Wait for an active protect job and children not yet struck; a 'running' strike also
        // waits for two more completed jobs and children that have run for 2 s (loaded).
        const victims = await eventually(
          async () => {
            const counts = await protectCounts(g.deps.queues.protect);
            if (pushDone && counts.active + counts.waiting + counts.delayed === 0) return null;
            let fresh = children().filter((p) => !killed.some((k) => k.pid === p.pid));
            if (strike === 'running') fresh = fresh.filter((p) => ageSeconds(p) >= 2);
            if (counts.active === 0 || fresh.length === 0) return undefined;
            if (strike === 'running' && counts.completed < completedAtKill + 2) return undefined;
            completedAtKill = counts.completed;
            return fresh;
          },
          `an active protect job (${strike} strike)`,
          120_000,
        );
        if (victims === null) break; // the study was done before this strike
        for (const p of victims) process.kill(p.pid, 'SIGKILL');
        if (killed.length === 0) for (const pid of seen.keys()) preStrike.add(pid);
        killed.push(...victims);
      }
      const acknowledged = await pushed;
      assert.equal(acknowledged, SLICES, 'storescu saw every C-STORE acknowledged');
      assert.ok(killed.length >= 2, `sandbox children were killed (${killed.length})`);

      await eventually(
        async () => {
          const counts = await protectCounts(g.deps.queues.protect);
          const settled = counts.waiting + counts.active + counts.delayed + counts.prioritized;
          if (counts.failed > 0) return counts; // fails below with the counts
          const rows = indexRows(config.index.file);
          return settled === 0 && sops.every((s) => rows.get(s)?.[0] === 'archived')
            ? counts
            : undefined;
        },
        'every instance protected',
        180_000,
      );
      const counts = await protectCounts(g.deps.queues.protect);
      assert.equal(counts.failed, 0, `no failed protect job: ${JSON.stringify(counts)}`);

      // The kills struck jobs: their attempts failed with the child's exit, then succeeded.
      const { midJob, starting } = await struck();
      assert.ok(midJob >= 1, 'at least one kill struck a running protect job');
      // Every strike after the first needs children forked after it, and so does a struck job's
      // retry. (Not "a child is alive now": a last strike can land just after the study's last
      // job completed, with no work left to fork for.)
      children();
      assert.ok(
        [...seen.keys()].some((pid) => !preStrike.has(pid)),
        'the pool forked new children after the first kills',
      );

      const census: ArchiveCensus = orthanc
        ? await orthancCensus(orthanc.httpUrl)
        : filesystemCensus(config.archive.filesystem.dir);
      // A child killed inside the filesystem archive's put leaves its temp file; the retry's put
      // of the same object removes it.
      assert.deepEqual(census.strays, [], 'nothing beside the objects');
      assert.deepEqual(
        [...census.copies.keys()].sort(),
        [...sops].sort(),
        'archive holds the study',
      );
      for (const [sop, n] of census.copies) assert.equal(n, 1, `${sop} archived ${n} times`);
      const rows = indexRows(config.index.file);
      for (const sop of sops) assert.deepEqual(rows.get(sop), ['archived']);
      assert.deepEqual(spoolFiles(config.spool.dir, 'queued'), [], 'spool queued/ is empty');
      assert.deepEqual(spoolFiles(config.spool.dir, 'failed'), [], 'spool failed/ is empty');

      const revealed = await wadoStudy(g.httpPort, WORKSTATION_TOKEN, studyUID);
      assert.equal(revealed.size, SLICES);
      for (const bytes of series) {
        const got = revealed.get(sopOf(bytes));
        assert.equal(got?.length, 1, 'one instance per SOP over WADO-RS');
        assertSameDataSet(bytes, got[0]!);
      }

      await g.close();
      gateway = undefined;
      children();
      await eventually(
        () => ([...seen.values()].some(alive) ? undefined : true),
        'every sandbox child gone',
        20_000,
      ).catch(() => {
        const left = [...seen.values()].filter(alive).map((p) => `${p.pid} ${p.command}`);
        assert.fail(`sandbox children outlived the gateway: ${left.join('; ')}`);
      });
      // eslint-disable-next-line no-console
      console.log(
        `      worker-kill/${kind}: ${acknowledged} acknowledged, ${census.copies.size} archived once each, ` +
          `${killed.length} children killed, jobs struck: ${midJob} while protecting, ${starting} while their child started; ` +
          `${seen.size} children seen, 0 failed, no stray file in the archive`,
      );
    });
  });
}

workerKillSuite('dicomweb');
workerKillSuite('filesystem');
