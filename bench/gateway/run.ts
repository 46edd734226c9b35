/**
 * `npm run bench:gateway` (and the second half of `npm run bench`): the gateway against its peers
 * on one generated study, in one run: C-STORE accept vs DCMTK storescp, push-to-archived vs
 * storescu into Orthanc, WADO-RS and C-MOVE vs Orthanc, and the memory of gateway and workers.
 * BENCH_SLICES (default 200), BENCH_DX (default 4), BENCH_REPEATS (retrievals, default 2);
 * BENCH_VEIL_<KEY>=v passes VEIL_<KEY>=v to the gateway (e.g. BENCH_VEIL_PROTECTION__DATA_KEY_SCOPE).
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  checkSameDataSets,
  filesIn,
  multipartParts,
  orthancInstances,
  originalsBySop,
  veilCounter,
  wadoStudy,
} from './checks';
import {
  type RunningOrthanc,
  type RunningStorescp,
  type RunningVeil,
  startOrthanc,
  startStorescp,
  startVeil,
} from './peers';
import { MemorySampler, runTimed, until } from './processes';
import { type BenchStudy, writeBenchStudy } from './study';
import { type Comparison, printAcceptFloor, printComparisons, printMemory } from './report';

const WORKERS = { processes: 1, concurrency: 2 };

/** Runs every gateway comparison and prints the tables; cleans up whatever it started. */
export async function runGatewayBench(): Promise<void> {
  const slices = Number(process.env.BENCH_SLICES ?? 200);
  const dx = Number(process.env.BENCH_DX ?? 4);
  const repeats = Math.max(1, Number(process.env.BENCH_REPEATS ?? 2));
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'veil-bench-gw-'));
  const stops: Array<() => Promise<void>> = [];
  const cleanup = async () => {
    for (const stop of stops.splice(0).reverse()) await stop().catch(() => undefined);
    rmSync(tmp, { recursive: true, force: true });
  };
  const onSignal = () => void cleanup().then(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  /** The gateway's log so far, once it runs: printed when a step fails. */
  let gatewayLog: (() => string) | undefined;
  try {
    const t0 = Date.now();
    const study = writeBenchStudy(path.join(mkdirP(tmp, 'study')), { slices, dx });
    const mb = study.bytes / 1e6;
    console.log(
      `Gateway benchmark: one study of ${study.ctSlices} CT slices 512x512 and ${study.dxCount} DX 3000x2500 ` +
        `(${study.files.length} instances, ${mb.toFixed(0)} MB, written in ${((Date.now() - t0) / 1000).toFixed(0)} s).`,
    );
    const originals = originalsBySop(study.files);
    const n = study.files.length;

    const storescp = await startStorescp(path.join(tmp, 'storescp'));
    stops.push(() => storescp.stop());
    const direct = await startOrthanc({
      veil: { aeTitle: storescp.aeTitle, host: '127.0.0.1', port: storescp.port },
    });
    stops.push(() => direct.stop());
    const archive = await startOrthanc();
    stops.push(() => archive.stop());
    const overrides = veilOverrides();
    if (Object.keys(overrides).length > 0)
      console.log(`Gateway configuration overrides: ${JSON.stringify(overrides)}`);
    const veil = await startVeil({
      env: overrides,
      dataDir: path.join(tmp, 'veil'),
      archiveUrl: archive.dicomWebUrl,
      destination: { aeTitle: storescp.aeTitle, port: storescp.port },
      ...WORKERS,
    });
    stops.push(() => veil.stop());
    gatewayLog = () => veil.log();
    const sampler = new MemorySampler(veil.pid);
    sampler.start();
    stops.push(async () => sampler.stop());

    const results: Comparison[] = [];
    // 1. C-STORE accept: storescp as the peer, then Veil (acknowledged = fsynced on the spool and
    // the protect job enqueued; the workers start protecting meanwhile, on the same 2 cores).
    const peerAccept = await storeInto(storescp.aeTitle, storescp.port, study);
    clearDir(storescp.dir);
    // The floor of the acknowledgement rule on this volume, on the same quiet machine as
    // storescp: each file written, fsynced, renamed and its folder fsynced, one after the other,
    // with no DICOM or queue work.
    const durableFloor = await durableWrites(study, mkdirP(tmp, 'durable-floor'));
    const marks = { start: sampler.now(), at50: 0, atCt: 0 };
    let acked = 0;
    const veilStart = Date.now();
    const veilAccept = await storeInto(veil.aeTitle, veil.dimsePort, study, () => {
      acked += 1;
      if (acked === Math.min(50, study.ctSlices)) marks.at50 = sampler.now();
      if (acked === study.ctSlices) marks.atCt = sampler.now();
    });
    const acceptEnd = sampler.now();
    results.push({
      what: 'C-STORE accept (storescu, 1 association)',
      veil: veilAccept,
      peer: peerAccept,
      peerName: 'DCMTK storescp',
      higherIsBetter: true,
      bytes: study.bytes,
      instances: n,
      aim: 0.8,
    });

    // 2. Push-to-archived: from storescu's start until Orthanc holds every protected instance
    // and Veil counted them protected (archived + indexed + spool file dropped).
    await until(async () => {
      const failures = await veilCounter(veil.httpUrl, 'veil_failures_total');
      if (failures > 0) throw new Error(`Veil failed ${failures} jobs:\n${veil.log()}`);
      const protectedCount = await veilCounter(veil.httpUrl, 'veil_instances_protected_total');
      return protectedCount >= n && (await orthancInstances(archive.httpUrl)) >= n
        ? true
        : undefined;
    }, 'every instance archived in Orthanc');
    const veilArchived = (Date.now() - veilStart) / 1000;
    const archivedEnd = sampler.now();
    const directIngest = await storeInto(direct.aeTitle, direct.dicomPort, study);
    const held = await orthancInstances(direct.httpUrl);
    if (held !== n) throw new Error(`direct Orthanc holds ${held} of ${n} instances`);
    results.push({
      what: 'push-to-archived (storescu → Orthanc)',
      veil: veilArchived,
      peer: directIngest,
      peerName: 'storescu straight into Orthanc',
      higherIsBetter: true,
      bytes: study.bytes,
      instances: n,
      aim: 0.8,
    });

    // 3. Retrieval of the whole study, best of `repeats`, each answer checked.
    const retrieveStart = sampler.now();
    const wado = await bestOf(repeats, {
      peer: async () => {
        const r = await timed(() => wadoStudy(`${direct.dicomWebUrl}/studies/${study.studyUID}`));
        const parts = multipartParts(r.value.body, r.value.contentType).length;
        if (parts !== n) throw new Error(`Orthanc WADO-RS returned ${parts} of ${n}`);
        return r.seconds;
      },
      veil: async () => {
        const r = await timed(() =>
          wadoStudy(`${veil.httpUrl}/dicom-web/studies/${study.studyUID}`, {
            authorization: `Bearer ${veil.token}`,
          }),
        );
        checkSameDataSets(multipartParts(r.value.body, r.value.contentType), originals);
        return r.seconds;
      },
    });
    results.push({
      what: 'WADO-RS study',
      ...wado,
      peerName: 'WADO-RS from Orthanc',
      higherIsBetter: false,
      bytes: study.bytes,
      instances: n,
      aim: 1.25,
    });
    const wadoEnd = sampler.now();
    const move = await bestOf(repeats, {
      peer: () => moveStudy(direct, storescp, study, n),
      veil: async () => {
        const seconds = await moveStudy(veil, storescp, study, n);
        checkSameDataSets(filesIn(storescp.dir), originals);
        return seconds;
      },
    });
    results.push({
      what: 'C-MOVE study into storescp',
      ...move,
      peerName: 'C-MOVE from Orthanc',
      higherIsBetter: false,
      bytes: study.bytes,
      instances: n,
      aim: 1.25,
    });
    const moveEnd = sampler.now();

    console.log('');
    printComparisons(results);
    console.log('');
    printAcceptFloor({
      veil: veilAccept,
      storescp: peerAccept,
      durable: durableFloor,
      instances: n,
    });
    console.log('');
    printMemory({
      phases: [
        ['C-STORE accept', sampler.peaks(marks.start, acceptEnd)],
        ['protect + archive (after accept)', sampler.peaks(acceptEnd, archivedEnd)],
        ['WADO-RS (reveal)', sampler.peaks(retrieveStart, wadoEnd)],
        ['C-MOVE (reveal)', sampler.peaks(wadoEnd, moveEnd)],
      ],
      growth: {
        first: [
          `first ${Math.min(50, study.ctSlices)} slices`,
          sampler.peaks(marks.start, marks.at50),
        ],
        all: [`all ${study.ctSlices} slices`, sampler.peaks(marks.start, marks.atCt)],
        withDx: [`all ${n} instances (with the DX)`, sampler.peaks(marks.start, archivedEnd)],
      },
      highWater: sampler.gatewayHighWater(),
      workers: WORKERS,
    });
  } catch (err) {
    if (gatewayLog)
      console.error(`The gateway's log (last 8000 characters):\n${gatewayLog().slice(-8000)}`);
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cleanup();
  }
}

/**
 * Seconds to make every study file durable as intake must before it acknowledges: written to a
 * temp file, fsynced, renamed into the folder and the folder fsynced, one file after the other
 * (storescu waits for each acknowledgement), on the volume of Veil's spool.
 */
async function durableWrites(study: BenchStudy, dir: string): Promise<number> {
  const start = process.hrtime.bigint();
  for (const [i, file] of study.files.entries()) {
    const temp = path.join(dir, `${i}.part`);
    const handle = await fsp.open(temp, 'wx', 0o600);
    try {
      await handle.writeFile(await fsp.readFile(file));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fsp.rename(temp, path.join(dir, `${i}.dcm`));
    const folder = await fsp.open(dir, 'r');
    await folder.sync();
    await folder.close();
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  rmSync(dir, { recursive: true, force: true });
  return seconds;
}

/** Both sides of a retrieval, run `repeats` times alternately; the best time of each. */
async function bestOf(
  repeats: number,
  run: { peer: () => Promise<number>; veil: () => Promise<number> },
): Promise<{ veil: number; peer: number }> {
  let peer = Infinity;
  let veil = Infinity;
  for (let i = 0; i < repeats; i++) {
    peer = Math.min(peer, await run.peer());
    veil = Math.min(veil, await run.veil());
  }
  return { veil, peer };
}

async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; seconds: number }> {
  const start = process.hrtime.bigint();
  const value = await fn();
  return { value, seconds: Number(process.hrtime.bigint() - start) / 1e9 };
}

/** storescu of the whole study in one association (TCP_NODELAY); seconds from spawn to exit. */
async function storeInto(
  aeTitle: string,
  port: number,
  study: BenchStudy,
  onAck?: () => void,
): Promise<number> {
  const run = await runTimed(
    'storescu',
    ['-v', '-aec', aeTitle, '127.0.0.1', String(port), ...study.files],
    { onLine: (line) => (line.includes('Received Store Response') ? onAck?.() : undefined) },
  );
  const acked = run.output.match(/Received Store Response \(Success\)/g)?.length ?? 0;
  if (!/Received Store Response/.test(run.output) || acked === 0)
    throw new Error(`storescu into ${aeTitle} stored nothing:\n${run.output.slice(-2000)}`);
  return run.seconds;
}

/** movescu of the study from `source` into storescp (emptied first); checks the count. */
async function moveStudy(
  source: RunningOrthanc | RunningVeil,
  storescp: RunningStorescp,
  study: BenchStudy,
  n: number,
): Promise<number> {
  clearDir(storescp.dir);
  const port = 'dimsePort' in source ? source.dimsePort : source.dicomPort;
  const run = await runTimed('movescu', [
    '-S',
    '-aec',
    source.aeTitle,
    '-aem',
    storescp.aeTitle,
    '-k',
    'QueryRetrieveLevel=STUDY',
    '-k',
    `StudyInstanceUID=${study.studyUID}`,
    '127.0.0.1',
    String(port),
  ]);
  const got = readdirSync(storescp.dir).length;
  if (got !== n) throw new Error(`C-MOVE from ${source.aeTitle} delivered ${got} of ${n}`);
  return run.seconds;
}

/** VEIL_* settings for the gateway from BENCH_VEIL_* variables of this process. */
function veilOverrides(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env))
    if (k.startsWith('BENCH_VEIL_') && v !== undefined) out[k.slice('BENCH_'.length)] = v;
  return out;
}

function clearDir(dir: string): void {
  for (const name of readdirSync(dir)) rmSync(path.join(dir, name), { force: true });
}

function mkdirP(root: string, name: string): string {
  const dir = path.join(root, name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

if (require.main === module) {
  runGatewayBench().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
