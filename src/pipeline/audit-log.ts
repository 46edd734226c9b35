/**
 * The audit trail as JSON lines (one IHE ATNA / PS3.15 A.5 event per line, appended): when, what
 * type, which action and outcome, who, and UIDs only. Patient values never reach it.
 */
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import path from 'node:path';
import type { AuditEvent, AuditLog } from './contracts';

/** One line of the audit file. */
export interface AuditLine extends AuditEvent {
  /** ISO 8601 time the event was recorded. */
  time: string;
  /** Process that recorded it (gateway or worker), for multi-host setups. */
  pid: number;
}

/** Keeps only the fields AuditEvent defines, so a caller cannot smuggle patient values in. */
function sanitize(event: AuditEvent): AuditEvent {
  const out: AuditEvent = {
    type: event.type,
    action: event.action,
    outcome: event.outcome,
    user: event.user,
  };
  if (event.address !== undefined) out.address = event.address;
  if (event.studyInstanceUIDs) out.studyInstanceUIDs = [...event.studyInstanceUIDs];
  if (event.sopInstanceUIDs) out.sopInstanceUIDs = [...event.sopInstanceUIDs];
  if (event.query) out.query = { level: event.query.level, keys: [...event.query.keys] };
  if (event.errorCode !== undefined) out.errorCode = event.errorCode;
  return out;
}

/** Append-only JSON lines audit log; several processes may append to the same file. */
export class JsonLinesAuditLog implements AuditLog {
  private readonly stream: WriteStream;
  private closing: Promise<void> | undefined;

  /** Opens (creating folders as needed) `file` for appending. */
  constructor(readonly file: string) {
    mkdirSync(path.dirname(file), { recursive: true });
    // O_APPEND: each write lands at the end even with other processes writing too.
    this.stream = createWriteStream(file, { flags: 'a', mode: 0o640 });
    this.stream.on('error', () => undefined);
  }

  record(event: AuditEvent): void {
    if (this.closing) return;
    const line: AuditLine = {
      time: new Date().toISOString(),
      ...sanitize(event),
      pid: process.pid,
    };
    this.stream.write(`${JSON.stringify(line)}\n`);
  }

  close(): Promise<void> {
    return (this.closing ??= new Promise<void>((resolve) => this.stream.end(() => resolve())));
  }
}
