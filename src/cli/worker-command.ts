/**
 * `veil worker`: protect and reveal workers only, for scaling out. Any number of them, on any
 * machines, share the Redis of redis.url, the spool volume, the index and the archive.
 */
import type { Command } from 'commander';
import { VeilError } from '../errors';
import { createLogger } from '../log';
import { DEFAULT_NAMING, redisConnection } from '../pipeline/queues';
import { startWorkers } from '../pipeline/worker-pool';
import { gatewaySettingsOf, untilSignal } from './serve-command';
import { CONFIG_DIR } from './settings';

/** Registers `veil worker`. */
export function registerWorkerCommand(program: Command): void {
  program
    .command('worker')
    .description(
      'run protect and reveal workers only (workers.concurrency jobs at once), against the Redis of redis.url',
    )
    .action(async (_options: unknown, command: Command) => {
      const config = gatewaySettingsOf(command);
      const log = createLogger({ level: config.log.level, name: 'veil-worker' });
      if (config.redis.url === '') {
        throw new VeilError(
          'VEIL_E_CONFIG_INVALID',
          'veil worker needs the shared Redis: set redis.url (VEIL_REDIS__URL), e.g. redis://redis:6379.',
        );
      }
      const pool = await startWorkers({
        config,
        log,
        connection: redisConnection(config.redis.url),
        redisUrl: config.redis.url,
        naming: DEFAULT_NAMING,
        count: 1,
        concurrency: config.workers.concurrency,
        prewarm: config.workers.prewarm,
        configDir: CONFIG_DIR,
        onKeyGenerated: (key, dir) =>
          process.stderr.write(
            `\n*** Veil generated a new RSA key ${key.keyId} in ${dir}: back up this folder. ***\n`,
          ),
      });
      log.info({ concurrency: config.workers.concurrency }, 'Veil worker started');
      const signal = await untilSignal();
      log.info({ signal }, 'worker stopping: active jobs finish first');
      await pool.close();
      setTimeout(() => process.exit(0), 5000).unref();
    });
}
