/**
 * Starts a real Orthanc (with its DICOMweb plugin) for a test file: free ports on 127.0.0.1,
 * a temporary storage folder, no authentication. One Orthanc serves all tests of a file.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** A DICOM peer Orthanc knows by name (C-MOVE destinations, C-GET and C-FIND callers). */
export interface OrthancModality {
  aeTitle: string;
  host: string;
  port: number;
}

export interface OrthancOptions {
  /** Orthanc's own AE title; default ORTHANC. */
  aeTitle?: string;
  /** The "VEIL" entry of DicomModalities; default VEIL at 127.0.0.1:11112. */
  veil?: OrthancModality;
}

export interface RunningOrthanc {
  /** REST API root, e.g. http://127.0.0.1:41234 */
  httpUrl: string;
  /** DICOMweb root, e.g. http://127.0.0.1:41234/dicom-web */
  dicomWebUrl: string;
  dicomPort: number;
  aeTitle: string;
  /** The process id of the running Orthanc, for tests that simulate a crash. */
  readonly pid: number;
  /** Orthanc's log so far (for failure messages). */
  log(): string;
  /** SIGKILLs Orthanc (an outage) and waits until it is gone; storage and ports are kept. */
  crash(): Promise<void>;
  /** Starts Orthanc again on the same ports and storage; resolves once GET /system answers. */
  restart(): Promise<void>;
  /** Kills Orthanc and removes its storage; safe to call twice. */
  stop(): Promise<void>;
}

const BINARY = '/usr/sbin/Orthanc';
const PLUGIN_CANDIDATES = [
  '/usr/share/orthanc/plugins/libOrthancDicomWeb.so',
  '/usr/lib/orthanc/libOrthancDicomWeb.so.1.7',
];

/** A TCP port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

/** Spawns Orthanc and resolves once GET /system answers. */
export async function startOrthanc(options: OrthancOptions = {}): Promise<RunningOrthanc> {
  const plugin = PLUGIN_CANDIDATES.find((p) => existsSync(p));
  if (!plugin) throw new Error('The Orthanc DICOMweb plugin is not installed (orthanc-dicomweb).');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'veil-orthanc-'));
  const httpPort = await freePort();
  const dicomPort = await freePort();
  const aeTitle = options.aeTitle ?? 'ORTHANC';
  const veil = options.veil ?? { aeTitle: 'VEIL', host: '127.0.0.1', port: 11112 };
  const config = {
    Name: 'veil-test',
    StorageDirectory: path.join(dir, 'storage'),
    IndexDirectory: path.join(dir, 'index'),
    StorageCompression: false,
    HttpServerEnabled: true,
    HttpPort: httpPort,
    RemoteAccessAllowed: false,
    AuthenticationEnabled: false,
    HttpVerbose: false,
    TcpNoDelay: true,
    DicomServerEnabled: true,
    DicomAet: aeTitle,
    DicomPort: dicomPort,
    DicomCheckCalledAet: false,
    DicomModalities: { veil: [veil.aeTitle, veil.host, veil.port] },
    DicomAlwaysAllowEcho: true,
    DicomAlwaysAllowStore: true,
    DicomAlwaysAllowFind: true,
    DicomAlwaysAllowGet: true,
    DicomAlwaysAllowMove: true,
    OverwriteInstances: true,
    SaveJobs: false,
    Plugins: [plugin],
    DicomWeb: { Enable: true, Root: '/dicom-web/', EnableWado: false, Ssl: false },
  };
  const configFile = path.join(dir, 'orthanc.json');
  writeFileSync(configFile, JSON.stringify(config, null, 2));

  let log = '';
  let child: ChildProcess | undefined;
  let exit: Promise<void> = Promise.resolve();
  let exited = true;
  const spawnOnce = (): void => {
    const c = spawn(BINARY, [configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (chunk: Buffer) => {
      log = (log + chunk.toString()).slice(-16384);
    };
    c.stdout?.on('data', keep);
    c.stderr?.on('data', keep);
    exited = false;
    exit = once(c, 'exit').then(() => {
      exited = true;
    });
    child = c;
  };
  const kill = async (signal: NodeJS.Signals): Promise<void> => {
    if (exited || !child) return;
    child.kill(signal);
    const timer = setTimeout(() => child?.kill('SIGKILL'), 10000);
    await exit;
    clearTimeout(timer);
  };

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  };

  const httpUrl = `http://127.0.0.1:${httpPort}`;
  const started = async (): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      if (exited) throw new Error(`Orthanc exited during start-up:\n${log}`);
      if (attempt > 300) throw new Error(`Orthanc did not answer within 30 s:\n${log}`);
      try {
        const res = await fetch(`${httpUrl}/system`);
        if (res.ok) {
          await res.arrayBuffer();
          return;
        }
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  try {
    spawnOnce();
    await started();
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    httpUrl,
    dicomWebUrl: `${httpUrl}/dicom-web`,
    dicomPort,
    aeTitle,
    get pid() {
      return child?.pid ?? -1;
    },
    log: () => log,
    crash: () => kill('SIGKILL'),
    restart: async () => {
      if (stopped) throw new Error('Orthanc was stopped for good');
      await kill('SIGTERM');
      spawnOnce();
      await started();
    },
    stop,
  };
}

/**
 * Replaces an instance inside Orthanc behind Veil's back, as someone with access to the PACS
 * could: deletes it and uploads `bytes` through the REST API (POST /instances).
 */
export async function replaceInOrthanc(
  orthanc: RunningOrthanc,
  sopInstanceUID: string,
  bytes: Buffer,
): Promise<void> {
  const lookup = await fetch(`${orthanc.httpUrl}/tools/lookup`, {
    method: 'POST',
    body: sopInstanceUID,
  });
  const found = (await lookup.json()) as Array<{ ID: string; Type: string }>;
  const id = found.find((f) => f.Type === 'Instance')?.ID;
  if (id === undefined) throw new Error('The instance is not in Orthanc.');
  const deleted = await fetch(`${orthanc.httpUrl}/instances/${id}`, { method: 'DELETE' });
  if (deleted.status !== 200) throw new Error(`Orthanc DELETE answered ${deleted.status}.`);
  const posted = await fetch(`${orthanc.httpUrl}/instances`, { method: 'POST', body: bytes });
  if (posted.status !== 200) throw new Error(`Orthanc POST /instances: ${await posted.text()}`);
}

/** Veil's configuration (as VEIL_* overrides) storing into this Orthanc over DICOMweb or DIMSE. */
export function orthancArchiveSettings(
  orthanc: Pick<RunningOrthanc, 'dicomWebUrl' | 'aeTitle' | 'dicomPort'>,
  kind: 'dicomweb' | 'dimse' = 'dicomweb',
): Record<string, string> {
  return kind === 'dicomweb'
    ? { VEIL_ARCHIVE__KIND: 'dicomweb', VEIL_ARCHIVE__DICOMWEB__URL: orthanc.dicomWebUrl }
    : {
        VEIL_ARCHIVE__KIND: 'dimse',
        VEIL_ARCHIVE__DIMSE__AE_TITLE: orthanc.aeTitle,
        VEIL_ARCHIVE__DIMSE__HOST: '127.0.0.1',
        VEIL_ARCHIVE__DIMSE__PORT: String(orthanc.dicomPort),
        VEIL_ARCHIVE__DIMSE__CALLING_AE_TITLE: 'VEIL',
        VEIL_ARCHIVE__DIMSE__RETRIEVE: 'cget',
      };
}
