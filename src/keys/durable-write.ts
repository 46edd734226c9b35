/**
 * Crash-safe file writes for the key store (temp file, fsync, rename, fsync folder) and the
 * translation of OS errors into VEIL_E_KEYSTORE.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { VeilError } from '../errors';

/** Replaces `file` atomically with `text`, with exactly `mode`, durably on disk. */
export async function writeDurably(
  dir: string,
  file: string,
  text: string,
  mode: number,
): Promise<void> {
  const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  await io(dir, `write ${path.basename(file)}`, async () => {
    const handle = await fs.open(temp, 'wx', mode);
    try {
      await handle.writeFile(text, 'utf8');
      await handle.chmod(mode); // exact mode: open() applies the umask to it
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(temp, file);
    const folder = await fs.open(dir, 'r');
    try {
      await folder.sync(); // make the rename itself durable
    } finally {
      await folder.close();
    }
  }).catch(async (err: unknown) => {
    await fs.rm(temp, { force: true });
    throw err;
  });
}

/** A VEIL_E_KEYSTORE error for an index or key file that does not add up. */
export function inconsistent(reason: string, cause?: unknown): VeilError {
  return new VeilError(
    'VEIL_E_KEYSTORE',
    `Key store is inconsistent: ${reason}.`,
    { reason },
    cause === undefined ? undefined : { cause },
  );
}

/** Runs a file operation, turning OS errors into VEIL_E_KEYSTORE (the message names no key material). */
export async function io<T>(dir: string, what: string, op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    if (err instanceof VeilError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new VeilError(
      'VEIL_E_KEYSTORE',
      `Cannot ${what} in the key store (${String(code)}).`,
      { dir, code },
      { cause: err },
    );
  }
}
