/**
 * A running HTTP door over the real pipeline for the API tests: a private redis-server, BullMQ
 * queues, SpoolIntake, QueueRetriever, SqliteCatalogue, FilesystemArchive, the JSON lines audit
 * log, in-process protect/reveal workers, and the app listening on 127.0.0.1:0.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { Worker } from 'bullmq';
import pino from 'pino';
import { createApp } from '../../src/api/app';
import { formatTokenEntry } from '../../src/api/tokens';
import { FilesystemArchive } from '../../src/archive/filesystem-archive';
import type { VeilConfig } from '../../src/config';
import { SqliteCatalogue } from '../../src/index/sqlite-catalogue';
import { JsonLinesAuditLog } from '../../src/pipeline/audit-log';
import type { AuditEvent } from '../../src/pipeline/contracts';
import type { EmbeddedRedis } from '../../src/pipeline/embedded-redis';
import type { GatewayDeps, ReadinessCheck } from '../../src/pipeline/gateway-deps';
import { createMetrics } from '../../src/pipeline/metrics';
import { processProtect, processRevealBatch } from '../../src/pipeline/processors';
import { QueueRetriever } from '../../src/pipeline/queue-retriever';
import { openQueues, redisConnection, type PipelineQueues } from '../../src/pipeline/queues';
import { spoolLayout } from '../../src/pipeline/spool';
import { SpoolIntake } from '../../src/pipeline/spool-intake';
import { createWorkerContext, type WorkerContext } from '../../src/pipeline/worker-context';
import { startTestRedis, testConfig, uniqueNaming } from '../pipeline/harness';

/** The tokens every API test uses, one per role. */
export const TOKENS = {
  modality: 'test-modality-token',
  workstation: 'test-workstation-token',
  admin: 'test-admin-token',
} as const;

/** A running gateway door and the pieces behind it. */
export interface TestGateway {
  url: string;
  deps: GatewayDeps;
  config: VeilConfig;
  dir: string;
  /** Every log line written so far (JSON text). */
  logText(): string;
  /** Audit events recorded so far (also written to the audit file). */
  audits: AuditEvent[];
  /** Replaces the readiness probe (for the 503 test). */
  setReadiness(fn: () => Promise<ReadinessCheck[]>): void;
  /** Runs the in-process workers (protect and reveal). */
  workers: Worker[];
  close(): Promise<void>;
}

/** Authorization header for a role's token. */
export function bearer(role: keyof typeof TOKENS): Record<string, string> {
  return { authorization: `Bearer ${TOKENS[role]}` };
}

/** Starts everything; `overrides` are VEIL_* style config overrides. */
export async function startGateway(overrides: Record<string, string> = {}): Promise<TestGateway> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'veil-api-'));
  let redis: EmbeddedRedis | undefined;
  let queues: PipelineQueues | undefined;
  let ctx: WorkerContext | undefined;
  const workers: Worker[] = [];
  let server: Server | undefined;
  try {
    redis = await startTestRedis(dir);
    const tokens = Object.entries(TOKENS).map(([role, token]) =>
      formatTokenEntry(role, role as keyof typeof TOKENS, token),
    );
    const config = testConfig(dir, { VEIL_HTTP__TOKENS: JSON.stringify(tokens), ...overrides });
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString('utf8'));
        done();
      },
    });
    const log = pino({ level: 'debug' }, sink);
    const naming = uniqueNaming();
    const connection = redisConnection(redis.url);
    queues = await openQueues(config, connection, naming);
    const metrics = createMetrics({ defaultMetrics: false });
    const layout = spoolLayout(config.spool.dir);
    const catalogue = SqliteCatalogue.open(config.index.file);
    const archive = new FilesystemArchive(config.archive.filesystem.dir);
    const fileAudit = new JsonLinesAuditLog(config.audit.file);
    const audits: AuditEvent[] = [];
    const audit = {
      record(event: AuditEvent) {
        audits.push(event);
        fileAudit.record(event);
      },
      close: () => fileAudit.close(),
    };
    const intake = await SpoolIntake.open({
      layout,
      minFreeBytes: config.spool.minFreeBytes,
      protectQueue: queues.protect,
      log,
      metrics,
    });
    const retriever = new QueueRetriever({
      revealQueue: queues.reveal,
      revealEvents: queues.revealEvents,
      layout,
      audit,
      log,
      metrics,
    });
    const processorContext = await createWorkerContext({
      config,
      log,
      redisUrl: redis.url,
      prefix: naming.prefix,
      archive,
      catalogue,
    });
    ctx = processorContext;
    const common = { connection, prefix: naming.prefix, concurrency: 2 };
    workers.push(
      new Worker(naming.protect, (job) => processProtect(processorContext, job), common),
      new Worker(naming.reveal, (job) => processRevealBatch(processorContext, job), common),
    );
    for (const w of workers) w.on('error', () => undefined);
    let readiness = async (): Promise<ReadinessCheck[]> => [
      { name: 'redis', ok: true },
      { name: 'archive', ok: (await archive.health()).ok },
    ];
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
      readiness: () => readiness(),
    };
    const app = createApp(deps);
    server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    const { port } = server.address() as AddressInfo;
    const running = { redis, queues, ctx: processorContext, server };
    let closing: Promise<void> | undefined;
    return {
      url: `http://127.0.0.1:${port}`,
      deps,
      config,
      dir,
      logText: () => lines.join(''),
      audits,
      workers,
      setReadiness(fn) {
        readiness = fn;
      },
      close: () =>
        (closing ??= (async () => {
          running.server.closeAllConnections();
          await new Promise<void>((resolve) => running.server.close(() => resolve()));
          await Promise.allSettled(workers.map((w) => w.close()));
          await running.ctx.close();
          await running.queues.close();
          catalogue.close();
          await archive.close();
          await fileAudit.close();
          await running.redis.stop();
          rmSync(dir, { recursive: true, force: true });
        })()),
    };
  } catch (err) {
    server?.close();
    await Promise.allSettled(workers.map((w) => w.close()));
    await ctx?.close();
    await queues?.close();
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
