/**
 * The spool's folders and file names, shared by gateways and workers (possibly on a shared volume):
 * incoming/ (doors stream here), queued/ (fsynced, a protect job exists), failed/ (kept for the
 * administrator), outgoing/ (revealed instances waiting to be sent).
 */
import { randomBytes } from 'node:crypto';
import { promises as fs, statfsSync } from 'node:fs';
import path from 'node:path';
import { writeFileDurably } from '../durable-file';
import { VeilError } from '../errors';

/** Absolute folders of one spool. */
export interface SpoolLayout {
  root: string;
  incoming: string;
  queued: string;
  failed: string;
  outgoing: string;
}

/** The folders under `root` (spool.dir). */
export function spoolLayout(root: string): SpoolLayout {
  const abs = path.resolve(root);
  return {
    root: abs,
    incoming: path.join(abs, 'incoming'),
    queued: path.join(abs, 'queued'),
    failed: path.join(abs, 'failed'),
    outgoing: path.join(abs, 'outgoing'),
  };
}

/** Creates the spool folders (0700: they hold patient data in clear until protected). */
export async function ensureSpool(layout: SpoolLayout): Promise<void> {
  for (const dir of [layout.incoming, layout.queued, layout.failed, layout.outgoing]) {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  }
}

let counter = 0;

/**
 * A unique, time-sortable token: milliseconds, a per-process counter and randomness, fixed width so
 * that string order is arrival order (the newest copy of an instance sorts last).
 */
export function sortableUniq(): string {
  counter = (counter + 1) % 1_000_000;
  return `${Date.now().toString().padStart(15, '0')}${counter.toString().padStart(6, '0')}${randomBytes(4).toString('hex')}`;
}

/** File name of a queued instance: <SOP Instance UID>.<uniq>.dcm (UIDs are safe in file names). */
export function queuedFileName(sopInstanceUID: string, uniq = sortableUniq()): string {
  return `${sopInstanceUID}.${uniq}.dcm`;
}

const QUEUED_NAME = /^((?:\d+\.)*\d+)\.(\d{21}[0-9a-f]{8})\.dcm$/;

/** SOP Instance UID and uniq of a queued file name, or undefined for other files. */
export function parseQueuedName(
  name: string,
): { sopInstanceUID: string; uniq: string } | undefined {
  const m = QUEUED_NAME.exec(name);
  return m ? { sopInstanceUID: m[1], uniq: m[2] } : undefined;
}

/** Names of the files of one instance in `dir`, oldest first. */
export async function filesOf(dir: string, sopInstanceUID: string): Promise<string[]> {
  const names = await fs.readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [] as string[];
    throw err;
  });
  return names
    .filter((n) => parseQueuedName(n)?.sopInstanceUID === sopInstanceUID)
    .sort((a, b) => (parseQueuedName(a)!.uniq < parseQueuedName(b)!.uniq ? -1 : 1));
}

export { fsyncDir, fsyncFile } from '../durable-file';

/** Writes `bytes` to `file` atomically and durably (mode 0600); VEIL_E_IO when it cannot. */
export async function writeFileAtomic(file: string, bytes: Buffer): Promise<void> {
  try {
    await writeFileDurably(file, bytes);
  } catch (err) {
    throw new VeilError('VEIL_E_IO', `Cannot write ${path.basename(file)}.`, {}, { cause: err });
  }
}

/**
 * The VeilError of a failed spool write: a full volume (ENOSPC, or EDQUOT over a quota) is
 * VEIL_E_SPOOL_FULL (DIMSE 0xA700 Out of Resources, HTTP 507), anything else VEIL_E_IO.
 */
export function spoolWriteError(err: unknown, message: string): VeilError {
  if (err instanceof VeilError) return err;
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new VeilError('VEIL_E_SPOOL_FULL', 'The spool volume is full.', {}, { cause: err });
  }
  return new VeilError('VEIL_E_IO', message, {}, { cause: err });
}

/** Removes a file, ignoring one that is already gone. */
export async function removeQuietly(file: string): Promise<void> {
  await fs.rm(file, { force: true }).catch(() => undefined);
}

/**
 * Free bytes available to unprivileged writers on the volume holding `dir`. Synchronous: statfs(2)
 * answers from the superblock at once, and on the acknowledgement path a thread-pool round trip
 * waits for a core the workers are using.
 */
export function freeBytes(dir: string): number {
  const stats = statfsSync(dir);
  return stats.bavail * stats.bsize;
}
