/**
 * Helpers of the fault tests (and the serve-process end-to-end test): the process tree of a pid
 * from /proc and ps, the real `node bin/veil serve` process on free ports, DCMTK storescu runs
 * whose acknowledgements are counted, and variants of an instance (same SOP, other content).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parsePart10, Tags } from '../../src/dicom';
import { freePort } from '../helpers/orthanc';
import { eventually } from '../pipeline/harness';
import { storescu as storescuRun, storeStatuses } from './gateway-fixture';

const ROOT = path.join(__dirname, '..', '..');
/** The `veil` command of this checkout. */
export const VEIL_BIN = path.join(ROOT, 'bin', 'veil');

/** A process of the tree, identified by pid and start time (so a reused pid is not mistaken). */
export interface ProcessId {
  pid: number;
  start: string;
  command: string;
}

/** The /proc stat fields of a process: state and start time; undefined when it is gone. */
export function procStat(pid: number): { state: string; start: string } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // The command name is in parentheses and may hold spaces: the fields follow the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0]!, start: fields[19]! };
  } catch {
    return undefined;
  }
}

/** Every descendant of `root` (children, grandchildren…), from ps. */
export function descendants(root: number): ProcessId[] {
  const rows = execFileSync('ps', ['-e', '-o', 'pid=,ppid=,args='], { encoding: 'utf8' })
    .split('\n')
    .map((line) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ pid: Number(m[1]), ppid: Number(m[2]), command: m[3]! }));
  const out: ProcessId[] = [];
  const parents = new Set([root]);
  for (let grew = true; grew;) {
    grew = false;
    for (const row of rows) {
      if (parents.has(row.ppid) && !parents.has(row.pid)) {
        parents.add(row.pid);
        const stat = procStat(row.pid);
        if (stat) out.push({ pid: row.pid, start: stat.start, command: row.command });
        grew = true;
      }
    }
  }
  return out;
}

/** True while that very process exists and is not a zombie. */
export function alive(p: ProcessId): boolean {
  const stat = procStat(p.pid);
  return stat !== undefined && stat.start === p.start && stat.state !== 'Z';
}

/** BullMQ sandbox children (their command runs bullmq's child main.js) among `tree`. */
export function sandboxChildren(tree: ProcessId[]): ProcessId[] {
  return tree.filter((p) => /bullmq/.test(p.command));
}

/** SIGKILLs whatever of `tree` still lives (cleanup after a failed test). */
export function killAll(tree: ProcessId[]): void {
  for (const p of tree) {
    if (!alive(p)) continue;
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
}

/** The environment of `veil serve`: the test runner's without any Veil or Redis setting. */
export function serveEnv(
  httpPort: number,
  dimsePort: number,
  extra: Record<string, string> = {},
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('VEIL_') && k !== 'REDIS_URL' && k !== 'NODE_ENV') env[k] = v;
  }
  return {
    ...env,
    VEIL_HTTP__HOST: '127.0.0.1',
    VEIL_HTTP__PORT: String(httpPort),
    VEIL_DIMSE__HOST: '127.0.0.1',
    VEIL_DIMSE__PORT: String(dimsePort),
    VEIL_REDIS__URL: '',
    VEIL_KEYS__BITS: '2048',
    VEIL_SPOOL__MIN_FREE_BYTES: '0',
    VEIL_LOG__LEVEL: 'warn',
    ...extra,
  };
}

/** A running `veil serve`. */
export interface Served {
  child: ChildProcess;
  httpPort: number;
  dimsePort: number;
  output: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Spawns `node bin/veil --data-dir <dataDir> serve` on free ports and waits for /readyz 200. */
export async function spawnServe(o: {
  dataDir: string;
  cwd: string;
  env?: Record<string, string>;
}): Promise<Served> {
  const httpPort = await freePort();
  const dimsePort = await freePort();
  const child = spawn(process.execPath, [VEIL_BIN, '--data-dir', o.dataDir, 'serve'], {
    cwd: o.cwd,
    env: serveEnv(httpPort, dimsePort, o.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const served = { child, httpPort, dimsePort, output: () => output, exit };
  await eventually(
    async () => {
      if (child.exitCode !== null) throw new Error(`veil serve exited early:\n${output}`);
      const res = await fetch(`http://127.0.0.1:${httpPort}/readyz`).catch(() => undefined);
      if (!res) return undefined;
      await res.arrayBuffer();
      return res.status === 200 ? true : undefined;
    },
    '/readyz 200',
    120_000,
  ).catch(async (err: unknown) => {
    child.kill('SIGKILL');
    throw err;
  });
  return served;
}

/**
 * Runs storescu on `files` (one association) and resolves with the number of successful C-STORE
 * responses it printed: what the sender saw acknowledged. Rejects when storescu fails.
 */
export async function storescu(port: number, files: string[]): Promise<number> {
  const run = await storescuRun(port, files);
  if (run.code !== 0) throw new Error(`storescu exited ${run.code}: ${run.output}`);
  return storeStatuses(run.output).filter((status) => status === 'Success').length;
}

/**
 * The same instance (same UIDs) with other content: the first and last pixel sample set from
 * `version`, so versions differ in pixels only and each is recognisable byte for byte.
 */
export function variant(bytes: Buffer, version: number): Buffer {
  const pixels = parsePart10(bytes).dataset.get(Tags.PixelData)!.value!;
  const offset = bytes.indexOf(pixels);
  const out = Buffer.from(bytes);
  out.writeUInt16LE(0x1000 + version, offset);
  out.writeUInt16LE(0x2000 + version, offset + pixels.length - 2);
  return out;
}
