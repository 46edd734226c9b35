/**
 * Faults: the spool volume runs out of space. The spool is a small tmpfs mounted for the test (we
 * are root; without mount rights the suite skips, saying why). Two cases: the free space falls
 * below spool.minFreeBytes (refused up front, /readyz names spool), and the volume really fills
 * in the middle of a write (ENOSPC). Either way the sender sees Out of Resources (C-STORE 0xA700,
 * STOW-RS 507 VEIL_E_SPOOL_FULL), no half-written or queued file is left behind, and once space
 * is freed the same gateway takes and archives new instances.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { log as dimseLog } from 'dcmjs-dimse';
import type { Gateway } from '../../src/pipeline/gateway';
import { generateCtSeries } from '../../samples/generate';
import { sopOf } from '../e2e/e2e-tools';
import { tempDir } from '../helpers/tools';
import { eventually } from '../pipeline/harness';
import {
  assertRefusedAtBothDoors,
  readyz,
  spoolFiles,
  startFaultGateway,
  storeStatuses,
  storescu,
  stow,
  waitArchived,
  writeSeries,
} from './gateway-fixture';

const MiB = 1024 * 1024;

/** Mounts a tmpfs of `mib` MiB at `dir`; false when this machine does not let us. */
function mountTmpfs(dir: string, mib: number): boolean {
  mkdirSync(dir, { recursive: true });
  const run = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${mib}m,mode=0700`, 'tmpfs', dir]);
  return run.status === 0;
}

function unmount(dir: string): void {
  if (spawnSync('umount', [dir]).status !== 0) spawnSync('umount', ['-l', dir]);
}

/** Free bytes on the volume of `dir`. */
function free(dir: string): number {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
}

/** Fills the volume of `dir` until `leave` bytes are free; returns the filler's path. */
function fillUntil(dir: string, leave: number): string {
  const filler = path.join(dir, 'filler.bin');
  const size = free(dir) - leave;
  assert.ok(size > 0, 'the volume has less free space than asked to leave');
  execFileSync('fallocate', ['-l', String(size), filler]);
  return filler;
}

/** Failures the gateway counted with this code (metrics). */
async function failuresWith(gateway: Gateway, code: string): Promise<number> {
  const values = (await gateway.deps.metrics.failures.get()).values;
  return values.filter((v) => v.labels.code === code).reduce((n, v) => n + v.value, 0);
}

/** A gateway whose spool is its own tmpfs, for the tests of one describe. */
interface SpoolFixture {
  gateway: Gateway;
  spool: string;
  dir: string;
}

/** Registers before/after hooks: a tmpfs of `mib` MiB as spool.dir and a gateway on it. */
function useTmpfsSpool(mib: number, minFreeBytes: number): SpoolFixture {
  const fixture = {} as SpoolFixture;
  let tmp: ReturnType<typeof tempDir> | undefined;
  let mounted = false;
  before(async function () {
    dimseLog.setLevel('silent');
    tmp = tempDir('veil-faults-spool-');
    fixture.dir = tmp.dir;
    fixture.spool = path.join(tmp.dir, 'spool');
    mounted = mountTmpfs(fixture.spool, mib);
    if (!mounted) this.skip(); // needs root for mount -t tmpfs (CI and dev machines have it)
    fixture.gateway = await startFaultGateway(path.join(tmp.dir, 'data'), {
      VEIL_SPOOL__DIR: fixture.spool,
      VEIL_SPOOL__MIN_FREE_BYTES: String(minFreeBytes),
    });
  });
  after(async () => {
    await fixture.gateway?.close();
    if (mounted) unmount(fixture.spool);
    tmp?.cleanup();
  });
  return fixture;
}

/** Nothing of the refused instances is on the spool: no temp file, no queued file. */
function assertNothingOf(spool: string, refused: Iterable<string>): void {
  const files = spoolFiles(spool);
  assert.deepEqual(files.incoming, [], 'a half-written file is left in incoming/');
  for (const sop of refused) {
    assert.ok(!files.queued.some((n) => n.startsWith(`${sop}.`)), 'a refused instance is queued');
  }
}

describe('faults/spool-full: free space below spool.minFreeBytes (tmpfs spool, storescu, STOW-RS)', function () {
  this.timeout(300_000);
  const f = useTmpfsSpool(32, 16 * MiB);

  it('refuses up front with 0xA700 / 507 VEIL_E_SPOOL_FULL, /readyz names spool, and takes instances again once space is freed', async () => {
    const gw = f.gateway;
    const first = writeSeries(path.join(f.dir, 'first'), 801, 2);
    const refused = writeSeries(path.join(f.dir, 'refused'), 802, 4);
    const ok = await storescu(gw.dimsePort, first.files);
    assert.deepEqual(storeStatuses(ok.output), ['Success', 'Success']);

    const filler = fillUntil(f.spool, 12 * MiB); // 12 MiB free: below the 16 MiB threshold
    const ready = await readyz(gw.httpPort);
    assert.equal(ready.status, 503);
    assert.deepEqual(ready.failing, ['spool']);
    await assertRefusedAtBothDoors(
      gw,
      [...refused.bytes.values()].slice(0, 2),
      refused.files.slice(2),
      {
        status: 507,
        code: 'VEIL_E_SPOOL_FULL',
      },
    );
    assert.ok((await failuresWith(gw, 'VEIL_E_SPOOL_FULL')) >= 3);
    assertNothingOf(f.spool, refused.bytes.keys());

    rmSync(filler);
    assert.equal((await readyz(gw.httpPort)).status, 200);
    const again = await stow(gw.httpPort, [...refused.bytes.values()]);
    assert.equal(again.status, 200, again.body);
    await waitArchived(gw, [...first.bytes.keys(), ...refused.bytes.keys()]);
    await eventually(
      () => (spoolFiles(f.spool).queued.length === 0 ? true : undefined),
      'an empty spool',
    );
  });
});

describe('faults/spool-full: the volume fills during a write, ENOSPC (tmpfs spool, storescu, STOW-RS)', function () {
  this.timeout(300_000);
  const f = useTmpfsSpool(8, 0);

  it('refuses the instance that does not fit with 0xA700 / 507, leaves no .part file, and keeps serving', async () => {
    const gw = f.gateway;
    // 1024 x 1024 x 16 bit: 2 MiB of pixels, twice the space left.
    const big = generateCtSeries({ slices: 3, rows: 1024, columns: 1024, seed: 811 });
    const bigDir = path.join(f.dir, 'big');
    mkdirSync(bigDir);
    const bigFiles = big.map((b, i) => {
      const file = path.join(bigDir, `big${i}.dcm`);
      writeFileSync(file, b);
      return file;
    });
    const bigSops = big.map((b) => sopOf(b));

    const filler = fillUntil(f.spool, 1 * MiB);
    const refusedStow = await stow(gw.httpPort, [big[0]!]);
    assert.equal(refusedStow.status, 507, refusedStow.body);
    assert.match(refusedStow.body, /VEIL_E_SPOOL_FULL/);
    assertNothingOf(f.spool, bigSops);
    const refusedDimse = await storescu(gw.dimsePort, bigFiles.slice(1), ['-nh']);
    assert.deepEqual(
      storeStatuses(refusedDimse.output),
      ['Refused: OutOfResources', 'Refused: OutOfResources'],
      refusedDimse.output,
    );
    assert.ok(
      (await failuresWith(gw, 'VEIL_E_SPOOL_FULL')) >= 3,
      JSON.stringify((await gw.deps.metrics.failures.get()).values),
    );
    assert.equal(await failuresWith(gw, 'VEIL_E_IO'), 0, 'not as VEIL_E_IO');
    assertNothingOf(f.spool, bigSops);

    // Small instances still fit and are taken while the volume is nearly full.
    const small = writeSeries(path.join(f.dir, 'small'), 812, 2);
    const smallRun = await storescu(gw.dimsePort, small.files);
    assert.deepEqual(storeStatuses(smallRun.output), ['Success', 'Success']);

    rmSync(filler);
    const again = await storescu(gw.dimsePort, bigFiles);
    assert.deepEqual(storeStatuses(again.output), ['Success', 'Success', 'Success']);
    await waitArchived(gw, [...small.bytes.keys(), ...bigSops]);
    await eventually(
      () => (spoolFiles(f.spool).queued.length === 0 ? true : undefined),
      'an empty spool',
    );
    assertNothingOf(f.spool, []);
  });
});
