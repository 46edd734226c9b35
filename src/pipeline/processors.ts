/**
 * The two job processors. protect: newest spooled copy ▶ protect ▶ archive.put ▶ index ▶ drop
 * spool. reveal, a batch of instances per job: archive.get ▶ reveal (verified) ▶ write the original
 * for the requester.
 * Permanent failures become BullMQ UnrecoverableErrors whose reason starts with the error code.
 */
import { randomUUID } from 'node:crypto';
import { promises as fs, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { UnrecoverableError } from 'bullmq';
import { isRenderSpec, renderFrame } from '../analysis/render-frame';
import { type InstanceRef, isUid } from '../archive/archive';
import { Tags, parseFileMeta, parsePart10 } from '../dicom';
import { VeilError, isVeilError } from '../errors';
import type { InstanceRecord } from '../index/catalogue';
import { recordFromDataSet } from '../index/record-from-dataset';
import { type RevealResult, protect, reveal } from '../protection';
import {
  MAX_REVEAL_BATCH,
  type ProtectJobData,
  type ProtectJobResult,
  type RevealItem,
  type RevealJobData,
  type RevealJobResult,
  type RevealOutcome,
  type RevealProgress,
} from './jobs';
import { filesOf, parseQueuedName, removeQuietly } from './spool';
import type { WorkerContext } from './worker-context';

/** The part of a BullMQ job (or SandboxedJob) the processors read. */
export interface JobLike<T> {
  id?: string;
  data: T;
  attemptsMade: number;
}

/**
 * Codes that will fail again on retry (the input or the keys are wrong), so the job goes straight
 * to failed for an administrator. Everything else (archive down, I/O, bugs) is retried.
 */
const PERMANENT =
  /^VEIL_E_(DICOM|POLICY|STEGO|KEY|CMS|PROTECT|REVEAL|UID|CONFIG|USAGE|ARCHIVE_NOT_FOUND|NOT_FOUND|HTTP_NOT_ACCEPTABLE)/;

/** True when a failure with this code should not be retried. */
export function isPermanentCode(code: string): boolean {
  return PERMANENT.test(code);
}

/** The code at the start of a failure reason ("VEIL_E_X: message"), or undefined. */
export function codeOfReason(reason: string | undefined): string | undefined {
  return /^(VEIL_E_[A-Z0-9_]+)/.exec(reason ?? '')?.[1];
}

function unrecoverable(err: VeilError): UnrecoverableError {
  return new UnrecoverableError(`${err.code}: ${err.message}`);
}

/** A retryable failure whose reason (what BullMQ stores and Bull Board shows) starts with the code. */
function retryable(err: unknown): unknown {
  return isVeilError(err) ? new Error(`${err.code}: ${err.message}`, { cause: err }) : err;
}

/** Protects the newest queued copy of the job's instance; see the file comment. */
export async function processProtect(
  ctx: WorkerContext,
  job: JobLike<ProtectJobData>,
): Promise<ProtectJobResult> {
  const sop = job.data.sopInstanceUID;
  if (!isUid(sop)) {
    throw unrecoverable(new VeilError('VEIL_E_UID_INVALID', 'The job names an invalid SOP UID.'));
  }
  // Another worker on this instance (an older copy) is waited for; a lock left by this job's own
  // earlier attempt (its child was killed) is taken over. Still taken: retry with backoff.
  const release = await ctx.lock.acquire(sop, job.id ?? `unnamed-${randomUUID()}`);
  if (!release) throw new Error('Another worker is protecting this instance; retrying later.');
  try {
    const files = await claimFiles(ctx, sop, job.data.spoolPath);
    if (files.length === 0) return { archivedBytes: 0, stego: 'superseded', pixelMode: 'none' };
    return await protectNewest(ctx, job, files);
  } finally {
    await release().catch(() => undefined);
  }
}

/** Queued files of the instance, oldest first; an admin retry brings its parked file back. */
async function claimFiles(ctx: WorkerContext, sop: string, spoolPath: string): Promise<string[]> {
  const { queued, failed } = ctx.layout;
  let names = await filesOf(queued, sop);
  const own = path.basename(spoolPath);
  if (names.length === 0 && parseQueuedName(own)?.sopInstanceUID === sop) {
    try {
      await fs.rename(path.join(failed, own), path.join(queued, own));
      names = [own];
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return names.map((n) => path.join(queued, n));
}

async function protectNewest(
  ctx: WorkerContext,
  job: JobLike<ProtectJobData>,
  files: string[],
): Promise<ProtectJobResult> {
  const file = files[files.length - 1];
  const sop = job.data.sopInstanceUID;
  const user = job.data.source.who;
  let record: Omit<InstanceRecord, 'state' | 'receivedAt'> | undefined;
  try {
    const input = await readSpool(file);
    const header = parsePart10(input, { stopAtPixelData: true });
    if (header.dataset.string(Tags.SOPInstanceUID)?.trim() !== sop) {
      throw new VeilError('VEIL_E_DICOM_MALFORMED', 'The spool file holds another instance.');
    }
    record = recordFromDataSet(header.dataset, header.transferSyntaxUID);
    const protection = await ctx.protection('protect');
    const result = protect(input, protection.protectOptions());
    const ref: InstanceRef = {
      studyInstanceUID: record.studyInstanceUID,
      seriesInstanceUID: record.seriesInstanceUID,
      sopInstanceUID: sop,
    };
    // A reveal during the put accepts the new object too; the upsert then makes it the only one.
    ctx.catalogue.setPending(sop, result.report.protectionMac);
    await ctx.archive.put(ref, result.bytes);
    ctx.catalogue.upsert({
      ...record,
      state: 'archived',
      protectionMac: result.report.protectionMac,
      keyIds: result.report.keyIds,
      bytes: result.bytes.length,
      receivedAt: job.data.receivedAt,
      archivedAt: new Date().toISOString(),
    });
    for (const f of files) await removeQuietly(f);
    ctx.audit.record({
      type: 'DICOMInstancesTransferred',
      action: 'C',
      outcome: 'success',
      user,
      ...(job.data.source.address ? { address: job.data.source.address } : {}),
      studyInstanceUIDs: [ref.studyInstanceUID],
      sopInstanceUIDs: [sop],
    });
    return {
      archivedBytes: result.bytes.length,
      stego: result.report.stego.outcome,
      pixelMode: result.report.pixelMode,
    };
  } catch (err) {
    if (!isVeilError(err) || !isPermanentCode(err.code)) throw retryable(err);
    await parkFailed(ctx, files);
    markFailed(ctx, sop, err.code, record, job.data.receivedAt);
    ctx.audit.record({
      type: 'DICOMInstancesTransferred',
      action: 'C',
      outcome: 'serious-failure',
      user,
      sopInstanceUIDs: [sop],
      errorCode: err.code,
    });
    ctx.log.warn({ jobId: job.id, code: err.code }, 'protect failed permanently');
    throw unrecoverable(err);
  }
}

async function readSpool(file: string): Promise<Buffer> {
  try {
    return await fs.readFile(file);
  } catch (err) {
    throw new VeilError('VEIL_E_IO', 'The spool file cannot be read.', {}, { cause: err });
  }
}

/** Keeps the newest copy in failed/ for the administrator; older copies are superseded. */
async function parkFailed(ctx: WorkerContext, files: string[]): Promise<void> {
  const newest = files[files.length - 1];
  await fs
    .rename(newest, path.join(ctx.layout.failed, path.basename(newest)))
    .catch(() => undefined);
  for (const f of files.slice(0, -1)) await removeQuietly(f);
}

function markFailed(
  ctx: WorkerContext,
  sop: string,
  code: string,
  record: Omit<InstanceRecord, 'state' | 'receivedAt'> | undefined,
  receivedAt: string,
): void {
  try {
    if (record) ctx.catalogue.upsert({ ...record, state: 'failed', errorCode: code, receivedAt });
    else ctx.catalogue.setState(sop, 'failed', code);
  } catch (err) {
    ctx.log.warn({ err: (err as Error).message }, 'could not record the failed state');
  }
}

/**
 * Writes a revealed instance for the requester: atomic (temp + rename, so a reader never sees half
 * a file) but not fsynced. The file is transient (streamed, then deleted; a crash loses only a
 * retrieval the requester repeats), and two fsyncs cost ~0.7 ms per instance here.
 */
async function writeOutgoing(file: string, bytes: Buffer): Promise<void> {
  const temp = `${file}.${process.pid}.part`;
  try {
    // Synchronous on purpose: a worker child reveals one item at a time, and the promise API
    // took ~10x the time here on a busy machine (thread-pool round trips per 512 KiB).
    writeFileSync(temp, bytes, { mode: 0o600 });
    renameSync(temp, file);
  } catch (err) {
    await removeQuietly(temp);
    throw new VeilError('VEIL_E_IO', `Cannot write ${path.basename(file)}.`, {}, { cause: err });
  }
}

/**
 * Refuses a reveal item whose UIDs are not UIDs, whose output is outside spool/outgoing, or whose
 * rendering is not a frame number with a sane window and viewport (job data comes through Redis).
 */
function checkItem(ctx: WorkerContext, item: RevealItem): void {
  const { ref, outPath, render } = item;
  if (![ref.studyInstanceUID, ref.seriesInstanceUID, ref.sopInstanceUID].every(isUid)) {
    throw new VeilError('VEIL_E_UID_INVALID', 'The reveal job names an invalid UID.');
  }
  if (path.dirname(path.resolve(outPath)) !== ctx.layout.outgoing) {
    throw new VeilError('VEIL_E_USAGE', 'Reveal output must go to the spool outgoing folder.');
  }
  if (render !== undefined && !isRenderSpec(render)) {
    throw new VeilError('VEIL_E_USAGE', 'The reveal job asks for an invalid rendering.');
  }
}

/** Checks a reveal item, then reads its object from the archive. */
async function fetchItem(ctx: WorkerContext, item: RevealItem): Promise<Buffer> {
  checkItem(ctx, item);
  return ctx.archive.get(item.ref);
}

/** Reveals one fetched object (verified, and the version Veil archived last) into its outPath. */
async function revealInto(
  ctx: WorkerContext,
  item: RevealItem,
  fetched: Promise<Buffer>,
): Promise<number> {
  const stored = await fetched;
  const protection = await ctx.protection('reveal');
  const result = revealArchived(stored, protection.revealOptions());
  try {
    assertCurrent(ctx.catalogue.get(item.ref.sopInstanceUID), result.report.protectionMac);
  } catch (err) {
    result.bytes.fill(0);
    throw err;
  }
  if (item.render === undefined) {
    await writeOutgoing(path.resolve(item.outPath), result.bytes);
    return result.bytes.length;
  }
  // A rendered frame instead of the instance: drawn here, in the worker, off the gateway's thread.
  try {
    const revealed = parsePart10(result.bytes);
    const { frame, ...options } = item.render;
    const png = renderFrame(revealed.dataset, revealed.transferSyntaxUID, frame, options);
    await writeOutgoing(path.resolve(item.outPath), png);
    return png.length;
  } finally {
    result.bytes.fill(0);
  }
}

/**
 * Reveals one archived instance into the job's outPath (under spool/outgoing), atomically; a
 * permanent failure is an UnrecoverableError, anything else is retried. The per-instance step of
 * processRevealBatch on its own: the workers run batches; the processor tests drive this one.
 */
export async function processReveal(
  ctx: WorkerContext,
  job: JobLike<RevealItem & { requestedBy?: string }>,
): Promise<{ bytes: number }> {
  try {
    return { bytes: await revealInto(ctx, job.data, fetchItem(ctx, job.data)) };
  } catch (err) {
    if (isVeilError(err) && isPermanentCode(err.code)) {
      ctx.log.warn({ jobId: job.id, code: err.code }, 'reveal failed');
      throw unrecoverable(err);
    }
    throw retryable(err);
  }
}

/** A reveal job as the batch processor sees it: BullMQ's Job or SandboxedJob. */
export interface RevealJobLike extends JobLike<RevealJobData> {
  /** The last progress an earlier attempt reported (a RevealProgress), if any. */
  progress?: unknown;
  updateProgress(progress: RevealProgress): Promise<void>;
}

/**
 * Reveals the items of a reveal job and reports every outcome as progress the moment it is known.
 * A series job (fromSeries) reads its series in one archive request and reveals the items in the
 * order they arrive; the others (and whatever the series did not hold) are read one by one, the
 * next while the current one is revealed. A permanent failure (tampered, stale, unknown instance)
 * is that item's outcome and the batch goes on; a transient one (archive or disk) fails the
 * attempt, and the retry skips the items already reported (the done-bits of its progress).
 */
export async function processRevealBatch(
  ctx: WorkerContext,
  job: RevealJobLike,
): Promise<RevealJobResult> {
  const { items, fromSeries } = job.data;
  if (!Array.isArray(items) || items.length === 0 || items.length > MAX_REVEAL_BATCH) {
    throw unrecoverable(
      new VeilError('VEIL_E_USAGE', `A reveal job names 1 to ${MAX_REVEAL_BATCH} instances.`),
    );
  }
  const done = doneBefore(job.progress, items.length);
  const outcomes = new Array<RevealOutcome | null>(items.length).fill(null);
  const settle = async (i: number, fetched: Promise<Buffer>): Promise<void> => {
    let outcome: RevealOutcome;
    try {
      outcome = { ok: true, bytes: await revealInto(ctx, items[i]!, fetched) };
    } catch (err) {
      if (!isVeilError(err) || !isPermanentCode(err.code)) throw retryable(err);
      ctx.log.warn({ jobId: job.id, code: err.code }, 'reveal failed');
      outcome = { ok: false, code: err.code, message: err.message };
    }
    outcomes[i] = outcome;
    done[i >> 3] |= 1 << (i & 7);
    await job.updateProgress({ settled: [[i, outcome]], done: done.toString('base64') });
  };
  const isDone = (i: number): boolean => (done[i >> 3]! & (1 << (i & 7))) !== 0;
  if (fromSeries && ctx.archive.getSeries && oneSeries(items)) {
    await revealFromSeries(ctx, items, isDone, settle);
  }
  const todo = items.flatMap((_, i) => (isDone(i) ? [] : [i]));
  const fetch = (k: number): Promise<Buffer> | undefined => {
    if (k >= todo.length) return undefined;
    const fetched = fetchItem(ctx, items[todo[k]!]!);
    fetched.catch(() => undefined); // awaited in its turn; never an unhandled rejection meanwhile
    return fetched;
  };
  let next = fetch(0);
  for (let k = 0; k < todo.length; k += 1) {
    const fetched = next as Promise<Buffer>;
    next = fetch(k + 1);
    await settle(todo[k]!, fetched);
  }
  return { outcomes };
}

/**
 * The series path of processRevealBatch: streams the items' series from the archive and settles
 * each pending item whose object arrives (the next object is read while one is revealed). Items
 * the series did not hold stay pending, for a read of their own.
 */
async function revealFromSeries(
  ctx: WorkerContext,
  items: RevealItem[],
  isDone: (i: number) => boolean,
  settle: (i: number, fetched: Promise<Buffer>) => Promise<void>,
): Promise<void> {
  const pending = new Map<string, number>();
  for (const [i, item] of items.entries()) {
    if (isDone(i)) continue;
    try {
      checkItem(ctx, item);
      pending.set(item.ref.sopInstanceUID, i);
    } catch (err) {
      await settle(i, Promise.reject(err));
    }
  }
  if (pending.size === 0) return;
  const parts = ctx.archive.getSeries!(items[0]!.ref)[Symbol.asyncIterator]();
  let finished = false;
  try {
    let next = parts.next();
    while (pending.size > 0) {
      const part = await next.catch((err: unknown) => {
        throw retryable(err);
      });
      if (part.done) {
        finished = true;
        break;
      }
      next = parts.next();
      next.catch(() => undefined);
      const sop = sopInstanceOf(part.value);
      const i = sop === undefined ? undefined : pending.get(sop);
      if (i === undefined) continue; // not asked for (or unreadable: read on its own below)
      pending.delete(sop as string);
      await settle(i, Promise.resolve(part.value));
    }
  } finally {
    if (!finished) await parts.return?.(undefined).catch(() => undefined);
  }
}

/** True when every item is of the first item's series. */
function oneSeries(items: RevealItem[]): boolean {
  const { studyInstanceUID, seriesInstanceUID } = items[0]!.ref;
  return items.every(
    (item) =>
      item.ref.studyInstanceUID === studyInstanceUID &&
      item.ref.seriesInstanceUID === seriesInstanceUID,
  );
}

/**
 * The SOP Instance UID of an archived object from its File Meta (MediaStorageSOPInstanceUID: a few
 * hundred bytes, where the data set's header may run to the pixels), else from the data set;
 * undefined when neither parses. Only routing: a part filed under the wrong UID is still refused,
 * since its protection MAC is not the one the catalogue holds for that UID (assertCurrent).
 */
function sopInstanceOf(bytes: Buffer): string | undefined {
  try {
    const meta = parseFileMeta(bytes).string(Tags.MediaStorageSOPInstanceUID)?.trim();
    if (meta) return meta;
    return parsePart10(bytes, { stopAtPixelData: true })
      .dataset.string(Tags.SOPInstanceUID)
      ?.trim();
  } catch {
    return undefined;
  }
}

/** The done-bits an earlier attempt reported (when its progress value is one of ours), else none. */
function doneBefore(progress: unknown, count: number): Buffer {
  const bytes = Math.ceil(count / 8);
  const reported = (progress as Partial<RevealProgress> | undefined)?.done;
  const done = Buffer.alloc(bytes);
  if (typeof reported === 'string') Buffer.from(reported, 'base64').copy(done, 0, 0, bytes);
  return done;
}

/**
 * reveal() of an object read from the archive: Veil wrote it as valid DICOM, so an object that no
 * longer parses was damaged there (a retrieval failure, 422), not a bad request by the client.
 */
function revealArchived(stored: Buffer, options: Parameters<typeof reveal>[1]): RevealResult {
  try {
    return reveal(stored, options);
  } catch (err) {
    if (!isVeilError(err) || !err.code.startsWith('VEIL_E_DICOM_')) throw err;
    if (err.code === 'VEIL_E_DICOM_TRUNCATED') {
      throw new VeilError(
        'VEIL_E_REVEAL_TRUNCATED',
        'The archived object ends early (truncated).',
        {},
        { cause: err },
      );
    }
    throw new VeilError(
      'VEIL_E_REVEAL_FORMAT',
      'The archived object is not valid DICOM any more.',
      {},
      { cause: err },
    );
  }
}

/**
 * Replay detection: a verified object is delivered only if it is the one Veil archived last (or is
 * archiving now) for this SOP Instance UID, as the catalogue recorded outside the archive. An
 * older valid object put back by someone with archive access fails with VEIL_E_REVEAL_STALE.
 * Rows without a recorded MAC (catalogued before schema version 2) are not checked.
 */
export function assertCurrent(
  record: Pick<InstanceRecord, 'protectionMac' | 'pendingMac'> | undefined,
  protectionMac: string | undefined,
): void {
  if (record?.protectionMac === undefined) return;
  const known = [record.protectionMac, record.pendingMac];
  if (protectionMac !== undefined && known.includes(protectionMac)) return;
  throw new VeilError(
    'VEIL_E_REVEAL_STALE',
    'The archived object is not the version Veil archived last (an older or replaced copy).',
  );
}
