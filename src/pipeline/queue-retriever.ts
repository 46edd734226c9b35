/**
 * Retriever over the reveal queue: the instances of a retrieval go out in reveal jobs of a few
 * instances each (one queue hand-off per batch, the archive read ahead inside it), or of a whole
 * series where the archive reads a series in one request, at most `maxInFlight` jobs at once; each
 * instance is yielded as soon as its job reports it revealed (a progress event), so a study
 * streams out while the rest is revealed.
 */
import path from 'node:path';
import type { Queue, QueueEvents } from 'bullmq';
import type { InstanceRef, SeriesRef } from '../archive/archive';
import type { Logger } from '../log';
import type { AuditLog, RetrieveOptions, Retrieved, Retriever } from './contracts';
import {
  MAX_REVEAL_BATCH,
  type RevealItem,
  type RevealJobData,
  type RevealJobResult,
  type RevealOutcome,
  type RevealProgress,
} from './jobs';
import type { GatewayMetrics } from './metrics';
import { codeOfReason } from './processors';
import { type SpoolLayout, removeQuietly, sortableUniq } from './spool';

/** Options of QueueRetriever. */
export interface QueueRetrieverOptions {
  revealQueue: Queue;
  revealEvents: QueueEvents;
  layout: SpoolLayout;
  audit: AuditLog;
  log: Logger;
  metrics?: GatewayMetrics;
  /** Reveal jobs in flight per retrieve() call. Default 4. */
  maxInFlight?: number;
  /** Most instances per reveal job. Default 8. */
  batchSize?: number;
  /**
   * The archive reads a whole series in one request much faster than instance by instance
   * (Archive.getSeries, DICOMweb): a retrieval of at least `seriesJobMin` instances of a series
   * gets series jobs, which read that series once.
   */
  seriesJobs?: boolean;
  /** Instances of one series from which a series job is used. Default 16. */
  seriesJobMin?: number;
  /**
   * How many instances the archive holds in a series (the catalogue knows): a series job is used
   * only when the retrieval wants at least half of them, so a few instances of a large series are
   * not paid for with the whole series.
   */
  seriesSize?: (series: SeriesRef) => number;
  /** Longest wait for the next instance of a job, retries included. Default 15 minutes. */
  timeoutMs?: number;
}

/** The job name of reveal jobs. */
export const REVEAL_JOB = 'reveal';

/** Codes that mean the archived object did not verify: worth a SecurityAlert, not just a failure. */
const INTEGRITY = /^VEIL_E_(REVEAL_|STEGO_PAYLOAD|KEY_UNWRAP|CMS)/;

/** The instances of one reveal job, and whether it reads their series in one request. */
export interface Batch {
  refs: InstanceRef[];
  fromSeries: boolean;
}

/** What a running reveal job's events are handed to. */
interface BatchWatch {
  progress(value: unknown): void;
  completed(value: unknown): void;
  failed(reason: string): void;
}

/** Reveals instances through reveal jobs; see the file comment. */
export class QueueRetriever implements Retriever {
  private readonly maxInFlight: number;
  private readonly batchSize: number;
  private readonly timeoutMs: number;
  private readonly seriesJobMin: number;
  /** The reveal jobs this gateway waits for, by job id. */
  private readonly watches = new Map<string, BatchWatch>();

  constructor(private readonly o: QueueRetrieverOptions) {
    this.maxInFlight = Math.max(1, o.maxInFlight ?? 4);
    this.batchSize = Math.max(1, o.batchSize ?? 8);
    this.timeoutMs = o.timeoutMs ?? 15 * 60 * 1000;
    this.seriesJobMin = o.seriesJobs ? Math.max(1, o.seriesJobMin ?? 16) : Infinity;
    // One listener per event for every job (a QueueEvents would warn past 10 per-job listeners).
    o.revealEvents.on('progress', ({ jobId, data }) => this.watches.get(jobId)?.progress(data));
    o.revealEvents.on('completed', ({ jobId, returnvalue }) =>
      this.watches.get(jobId)?.completed(returnvalue),
    );
    o.revealEvents.on('failed', ({ jobId, failedReason }) =>
      this.watches.get(jobId)?.failed(failedReason),
    );
  }

  async *retrieve(
    refs: readonly InstanceRef[],
    requestedBy: string,
    options: RetrieveOptions = {},
  ): AsyncIterable<Retrieved> {
    const batches = planRevealJobs(refs, {
      maxInFlight: this.maxInFlight,
      batchSize: this.batchSize,
      seriesJobMin: this.seriesJobMin,
      ...(this.o.seriesSize ? { seriesSize: this.o.seriesSize } : {}),
    });
    const ready: Retrieved[] = [];
    let wake: (() => void) | undefined;
    let stopped = false;
    let next = 0;
    let running = 0;
    const deliver = (item: Retrieved): void => {
      // The consumer stopped early: whatever is still revealed must not linger on the spool.
      if (stopped) {
        if (item.ok) void item.release();
        return;
      }
      ready.push(item);
      wake?.();
    };
    const launch = (): void => {
      // Revealed files wait on the spool for a slow consumer: a bounded number of them.
      while (
        !stopped &&
        running < this.maxInFlight &&
        next < batches.length &&
        ready.length < this.batchSize * this.maxInFlight
      ) {
        running += 1;
        void this.runBatch(batches[next++]!, requestedBy, deliver, options).then(() => {
          running -= 1;
          launch();
          wake?.();
        });
      }
    };
    try {
      launch();
      for (;;) {
        const item = ready.shift();
        if (item) {
          yield item;
          launch();
        } else if (running === 0 && next >= batches.length) {
          return;
        } else {
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
        }
      }
    } finally {
      stopped = true;
      for (const item of ready.splice(0)) if (item.ok) void item.release();
    }
  }

  /**
   * Adds one reveal job for the batch and hands each instance to `deliver` as its outcome arrives
   * (in any order); resolves once every instance of the batch was handed over (revealed or failed).
   */
  private runBatch(
    batch: Batch,
    requestedBy: string,
    deliver: (item: Retrieved) => void,
    options: RetrieveOptions,
  ): Promise<void> {
    const items: RevealItem[] = batch.refs.map((ref) => ({
      ref,
      outPath: path.join(
        this.o.layout.outgoing,
        `${sortableUniq()}.${options.render ? 'png' : 'dcm'}`,
      ),
      ...(options.render ? { render: options.render } : {}),
    }));
    const jobId = `reveal-${sortableUniq()}`;
    return new Promise<void>((resolve) => {
      const handed = new Array<boolean>(items.length).fill(false);
      let timer: NodeJS.Timeout | undefined;
      const hand = (i: unknown, outcome: RevealOutcome | null | undefined): void => {
        if (typeof i !== 'number' || !(i >= 0 && i < items.length) || handed[i] || !outcome) return;
        handed[i] = true;
        deliver(this.outcome(items[i]!, outcome, requestedBy));
      };
      // A progress value (RevealProgress: what was just settled) or the result (every outcome).
      const take = (value: unknown): void => {
        const progress = value as Partial<RevealProgress & RevealJobResult> | undefined;
        if (Array.isArray(progress?.settled)) for (const [i, o] of progress.settled) hand(i, o);
        if (Array.isArray(progress?.outcomes)) progress.outcomes.forEach((o, i) => hand(i, o));
        arm();
      };
      const finish = (err: unknown): void => {
        if (timer) clearTimeout(timer);
        if (this.watches.get(jobId) !== watch) return; // already finished
        this.watches.delete(jobId);
        for (const [i, item] of items.entries()) {
          if (handed[i]) continue;
          handed[i] = true;
          void removeQuietly(item.outPath);
          deliver(this.failed(item.ref, requestedBy, err));
        }
        resolve();
      };
      const arm = (): void => {
        if (timer) clearTimeout(timer);
        timer = setTimeout(
          () => finish(new Error(`reveal job timed out after ${this.timeoutMs} ms`)),
          this.timeoutMs,
        );
      };
      const watch: BatchWatch = {
        progress: take,
        completed: (value) => {
          take(value);
          finish(new Error('VEIL_E_IO: The reveal job ended without revealing the instance.'));
        },
        failed: (reason) => finish(new Error(reason)),
      };
      // Watched before it is added: its first events may come before the add's reply.
      this.watches.set(jobId, watch);
      arm();
      const data: RevealJobData = {
        items,
        requestedBy,
        ...(batch.fromSeries ? { fromSeries: true } : {}),
      };
      withDeadline(this.o.revealQueue.add(REVEAL_JOB, data, { jobId }), 5000).catch(finish);
    });
  }

  /** One item's reported outcome as a Retrieved (counted when revealed, audited when refused). */
  private outcome(item: RevealItem, outcome: RevealOutcome, requestedBy: string): Retrieved {
    if (!outcome?.ok) {
      const reason = outcome ? `${outcome.code}: ${outcome.message}` : 'no outcome';
      return this.failed(item.ref, requestedBy, new Error(reason));
    }
    this.o.metrics?.instancesRevealed.inc();
    this.o.metrics?.bytesRevealed.inc(outcome.bytes);
    return {
      ref: item.ref,
      ok: true,
      path: item.outPath,
      bytes: outcome.bytes,
      release: () => removeQuietly(item.outPath),
    };
  }

  private failed(ref: InstanceRef, requestedBy: string, err: unknown): Retrieved {
    const reason = (err as Error)?.message ?? '';
    const code =
      codeOfReason(reason) ??
      (/timed out|Redis did not answer|ECONNREFUSED|Connection is closed/i.test(reason)
        ? 'VEIL_E_QUEUE_UNAVAILABLE'
        : 'VEIL_E_IO');
    const message = codeOfReason(reason)
      ? reason.slice(code.length + 2)
      : 'The instance could not be revealed.';
    // Per instance under 'retrieve'; the worker pool counts failed reveal jobs under 'reveal'.
    this.o.metrics?.failures.inc({ code, stage: 'retrieve' });
    if (INTEGRITY.test(code)) {
      this.o.audit.record({
        type: 'SecurityAlert',
        action: 'E',
        outcome: 'serious-failure',
        user: requestedBy,
        studyInstanceUIDs: [ref.studyInstanceUID],
        sopInstanceUIDs: [ref.sopInstanceUID],
        errorCode: code,
      });
    }
    this.o.log.warn({ code, sopInstanceUID: ref.sopInstanceUID }, 'reveal failed');
    return { ref, ok: false, code, message };
  }
}

/**
 * Cuts a retrieval into reveal jobs: series jobs (up to MAX_REVEAL_BATCH instances) for series
 * with at least seriesJobMin instances and at least half of the series (seriesSize), the rest in
 * batches of batchSize, smaller when there are few, so that every job slot gets work.
 * seriesJobMin Infinity: no series jobs (the archive reads series no faster).
 */
export function planRevealJobs(
  refs: readonly InstanceRef[],
  o: {
    maxInFlight: number;
    batchSize: number;
    seriesJobMin: number;
    seriesSize?: (series: SeriesRef) => number;
  },
): Batch[] {
  const bySeries = new Map<string, InstanceRef[]>();
  for (const ref of refs) {
    const key = `${ref.studyInstanceUID}/${ref.seriesInstanceUID}`;
    const list = bySeries.get(key) ?? [];
    list.push(ref);
    bySeries.set(key, list);
  }
  const batches: Batch[] = [];
  const rest: InstanceRef[] = [];
  for (const list of bySeries.values()) {
    if (list.length < o.seriesJobMin || list.length * 2 < (o.seriesSize?.(list[0]!) ?? 0)) {
      rest.push(...list);
      continue;
    }
    for (let at = 0; at < list.length; at += MAX_REVEAL_BATCH) {
      batches.push({ refs: list.slice(at, at + MAX_REVEAL_BATCH), fromSeries: true });
    }
  }
  const size = Math.min(o.batchSize, Math.max(1, Math.ceil(rest.length / o.maxInFlight)));
  for (let at = 0; at < rest.length; at += size) {
    batches.push({ refs: rest.slice(at, at + size), fromSeries: false });
  }
  return batches;
}

/** Rejects when `promise` takes longer than `ms` (a dead Redis otherwise queues commands forever). */
function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('Redis did not answer in time')), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
