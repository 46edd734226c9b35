/**
 * Prometheus metrics of the gateway (prom-client), one registry per process. Labels carry doors,
 * queues, states and error codes only: never UIDs, names or any patient value.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface GatewayMetrics {
  readonly registry: Registry;
  /** Instances acknowledged by a door. */
  readonly instancesReceived: Counter<'door'>;
  readonly instancesProtected: Counter;
  readonly bytesProtected: Counter;
  readonly instancesRevealed: Counter;
  readonly bytesRevealed: Counter;
  /** Failures by stable error code and stage (intake, protect, reveal, query, auth). */
  readonly failures: Counter<'code' | 'stage'>;
  /** Job processing time by queue. */
  readonly jobDuration: Histogram<'queue'>;
  /** Storage commitment reports, by outcome: committed (all), failed (some), undelivered. */
  readonly storageCommitments: Counter<'outcome'>;
  /** Jobs per queue and state, refreshed on each scrape by `setQueueDepthSource`. */
  readonly queueDepth: Gauge<'queue' | 'state'>;
  /** Installs the function that reads queue depths (BullMQ getJobCounts) when /metrics is scraped. */
  setQueueDepthSource(source: () => Promise<Record<string, Record<string, number>>>): void;
}

/** Creates the registry and the gateway's metrics (plus Node's default process metrics). */
export function createMetrics(options: { defaultMetrics?: boolean } = {}): GatewayMetrics {
  const registry = new Registry();
  if (options.defaultMetrics !== false)
    collectDefaultMetrics({ register: registry, prefix: 'veil_' });
  let depthSource: (() => Promise<Record<string, Record<string, number>>>) | undefined;
  const queueDepth = new Gauge({
    name: 'veil_queue_jobs',
    help: 'Jobs per queue and state.',
    labelNames: ['queue', 'state'] as const,
    registers: [registry],
    async collect() {
      if (!depthSource) return;
      try {
        const depths = await depthSource();
        for (const [queue, states] of Object.entries(depths)) {
          for (const [state, n] of Object.entries(states)) this.set({ queue, state }, n);
        }
      } catch {
        // Redis down: the scrape still answers; /readyz says what is wrong.
      }
    },
  });
  return {
    registry,
    instancesReceived: new Counter({
      name: 'veil_instances_received_total',
      help: 'Instances acknowledged (spooled and queued), by door.',
      labelNames: ['door'] as const,
      registers: [registry],
    }),
    instancesProtected: new Counter({
      name: 'veil_instances_protected_total',
      help: 'Instances protected and archived.',
      registers: [registry],
    }),
    bytesProtected: new Counter({
      name: 'veil_bytes_protected_total',
      help: 'Bytes of protected objects archived.',
      registers: [registry],
    }),
    instancesRevealed: new Counter({
      name: 'veil_instances_revealed_total',
      help: 'Instances revealed and delivered.',
      registers: [registry],
    }),
    bytesRevealed: new Counter({
      name: 'veil_bytes_revealed_total',
      help: 'Bytes of revealed instances delivered.',
      registers: [registry],
    }),
    failures: new Counter({
      name: 'veil_failures_total',
      help: 'Failures by error code and stage.',
      labelNames: ['code', 'stage'] as const,
      registers: [registry],
    }),
    jobDuration: new Histogram({
      name: 'veil_job_duration_seconds',
      help: 'Time to process one job, by queue.',
      labelNames: ['queue'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    storageCommitments: new Counter({
      name: 'veil_storage_commitments_total',
      help: 'Storage commitment reports (N-EVENT-REPORT): committed, failed (some instances), undelivered.',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    queueDepth,
    setQueueDepthSource(source) {
      depthSource = source;
    },
  };
}
