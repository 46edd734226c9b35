/**
 * Helpers shared by the end-to-end tests that drive Veil with real peers: DCMTK tools run without
 * blocking the event loop, a DIMSE data set comparison, multipart/related splitting and Orthanc's
 * REST API.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { Tags, diffDataSets, parsePart10 } from '../../src/dicom';
import { eventually } from '../pipeline/harness';

/** The SOP Instance UID of a Part 10 object. */
export function sopOf(bytes: Buffer): string {
  return parsePart10(bytes, { stopAtPixelData: true }).dataset.string(Tags.SOPInstanceUID)!;
}

/** Runs a DCMTK tool without blocking this process (the gateway may answer it from here). */
export function dcmtk(tool: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(tool, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${tool} exited ${code}: ${out}`)),
    );
  });
}

/**
 * DIMSE carries the data set, not the file meta (the receiving SCP writes its own group 0002):
 * every data set element, private tags and pixels included, must be the original's.
 */
export function assertSameDataSet(original: Buffer, received: Buffer): void {
  const a = parsePart10(original).dataset;
  const b = parsePart10(received).dataset;
  // Data Set Trailing Padding (FFFC,FFFC) carries no meaning and DCMTK drops it (PS3.10 7.2).
  assert.deepEqual(diffDataSets(a, b, { ignore: (tag) => tag === 0xfffcfffc }), []);
  assert.ok(
    b.get(Tags.PixelData)!.value!.equals(a.get(Tags.PixelData)!.value!),
    'pixel data differs',
  );
}

/** Files received in `dir`, by SOP Instance UID. */
export function receivedIn(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const name of readdirSync(dir)) {
    const bytes = readFileSync(path.join(dir, name));
    out.set(sopOf(bytes), bytes);
  }
  return out;
}

/** The bodies of the parts of a multipart/related message (RFC 2046). */
export function multipartParts(body: Buffer, contentType: string): Buffer[] {
  const boundary = /boundary="?([^";]+)"?/.exec(contentType)![1];
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: Buffer[] = [];
  let at = body.indexOf(delimiter);
  while (at !== -1) {
    const start = at + delimiter.length;
    if (body.subarray(start, start + 2).toString() === '--') break;
    const next = body.indexOf(delimiter, start);
    const part = body.subarray(start, next === -1 ? body.length : next);
    const headerEnd = part.indexOf('\r\n\r\n');
    parts.push(part.subarray(headerEnd + 4, part.length - 2));
    at = next;
  }
  return parts;
}

/** A STOW-RS request body holding the given instances. */
export function stowBody(instances: Buffer[], boundary: string): Buffer {
  const chunks: Buffer[] = [];
  for (const instance of instances) {
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`));
    chunks.push(instance, Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(chunks);
}

/** Starts a DCMTK storescp writing into `dir` and resolves once it answers C-ECHO. */
export async function startStorescp(
  aeTitle: string,
  port: number,
  dir: string,
): Promise<ChildProcess> {
  const child = spawn('storescp', ['-aet', aeTitle, '-od', dir, String(port)], {
    stdio: 'ignore',
  });
  await eventually(
    () =>
      dcmtk('echoscu', ['-aec', aeTitle, '127.0.0.1', String(port)]).then(
        () => true,
        () => undefined,
      ),
    'storescp',
  );
  return child;
}

/** Kills a child process and waits until it has exited. */
export async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** One instance as Orthanc holds it: its simplified tags and its stored file. */
export interface OrthancHeld {
  id: string;
  tags: Record<string, unknown>;
  file: Buffer;
}

/** Every instance an Orthanc holds, asked over its REST API (/instances, simplified-tags, file). */
export async function orthancInstances(httpUrl: string): Promise<OrthancHeld[]> {
  const json = async (url: string): Promise<unknown> => {
    const res = await fetch(url);
    assert.equal(res.status, 200, `GET ${url}`);
    return res.json();
  };
  const ids = (await json(`${httpUrl}/instances`)) as string[];
  const out: OrthancHeld[] = [];
  for (const id of ids) {
    const tags = (await json(`${httpUrl}/instances/${id}/simplified-tags`)) as Record<
      string,
      unknown
    >;
    const res = await fetch(`${httpUrl}/instances/${id}/file`);
    assert.equal(res.status, 200);
    out.push({ id, tags, file: Buffer.from(await res.arrayBuffer()) });
  }
  return out;
}
