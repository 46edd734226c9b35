/**
 * BullMQ Workers for the protect and reveal queues with sandboxed processors (workers/*.ts): each
 * job runs in a child process forked with tsx, so TypeScript processors need no build step. Used
 * by `veil serve` (workers.processes > 0) and `veil worker`.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Child, type ConnectionOptions, Worker } from 'bullmq';
import type { VeilConfig } from '../config';
import type { Logger } from '../log';
import type { ProtectJobResult, RevealJobResult, RevealProgress } from './jobs';
import type { GatewayMetrics } from './metrics';
import { codeOfReason } from './processors';
import { type KeyGeneratedNotice, openProtectionContext } from './protection-context';
import type { QueueNaming } from './queues';
import { WORKER_ENV } from './worker-context';

/** The processor entry points, run by BullMQ in child processes. */
export const PROCESSOR_FILES = {
  protect: path.resolve(__dirname, '..', '..', 'workers', 'protect.ts'),
  reveal: path.resolve(__dirname, '..', '..', 'workers', 'reveal.ts'),
} as const;

/** Options of startWorkers. */
export interface WorkerPoolOptions {
  config: VeilConfig;
  log: Logger;
  connection: ConnectionOptions;
  /** The effective Redis URL, passed to the children (they open their own connections). */
  redisUrl: string;
  naming: QueueNaming;
  /** Worker "processes": BullMQ Workers per queue (workers.processes). */
  count: number;
  /** Sandboxed children per Worker (workers.concurrency). */
  concurrency: number;
  /** Start every Worker's children before it takes its first job (workers.prewarm). */
  prewarm?: boolean;
  /** Folder of config/default.json for the children (the package's config folder). */
  configDir?: string;
  metrics?: GatewayMetrics;
  /** Told when a first key had to be generated (say it loudly). */
  onKeyGenerated?: KeyGeneratedNotice;
}

/**
 * 'starting' while children are being prewarmed, 'failed' when one could not start (until a job
 * completes, which shows they can), else 'ready'. For /readyz.
 */
export type WorkerPoolState = 'starting' | 'ready' | 'failed';

/** Running workers; close() lets active jobs finish, then stops the children. */
export interface WorkerPool {
  readonly workers: Worker[];
  state(): WorkerPoolState;
  close(): Promise<void>;
}

/** The part of BullMQ's ChildPool (Worker#childPool, private in its typings) prewarming uses. */
interface ChildPoolLike {
  retain(processorFile: string): Promise<Child>;
  release(child: Child): void;
  kill(child: Child, signal?: NodeJS.Signals): Promise<void>;
}

/** How long close() waits for children still starting before it stops the workers anyway. */
const PREWARM_CLOSE_WAIT_MS = 15_000;

/**
 * Starts `count` sandbox children of a Worker that is not running yet and puts them in its free
 * pool, where its first jobs find them (BullMQ forks a child only when a job needs one, so a cold
 * child costs the first job its start-up: tsx and every module, ~1 s of CPU). Settles when every
 * child started or failed; true when all started. Children that finish starting after `closed()`
 * are killed, not pooled.
 */
async function prewarm(
  worker: Worker,
  processorFile: string,
  count: number,
  closed: () => boolean,
): Promise<boolean> {
  const pool = (worker as unknown as { childPool?: ChildPoolLike }).childPool;
  if (!pool) return true;
  const started = await Promise.allSettled(
    Array.from({ length: count }, () => pool.retain(processorFile)),
  );
  for (const result of started) {
    if (result.status !== 'fulfilled') continue;
    if (closed()) await pool.kill(result.value, 'SIGTERM').catch(() => undefined);
    else pool.release(result.value);
  }
  return started.every((r) => r.status === 'fulfilled');
}

/**
 * BullMQ 6.7 waits for a forked child's "init completed" message, or for its 'close' event; but
 * its own 'exit' handler removes every listener first, so a child that dies while it loads (a
 * SIGKILL, the OOM killer) leaves its job active for ever. Found by test/faults/worker-kill: make
 * the exit reject the init, so the job's attempt fails and it is retried in a new child.
 */
function rejectInitOnExit(): void {
  type Initialising = Pick<Child, 'once' | 'off'> & {
    initChild(): Promise<void>;
    veilInitOnExit?: true;
  };
  const proto = Child.prototype as unknown as Initialising;
  if (proto.veilInitOnExit) return;
  const initChild = proto.initChild;
  proto.veilInitOnExit = true;
  proto.initChild = function (this: Initialising): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const onExit = (code: number | null, signal: string | null) =>
        reject(new Error(`Sandbox child exited while starting (code ${code}, signal ${signal})`));
      this.once('exit', onExit);
      initChild
        .call(this)
        .then(resolve, reject)
        .finally(() => this.off('exit', onExit));
    });
  };
}

/** Starts `count` Workers on each queue, each running up to `concurrency` sandboxed jobs. */
export async function startWorkers(o: WorkerPoolOptions): Promise<WorkerPool> {
  rejectInitOnExit();
  // The first key is generated here, once: sandbox children doing it at the same time would
  // each write their own key and the key index would keep only one of them.
  await openProtectionContext(o.config, {
    forProtect: true,
    ...(o.onKeyGenerated ? { onKeyGenerated: o.onKeyGenerated } : {}),
  });
  const runDir = path.join(o.config.dataDir, 'run');
  await fs.mkdir(runDir, { recursive: true, mode: 0o700 });
  // The children load exactly this configuration: the resolved config as their VEIL_CONFIG layer.
  const configFile = path.join(runDir, `worker-config.${process.pid}.${Date.now()}.json`);
  await fs.writeFile(configFile, JSON.stringify(o.config), { mode: 0o600 });
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('VEIL_')) env[k] = v;
  env.VEIL_CONFIG = configFile;
  env[WORKER_ENV.redisUrl] = o.redisUrl;
  if (o.naming.prefix) env[WORKER_ENV.prefix] = o.naming.prefix;
  if (o.configDir) env[WORKER_ENV.configDir] = o.configDir;
  const tsx = pathToFileURL(require.resolve('tsx')).href;
  const execArgv = [...process.execArgv.filter((a) => !a.startsWith('--inspect')), '--import', tsx];
  const common = {
    connection: o.connection,
    concurrency: o.concurrency,
    useWorkerThreads: false,
    // A job whose worker process died (a killed gateway or `veil worker`) is "stalled" and goes
    // back to wait; past maxStalledCount it would fail, so a stall counts like a failed attempt.
    maxStalledCount: o.config.jobs.attempts,
    workerForkOptions: { execArgv, env },
    ...(o.naming.prefix ? { prefix: o.naming.prefix } : {}),
    // Prewarmed Workers start taking jobs once their children are up (below).
    autorun: !o.prewarm,
  };
  const started: Array<{ worker: Worker; file: string }> = [];
  let state: WorkerPoolState = o.prewarm ? 'starting' : 'ready';
  for (let i = 0; i < o.count; i += 1) {
    for (const queue of ['protect', 'reveal'] as const) {
      const file = PROCESSOR_FILES[queue];
      const worker = new Worker<unknown, ProtectJobResult | RevealJobResult>(
        o.naming[queue],
        file,
        common,
      );
      observe(worker, queue, o);
      // A completed job shows the children start: a failed prewarm no longer holds readiness back.
      worker.on('completed', () => (state = 'ready'));
      started.push({ worker, file });
    }
  }
  const workers = started.map((s) => s.worker);
  let closed = false;
  const warming = o.prewarm
    ? Promise.all(
        started.map(async ({ worker, file }) => {
          const ok = await prewarm(worker, file, o.concurrency, () => closed);
          // Run even when a child failed to start: each job then forks its own, as without prewarm.
          if (!closed) worker.run().catch((err: Error) => worker.emit('error', err));
          return ok;
        }),
      ).then((oks) => {
        if (oks.every(Boolean)) {
          if (state === 'starting') state = 'ready';
          o.log.info({ children: oks.length * o.concurrency }, 'worker children started');
        } else if (state === 'starting') {
          state = 'failed';
          o.log.warn('a worker child failed to start; jobs will start their own');
        }
      })
    : Promise.resolve();
  let closing: Promise<void> | undefined;
  return {
    workers,
    state: () => state,
    close: () =>
      (closing ??= (async () => {
        closed = true;
        // Children still starting are waited for (then killed, not pooled), within a bound.
        await Promise.race([warming, delay(PREWARM_CLOSE_WAIT_MS)]);
        await Promise.allSettled(workers.map((w) => w.close()));
        await fs.rm(configFile, { force: true });
      })()),
  };
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** Metrics and logs of finished jobs, recorded in this (scraped) process, not in the children. */
function observe(worker: Worker, queue: 'protect' | 'reveal', o: WorkerPoolOptions): void {
  const log = o.log.child({ queue });
  worker.on('error', (err) => log.warn({ err: err.message }, 'worker error'));
  worker.on('completed', (job) => {
    if (job.processedOn && job.finishedOn) {
      o.metrics?.jobDuration.observe({ queue }, (job.finishedOn - job.processedOn) / 1000);
    }
    const result = job.returnvalue as Partial<ProtectJobResult> | undefined;
    if (queue === 'protect' && result?.archivedBytes) {
      o.metrics?.instancesProtected.inc();
      o.metrics?.bytesProtected.inc(result.archivedBytes);
    }
    log.debug({ jobId: job.id }, 'job completed');
  });
  // A reveal job goes on when one of its instances is refused (tampered, stale): each refusal is
  // a failed reveal, counted when the job reports it (once, whichever attempt settled it).
  worker.on('progress', (_job, progress) => {
    const settled = (progress as Partial<RevealProgress> | undefined)?.settled;
    for (const [, outcome] of (queue === 'reveal' && Array.isArray(settled) && settled) || []) {
      if (!outcome.ok) o.metrics?.failures.inc({ code: outcome.code, stage: queue });
    }
  });
  worker.on('failed', (job, err) => {
    const code = codeOfReason(err.message) ?? 'internal';
    const final = !job || job.finishedOn !== undefined || err.name === 'UnrecoverableError';
    if (final) o.metrics?.failures.inc({ code, stage: queue });
    log.warn({ jobId: job?.id, code, attemptsMade: job?.attemptsMade }, 'job attempt failed');
  });
}
