/**
 * The processes the gateway benchmark starts: DCMTK storescp, Veil (`node bin/veil serve`, a
 * separate process so its memory is its own) and, through the test helper, Orthanc.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { hashToken } from '../../src/api/tokens';
import { freePort } from '../../src/pipeline/embedded-redis';
import { DCMTK_ENV, type Daemon, runTimed, startDaemon, until } from './processes';

export { startOrthanc, type RunningOrthanc } from '../../test/helpers/orthanc';
export { freePort };

/** A running DCMTK storescp writing what it receives into `dir`. */
export interface RunningStorescp extends Daemon {
  aeTitle: string;
  port: number;
  dir: string;
}

/** Starts storescp (TCP_NODELAY on) and resolves once it answers C-ECHO. */
export async function startStorescp(dir: string, aeTitle = 'STORESCP'): Promise<RunningStorescp> {
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const daemon = startDaemon('storescp', ['-aet', aeTitle, '-od', dir, String(port)], DCMTK_ENV);
  await until(
    () =>
      runTimed('echoscu', ['-aec', aeTitle, '127.0.0.1', String(port)], { limitMs: 5000 }).then(
        () => true,
        () =>
          daemon.child.exitCode !== null ? Promise.reject(new Error(daemon.log())) : undefined,
      ),
    'storescp',
    30_000,
  );
  return { ...daemon, aeTitle, port, dir };
}

/** A running `veil serve`. */
export interface RunningVeil extends Daemon {
  pid: number;
  httpUrl: string;
  dimsePort: number;
  aeTitle: string;
  /** Bearer token of the workstation role (WADO-RS). */
  token: string;
}

/** Options of startVeil. */
export interface VeilOptions {
  dataDir: string;
  /** DICOMweb root of the archive Orthanc. */
  archiveUrl: string;
  /** C-MOVE destination. */
  destination: { aeTitle: string; port: number };
  processes: number;
  concurrency: number;
  /** Further VEIL_* overrides (e.g. protection.dataKeyScope). */
  env?: Record<string, string>;
}

/**
 * Starts `node bin/veil serve` on free loopback ports with environment overrides (everything else
 * is the shipped default: 3072-bit keys, header confidentiality, stego, per-instance data keys) and
 * resolves once /readyz answers 200: every dependency up and, with workers.prewarm (the default),
 * the worker children started, so their start-up is not measured as part of the first push or
 * beside a peer.
 */
export async function startVeil(o: VeilOptions): Promise<RunningVeil> {
  const httpPort = await freePort();
  const dimsePort = await freePort();
  const token = 'veil-bench-workstation-token';
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!k.startsWith('VEIL_') && k !== 'REDIS_URL') env[k] = v;
  Object.assign(env, {
    VEIL_LOG__LEVEL: 'warn',
    VEIL_KEYS__BITS: '3072',
    VEIL_HTTP__HOST: '127.0.0.1',
    VEIL_HTTP__PORT: String(httpPort),
    VEIL_DIMSE__HOST: '127.0.0.1',
    VEIL_DIMSE__PORT: String(dimsePort),
    VEIL_DIMSE__DESTINATIONS: `${o.destination.aeTitle}@127.0.0.1:${o.destination.port}`,
    VEIL_HTTP__TOKENS: `bench:workstation:${hashToken(token)}`,
    VEIL_ARCHIVE__KIND: 'dicomweb',
    VEIL_ARCHIVE__DICOMWEB__URL: o.archiveUrl,
    VEIL_WORKERS__PROCESSES: String(o.processes),
    VEIL_WORKERS__CONCURRENCY: String(o.concurrency),
    ...o.env,
  });
  const bin = path.resolve(__dirname, '..', '..', 'bin', 'veil');
  const daemon = startDaemon(process.execPath, [bin, '--data-dir', o.dataDir, 'serve'], env);
  const httpUrl = `http://127.0.0.1:${httpPort}`;
  try {
    await until(
      async () => {
        if (daemon.child.exitCode !== null)
          throw new Error(`veil serve exited during start-up:\n${daemon.log()}`);
        const res = await fetch(`${httpUrl}/readyz`).catch(() => undefined);
        await res?.arrayBuffer();
        return res?.ok ? true : undefined;
      },
      'veil serve',
      120_000,
    );
  } catch (err) {
    await daemon.stop();
    throw err;
  }
  return { ...daemon, pid: daemon.child.pid!, httpUrl, dimsePort, aeTitle: 'VEIL', token };
}
