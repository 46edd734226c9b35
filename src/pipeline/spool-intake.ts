/**
 * Intake: a door's temp file becomes a durable spool file and a protect job, and only then is the
 * instance acknowledged (DESIGN.md "Rules of the flow"). The newest copy of an instance wins.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs, renameSync } from 'node:fs';
import path from 'node:path';
import type { Job, Queue } from 'bullmq';
import { isUid } from '../archive/archive';
import { Tags, parsePart10 } from '../dicom';
import { VeilError, isVeilError } from '../errors';
import type { Logger } from '../log';
import type { Intake, IntakeResult } from './contracts';
import { SPOOL_HEAD_BYTES, type WrittenSpoolFile } from './spool-writer';
import { type IntakeSource, type ProtectJobData, protectJobId } from './jobs';
import type { GatewayMetrics } from './metrics';
import {
  type SpoolLayout,
  ensureSpool,
  freeBytes,
  fsyncDir,
  parseQueuedName,
  queuedFileName,
  removeQuietly,
  sortableUniq,
  spoolWriteError,
} from './spool';

/** What SpoolIntake needs. */
export interface SpoolIntakeOptions {
  layout: SpoolLayout;
  /** spool.minFreeBytes: below this, new instances are refused with VEIL_E_SPOOL_FULL. */
  minFreeBytes: number;
  protectQueue: Queue;
  log: Logger;
  metrics?: GatewayMetrics;
  /** How long a Redis call may take before the instance is refused. Default 5000 ms. */
  queueTimeoutMs?: number;
}

/** First read of a header; doubled until the header (everything before Pixel Data) fits. */
const FIRST_READ = 64 * 1024;

/** The job name of protect jobs. */
export const PROTECT_JOB = 'protect';

/** Intake onto a spool folder with BullMQ protect jobs. */
export class SpoolIntake implements Intake {
  /** The last queued step of each instance being accepted (see inOrder). */
  private readonly tails = new Map<string, Promise<void>>();

  private constructor(private readonly o: SpoolIntakeOptions) {}

  /** Creates the spool folders and the intake. */
  static async open(options: SpoolIntakeOptions): Promise<SpoolIntake> {
    await ensureSpool(options.layout);
    return new SpoolIntake(options);
  }

  tempPath(): string {
    return path.join(
      this.o.layout.incoming,
      `${sortableUniq()}.${randomBytes(4).toString('hex')}.part`,
    );
  }

  async checkAccepting(): Promise<void> {
    this.checkSpace();
    await this.ping();
  }

  async accept(
    tempPath: string,
    source: IntakeSource,
    written?: WrittenSpoolFile,
  ): Promise<IntakeResult> {
    let queuedPath: string | undefined;
    try {
      // Free space and the header are looked at on this thread: statfs answers at once and a
      // file its door already fsynced keeps its head in memory (a thread-pool round trip would
      // wait for a core the protect workers are using). Other files are synced and read first.
      this.checkSpace();
      const result = written
        ? await identifiersFromHead(tempPath, written.head)
        : await readIdentifiers(tempPath, { fsync: true });
      // Copies of one instance are named, queued and acknowledged one after the other, so the
      // copy acknowledged last is the one named newest (the one protected in the end).
      await this.inOrder(result.sopInstanceUID, async () => {
        queuedPath = path.join(this.o.layout.queued, queuedFileName(result.sopInstanceUID));
        // Synchronous for the same reason: a rename within one folder tree is a metadata update.
        renameSync(tempPath, queuedPath);
        // The folder fsync and the enqueue overlap (both finish before the acknowledgement): a job
        // whose rename is lost in a crash finds no file, and the unacknowledged sender re-sends.
        const job = this.enqueue({
          spoolPath: queuedPath,
          sopInstanceUID: result.sopInstanceUID,
          receivedAt: new Date().toISOString(),
          source: {
            kind: source.kind,
            who: source.who,
            ...(source.address ? { address: source.address } : {}),
          },
        });
        const [synced, enqueued] = await Promise.allSettled([fsyncDir(this.o.layout.queued), job]);
        if (enqueued.status === 'rejected') throw enqueued.reason;
        if (synced.status === 'rejected') {
          // Refused, but its job may already have replaced an older copy's: keep the file for it
          // (the sender re-sends; the newest copy wins).
          queuedPath = undefined;
          throw synced.reason;
        }
      });
      this.o.metrics?.instancesReceived.inc({ door: source.kind });
      return result;
    } catch (err) {
      // Not acknowledged: nothing of it may stay behind to be protected later.
      await removeQuietly(tempPath);
      if (queuedPath) await removeQuietly(queuedPath);
      // A full volume (ENOSPC at fsync or rename) is VEIL_E_SPOOL_FULL, other errors VEIL_E_IO.
      const veil = spoolWriteError(err, 'The instance could not be spooled.');
      this.o.metrics?.failures.inc({ code: veil.code, stage: 'intake' });
      throw veil;
    }
  }

  /**
   * Crash recovery at start: every queued spool file whose instance has no waiting, delayed or
   * active protect job gets one (a finished job of the instance is replaced). Returns the number of
   * jobs added.
   */
  async recoverSpool(): Promise<number> {
    const names = (await fs.readdir(this.o.layout.queued)).sort();
    const newest = new Map<string, string>();
    for (const name of names) {
      const parsed = parseQueuedName(name);
      if (parsed) newest.set(parsed.sopInstanceUID, name);
    }
    let added = 0;
    for (const [sopInstanceUID, name] of newest) {
      const job = await this.queueCall(() =>
        this.o.protectQueue.getJob(protectJobId(sopInstanceUID)),
      );
      const state = job ? await this.queueCall(() => job.getState()) : undefined;
      if (state && PENDING.has(state)) continue;
      // A finished job (e.g. failed after its last attempt while the archive was down) would make
      // the add below a no-op for the same file: remove it, so the restart gives it a new run.
      if (job && state) await this.queueCall(() => job.remove());
      await this.enqueue({
        spoolPath: path.join(this.o.layout.queued, name),
        sopInstanceUID,
        receivedAt: new Date().toISOString(),
        source: { kind: 'dimse', who: 'spool-recovery' },
      });
      added += 1;
    }
    if (added > 0) this.o.log.warn({ added }, 're-enqueued spooled instances without a job');
    return added;
  }

  /**
   * One protect job per instance (job id from the SOP Instance UID). A waiting job is pointed at
   * the newest file; an active one gets a follow-up job, and the processor (which takes a per-
   * instance lock and always protects the newest queued file) makes the newest copy win.
   */
  private async enqueue(data: ProtectJobData): Promise<void> {
    const queue = this.o.protectQueue;
    const jobId = protectJobId(data.sopInstanceUID);
    await this.queueCall(async () => {
      for (let attempt = 0; attempt < 3; attempt += 1) {
        // Add first (the common case: a new instance), then look: two Redis round trips, not
        // three. Re-adding an existing id is a silent no-op, so the look says whose job is stored.
        await queue.add(PROTECT_JOB, data, { jobId });
        const existing: Job<ProtectJobData> | undefined = await queue.getJob(jobId);
        if (existing?.data.spoolPath === data.spoolPath) return;
        const state = existing ? await existing.getState() : 'unknown';
        if (!existing || state === 'unknown') {
          continue; // removed between add and look: add again
        } else if (state === 'completed' || state === 'failed') {
          // A finished job of an earlier copy blocks the id: remove it (its outcome is superseded).
          await existing.remove().catch(() => undefined);
          continue;
        } else if (state === 'active') {
          await this.followUp(data);
          return;
        } else {
          await this.replaceWaiting(existing, data);
          return;
        }
      }
      await this.followUp(data);
    });
  }

  private async replaceWaiting(job: Job<ProtectJobData>, data: ProtectJobData): Promise<void> {
    const older = job.data.spoolPath;
    await job.updateData(data);
    const state = await job.getState();
    if (state === 'active') {
      // A worker may have picked up the old data: the processor takes the newest file anyway,
      // and the follow-up guarantees a run after that worker is done.
      await this.followUp(data);
    } else if (older !== data.spoolPath) {
      await removeQuietly(older);
    }
  }

  /** Runs `step` after the steps queued before for the same instance have settled. */
  private async inOrder(sopInstanceUID: string, step: () => Promise<void>): Promise<void> {
    const before = this.tails.get(sopInstanceUID) ?? Promise.resolve();
    const run = before.then(step);
    const tail = run.catch(() => undefined);
    this.tails.set(sopInstanceUID, tail);
    try {
      await run;
    } finally {
      if (this.tails.get(sopInstanceUID) === tail) this.tails.delete(sopInstanceUID);
    }
  }

  private async followUp(data: ProtectJobData): Promise<void> {
    await this.o.protectQueue.add(PROTECT_JOB, data, {
      jobId: `${protectJobId(data.sopInstanceUID)}-${sortableUniq()}`,
    });
  }

  private checkSpace(): void {
    let free: number;
    try {
      free = freeBytes(this.o.layout.root);
    } catch (err) {
      throw new VeilError('VEIL_E_IO', 'The spool folder cannot be read.', {}, { cause: err });
    }
    if (free < this.o.minFreeBytes) {
      throw new VeilError(
        'VEIL_E_SPOOL_FULL',
        `The spool volume has ${free} bytes free, less than spool.minFreeBytes (${this.o.minFreeBytes}).`,
      );
    }
  }

  private async ping(): Promise<void> {
    // A cheap round trip: Redis answers, or intake refuses (QUEUE_UNAVAILABLE).
    await this.queueCall(() => this.o.protectQueue.getJobCounts('waiting'));
  }

  /**
   * Fails at once while the queue's connection is down (reconnecting), instead of leaving the
   * sender waiting for the deadline and the command in ioredis's offline queue, which would send it
   * after the instance was refused.
   */
  private async whenConnected(): Promise<void> {
    const client = await this.o.protectQueue.getBackend().client;
    if (client.status !== 'ready') throw new Error(`Redis connection is ${client.status}`);
  }

  /** Runs a Redis call with a deadline, so a dead Redis refuses instances instead of hanging. */
  private async queueCall<T>(fn: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error('Redis did not answer in time')),
        this.o.queueTimeoutMs ?? QUEUE_DEADLINE_MS,
      );
    });
    try {
      return await Promise.race([this.whenConnected().then(fn), deadline]);
    } catch (err) {
      if (isVeilError(err)) throw err;
      throw new VeilError(
        'VEIL_E_QUEUE_UNAVAILABLE',
        'The job queue (Redis) is unreachable; the instance was not accepted.',
        {},
        { cause: err },
      );
    } finally {
      clearTimeout(timer);
    }
  }
}

/** How long intake waits for Redis before refusing an instance. */
const QUEUE_DEADLINE_MS = 5000;

const PENDING = new Set(['waiting', 'delayed', 'active', 'prioritized', 'waiting-children']);

/** Reads the identifying UIDs from the header only (the pixels may be hundreds of MB). */
export async function readIdentifiers(
  file: string,
  options: { fsync?: boolean } = {},
): Promise<IntakeResult> {
  const handle = await fs.open(file, 'r');
  let header;
  try {
    // The fsync runs alongside the first read; both are awaited before the caller goes on.
    const synced = options.fsync ? handle.sync() : Promise.resolve();
    try {
      for (let length = FIRST_READ; ; length *= 2) {
        // Unsafe: only the bytes read are used (no zero-fill of 64 KiB per instance). A short
        // read is the whole file, so no stat is needed.
        const { bytesRead, buffer } = await handle.read(Buffer.allocUnsafe(length), 0, length, 0);
        try {
          header = parsePart10(buffer.subarray(0, bytesRead), { stopAtPixelData: true });
          break;
        } catch (err) {
          // A header longer than what was read: read more, up to the whole file.
          if (bytesRead < length || !isVeilError(err)) throw err;
        }
      }
    } finally {
      await synced;
    }
  } finally {
    await handle.close();
  }
  return identifiersOf(header.dataset);
}

/**
 * The identifiers from the head of a file (SpoolWriter kept it); the file is read only when its
 * header is longer than the head.
 */
export async function identifiersFromHead(file: string, head: Buffer): Promise<IntakeResult> {
  let header;
  try {
    header = parsePart10(head, { stopAtPixelData: true });
  } catch (err) {
    if (isVeilError(err) && head.length >= SPOOL_HEAD_BYTES) return readIdentifiers(file);
    throw err;
  }
  return identifiersOf(header.dataset);
}

/** The identifying UIDs of a parsed header, each checked to be a UID. */
function identifiersOf(dataset: ReturnType<typeof parsePart10>['dataset']): IntakeResult {
  const uid = (tag: number, name: string): string => {
    const value = dataset.string(tag)?.trim();
    if (!value) {
      throw new VeilError('VEIL_E_DICOM_MISSING_ATTRIBUTE', `${name} is missing.`);
    }
    if (!isUid(value)) throw new VeilError('VEIL_E_UID_INVALID', `${name} is not a valid UID.`);
    return value;
  };
  // The Series Instance UID names an archive folder: one that is not a UID is refused here, at
  // the door, rather than acknowledged and then failed by the worker.
  const series = dataset.string(Tags.SeriesInstanceUID)?.trim();
  if (series && !isUid(series)) {
    throw new VeilError(
      'VEIL_E_UID_INVALID',
      'Series Instance UID (0020,000E) is not a valid UID.',
    );
  }
  return {
    sopInstanceUID: uid(Tags.SOPInstanceUID, 'SOP Instance UID (0008,0018)'),
    sopClassUID: uid(Tags.SOPClassUID, 'SOP Class UID (0008,0016)'),
    studyInstanceUID: uid(Tags.StudyInstanceUID, 'Study Instance UID (0020,000D)'),
  };
}
