/**
 * What the doors (HTTP app, DIMSE listener) are given: built once by `veil serve` (src/pipeline/
 * gateway.ts) and passed in, so each door is testable in-process with the real pieces.
 */
import type { Queue } from 'bullmq';
import type { Archive } from '../archive/archive';
import type { VeilConfig } from '../config';
import type { Catalogue } from '../index/catalogue';
import type { Logger } from '../log';
import type { AuditLog, Intake, Retriever } from './contracts';
import type { GatewayMetrics } from './metrics';

/** One dependency's readiness, for /readyz. */
export interface ReadinessCheck {
  name: 'redis' | 'archive' | 'spool' | 'keys' | 'index' | 'workers';
  ok: boolean;
  /** Short reason when not ok; never patient data or secrets. */
  detail?: string;
}

export interface GatewayDeps {
  config: VeilConfig;
  log: Logger;
  intake: Intake;
  retriever: Retriever;
  catalogue: Catalogue;
  archive: Archive;
  audit: AuditLog;
  metrics: GatewayMetrics;
  /** The BullMQ queues, for Bull Board and the admin API (failed jobs, retry). */
  queues: { protect: Queue; reveal: Queue };
  /** Readiness of every dependency (Redis, archive, spool space, keys, index). */
  readiness(): Promise<ReadinessCheck[]>;
}
