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
