/**
 * Retriever over the reveal queue: one reveal job per instance, at most `maxInFlight` at once,
 * each yielded as soon as its worker finishes, so a study streams out while the rest is revealed.
 */
import path from 'node:path';
import type { Queue, QueueEvents } from 'bullmq';
import type { InstanceRef } from '../archive/archive';
import type { Logger } from '../log';
import type { AuditLog, Retrieved, Retriever } from './contracts';
import type { RevealJobData, RevealJobResult } from './jobs';
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
  /** Reveal jobs in flight per retrieve() call. Default 8. */
  maxInFlight?: number;
  /** Longest wait for one instance, retries included. Default 15 minutes. */
  timeoutMs?: number;
}

/** The job name of reveal jobs. */
export const REVEAL_JOB = 'reveal';

/** Codes that mean the archived object did not verify: worth a SecurityAlert, not just a failure. */
const INTEGRITY = /^VEIL_E_(REVEAL_|STEGO_PAYLOAD|KEY_UNWRAP|CMS)/;

/** Reveals instances through reveal jobs; see the file comment. */
export class QueueRetriever implements Retriever {
  private readonly maxInFlight: number;
  private readonly timeoutMs: number;

  constructor(private readonly o: QueueRetrieverOptions) {
    this.maxInFlight = Math.max(1, o.maxInFlight ?? 8);
    this.timeoutMs = o.timeoutMs ?? 15 * 60 * 1000;
  }

  async *retrieve(refs: readonly InstanceRef[], requestedBy: string): AsyncIterable<Retrieved> {
    const inFlight = new Map<number, Promise<{ key: number; item: Retrieved }>>();
    let next = 0;
    let key = 0;
    const launch = (): void => {
      while (inFlight.size < this.maxInFlight && next < refs.length) {
        const k = key++;
        inFlight.set(
          k,
          this.revealOne(refs[next++], requestedBy).then((item) => ({ key: k, item })),
        );
      }
    };
    try {
      launch();
      while (inFlight.size > 0) {
        const { key: done, item } = await Promise.race(inFlight.values());
        inFlight.delete(done);
        launch();
        yield item;
      }
    } finally {
      // The consumer stopped early: whatever is still revealed must not linger on the spool.
      for (const pending of inFlight.values()) {
        void pending.then(({ item }) => (item.ok ? item.release() : undefined));
      }
    }
  }

  private async revealOne(ref: InstanceRef, requestedBy: string): Promise<Retrieved> {
    const outPath = path.join(this.o.layout.outgoing, `${sortableUniq()}.dcm`);
    const data: RevealJobData = { ref, outPath, requestedBy };
    let result: RevealJobResult;
    try {
      const job = await withDeadline(this.o.revealQueue.add(REVEAL_JOB, data), 5000);
      result = (await job.waitUntilFinished(
        this.o.revealEvents,
        this.timeoutMs,
      )) as RevealJobResult;
    } catch (err) {
      await removeQuietly(outPath);
      return this.failed(ref, requestedBy, err);
    }
    this.o.metrics?.instancesRevealed.inc();
    this.o.metrics?.bytesRevealed.inc(result.bytes);
    return {
      ref,
      ok: true,
      path: outPath,
      bytes: result.bytes,
      release: () => removeQuietly(outPath),
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
    // 'retrieve', not 'reveal': the worker pool already counts failed reveal jobs under 'reveal'.
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
