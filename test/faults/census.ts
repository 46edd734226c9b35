/**
 * What the fault tests count after a fault: copies of each SOP Instance in the archive (filesystem
 * folder or Orthanc's REST API), rows of the SQLite index, files left in the spool, protect jobs
 * by state, and the revealed instances of a study over WADO-RS.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Queue } from 'bullmq';
import { multipartParts, orthancInstances, sopOf } from '../e2e/e2e-tools';

/** Archived copies by SOP Instance UID, and files that are no archived object (temp leftovers). */
export interface ArchiveCensus {
  copies: Map<string, number>;
  strays: string[];
}

/** Every file under the filesystem archive folder, counted by the SOP Instance UID it holds. */
export function filesystemCensus(dir: string): ArchiveCensus {
  const copies = new Map<string, number>();
  const strays: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const file = path.join(d, name);
      if (statSync(file).isDirectory()) walk(file);
      else if (!name.endsWith('.dcm')) strays.push(path.relative(dir, file));
      else {
        const sop = sopOf(readFileSync(file));
        copies.set(sop, (copies.get(sop) ?? 0) + 1);
      }
    }
  };
  walk(dir);
  return { copies, strays };
}

/** Every instance Orthanc holds (its /instances), counted by SOP Instance UID. */
export async function orthancCensus(httpUrl: string): Promise<ArchiveCensus> {
  const copies = new Map<string, number>();
  for (const held of await orthancInstances(httpUrl)) {
    const sop = String(held.tags.SOPInstanceUID);
    copies.set(sop, (copies.get(sop) ?? 0) + 1);
  }
  return { copies, strays: [] };
}

/** Rows of the index per SOP Instance UID and their states (read straight from the SQLite file). */
export function indexRows(file: string): Map<string, string[]> {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare('SELECT sop_instance_uid AS sop, state FROM instances').all() as Array<{
      sop: string;
      state: string;
    }>;
    const out = new Map<string, string[]>();
    for (const r of rows) out.set(r.sop, [...(out.get(r.sop) ?? []), r.state]);
    return out;
  } finally {
    db.close();
  }
}

/** Names of the files in a spool sub-folder (queued/, incoming/, failed/). */
export function spoolFiles(spoolDir: string, sub: 'queued' | 'incoming' | 'failed'): string[] {
  try {
    return readdirSync(path.join(spoolDir, sub));
  } catch {
    return [];
  }
}

/** Protect jobs by state, for "nothing failed, nothing pending". */
export async function protectCounts(queue: Queue): Promise<Record<string, number>> {
  return queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed', 'prioritized');
}

/** WADO-RS of a whole study through the gateway: the revealed instances by SOP Instance UID. */
export async function wadoStudy(
  httpPort: number,
  token: string,
  studyUID: string,
): Promise<Map<string, Buffer[]>> {
  const res = await fetch(`http://127.0.0.1:${httpPort}/dicom-web/studies/${studyUID}`, {
    headers: {
      authorization: `Bearer ${token}`,
      accept: 'multipart/related; type="application/dicom"',
    },
  });
  if (res.status !== 200) throw new Error(`WADO-RS answered ${res.status}: ${await res.text()}`);
  const parts = multipartParts(
    Buffer.from(await res.arrayBuffer()),
    res.headers.get('content-type')!,
  );
  const out = new Map<string, Buffer[]>();
  for (const part of parts) out.set(sopOf(part), [...(out.get(sopOf(part)) ?? []), part]);
  return out;
}
