/**
 * What the gateway benchmark asks its peers and checks of what came back: instance counts (Orthanc
 * /statistics, Veil /metrics), multipart bodies, and delivered copies equal to the originals.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { Tags, diffDataSets, parsePart10 } from '../../src/dicom';

/** Instances Orthanc holds (GET /statistics). */
export async function orthancInstances(httpUrl: string): Promise<number> {
  const res = await fetch(`${httpUrl}/statistics`);
  const body = (await res.json()) as { CountInstances: number };
  return body.CountInstances;
}

/** A counter of Veil's /metrics (summed over its labels). */
export async function veilCounter(httpUrl: string, name: string): Promise<number> {
  const text = await (await fetch(`${httpUrl}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** GETs a WADO-RS study and returns the whole multipart body and its content type. */
export async function wadoStudy(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ body: Buffer; contentType: string }> {
  const res = await fetch(url, {
    headers: { ...headers, accept: 'multipart/related; type="application/dicom"' },
  });
  if (res.status !== 200) throw new Error(`WADO-RS ${url} answered ${res.status}`);
  const body = Buffer.from(await res.arrayBuffer());
  return { body, contentType: res.headers.get('content-type') ?? '' };
}

/** The parts of a multipart/related body: the end-to-end tests' helper. */
export { multipartParts } from '../../test/e2e/e2e-tools';

/** SOP Instance UID → original file, for the checks below. */
export function originalsBySop(files: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const file of files) {
    const ds = parsePart10(readFileSync(file), { stopAtPixelData: true }).dataset;
    out.set(ds.string(Tags.SOPInstanceUID)!, file);
  }
  return out;
}

/**
 * Throws unless every copy has the data set of its original, element for element (private tags
 * and pixels included). Data Set Trailing Padding aside, which DCMTK drops (PS3.10 7.2).
 */
export function checkSameDataSets(copies: Buffer[], originals: Map<string, string>): void {
  if (copies.length !== originals.size)
    throw new Error(`received ${copies.length} instances, expected ${originals.size}`);
  const seen = new Set<string>();
  for (const copy of copies) {
    const b = parsePart10(copy).dataset;
    const sop = b.string(Tags.SOPInstanceUID)!;
    const file = originals.get(sop);
    if (!file || seen.has(sop)) throw new Error(`unexpected or repeated instance ${sop}`);
    seen.add(sop);
    const a = parsePart10(readFileSync(file)).dataset;
    const diff = diffDataSets(a, b, { ignore: (tag) => tag === 0xfffcfffc });
    if (diff.length > 0)
      throw new Error(`${sop} differs from its original: ${diff.length} elements`);
  }
}

/** The files a storescp wrote into `dir`. */
export function filesIn(dir: string): Buffer[] {
  return readdirSync(dir).map((name) => readFileSync(path.join(dir, name)));
}
