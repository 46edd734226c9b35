/**
 * What the dependency-fault and load tests share: a real in-process gateway (startGateway with
 * sandboxed worker children) on free loopback ports, DCMTK storescu and STOW-RS pushes that report
 * what was acknowledged instead of throwing, and looks into the spool and the index.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { hashToken } from '../../src/api/tokens';
import { CONFIG_DIR } from '../../src/cli/settings';
import { silentLogger } from '../../src/log';
import { type Gateway, startGateway } from '../../src/pipeline/gateway';
import { generateCtSeries } from '../../samples/generate';
import { sopOf, stowBody } from '../e2e/e2e-tools';
import { eventually, testConfig } from '../pipeline/harness';
import { spoolFiles as filesIn } from './census';

/** The modality token of every fault gateway. */
export const MODALITY_TOKEN = 'faults-modality-token';
/** The workstation token of every fault gateway. */
export const WORKSTATION_TOKEN = 'faults-workstation-token';

/**
 * Starts a gateway whose every file lies under `dir`; overrides are VEIL_* settings. Resolves once
 * its prewarmed worker children are up (the `workers` readiness check), so a test that reads
 * /readyz sees only the fault it causes.
 */
export async function startFaultGateway(
  dir: string,
  overrides: Record<string, string> = {},
): Promise<Gateway> {
  const config = testConfig(dir, {
    VEIL_HTTP__HOST: '127.0.0.1',
    VEIL_HTTP__PORT: '0',
    VEIL_DIMSE__HOST: '127.0.0.1',
    VEIL_DIMSE__PORT: '0',
    VEIL_WORKERS__PROCESSES: '1',
    VEIL_WORKERS__CONCURRENCY: '2',
    VEIL_HTTP__TOKENS: [
      `pacs:modality:${hashToken(MODALITY_TOKEN)}`,
      `viewer:workstation:${hashToken(WORKSTATION_TOKEN)}`,
    ].join(','),
    ...overrides,
  });
  const gateway = await startGateway(config, silentLogger, {
    configDir: CONFIG_DIR,
    notice: () => undefined,
  });
  try {
    await eventually(async () => {
      const workers = (await gateway.deps.readiness()).find((c) => c.name === 'workers');
      return !workers || workers.ok ? true : undefined;
    }, 'the worker children to start');
  } catch (err) {
    await gateway.close();
    throw err;
  }
  return gateway;
}

/** A small CT series (distinct UIDs per seed) as buffers and as files under `dir`. */
export function writeSeries(
  dir: string,
  seed: number,
  slices: number,
  size = 64,
): { files: string[]; bytes: Map<string, Buffer> } {
  mkdirSync(dir, { recursive: true });
  const series = generateCtSeries({ slices, rows: size, columns: size, seed });
  const files: string[] = [];
  const bytes = new Map<string, Buffer>();
  series.forEach((b, i) => {
    const file = path.join(dir, `s${seed}-${i}.dcm`);
    writeFileSync(file, b);
    files.push(file);
    bytes.set(sopOf(b), b);
  });
  return { files, bytes };
}

/** What storescu reported: exit code, its output, and the SOP Instance UIDs it saw succeed. */
export interface StorescuRun {
  code: number | null;
  output: string;
}

/** Runs storescu (verbose) without throwing on failure; the caller reads statuses from `output`. */
export function storescu(
  port: number,
  files: string[],
  extra: string[] = [],
): Promise<StorescuRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'storescu',
      [
        '-v',
        '-aec',
        'VEIL',
        '-to',
        '60',
        '-ta',
        '60',
        ...extra,
        '127.0.0.1',
        String(port),
        ...files,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TCP_NODELAY: '1' } },
    );
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

/**
 * The DIMSE statuses storescu printed, one per C-STORE-RSP in order ("Received Store Response
 * (Success)" / "(Out of Resources)" etc. in -v mode; the hex status in the debug dump).
 */
export function storeStatuses(output: string): string[] {
  return [...output.matchAll(/Received Store Response \(([^)]*)\)/g)].map((m) => m[1]!);
}

/** One STOW-RS request's outcome. */
export interface StowResult {
  status: number;
  body: string;
  headers: Headers;
}

/** POSTs the instances as one STOW-RS request (modality token). */
export async function stow(httpPort: number, instances: Buffer[]): Promise<StowResult> {
  const boundary = `veil-faults-${Math.random().toString(16).slice(2)}`;
  const res = await fetch(`http://127.0.0.1:${httpPort}/dicom-web/studies`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${MODALITY_TOKEN}`,
      'content-type': `multipart/related; type="application/dicom"; boundary=${boundary}`,
    },
    body: stowBody(instances, boundary),
  });
  return { status: res.status, body: await res.text(), headers: res.headers };
}

/**
 * Sends `stowed` in one STOW-RS request and `stored` by storescu (-nh: it goes on after a refusal),
 * and asserts both doors refused every instance: HTTP `status` with `code` in the body, and a
 * C-STORE-RSP Out of Resources (0xA700) for each file.
 */
export async function assertRefusedAtBothDoors(
  gateway: Gateway,
  stowed: Buffer[],
  stored: string[],
  expected: { status: number; code: string },
): Promise<void> {
  const http = await stow(gateway.httpPort, stowed);
  assert.equal(http.status, expected.status, http.body);
  assert.match(http.body, new RegExp(expected.code));
  const dimse = await storescu(gateway.dimsePort, stored, ['-nh']);
  assert.deepEqual(
    storeStatuses(dimse.output),
    stored.map(() => 'Refused: OutOfResources'),
    dimse.output,
  );
}

/** GET /readyz: status and the names of failing checks. */
export async function readyz(httpPort: number): Promise<{ status: number; failing: string[] }> {
  const res = await fetch(`http://127.0.0.1:${httpPort}/readyz`);
  const body = (await res.json()) as { checks: Array<{ name: string; ok: boolean }> };
  return { status: res.status, failing: body.checks.filter((c) => !c.ok).map((c) => c.name) };
}

/** Files in the spool's incoming/ and queued/ folders (what is half-written or waiting). */
export function spoolFiles(spoolDir: string): { incoming: string[]; queued: string[] } {
  return { incoming: filesIn(spoolDir, 'incoming'), queued: filesIn(spoolDir, 'queued') };
}

export { waitArchived } from '../pipeline/harness';
