/**
 * Test bed of the DIMSE listener: GatewayDeps from the real SQLite catalogue and a spool-like
 * folder intake, a retriever that hands back the pushed originals (or fails chosen ones like a
 * tampered object), DCMTK tools run asynchronously (the listener shares this event loop).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs, mkdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { InstanceRef } from '../../src/archive/archive';
import type { VeilConfig } from '../../src/config';
import { diffDataSets, parsePart10 } from '../../src/dicom';
import { Tags } from '../../src/dicom/tags';
import { VeilError } from '../../src/errors';
import { recordFromDataSet } from '../../src/index/record-from-dataset';
import { SqliteCatalogue } from '../../src/index/sqlite-catalogue';
import { silentLogger } from '../../src/log';
import type {
  AuditEvent,
  Intake,
  IntakeResult,
  Retrieved,
  Retriever,
} from '../../src/pipeline/contracts';
import type { GatewayDeps } from '../../src/pipeline/gateway-deps';
import type { IntakeSource } from '../../src/pipeline/jobs';
import { createMetrics } from '../../src/pipeline/metrics';
import { testConfig } from '../pipeline/harness';

/** An intake onto a folder: validates the Part 10 header, keeps each accepted file by SOP Instance UID. */
export class FolderIntake implements Intake {
  readonly accepted: Array<{ path: string; source: IntakeSource; result: IntakeResult }> = [];
  /** Errors the next accept() calls throw, in order (then they succeed again). */
  readonly failNext: VeilError[] = [];
  private n = 0;

  constructor(private readonly dir: string) {
    mkdirSync(path.join(dir, 'incoming'), { recursive: true });
    mkdirSync(path.join(dir, 'accepted'), { recursive: true });
  }

  /** When true, temp paths point into a folder that does not exist (an unwritable spool). */
  brokenSpool = false;

  tempPath(): string {
    const folder = this.brokenSpool ? 'missing-folder' : 'incoming';
    return path.join(this.dir, folder, `${process.pid}-${++this.n}.part`);
  }

  async checkAccepting(): Promise<void> {}

  async accept(tempPath: string, source: IntakeSource): Promise<IntakeResult> {
    try {
      const failure = this.failNext.shift();
      if (failure) throw failure;
      const { dataset } = parsePart10(await fs.readFile(tempPath), { stopAtPixelData: true });
      const result = {
        sopInstanceUID: dataset.string(Tags.SOPInstanceUID) ?? '',
        sopClassUID: dataset.string(Tags.SOPClassUID) ?? '',
        studyInstanceUID: dataset.string(Tags.StudyInstanceUID) ?? '',
      };
      const kept = path.join(this.dir, 'accepted', `${result.sopInstanceUID}.dcm`);
      await fs.rename(tempPath, kept);
      this.accepted.push({ path: kept, source, result });
      return result;
    } catch (err) {
      await fs.rm(tempPath, { force: true });
      throw err;
    }
  }
}

/** A retriever that "reveals" by copying the original file pushed under that SOP Instance UID. */
export class OriginalsRetriever implements Retriever {
  readonly originals = new Map<string, string>();
  /** SOP Instance UIDs that fail like a tampered object. */
  readonly tampered = new Set<string>();
  readonly requests: Array<{ refs: readonly InstanceRef[]; requestedBy: string }> = [];
  private n = 0;

  constructor(private readonly outDir: string) {
    mkdirSync(outDir, { recursive: true });
  }

  async *retrieve(refs: readonly InstanceRef[], requestedBy: string): AsyncIterable<Retrieved> {
    this.requests.push({ refs, requestedBy });
    for (const ref of refs) {
      const original = this.originals.get(ref.sopInstanceUID);
      if (original === undefined || this.tampered.has(ref.sopInstanceUID)) {
        yield {
          ref,
          ok: false,
          code: 'VEIL_E_REVEAL_PIXELS_TAMPERED',
          message: 'Encrypted pixel data failed authentication.',
        };
        continue;
      }
      const out = path.join(this.outDir, `${++this.n}.dcm`);
      await fs.copyFile(original, out);
      const bytes = (await fs.stat(out)).size;
      yield { ref, ok: true, path: out, bytes, release: () => fs.rm(out, { force: true }) };
    }
  }
}

/** Everything a DIMSE test needs, built in `dir`. */
export interface DimseTestBed {
  deps: GatewayDeps;
  intake: FolderIntake;
  retriever: OriginalsRetriever;
  catalogue: SqliteCatalogue;
  audit: AuditEvent[];
  /** Indexes a Part 10 file as archived and makes it retrievable. */
  archiveOriginal(file: string): Promise<InstanceRef>;
  close(): void;
}

/** Builds the test bed; `dimse` overrides the listener's config (port 0 on 127.0.0.1 by default). */
export function dimseTestBed(dir: string, dimse: Partial<VeilConfig['dimse']> = {}): DimseTestBed {
  const base = testConfig(dir);
  const config = {
    ...base,
    dimse: { ...base.dimse, host: '127.0.0.1', port: 0, ...dimse },
  } as VeilConfig;
  const intake = new FolderIntake(path.join(dir, 'spool'));
  const retriever = new OriginalsRetriever(path.join(dir, 'outgoing'));
  mkdirSync(path.dirname(config.index.file), { recursive: true });
  const catalogue = SqliteCatalogue.open(config.index.file);
  const audit: AuditEvent[] = [];
  const deps: GatewayDeps = {
    config,
    log: silentLogger,
    intake,
    retriever,
    catalogue,
    archive: undefined as never,
    audit: { record: (e) => void audit.push(e), close: async () => undefined },
    metrics: createMetrics({ defaultMetrics: false }),
    queues: undefined as never,
    readiness: async () => [],
  };
  return {
    deps,
    intake,
    retriever,
    catalogue,
    audit,
    async archiveOriginal(file) {
      const parsed = parsePart10(await fs.readFile(file));
      const record = recordFromDataSet(parsed.dataset, parsed.transferSyntaxUID);
      catalogue.upsert({
        ...record,
        state: 'archived',
        receivedAt: new Date().toISOString(),
      });
      retriever.originals.set(record.sopInstanceUID, file);
      return record;
    },
    close: () => catalogue.close(),
  };
}

/** Result of a tool run. */
export interface ToolRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a tool without blocking the event loop (the listener under test runs in this process). */
export function runAsync(command: string, args: string[]): Promise<ToolRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** A TCP port free right now on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** A DCMTK storescp receiving into `dir` (every transfer syntax accepted), until stop(). */
export async function startStorescp(
  aeTitle: string,
  dir: string,
): Promise<{ port: number; stop(): Promise<void> }> {
  const port = await freePort();
  await fs.mkdir(dir, { recursive: true });
  const child: ChildProcess = spawn(
    'storescp',
    ['-aet', aeTitle, '+xa', '-od', dir, String(port)],
    {
      stdio: 'ignore',
    },
  );
  // Ready once it accepts TCP connections.
  for (;;) {
    if (child.exitCode !== null) throw new Error('storescp exited early');
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (up) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** Files of a folder (full paths), sorted. */
export async function filesIn(dir: string): Promise<string[]> {
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  return names.sort().map((n) => path.join(dir, n));
}

/** The data set bytes of a Part 10 file (everything after the File Meta group). */
export function datasetBytes(file: Buffer): Buffer {
  let offset = 132;
  while (file.readUInt16LE(offset) === 0x0002) {
    const vr = file.toString('latin1', offset + 4, offset + 6);
    const long = ['OB', 'OW', 'UN', 'SQ', 'UT', 'UC', 'UR'].includes(vr);
    offset += long ? 12 + file.readUInt32LE(offset + 8) : 8 + file.readUInt16LE(offset + 6);
  }
  return file.subarray(offset);
}

/**
 * The received object equals the original element for element (private tags and pixels
 * included) and its File Meta names the data set's SOP class and instance. The rest of the meta is
 * the receiver's own (implementation UID, source AE), so it is not compared. Trailing padding
 * (FFFC,FFFC) is not an element a sender transmits (PS3.10 7.2).
 */
export function assertSameDataSet(original: Buffer, received: Buffer, name = ''): void {
  const a = parsePart10(original);
  const b = parsePart10(received);
  const diff = diffDataSets(a.dataset, b.dataset, { ignore: (tag) => tag === 0xfffcfffc });
  assert.deepEqual(
    // DCMTK's storescu rewrites 8-bit Pixel Data declared OW as OB (PS3.5 8.2): same bytes.
    diff.filter((d) => !/^\(7FE0,0010\) VR differs \((OB vs OW|OW vs OB)\)$/.test(d)),
    [],
    `data set differs ${name}`,
  );
  const pa = a.dataset.get(Tags.PixelData);
  if (pa?.value)
    assert.ok(b.dataset.get(Tags.PixelData)?.value?.equals(pa.value), `pixels differ ${name}`);
  // The receiver's meta names the instance the command named: the data set's own UIDs.
  assert.equal(b.meta.string(Tags.MediaStorageSOPClassUID), a.dataset.string(Tags.SOPClassUID));
  assert.equal(
    b.meta.string(Tags.MediaStorageSOPInstanceUID),
    a.dataset.string(Tags.SOPInstanceUID),
  );
}
