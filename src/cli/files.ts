/** File and folder walking for the batch commands: a file maps to a file, a folder to a mirrored folder. */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { writeFileDurably } from '../durable-file';
import { VeilError } from '../errors';

export interface Job {
  input: string;
  output: string;
}

/** Lists the (input, output) pairs for IN and OUT: one pair for a file, every DICOM file below a folder otherwise. */
export async function planJobs(
  input: string,
  output: string,
): Promise<{ jobs: Job[]; folder: boolean; skipped: string[] }> {
  const stat = await fs.stat(input).catch((err: NodeJS.ErrnoException) => {
    throw new VeilError('VEIL_E_USAGE', `Cannot read ${input}: ${err.code ?? 'error'}.`);
  });
  if (!stat.isDirectory()) {
    const out = (await isDirectory(output)) ? path.join(output, path.basename(input)) : output;
    return { jobs: [{ input, output: out }], folder: false, skipped: [] };
  }
  // In a folder, only DICOM files are work: a README or a script beside them is skipped, not failed.
  const jobs: Job[] = [];
  const skipped: string[] = [];
  for (const rel of await walk(input, '')) {
    const file = path.join(input, rel);
    if (await looksLikeDicom(file)) jobs.push({ input: file, output: path.join(output, rel) });
    else skipped.push(file);
  }
  return { jobs, folder: true, skipped };
}

/** A Part 10 file ('DICM' at offset 128) or a file named *.dcm (bare data sets are named so). */
export async function looksLikeDicom(file: string): Promise<boolean> {
  if (/\.dcm$/i.test(file)) return true;
  const handle = await fs.open(file, 'r');
  try {
    const head = Buffer.alloc(132);
    const { bytesRead } = await handle.read(head, 0, 132, 0);
    return bytesRead === 132 && head.toString('latin1', 128, 132) === 'DICM';
  } finally {
    await handle.close();
  }
}

async function isDirectory(p: string): Promise<boolean> {
  try {
    return (await fs.stat(p)).isDirectory();
  } catch {
    return false;
  }
}

async function walk(root: string, rel: string): Promise<string[]> {
  const entries = await fs.readdir(path.join(root, rel), { withFileTypes: true });
  const files: string[] = [];
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const child = path.join(rel, entry.name);
    if (entry.isDirectory()) files.push(...(await walk(root, child)));
    else if (entry.isFile()) files.push(child);
  }
  return files;
}

/** Writes a file atomically and durably, parent folders created. */
export async function writeFileAtomic(file: string, data: Buffer): Promise<void> {
  await writeFileDurably(file, data, { createFolder: true });
}
