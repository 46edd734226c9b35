/**
 * Crash-safe file writes for the key store (temp file, fsync, rename, fsync folder) and the
 * translation of OS errors into VEIL_E_KEYSTORE.
 */
import path from 'node:path';
import { writeFileDurably } from '../durable-file';
import { VeilError } from '../errors';

/** Replaces `file` atomically with `text`, with exactly `mode`, durably on disk. */
export async function writeDurably(
  dir: string,
  file: string,
  text: string,
  mode: number,
): Promise<void> {
  await io(dir, `write ${path.basename(file)}`, () => writeFileDurably(file, text, { mode }));
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
