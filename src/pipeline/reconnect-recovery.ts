/**
 * Spool recovery after a Redis outage. A Redis that restarts empty (no persistence, a lost disk)
 * or without its last second of writes has forgotten the protect jobs of instances Veil already
 * acknowledged; only the spool still holds them. So each time the protect queue's connection is
 * ready again after it was lost, every queued spool file without a pending job gets one.
 */
import type { Queue } from 'bullmq';
import { isVeilError } from '../errors';
import type { Logger } from '../log';

/** What the watcher needs from the intake. */
export interface RecoverableSpool {
  /** Enqueues a job for every queued file without a pending one; resolves to the number added. */
  recoverSpool(): Promise<number>;
}

/** Options of watchReconnects. */
export interface ReconnectRecoveryOptions {
  queue: Queue;
  spool: RecoverableSpool;
  log: Logger;
  /** A recovery that failed (Redis gone again mid-way) is retried after this long. Default 10 s. */
  retryMs?: number;
}

/** A running watcher. */
export interface ReconnectRecovery {
  /** Recoveries run so far (for tests and logs). */
  readonly runs: number;
  /** Stops watching and resolves once a running recovery ended. Safe to call twice. */
  stop(): Promise<void>;
}

/** Watches the protect queue's Redis connection; see the file comment. */
export async function watchReconnects(o: ReconnectRecoveryOptions): Promise<ReconnectRecovery> {
  const client = await o.queue.getBackend().client;
  let lost = false;
  let stopped = false;
  let again = false;
  let runs = 0;
  let running: Promise<void> | undefined;
  let retry: NodeJS.Timeout | undefined;

  const recover = async (): Promise<void> => {
    do {
      again = false;
      runs += 1;
      try {
        const added = await o.spool.recoverSpool();
        o.log.info({ added }, 'Redis is back: spool recovery done');
      } catch (err) {
        o.log.warn(
          { code: isVeilError(err) ? err.code : (err as Error).message },
          'spool recovery after a Redis outage failed; retrying',
        );
        if (!stopped) {
          clearTimeout(retry);
          retry = setTimeout(run, o.retryMs ?? 10_000);
          retry.unref();
        }
      }
    } while (again && !stopped);
  };
  const run = (): void => {
    if (stopped) return;
    if (running) {
      again = true; // a second reconnect during a recovery: go round once more
      return;
    }
    running = recover().finally(() => {
      running = undefined;
    });
  };
  const onLost = (): void => {
    lost = true;
  };
  const onReady = (): void => {
    if (!lost) return;
    lost = false;
    o.log.warn('the job queue (Redis) reconnected after an outage');
    run();
  };
  client.on('close', onLost);
  client.on('end', onLost);
  client.on('ready', onReady);

  let stopping: Promise<void> | undefined;
  return {
    get runs() {
      return runs;
    },
    stop: () =>
      (stopping ??= (async () => {
        stopped = true;
        clearTimeout(retry);
        client.off('close', onLost);
        client.off('end', onLost);
        client.off('ready', onReady);
        await running;
      })()),
  };
}
