/**
 * What a job processor needs, built once per worker process (a BullMQ sandbox child or an
 * in-process test) and reused for every job: configuration, archive, catalogue, protection keys
 * (with their key cache), audit log, spool layout and the per-instance lock.
 */
import { Redis } from 'ioredis';
import type { Archive } from '../archive/archive';
import type { VeilConfig } from '../config';
import type { Catalogue } from '../index/catalogue';
import { SqliteCatalogue } from '../index/sqlite-catalogue';
import type { Logger } from '../log';
import { JsonLinesAuditLog } from './audit-log';
import type { AuditLog } from './contracts';
import { type InstanceLock, RedisInstanceLock } from './instance-lock';
import { type ProtectionContext, openProtectionContext } from './protection-context';
import { type SpoolLayout, ensureSpool, spoolLayout } from './spool';

/** The dependencies of processProtect / processRevealBatch. */
export interface WorkerContext {
  config: VeilConfig;
  log: Logger;
  layout: SpoolLayout;
  archive: Archive;
  catalogue: Catalogue;
  /** Protect keys (a current key) and reveal keys; opened lazily by the processors. */
  protection(purpose: 'protect' | 'reveal'): Promise<ProtectionContext>;
  audit: AuditLog;
  lock: InstanceLock;
  close(): Promise<void>;
}

/**
 * Environment variables a gateway sets for its worker processes: the effective Redis URL (an
 * embedded Redis has a port only known at run time) and the BullMQ prefix. Not VEIL_* names,
 * because loadConfig rejects VEIL_* variables that are not configuration keys.
 */
export const WORKER_ENV = {
  redisUrl: 'VEILWORKER_REDIS_URL',
  prefix: 'VEILWORKER_PREFIX',
  /** Folder of default.json / <NODE_ENV>.json (the package's config folder). */
  configDir: 'VEILWORKER_CONFIG_DIR',
} as const;

/** Builds a context from explicit pieces; the caller owns what it passes in except `close()`. */
export async function createWorkerContext(options: {
  config: VeilConfig;
  log: Logger;
  redisUrl: string;
  prefix?: string;
  /** The archive (createArchive(config, log)); closed by close() only with ownsArchive. */
  archive: Archive;
  catalogue?: Catalogue;
  /** True when close() should close the archive too (it was built for this context). */
  ownsArchive?: boolean;
}): Promise<WorkerContext> {
  const { config, log } = options;
  const layout = spoolLayout(config.spool.dir);
  await ensureSpool(layout);
  const { archive } = options;
  const catalogue = options.catalogue ?? SqliteCatalogue.open(config.index.file);
  const audit = new JsonLinesAuditLog(config.audit.file);
  const url = new URL(options.redisUrl);
  const redis = new Redis(options.redisUrl, {
    maxRetriesPerRequest: 3,
    ...(url.protocol === 'rediss:' ? { tls: {} } : {}),
  });
  redis.on('error', () => undefined);
  const contexts = new Map<string, Promise<ProtectionContext>>();
  let closing: Promise<void> | undefined;
  return {
    config,
    log,
    layout,
    archive,
    catalogue,
    audit,
    lock: new RedisInstanceLock(redis, options.prefix ?? 'bull'),
    protection(purpose) {
      let ctx = contexts.get(purpose);
      if (!ctx) {
        ctx = openProtectionContext(config, {
          forProtect: purpose === 'protect',
          onKeyGenerated: (key, dir) =>
            log.warn({ keyId: key.keyId, dir }, 'GENERATED A NEW RSA KEY: back up the key folder'),
        });
        // A failed open (no key yet) is retried on the next job, not cached.
        ctx.catch(() => contexts.delete(purpose));
        contexts.set(purpose, ctx);
      }
      // A long-lived worker sees a `veil keys rotate` made while it runs.
      return ctx.then(async (c) => {
        await c.refresh();
        return c;
      });
    },
    close: () =>
      (closing ??= (async () => {
        await Promise.allSettled([
          options.ownsArchive ? archive.close() : Promise.resolve(),
          audit.close(),
          redis.quit().catch(() => redis.disconnect()),
        ]);
        if (!options.catalogue) catalogue.close();
      })()),
  };
}
