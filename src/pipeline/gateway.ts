/**
 * `veil serve`: Redis (configured or embedded), queues, spool intake, archive, index, audit,
 * metrics, the HTTP and DIMSE doors and the worker processes, started in that order and stopped
 * in reverse, so nothing is acknowledged that cannot be queued and no job is lost on shutdown.
 */
import { promises as fs } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import path from 'node:path';
import { createApp } from '../api/app';
import { ensureInitialToken } from '../api/tokens';
import type { Archive } from '../archive/archive';
import { createArchive } from '../archive/create-archive';
import type { VeilConfig } from '../config';
import { startDimseServer } from '../dimse/server';
import { VeilError } from '../errors';
import type { Catalogue } from '../index/catalogue';
import { SqliteCatalogue } from '../index/sqlite-catalogue';
import type { Logger } from '../log';
import { JsonLinesAuditLog } from './audit-log';
import { closeWithin } from './bounded-close';
import { type EmbeddedRedis, startEmbeddedRedis } from './embedded-redis';
import type { GatewayDeps, ReadinessCheck } from './gateway-deps';
import { createMetrics } from './metrics';
import { openProtectionContext } from './protection-context';
import { QueueRetriever } from './queue-retriever';
import {
  DEFAULT_NAMING,
  type PipelineQueues,
  type QueueNaming,
  openQueues,
  redisConnection,
} from './queues';
import { ensureSpool, freeBytes, spoolLayout } from './spool';
import { SpoolIntake } from './spool-intake';
import { watchReconnects } from './reconnect-recovery';
import { type WorkerPool, type WorkerPoolState, startWorkers } from './worker-pool';

/** How long shutdown waits for Redis clients to close politely before dropping them. */
const CLOSE_GRACE_MS = 5_000;
/** How long shutdown lets running jobs finish. */
const WORKER_CLOSE_GRACE_MS = 30_000;

/** A running gateway. */
export interface Gateway {
  readonly httpPort: number;
  readonly dimsePort: number;
  /** The effective Redis URL (the embedded one when redis.url is empty). */
  readonly redisUrl: string;
  readonly deps: GatewayDeps;
  /** Stops accepting, lets in-flight jobs finish, closes queues and stores; safe to call twice. */
  close(): Promise<void>;
}

/** Options of startGateway beyond the configuration. */
export interface GatewayOptions {
  /** Queue names and key prefix (tests); default the names of jobs.ts. */
  naming?: QueueNaming;
  /** Folder of config/default.json for worker children. */
  configDir?: string;
  /** Where the loud first-start notices go (new key, first admin token). Default stderr. */
  notice?: (text: string) => void;
}

/** Starts everything `veil serve` runs; see the file comment. */
export async function startGateway(
  config: VeilConfig,
  log: Logger,
  options: GatewayOptions = {},
): Promise<Gateway> {
  const notice = options.notice ?? ((text: string) => process.stderr.write(`${text}\n`));
  const cleanup: Array<() => Promise<unknown> | unknown> = [];
  const closeAll = async (): Promise<void> => {
    for (const step of cleanup.splice(0).reverse()) {
      try {
        await step();
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'shutdown step failed');
      }
    }
  };
  try {
    return await start(config, log, options, notice, cleanup, closeAll);
  } catch (err) {
    await closeAll();
    throw err;
  }
}

async function start(
  config: VeilConfig,
  log: Logger,
  options: GatewayOptions,
  notice: (text: string) => void,
  cleanup: Array<() => Promise<unknown> | unknown>,
  closeAll: () => Promise<void>,
): Promise<Gateway> {
  // Keys first: a gateway that cannot protect must not accept anything.
  const protection = await openProtectionContext(config, {
    forProtect: true,
    onKeyGenerated: (key, dir) =>
      notice(
        `\n*** Veil generated a new ${config.keys.bits}-bit RSA key ${key.keyId} in ${dir}.\n` +
          '*** Back up this folder: without it, protected images cannot be revealed. ***\n',
      ),
  });
  const firstToken = ensureInitialToken(config);
  if (firstToken) {
    notice(
      `\n*** First start: admin bearer token (shown once, stored hashed in ${config.http.tokensFile}):\n` +
        `***   ${firstToken.token}\n`,
    );
  }

  let embedded: EmbeddedRedis | undefined;
  let redisUrl = config.redis.url;
  if (redisUrl === '') {
    embedded = await startEmbeddedRedis({
      dir: path.join(config.dataDir, 'redis'),
      binary: config.redis.embeddedBinary,
    });
    cleanup.push(() => embedded?.stop());
    redisUrl = embedded.url;
    log.info({ port: embedded.port }, 'started embedded redis-server');
  }
  const connection = redisConnection(redisUrl);
  const queues = await openQueues(config, connection, options.naming ?? DEFAULT_NAMING);
  // Bounded: with Redis down, BullMQ's close would wait for it forever (and so would veil serve).
  cleanup.push(() =>
    closeWithin([queues.protect, queues.reveal, queues.revealEvents], CLOSE_GRACE_MS),
  );
  await queues.protect.waitUntilReady().catch((err: unknown) => {
    throw new VeilError(
      'VEIL_E_QUEUE_UNAVAILABLE',
      `Redis at ${safeUrl(redisUrl)} is unreachable.`,
      {},
      { cause: err },
    );
  });

  const layout = spoolLayout(config.spool.dir);
  await ensureSpool(layout);
  await cleanOutgoing(layout.outgoing);
  const metrics = createMetrics();
  metrics.setQueueDepthSource(() => queueDepths(queues));
  const archive = await createArchive(config, log);
  cleanup.push(() => archive.close());
  const catalogue = SqliteCatalogue.open(config.index.file);
  cleanup.push(() => catalogue.close());
  const audit = new JsonLinesAuditLog(config.audit.file);
  cleanup.push(() => audit.close());
  const intake = await SpoolIntake.open({
    layout,
    minFreeBytes: config.spool.minFreeBytes,
    protectQueue: queues.protect,
    log: log.child({ part: 'intake' }),
    metrics,
  });
  await intake.recoverSpool();
  // And again whenever Redis comes back after an outage (it may have come back empty).
  const recovery = await watchReconnects({
    queue: queues.protect,
    spool: intake,
    log: log.child({ part: 'recovery' }),
  });
  cleanup.push(() => recovery.stop());
  const retriever = new QueueRetriever({
    revealQueue: queues.reveal,
    revealEvents: queues.revealEvents,
    layout,
    audit,
    log: log.child({ part: 'retriever' }),
    metrics,
    maxInFlight: Math.max(2, config.workers.processes * config.workers.concurrency * 2),
    // The workers build the same archive from the same configuration.
    seriesJobs: archive.getSeries !== undefined,
    seriesSize: (series) => catalogue.instancesOf(series).length,
  });

  let workers: WorkerPool | undefined;
  if (config.workers.processes > 0) {
    workers = await startWorkers({
      config,
      log: log.child({ part: 'workers' }),
      connection,
      redisUrl,
      naming: queues.naming,
      count: config.workers.processes,
      concurrency: config.workers.concurrency,
      prewarm: config.workers.prewarm,
      ...(options.configDir ? { configDir: options.configDir } : {}),
      metrics,
    });
    const pool = workers;
    // Jobs get a grace period to finish; then connections are dropped (a job cut short stalls
    // and runs again later: its spool file is still there).
    cleanup.push(() =>
      closeWithin(
        [
          {
            close: () => pool.close(),
            disconnect: () => Promise.allSettled(pool.workers.map((w) => w.disconnect())),
          },
        ],
        WORKER_CLOSE_GRACE_MS,
      ),
    );
  }

  const deps: GatewayDeps = {
    config,
    log,
    intake,
    retriever,
    catalogue,
    archive,
    audit,
    metrics,
    queues: { protect: queues.protect, reveal: queues.reveal },
    readiness: () =>
      readiness({
        queues,
        archive,
        catalogue,
        spoolRoot: layout.root,
        minFree: config.spool.minFreeBytes,
        hasKey: () => protection.keyStore.recipients().length > 0,
        ...(workers ? { workers: workers.state } : {}),
      }),
  };

  const server = await listenHttp(config, createApp(deps));
  cleanup.push(() => closeHttp(server));
  const dimse = await startDimseServer(deps);
  cleanup.push(() => dimse.close());
  const httpPort = (server.address() as net.AddressInfo).port;
  audit.record({
    type: 'ApplicationActivity',
    action: 'E',
    outcome: 'success',
    user: 'veil serve',
  });
  log.info(
    { httpPort, dimsePort: dimse.port, aeTitle: config.dimse.aeTitle, archive: archive.kind },
    'Veil gateway started',
  );

  let closing: Promise<void> | undefined;
  return {
    httpPort,
    dimsePort: dimse.port,
    redisUrl,
    deps,
    close: () =>
      (closing ??= (async () => {
        log.info('Veil gateway stopping');
        audit.record({
          type: 'ApplicationActivity',
          action: 'E',
          outcome: 'success',
          user: 'veil serve stop',
        });
        await closeAll();
      })()),
  };
}

/** The URL without credentials, for messages. */
function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.hostname}:${u.port || 6379}`;
  } catch {
    return 'redis.url';
  }
}

/** Revealed files of requests that died with an earlier process (older than an hour). */
async function cleanOutgoing(dir: string): Promise<void> {
  const limit = Date.now() - 3600_000;
  for (const name of await fs.readdir(dir)) {
    const file = path.join(dir, name);
    const stat = await fs.stat(file).catch(() => undefined);
    if (stat && stat.mtimeMs < limit) await fs.rm(file, { force: true });
  }
}

async function queueDepths(
  queues: PipelineQueues,
): Promise<Record<string, Record<string, number>>> {
  const states = ['waiting', 'active', 'delayed', 'failed', 'completed'] as const;
  return {
    protect: await queues.protect.getJobCounts(...states),
    reveal: await queues.reveal.getJobCounts(...states),
  };
}

async function readiness(o: {
  queues: PipelineQueues;
  archive: Archive;
  catalogue: Catalogue;
  spoolRoot: string;
  minFree: number;
  hasKey: () => boolean;
  /** The state of the workers this process runs; absent when it runs none. */
  workers?: () => WorkerPoolState;
}): Promise<ReadinessCheck[]> {
  const check = async (
    name: ReadinessCheck['name'],
    fn: () => Promise<ReadinessCheck>,
  ): Promise<ReadinessCheck> => {
    try {
      return await fn();
    } catch (err) {
      return { name, ok: false, detail: shortReason(err) };
    }
  };
  return Promise.all([
    check('redis', async () => {
      await withTimeout(o.queues.protect.getJobCounts('waiting'), 2000);
      return { name: 'redis', ok: true };
    }),
    check('archive', async () => {
      const health = await withTimeout(o.archive.health(), 5000);
      return {
        name: 'archive',
        ok: health.ok,
        ...(health.detail ? { detail: health.detail } : {}),
      };
    }),
    check('spool', async () => {
      const free = freeBytes(o.spoolRoot);
      return free >= o.minFree
        ? { name: 'spool', ok: true }
        : { name: 'spool', ok: false, detail: `${free} bytes free, below spool.minFreeBytes` };
    }),
    check('keys', async () =>
      o.hasKey()
        ? { name: 'keys', ok: true }
        : { name: 'keys', ok: false, detail: 'no recipient key' },
    ),
    check('index', async () => {
      o.catalogue.counts();
      return { name: 'index', ok: true };
    }),
    ...(o.workers ? [workersCheck(o.workers())] : []),
  ]);
}

/** Worker children prewarming (workers.prewarm) are not ready yet; one that failed is named. */
function workersCheck(state: WorkerPoolState): ReadinessCheck {
  if (state === 'ready') return { name: 'workers', ok: true };
  return {
    name: 'workers',
    ok: false,
    detail: state === 'starting' ? 'worker children starting' : 'a worker child failed to start',
  };
}

function shortReason(err: unknown): string {
  if (err instanceof VeilError) return err.code;
  const code = (err as NodeJS.ErrnoException)?.code;
  return code ?? ((err as Error)?.message ?? 'error').slice(0, 80);
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('timed out')), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Listens with HTTP, or HTTPS when http.tls.certFile and keyFile are set. */
async function listenHttp(config: VeilConfig, app: http.RequestListener): Promise<http.Server> {
  const { certFile, keyFile } = config.http.tls;
  let server: http.Server;
  if (certFile !== '' || keyFile !== '') {
    if (certFile === '' || keyFile === '') {
      throw new VeilError('VEIL_E_CONFIG_INVALID', 'http.tls needs both certFile and keyFile.');
    }
    let cert: Buffer;
    let key: Buffer;
    try {
      [cert, key] = await Promise.all([fs.readFile(certFile), fs.readFile(keyFile)]);
    } catch (err) {
      throw new VeilError(
        'VEIL_E_CONFIG_INVALID',
        'http.tls certificate or key cannot be read.',
        {},
        { cause: err },
      );
    }
    server = https.createServer({ cert, key }, app);
  } else {
    server = http.createServer(app);
  }
  // WADO-RS of a large study streams for a while: no whole-request timeout.
  server.requestTimeout = 0;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.http.port, config.http.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

/** Stops accepting connections, lets running requests finish (bounded), then drops the rest. */
async function closeHttp(server: http.Server): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const timer = setTimeout(() => server.closeAllConnections(), 10_000);
  await closed;
  clearTimeout(timer);
}
