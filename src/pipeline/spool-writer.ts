/**
 * A door's spool temp file as a Writable that makes the acknowledgement path short: it keeps the
 * first bytes (where the header is) in memory, so intake need not read the file back, and it
 * fsyncs on the descriptor it wrote with before 'finish', so intake need not open it again to
 * fsync. Writes are batched (writev of whatever arrived while the previous write ran); memory is
 * bounded by the stream's highWaterMark plus the kept head.
 */
import fs from 'node:fs';
import { Writable } from 'node:stream';

/** What intake learns from a SpoolWriter that finished: the file is durable, its head is here. */
export interface WrittenSpoolFile {
  /** The file's bytes were fsynced before the writer finished. */
  synced: true;
  /** The file's first bytes (up to headLimit): the File Meta and, usually, the whole header. */
  head: Buffer;
}

/** Bytes kept in memory from the start of the file: enough for the header of nearly any instance. */
export const SPOOL_HEAD_BYTES = 64 * 1024;

/** A new spool file (created exclusively, mode 0600) written through one descriptor. */
export class SpoolWriter extends Writable {
  private fd: number | undefined;
  private readonly headChunks: Buffer[] = [];
  private headLength = 0;
  private synced = false;

  constructor(
    readonly path: string,
    private readonly headLimit = SPOOL_HEAD_BYTES,
  ) {
    super({ highWaterMark: 1 << 20 });
  }

  /** The durable file and its head, once 'finish' was emitted; undefined before or after a failure. */
  written(): WrittenSpoolFile | undefined {
    if (!this.synced) return undefined;
    return { synced: true, head: Buffer.concat(this.headChunks, this.headLength) };
  }

  // Opening and closing run on this thread: both are immediate, while a thread-pool round trip
  // waits for a core the workers are using (the close is on the acknowledgement path).
  override _construct(callback: (error?: Error | null) => void): void {
    try {
      this.fd = fs.openSync(this.path, 'wx', 0o600);
    } catch (err) {
      callback(err as Error);
      return;
    }
    callback();
  }

  override _writev(
    chunks: Array<{ chunk: Buffer; encoding: BufferEncoding }>,
    callback: (error?: Error | null) => void,
  ): void {
    const buffers = chunks.map((c) => c.chunk);
    for (const b of buffers) this.keepHead(b);
    writeAll(this.fd as number, buffers, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    fs.fsync(this.fd as number, (err) => {
      this.synced = !err;
      callback(err);
    });
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (error) this.synced = false;
    if (this.fd === undefined) {
      callback(error);
      return;
    }
    const fd = this.fd;
    this.fd = undefined;
    let closeError: Error | null = null;
    try {
      fs.closeSync(fd);
    } catch (err) {
      closeError = err as Error;
    }
    callback(error ?? closeError);
  }

  private keepHead(chunk: Buffer): void {
    const room = this.headLimit - this.headLength;
    if (room <= 0) return;
    // A copy: the caller may reuse its buffer once the write is done.
    const kept = Buffer.from(chunk.subarray(0, room));
    this.headChunks.push(kept);
    this.headLength += kept.length;
  }
}

/** writev until every byte is written (a regular file may take a short write, e.g. near ENOSPC). */
function writeAll(fd: number, buffers: Buffer[], callback: (error?: Error | null) => void): void {
  fs.writev(fd, buffers, (err, written) => {
    if (err) {
      callback(err);
      return;
    }
    if (written === 0) {
      callback(new Error('The spool file write made no progress.'));
      return;
    }
    let rest = written;
    const remaining: Buffer[] = [];
    for (const b of buffers) {
      if (rest >= b.length) rest -= b.length;
      else {
        remaining.push(b.subarray(rest));
        rest = 0;
      }
    }
    if (remaining.length === 0) callback();
    else writeAll(fd, remaining, callback);
  });
}
