/**
 * The WorkerContext of a worker process (a BullMQ sandbox child), built from the environment the
 * gateway gave it: VEIL_CONFIG (the resolved configuration) and WORKER_ENV; kept for its lifetime.
 */
import { createArchive } from '../archive/create-archive';
import { loadConfig } from '../config';
import { createLogger } from '../log';
import { WORKER_ENV, type WorkerContext, createWorkerContext } from './worker-context';

let processContext: Promise<WorkerContext> | undefined;

/** The context of this worker process, built on first use. */
export function workerContextFromEnv(): Promise<WorkerContext> {
  return (processContext ??= (async () => {
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
  })());
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
