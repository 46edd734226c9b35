/**
 * The WorkerContext of a worker process (a BullMQ sandbox child), built from the environment the
 * gateway gave it: VEIL_CONFIG (the resolved configuration) and WORKER_ENV; kept for its lifetime.
 */
import { createArchive } from '../archive/create-archive';
import { loadConfig } from '../config';
import { createLogger } from '../log';
import { WORKER_ENV, type WorkerContext, createWorkerContext } from './worker-context';

let processContext: Promise<WorkerContext> | undefined;

/** The context of this worker process, built on first use; a failed build is tried again. */
export function workerContextFromEnv(): Promise<WorkerContext> {
  if (processContext) return processContext;
  const building = (async () => {
    const config = loadConfig({ configDir: process.env[WORKER_ENV.configDir] || undefined });
    const log = createLogger({ level: config.log.level, name: 'veil-worker' });
    const redisUrl = process.env[WORKER_ENV.redisUrl] || config.redis.url;
    if (!redisUrl) throw new Error('No Redis URL for the worker (redis.url is empty).');
    const archive = await createArchive(config, log);
    return createWorkerContext({
      config,
      log,
      redisUrl,
      prefix: process.env[WORKER_ENV.prefix] || undefined,
      archive,
      ownsArchive: true,
    });
  })();
  processContext = building;
  // Redis or the archive settings failing now must not fail every later job of this child.
  building.catch(() => {
    if (processContext === building) processContext = undefined;
  });
  return building;
}

/**
 * Builds the context and opens the keys of `purpose` while the child waits for its first job
 * (prewarmed children: workers.prewarm). A failure here is not reported: the first job builds
 * again and fails with the reason.
 */
export function prepareWorker(purpose: 'protect' | 'reveal'): void {
  workerContextFromEnv()
    .then((ctx) => ctx.protection(purpose))
    .catch(() => undefined);
}

/**
 * Makes a sandbox child exit with its parent (a killed gateway or `veil worker`): on 'disconnect',
 * and on a failed send to the gone parent. BullMQ's child reports an uncaught error to the parent;
 * that send fails (EPIPE), which is uncaught again: a loop of microtasks that spins at full CPU and
 * never lets the 'disconnect' event through (seen with strace in test/faults/gateway-kill).
 */
export function exitWithParent(): void {
  process.on('disconnect', () => process.exit(0));
  process.on('uncaughtException', (err: NodeJS.ErrnoException) => {
    if (!process.connected || err?.code === 'EPIPE' || err?.code === 'ERR_IPC_CHANNEL_CLOSED') {
      process.exit(0);
    }
  });
}
