/**
 * The test files shipped with python3-pydicom (~160 real DICOM files: CT, MR, RGB, RLE, JPEG,
 * big endian, implicit, deflated, truncated) and a way to ask pydicom itself about them.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';

/** Interpreters tried in order: the PATH one may be a pyenv without the Debian pydicom. */
const PYTHONS = ['python3', '/usr/bin/python3'];

/** Files in the corpus folder that are not DICOM (notes, JSON, dumps, archives). */
const NOT_DICOM = /(^README(\.txt)?$|\.(txt|json|dump|gz)$)/;

let found: { python: string; dir: string } | null | undefined;

function locate(): { python: string; dir: string } | null {
  if (found !== undefined) return found;
  found = null;
  for (const python of PYTHONS) {
    const r = spawnSync(
      python,
      ['-c', 'import pydicom, os; print(os.path.dirname(pydicom.__file__))'],
      {
        encoding: 'utf8',
      },
    );
    if (r.status === 0 && r.stdout.trim() !== '') {
      found = { python, dir: path.join(r.stdout.trim(), 'data', 'test_files') };
      break;
    }
  }
  return found;
}

/** The pydicom test_files folder, or undefined when pydicom is not installed. */
export function pydicomCorpusDir(): string | undefined {
  return locate()?.dir;
}

/** The python3 interpreter that can `import pydicom`, or undefined. */
export function pydicomPython(): string | undefined {
  return locate()?.python;
}

function walk(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const full = path.join(dir, name);
      return statSync(full).isDirectory() ? walk(full) : [full];
    });
}

/** Absolute paths of every DICOM file of the corpus (recursively), sorted; [] without pydicom. */
export function listCorpusFiles(): string[] {
  const dir = pydicomCorpusDir();
  if (dir === undefined) return [];
  return walk(dir).filter((file) => !NOT_DICOM.test(path.basename(file)));
}

/** Absolute paths of the corpus files that are not DICOM (README, JSON, dumps, gzip). */
export function listCorpusNonDicomFiles(): string[] {
  const dir = pydicomCorpusDir();
  if (dir === undefined) return [];
  return walk(dir).filter((file) => NOT_DICOM.test(path.basename(file)));
}

/**
 * Runs a Python script with pydicom importable and returns its stdout; `args` become sys.argv[1:].
 * Throws with pydicom's stderr when the script fails.
 */
export function runPydicom(script: string, args: string[] = []): string {
  const python = pydicomPython();
  if (python === undefined) throw new Error('python3-pydicom is not installed');
  const r = spawnSync(python, ['-c', script, ...args], {
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`pydicom script failed: ${r.stderr}`);
  return r.stdout;
}
