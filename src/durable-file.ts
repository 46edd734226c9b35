/**
 * Crash-safe file writes, shared by the key store, the spool, the filesystem archive and the CLI:
 * a unique temp file in the same folder, written, given its exact mode, fsynced, renamed over the
 * target, and the folder fsynced so the rename survives a crash (POSIX). OS errors are thrown as
 * they are; each caller turns them into its own VeilError.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsync, openSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

/** Replaces `file` atomically and durably with `data`, with exactly `mode` (default 0600). */
export async function writeFileDurably(
  file: string,
  data: Buffer | string,
  options: { mode?: number; createFolder?: boolean } = {},
): Promise<void> {
  const mode = options.mode ?? 0o600;
  const folder = path.dirname(file);
  if (options.createFolder) await fs.mkdir(folder, { recursive: true });
  // A unique temp name per write: concurrent writers of one file never share a temp file.
  const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const handle = await fs.open(temp, 'wx', mode);
    try {
      await handle.writeFile(data);
      await handle.chmod(mode); // exact mode: open() applies the umask to it
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(temp, file);
    await fsyncDir(folder);
  } catch (err) {
    await fs.rm(temp, { force: true }).catch(() => undefined);
    throw err;
  }
}

/** Flushes a file's bytes to disk (the durability half of "acknowledge only after fsync"). */
export async function fsyncFile(file: string): Promise<void> {
  const handle = await fs.open(file, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

const fsyncFd = promisify(fsync);

/**
 * Flushes a folder, so a rename into it survives a crash. Only the fsync goes to the thread pool:
 * opening and closing a folder are immediate, and on the acknowledgement path each pool round
 * trip waits for a core the workers are using.
 */
export async function fsyncDir(dir: string): Promise<void> {
  const fd = openSync(dir, 'r');
  try {
    await fsyncFd(fd);
  } catch (err) {
    // Some filesystems refuse fsync on directories; the rename is still atomic there.
    if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
  } finally {
    closeSync(fd);
  }
}
