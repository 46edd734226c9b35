/**
 * A private redis-server for one machine setups (redis.url empty): spawned on a free 127.0.0.1
 * port with its data in <dataDir>/redis (append-only file, so queued jobs survive a restart), and
 * stopped with the gateway. It never outlives the gateway: a watchdog reading a pipe from the
 * gateway sends it SIGTERM (it flushes its append-only file) when the gateway dies, even by
 * SIGKILL; and a server of the same folder left from an earlier run is stopped before a new start.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Redis } from 'ioredis';
import { VeilError } from '../errors';

/** A running embedded Redis. */
export interface EmbeddedRedis {
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  /** Saves and stops the server; safe to call twice. */
  stop(): Promise<void>;
}

/** Options of startEmbeddedRedis. */
export interface EmbeddedRedisOptions {
  /** Folder of the append-only file and dump (created, mode 0700). */
  dir: string;
  /** redis-server binary (redis.embeddedBinary). Default 'redis-server'. */
  binary?: string;
  /** Port; default a free one. */
  port?: number;
}

/** redis-server's pid file in its data folder (removed by a clean shutdown). */
const PID_FILE = 'redis.pid';

/** sh -c script: $0 is the redis-server binary, "$@" its arguments; see startEmbeddedRedis. */
const WATCHDOG = 'exec 3<&0; (read _ <&3; kill -TERM $$ 2>/dev/null) & exec "$0" "$@"';

/** The shell's exit status when the binary is not found. */
const NOT_FOUND_EXIT = 127;

const HOW_TO_GET_REDIS =
  'Veil needs Redis for its job queues. Install redis-server (Debian/Ubuntu: `apt-get install ' +
  'redis-server`, macOS: `brew install redis`) so Veil can start a private one, or point ' +
  'redis.url (VEIL_REDIS__URL) at a running Redis, e.g. redis://127.0.0.1:6379.';

/** A free TCP port on 127.0.0.1 (the OS picks it; a race with another binder is unlikely). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Starts redis-server and resolves once it answers PING; a clear VeilError when it cannot. */
export async function startEmbeddedRedis(options: EmbeddedRedisOptions): Promise<EmbeddedRedis> {
  await fs.mkdir(options.dir, { recursive: true, mode: 0o700 });
  const port = options.port ?? (await freePort());
  const binary = options.binary ?? 'redis-server';
  await stopStale(options.dir);
  const args = [
    '--bind',
    '127.0.0.1',
    '--port',
    String(port),
    '--dir',
    path.resolve(options.dir),
    '--pidfile',
    path.resolve(options.dir, PID_FILE),
    '--appendonly',
    'yes',
    '--save',
    '',
    '--protected-mode',
    'yes',
    // BullMQ must never lose job keys to eviction.
    '--maxmemory-policy',
    'noeviction',
  ];
  // The shell keeps the pipe (fd 3) in a watchdog and then becomes redis-server (exec keeps the
  // pid): when the pipe closes (gateway stopped or killed), the watchdog SIGTERMs redis-server.
  const child = spawn('sh', ['-c', WATCHDOG, binary, ...args], {
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    if (stderr.length < 4096) stderr += chunk.toString('utf8');
  });
  const exited = new Promise<NodeJS.ErrnoException | number | null>((resolve) => {
    child.once('error', (err) => resolve(err));
    child.once('exit', (code) => resolve(code));
  });
  const url = `redis://127.0.0.1:${port}`;
  const ready = waitForPing(port);
  const first = await Promise.race([ready.then(() => 'ready' as const), exited]);
  if (first !== 'ready') {
    ready.cancel();
    child.stdin?.destroy();
    if ((typeof first === 'object' && first?.code === 'ENOENT') || first === NOT_FOUND_EXIT) {
      throw new VeilError(
        'VEIL_E_QUEUE_UNAVAILABLE',
        `redis-server (${binary}) is not installed. ${HOW_TO_GET_REDIS}`,
      );
    }
    throw new VeilError(
      'VEIL_E_QUEUE_UNAVAILABLE',
      `The embedded redis-server exited at start (${stderr.trim().split('\n').pop() ?? 'no output'}). ${HOW_TO_GET_REDIS}`,
    );
  }
  return {
    url,
    port,
    pid: child.pid ?? -1,
    stop: once(() => stopChild(child, exited)),
  };
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  return () => (running ??= fn());
}

async function stopChild(child: ChildProcess, exited: Promise<unknown>): Promise<void> {
  // Closing the pipe makes the watchdog SIGTERM redis-server, which flushes the append-only file
  // and exits (as SHUTDOWN does); SIGKILL only if it hangs.
  child.stdin?.destroy();
  if (child.exitCode !== null || child.signalCode !== null) return;
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/**
 * Stops a redis-server of this folder left running by an earlier gateway (its pid file names a live
 * redis-server whose working folder is this one), so two servers never share an append-only file.
 */
async function stopStale(dir: string): Promise<void> {
  let pid: number;
  try {
    pid = Number((await fs.readFile(path.join(dir, PID_FILE), 'utf8')).trim());
  } catch {
    return;
  }
  if (!Number.isInteger(pid) || pid <= 1 || !(await isRedisOf(pid, dir))) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  for (let waited = 0; waited < 10_000 && (await isRedisOf(pid, dir)); waited += 50) {
    await new Promise((r) => setTimeout(r, 50));
  }
  if (await isRedisOf(pid, dir)) process.kill(pid, 'SIGKILL');
}

/** True when `pid` is a live redis-server working in `dir` (Linux /proc; elsewhere: unknown, no). */
async function isRedisOf(pid: number, dir: string): Promise<boolean> {
  try {
    const [cmdline, cwd, stat] = await Promise.all([
      fs.readFile(`/proc/${pid}/cmdline`, 'latin1'),
      fs.readlink(`/proc/${pid}/cwd`),
      fs.readFile(`/proc/${pid}/stat`, 'latin1'),
    ]);
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return cmdline.includes('redis-server') && cwd === path.resolve(dir) && state !== 'Z';
  } catch {
    return false;
  }
}

/** Polls PING until Redis answers (redis-server loads its append-only file before it does). */
function waitForPing(port: number): Promise<void> & { cancel(): void } {
  let cancelled = false;
  const run = async (): Promise<void> => {
    while (!cancelled) {
      const client = new Redis({
        port,
        host: '127.0.0.1',
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
      });
      client.on('error', () => undefined);
      try {
        await client.connect();
        if ((await client.ping()) === 'PONG') return;
      } catch {
        // not up yet (or loading the append-only file)
      } finally {
        client.disconnect();
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const promise = run() as Promise<void> & { cancel(): void };
  promise.cancel = () => {
    cancelled = true;
  };
  return promise;
}
