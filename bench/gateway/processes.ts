/**
 * Process plumbing of the gateway benchmark: timed runs of the DCMTK tools, and a sampler of the
 * resident memory (/proc/<pid>/status VmRSS) of a process and of its descendants.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, readdirSync } from 'node:fs';

/** Environment of every DCMTK tool: DCMTK sets TCP_NODELAY on its sockets when this is set. */
export const DCMTK_ENV: NodeJS.ProcessEnv = { ...process.env, TCP_NODELAY: '1' };

/** Result of a finished tool run. */
export interface ToolRun {
  seconds: number;
  output: string;
}

/**
 * Runs a tool to completion (bounded by `limitMs`), timing it from spawn to exit; `onLine` sees
 * each output line as it arrives (progress). Rejects on a non-zero exit.
 */
export function runTimed(
  tool: string,
  args: string[],
  options: { limitMs?: number; onLine?: (line: string) => void } = {},
): Promise<ToolRun> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(tool, args, { env: DCMTK_ENV, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let partial = '';
    const take = (chunk: Buffer) => {
      const text = chunk.toString();
      output = (output + text).slice(-65536);
      if (!options.onLine) return;
      const lines = (partial + text).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) options.onLine(line);
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    const timer = setTimeout(() => child.kill('SIGKILL'), options.limitMs ?? 600_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      if (code === 0) resolve({ seconds, output });
      else reject(new Error(`${tool} exited ${code ?? signal}:\n${output.slice(-4000)}`));
    });
  });
}

/** A long-running child (storescp, Orthanc, the gateway) that stop() ends and waits for. */
export interface Daemon {
  child: ChildProcess;
  log(): string;
  stop(): Promise<void>;
}

/** Spawns a long-running process, keeping the tail of its output for error messages. */
export function startDaemon(command: string, args: string[], env: NodeJS.ProcessEnv): Daemon {
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const keep = (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-16384);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = once(child, 'exit');
  let stopping: Promise<void> | undefined;
  return {
    child,
    log: () => log,
    stop: () =>
      (stopping ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
        await exited;
        clearTimeout(timer);
      })()),
  };
}

/** Polls `check` every 50 ms until it returns a value (bounded; never a timing assertion). */
export async function until<T>(
  check: () => Promise<T | undefined> | T | undefined,
  what: string,
  limitMs = 600_000,
): Promise<T> {
  const end = Date.now() + limitMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Resident set size of a process in bytes (VmRSS), or undefined once it is gone. */
export function rssOf(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  } catch {
    return undefined;
  }
}

/** The command name of a process (/proc/<pid>/comm). */
function commOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

/** Every descendant of `root` (children, their children...), from /proc/<pid>/stat parents. */
export function descendantsOf(root: number): number[] {
  const parent = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // The command may hold spaces and parentheses: fields follow the last ')'.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parent.set(Number(name), Number(fields[1]));
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  const frontier = [root];
  while (frontier.length > 0) {
    const pid = frontier.pop()!;
    for (const [child, ppid] of parent) {
      if (ppid === pid) {
        out.push(child);
        frontier.push(child);
      }
    }
  }
  return out;
}

/** One reading of the gateway and its worker children. */
export interface MemorySample {
  /** Milliseconds since the sampler started. */
  at: number;
  /** VmRSS of the gateway process itself. */
  gateway: number;
  /** Sum of VmRSS over the worker children at that instant. */
  workersSum: number;
  /** VmRSS of the largest worker child at that instant. */
  workerMax: number;
  /** Worker children alive at that instant. */
  workers: number;
}

/** Peaks over a span of samples. */
export interface MemoryPeaks {
  gateway: number;
  workersSum: number;
  workerMax: number;
  workers: number;
}

/**
 * Samples the gateway (root pid) and its worker children every `intervalMs`. Descendants named
 * redis-server (the embedded Redis) are not workers and are left out. now() marks a point in time
 * and peaks(from, to) reads the highest values between two marks.
 */
export class MemorySampler {
  private timer: NodeJS.Timeout | undefined;
  private readonly samples: MemorySample[] = [];
  private readonly started = Date.now();

  constructor(
    private readonly root: number,
    private readonly intervalMs = 100,
  ) {}

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
  }

  /** Samples once and returns the time mark of that sample. */
  now(): number {
    return this.sample().at;
  }

  /** Highest readings between two marks (inclusive). */
  peaks(from: number, to: number): MemoryPeaks {
    const out: MemoryPeaks = { gateway: 0, workersSum: 0, workerMax: 0, workers: 0 };
    for (const s of this.samples) {
      if (s.at < from || s.at > to) continue;
      out.gateway = Math.max(out.gateway, s.gateway);
      out.workersSum = Math.max(out.workersSum, s.workersSum);
      out.workerMax = Math.max(out.workerMax, s.workerMax);
      out.workers = Math.max(out.workers, s.workers);
    }
    return out;
  }

  /** VmHWM of the gateway process: its peak RSS over its whole life. */
  gatewayHighWater(): number | undefined {
    try {
      const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${this.root}/status`, 'utf8'))?.[1];
      return kb === undefined ? undefined : Number(kb) * 1024;
    } catch {
      return undefined;
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private sample(): MemorySample {
    let workersSum = 0;
    let workerMax = 0;
    let workers = 0;
    for (const pid of descendantsOf(this.root)) {
      if (commOf(pid).startsWith('redis')) continue;
      const rss = rssOf(pid) ?? 0;
      workersSum += rss;
      workerMax = Math.max(workerMax, rss);
      workers += 1;
    }
    const s = {
      at: Date.now() - this.started,
      gateway: rssOf(this.root) ?? 0,
      workersSum,
      workerMax,
      workers,
    };
    this.samples.push(s);
    return s;
  }
}
