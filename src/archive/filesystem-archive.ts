/**
 * The default archive: one Part 10 file per instance under <dir>/<study>/<series>/<sop>.dcm.
 * Writes are atomic and durable (temp file, fsync, rename, fsync of the folder), so a crash
 * leaves either the old or the new object, never half of one.
 */
import { constants as fsConstants, promises as fs } from 'node:fs';
import path from 'node:path';
import { fsyncDir, writeFileDurably } from '../durable-file';
import { VeilError } from '../errors';
import { type Archive, type ArchiveHealth, type InstanceRef, assertInstanceRef } from './archive';

function unavailable(err: unknown, what: string): VeilError {
  const code = (err as NodeJS.ErrnoException)?.code ?? 'unknown';
  return new VeilError(
    'VEIL_E_ARCHIVE_UNAVAILABLE',
    `Filesystem archive cannot ${what} (${code}).`,
    { code },
    { cause: err },
  );
}

const isMissing = (err: unknown) => (err as NodeJS.ErrnoException)?.code === 'ENOENT';

/**
 * Temp files of earlier writes of the same object whose writer died between open and rename (a
 * SIGKILLed worker). The caller holds the instance's protect lock, so no live writer owns them.
 */
async function removeStaleTemps(file: string): Promise<void> {
  const dir = path.dirname(file);
  const prefix = `${path.basename(file)}.`;
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    if (name.startsWith(prefix) && /^[0-9a-f]{12}\.tmp$/.test(name.slice(prefix.length))) {
      await fs.rm(path.join(dir, name), { force: true }).catch(() => undefined);
    }
  }
}

/** Archive in a local (or mounted) folder; the newest put of an instance wins. */
export class FilesystemArchive implements Archive {
  readonly kind = 'filesystem';

  constructor(readonly dir: string) {}

  /** Path of an instance's file; validates the UIDs first. */
  pathOf(ref: InstanceRef): string {
    assertInstanceRef(ref);
    return path.join(
      this.dir,
      ref.studyInstanceUID,
      ref.seriesInstanceUID,
      `${ref.sopInstanceUID}.dcm`,
    );
  }

  async put(ref: InstanceRef, bytes: Buffer): Promise<void> {
    const file = this.pathOf(ref);
    try {
      await writeFileDurably(file, bytes, { mode: 0o640, createFolder: true });
    } catch (err) {
      throw unavailable(err, 'store an object');
    }
    await removeStaleTemps(file);
  }

  async get(ref: InstanceRef): Promise<Buffer> {
    const file = this.pathOf(ref);
    try {
      return await fs.readFile(file);
    } catch (err) {
      if (isMissing(err)) {
        throw new VeilError('VEIL_E_ARCHIVE_NOT_FOUND', 'The archive holds no such instance.', {
          sopInstanceUID: ref.sopInstanceUID,
        });
      }
      throw unavailable(err, 'read an object');
    }
  }

  async has(ref: InstanceRef): Promise<boolean> {
    const file = this.pathOf(ref);
    try {
      return (await fs.stat(file)).isFile();
    } catch (err) {
      if (isMissing(err)) return false;
      throw unavailable(err, 'look up an object');
    }
  }

  /** Removes the file; empty study/series folders stay (removing them would race with puts). */
  async delete(ref: InstanceRef): Promise<void> {
    const file = this.pathOf(ref);
    try {
      await fs.unlink(file);
      await fsyncDir(path.dirname(file));
    } catch (err) {
      if (!isMissing(err)) throw unavailable(err, 'delete an object');
    }
  }

  /** Ok when the folder exists (or can be made) and this process may write to it. */
  async health(): Promise<ArchiveHealth> {
    try {
      await fs.mkdir(this.dir, { recursive: true });
      await fs.access(this.dir, fsConstants.W_OK | fsConstants.X_OK);
      return { ok: true };
    } catch (err) {
      return { ok: false, detail: `archive folder not writable (${errnoOf(err)})` };
    }
  }

  async close(): Promise<void> {
    // Nothing held open between calls.
  }
}

function errnoOf(err: unknown): string {
  return (err as NodeJS.ErrnoException)?.code ?? 'unknown';
}
