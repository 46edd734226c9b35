import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { FilesystemArchive } from '../../src/archive/filesystem-archive';
import { Tags, parsePart10 } from '../../src/dicom';
import type { VeilConfig } from '../../src/config';
import { silentLogger } from '../../src/log';
import { JsonLinesAuditLog } from '../../src/pipeline/audit-log';
import type { Retrieved } from '../../src/pipeline/contracts';
import type { EmbeddedRedis } from '../../src/pipeline/embedded-redis';
import { protectJobId } from '../../src/pipeline/jobs';
import { createMetrics } from '../../src/pipeline/metrics';
import { QueueRetriever } from '../../src/pipeline/queue-retriever';
import {
  DEFAULT_NAMING,
  type PipelineQueues,
  type QueueNaming,
  openQueues,
  redisConnection,
} from '../../src/pipeline/queues';
import { spoolLayout } from '../../src/pipeline/spool';
import { SpoolIntake } from '../../src/pipeline/spool-intake';
import {
  type WorkerPool,
  type WorkerPoolOptions,
  startWorkers,
} from '../../src/pipeline/worker-pool';
import { CONFIG_DIR } from '../../src/cli/settings';
import { generateCtSeries } from '../../samples/generate';
import { assertSameInstance } from '../helpers/compare';
import { tempDir } from '../helpers/tools';
import { eventually, startTestRedis, testConfig, uniqueNaming } from './harness';

const VEIL = path.join(__dirname, '..', '..', 'bin', 'veil');

function refOf(bytes: Buffer) {
  const ds = parsePart10(bytes).dataset;
  return {
    studyInstanceUID: ds.string(Tags.StudyInstanceUID)!,
    seriesInstanceUID: ds.string(Tags.SeriesInstanceUID)!,
    sopInstanceUID: ds.string(Tags.SOPInstanceUID)!,
  };
}

/** Sandbox children of this process that were not in `before`. */
function newSandboxChildren(before: ReadonlySet<number>): number[] {
  return childrenOf(process.pid, /bullmq/).filter((pid) => !before.has(pid));
}

/** Hands each instance to the intake as a door would (temp file, then accept). */
async function acceptAll(intake: SpoolIntake, instances: Buffer[]): Promise<void> {
  for (const bytes of instances) {
    const temp = intake.tempPath();
    writeFileSync(temp, bytes);
    await intake.accept(temp, { kind: 'dimse', who: 'CT' });
  }
}

/** Pids of the direct children of `pid` whose command line matches `pattern`. */
function childrenOf(pid: number, pattern: RegExp): number[] {
  let out = '';
  try {
    out = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(pid)], { encoding: 'utf8' });
  } catch {
    return []; // ps exits 1 when there are none
  }
  return out
    .split('\n')
    .filter((line) => pattern.test(line))
    .map((line) => Number(line.trim().split(/\s+/)[0]));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('pipeline/worker-pool (Redis, sandboxed child processes)', function () {
  this.timeout(180_000);
  let tmp: ReturnType<typeof tempDir>;
  let redis: EmbeddedRedis;

  before(async () => {
    tmp = tempDir('veil-workers-');
    redis = await startTestRedis(tmp.dir);
  });
  after(async () => {
    await redis.stop();
    tmp.cleanup();
  });

  /** Workers on `naming` with one process, two children per queue, as the gateway runs them. */
  function startPool(
    config: VeilConfig,
    naming: QueueNaming,
    extra: Partial<WorkerPoolOptions> = {},
  ): Promise<WorkerPool> {
    return startWorkers({
      config,
      log: silentLogger,
      connection: redisConnection(redis.url),
      redisUrl: redis.url,
      naming,
      count: 1,
      concurrency: 2,
      configDir: CONFIG_DIR,
      ...extra,
    });
  }

  describe('in-process workers with sandboxed processors', () => {
    let queues: PipelineQueues;
    let pool: WorkerPool;
    let intake: SpoolIntake;
    let retriever: QueueRetriever;
    let audit: JsonLinesAuditLog;
    const metrics = createMetrics({ defaultMetrics: false });
    const config = () => testConfig(path.join(tmp.dir, 'inproc'));

    before(async () => {
      const naming = uniqueNaming();
      queues = await openQueues(config(), redisConnection(redis.url), naming);
      const layout = spoolLayout(config().spool.dir);
      intake = await SpoolIntake.open({
        layout,
        minFreeBytes: 0,
        protectQueue: queues.protect,
        log: silentLogger,
      });
      audit = new JsonLinesAuditLog(path.join(tmp.dir, 'retriever-audit.jsonl'));
      retriever = new QueueRetriever({
        revealQueue: queues.reveal,
        revealEvents: queues.revealEvents,
        layout,
        audit,
        log: silentLogger,
        metrics,
        maxInFlight: 2,
      });
      pool = await startPool(config(), naming, { metrics });
    });
    after(async () => {
      await pool?.close();
      await queues?.close();
      await audit?.close();
    });

    it('protects in child processes and streams revealed originals back, tampered ones as failures', async () => {
      const series = generateCtSeries({ slices: 3, rows: 64, columns: 64 });
      await acceptAll(intake, series);
      await eventually(
        async () =>
          (await queues.protect.getJobCounts('completed')).completed === 3 ? true : undefined,
        'three protect jobs',
      );
      // Tamper with the archived copy of the last slice.
      const archive = new FilesystemArchive(config().archive.filesystem.dir);
      const victim = refOf(series[2]);
      const stored = readFileSync(archive.pathOf(victim));
      stored[stored.length - 20] ^= 0x01;
      writeFileSync(archive.pathOf(victim), stored);

      const results = new Map<string, Retrieved>();
      for (const item of await collect(retriever.retrieve(series.map(refOf), 'WORKSTATION'))) {
        results.set(item.ref.sopInstanceUID, item);
      }
      assert.equal(results.size, 3);
      for (const bytes of series.slice(0, 2)) {
        const item = results.get(refOf(bytes).sopInstanceUID)!;
        assert.ok(item.ok, JSON.stringify(item));
        assertSameInstance(bytes, readFileSync(item.path));
        await item.release();
        assert.throws(() => readFileSync(item.path));
      }
      const bad = results.get(victim.sopInstanceUID)!;
      assert.equal(bad.ok, false);
      assert.equal(!bad.ok && bad.code, 'VEIL_E_REVEAL_PIXELS_TAMPERED');
      await audit.close();
      const lines = readFileSync(path.join(tmp.dir, 'retriever-audit.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      assert.ok(
        lines.some(
          (e) =>
            e.type === 'SecurityAlert' &&
            e.errorCode === 'VEIL_E_REVEAL_PIXELS_TAMPERED' &&
            e.sopInstanceUIDs[0] === victim.sopInstanceUID,
        ),
      );
      assert.equal((await metrics.instancesRevealed.get()).values[0].value, 2);
      assert.equal((await metrics.instancesProtected.get()).values[0].value, 3);
    });
  });

  describe('prewarmed workers (workers.prewarm)', () => {
    it('starts every sandbox child before the first job, runs jobs in them, and stops them on close', async () => {
      const dir = path.join(tmp.dir, 'prewarm');
      const config = testConfig(dir);
      const naming = uniqueNaming();
      const queues = await openQueues(config, redisConnection(redis.url), naming);
      const before = new Set(childrenOf(process.pid, /bullmq/));
      let pool: WorkerPool | undefined;
      try {
        pool = await startPool(config, naming, { prewarm: true });
        assert.equal(pool.state(), 'starting');
        const running = pool;
        await eventually(
          () => (running.state() === 'ready' ? true : undefined),
          'the children to start',
          120_000,
        );
        const warm = newSandboxChildren(before);
        // Two children for each of the two Workers (protect, reveal), with no job run yet.
        assert.equal(warm.length, 4, `prewarmed children: ${warm.join(', ')}`);
        assert.deepEqual(await queues.protect.getJobCounts('completed', 'active'), {
          completed: 0,
          active: 0,
        });

        const intake = await SpoolIntake.open({
          layout: spoolLayout(config.spool.dir),
          minFreeBytes: 0,
          protectQueue: queues.protect,
          log: silentLogger,
        });
        await acceptAll(intake, generateCtSeries({ slices: 2, rows: 32, columns: 32 }));
        await eventually(
          async () =>
            (await queues.protect.getJobCounts('completed')).completed === 2 ? true : undefined,
          'two protect jobs',
          120_000,
        );
        // The jobs ran in the prewarmed children: none was forked for them.
        const after = newSandboxChildren(before);
        assert.deepEqual(after.sort(), warm.sort());

        await pool.close();
        pool = undefined;
        await eventually(
          () => (warm.every((pid) => !alive(pid)) ? true : undefined),
          'the prewarmed children to exit',
          30_000,
        );
      } finally {
        await pool?.close();
        await queues.close();
      }
    });

    it('stops children still starting when it is closed at once', async () => {
      const dir = path.join(tmp.dir, 'prewarm-close');
      const config = testConfig(dir);
      const naming = uniqueNaming();
      const before = new Set(childrenOf(process.pid, /bullmq/));
      const pool = await startPool(config, naming, { prewarm: true });
      const starting = newSandboxChildren(before);
      await pool.close();
      assert.ok(starting.length > 0, 'children were being started when close was called');
      await eventually(
        () => (newSandboxChildren(before).length === 0 ? true : undefined),
        'no child left after close',
        30_000,
      );
    });
  });

  describe('veil worker process', () => {
    let worker: ChildProcess | undefined;
    after(() => {
      if (worker?.exitCode === null) worker.kill('SIGKILL');
    });

    it('leaves no orphaned sandbox children when it is killed', async () => {
      const dir = path.join(tmp.dir, 'worker-cli');
      const config = testConfig(dir, { VEIL_REDIS__URL: redis.url });
      worker = spawn(process.execPath, [VEIL, '--data-dir', dir, 'worker'], {
        env: {
          ...process.env,
          VEIL_REDIS__URL: redis.url,
          VEIL_KEYS__BITS: '2048',
          VEIL_LOG__LEVEL: 'silent',
          VEIL_SPOOL__MIN_FREE_BYTES: '0',
        },
        stdio: 'ignore',
      });
      const queues = await openQueues(config, redisConnection(redis.url), DEFAULT_NAMING);
      try {
        const intake = await SpoolIntake.open({
          layout: spoolLayout(path.join(dir, 'spool')),
          minFreeBytes: 0,
          protectQueue: queues.protect,
          log: silentLogger,
        });
        const [bytes] = generateCtSeries({ slices: 1, rows: 32, columns: 32 });
        const temp = intake.tempPath();
        writeFileSync(temp, bytes);
        const { sopInstanceUID } = await intake.accept(temp, { kind: 'stow', who: 'test' });
        await eventually(
          async () =>
            (await (await queues.protect.getJob(protectJobId(sopInstanceUID)))?.getState()) ===
            'completed'
              ? true
              : undefined,
          'the protect job',
          120_000,
        );
      } finally {
        await queues.close();
      }
      const children = childrenOf(worker.pid!, /bullmq/);
      assert.ok(children.length >= 1, 'a sandbox child runs the processor');
      worker.kill('SIGKILL');
      await eventually(
        () => (children.every((pid) => !alive(pid)) ? true : undefined),
        'the sandbox children to exit',
        30_000,
      );
    });
  });
});

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}
