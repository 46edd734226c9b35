/**
 * The BullMQ side of the pipeline: one ioredis connection option set, the protect and reveal
 * queues with Veil's default job options, and the QueueEvents retrieval listens to.
 */
import { type ConnectionOptions, type DefaultJobOptions, Queue, QueueEvents } from 'bullmq';
import type { VeilConfig } from '../config';
import { VeilError } from '../errors';
import { QueueName } from './jobs';

/** Queue names and Redis key prefix; tests give their own so they never meet other runs. */
export interface QueueNaming {
  protect: string;
  reveal: string;
  /** BullMQ key prefix (default 'bull'). */
  prefix?: string;
}

/** The standard names of ./jobs.ts. */
export const DEFAULT_NAMING: QueueNaming = { protect: QueueName.Protect, reveal: QueueName.Reveal };

/**
 * Connection options for BullMQ from a redis:// or rediss:// URL. `maxRetriesPerRequest: null`
 * is what BullMQ workers require (blocking commands must wait through reconnects).
 */
export function redisConnection(url: string): ConnectionOptions {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new VeilError('VEIL_E_CONFIG_INVALID', 'redis.url is not a valid redis:// URL.');
  }
  const db = parsed.pathname.length > 1 ? Number(parsed.pathname.slice(1)) : 0;
  return {
    host: parsed.hostname || '127.0.0.1',
    port: parsed.port ? Number(parsed.port) : 6379,
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    ...(Number.isInteger(db) && db > 0 ? { db } : {}),
    ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
    maxRetriesPerRequest: null,
  };
}

/**
 * Default job options: `jobs.attempts` attempts with exponential backoff from `jobs.backoffMs`;
 * completed jobs kept an hour (at most 1000), failed jobs kept for the administrator.
 */
export function defaultJobOptions(config: VeilConfig): DefaultJobOptions {
  return {
    attempts: config.jobs.attempts,
    backoff: { type: 'exponential', delay: config.jobs.backoffMs },
    removeOnComplete: { age: 3600, count: 1000 },
    removeOnFail: false,
  };
}

/** The two queues and the reveal queue's events, closed together. */
export interface PipelineQueues {
  protect: Queue;
  reveal: Queue;
  /** Completed / failed events of reveal jobs, for the Retriever. */
  revealEvents: QueueEvents;
  naming: QueueNaming;
  connection: ConnectionOptions;
  /** Closes queues and events; safe to call twice. */
  close(): Promise<void>;
}

/** Opens the protect and reveal queues on `connection`. */
export async function openQueues(
  config: VeilConfig,
  connection: ConnectionOptions,
  naming: QueueNaming = DEFAULT_NAMING,
): Promise<PipelineQueues> {
  const common = { connection, ...(naming.prefix ? { prefix: naming.prefix } : {}) };
  const jobOptions = defaultJobOptions(config);
  const protect = new Queue(naming.protect, { ...common, defaultJobOptions: jobOptions });
  // Reveal results are only useful to the requester waiting for them: drop completed ones soon.
  const reveal = new Queue(naming.reveal, {
    ...common,
    defaultJobOptions: { ...jobOptions, removeOnComplete: { age: 300, count: 1000 } },
  });
  const revealEvents = new QueueEvents(naming.reveal, common);
  // Errors surface through the calls that need Redis (intake, retrieval); do not crash on them.
  protect.on('error', () => undefined);
  reveal.on('error', () => undefined);
  revealEvents.on('error', () => undefined);
  let closing: Promise<void> | undefined;
  return {
    protect,
    reveal,
    revealEvents,
    naming,
    connection,
    close: () =>
      (closing ??= Promise.allSettled([protect.close(), reveal.close(), revealEvents.close()]).then(
        () => undefined,
      )),
  };
}
