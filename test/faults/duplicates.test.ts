/**
 * Fault: the same SOP Instances sent again with other content. startGateway in this process (real
 * Redis, sandboxed workers), DCMTK storescu as the senders, archive Orthanc over DICOMweb or the
 * filesystem. (a) Two storescu runs send two versions of the same instances at the same time,
 * three rounds. (b) A version sent right after another, while the first is still being protected.
 * (c) A version sent after the earlier one was archived. Asserted each time: one archived object
 * and one index row per SOP Instance UID, revealed byte for byte as one version that was sent, never
 * a mix; in (b) and (c), and in (a) wherever the test saw the two acknowledgements more than a
 * second apart, the version acknowledged last.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { log as dimseLog } from 'dcmjs-dimse';
import { Tags, diffDataSets, parsePart10 } from '../../src/dicom';
import type { EmbeddedRedis } from '../../src/pipeline/embedded-redis';
import type { Gateway } from '../../src/pipeline/gateway';
import { generateCtSeries } from '../../samples/generate';
import { sopOf } from '../e2e/e2e-tools';
import { type RunningOrthanc, orthancArchiveSettings, startOrthanc } from '../helpers/orthanc';
import { tempDir } from '../helpers/tools';
import { eventually, startTestRedis } from '../pipeline/harness';
import {
  filesystemCensus,
  indexRows,
  orthancCensus,
  protectCounts,
  spoolFiles,
  wadoStudy,
} from './census';
import { storescu, variant } from './fault-tools';
import { WORKSTATION_TOKEN, startFaultGateway } from './gateway-fixture';

const SLICES = 4;
const ROUNDS = 3;

/** storescu of `files` (one association); the time the test saw each file acknowledged. */
function timedStorescu(port: number, files: string[]): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const child = spawn('storescu', ['-v', '-aec', 'VEIL', '127.0.0.1', String(port), ...files]);
    const acks: number[] = [];
    let out = '';
    const take = (d: Buffer) => {
      const text = d.toString();
      out += text;
      for (const _ of text.matchAll(/Received Store Response \(Success\)/g)) acks.push(Date.now());
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 && acks.length === files.length
        ? resolve(acks)
        : reject(new Error(`storescu exited ${code}: ${out}`)),
    );
  });
}

function duplicatesSuite(kind: 'dicomweb' | 'filesystem'): void {
  const peers = kind === 'dicomweb' ? 'Orthanc over DICOMweb' : 'filesystem archive';
  describe(`faults/duplicates (same SOP Instances re-sent with other content, real Redis, ${peers})`, function () {
    this.timeout(300_000);
    let tmp: ReturnType<typeof tempDir>;
    let redis: EmbeddedRedis;
    let orthanc: RunningOrthanc | undefined;
    let gateway: Gateway;
    const base = generateCtSeries({ slices: SLICES, rows: 256, columns: 256, seed: 707 });
    const sops = base.map(sopOf);
    const studyUID = parsePart10(base[0]!, { stopAtPixelData: true }).dataset.string(
      Tags.StudyInstanceUID,
    )!;

    before(async () => {
      dimseLog.setLevel('silent');
      tmp = tempDir(`veil-fault-duplicates-${kind}-`);
      redis = await startTestRedis(tmp.dir);
      if (kind === 'dicomweb') orthanc = await startOrthanc();
      gateway = await startFaultGateway(path.join(tmp.dir, 'data'), {
        VEIL_REDIS__URL: redis.url,
        ...(orthanc ? orthancArchiveSettings(orthanc) : {}),
      });
    });
    after(async () => {
      await gateway?.close();
      await orthanc?.stop();
      await redis?.stop();
      tmp?.cleanup();
    });

    /** Writes version `v` of every slice into a folder of its own; its files and bytes by SOP. */
    function version(v: number): { files: string[]; bySop: Map<string, Buffer> } {
      const dir = path.join(tmp.dir, `v${v}`);
      mkdirSync(dir);
      const bySop = new Map<string, Buffer>();
      const files = base.map((bytes, i) => {
        const changed = variant(bytes, v);
        bySop.set(sops[i]!, changed);
        const file = path.join(dir, `ct${i}.dcm`);
        writeFileSync(file, changed);
        return file;
      });
      return { files, bySop };
    }

    /** Waits until nothing is pending, then returns the revealed instance of each SOP. */
    async function settled(): Promise<Map<string, Buffer>> {
      const { config } = gateway.deps;
      await eventually(
        async () => {
          const c = await protectCounts(gateway.deps.queues.protect);
          const pending = c.waiting + c.active + c.delayed + c.prioritized;
          return pending === 0 && spoolFiles(config.spool.dir, 'queued').length === 0
            ? true
            : undefined;
        },
        'nothing pending',
        120_000,
      );
      const counts = await protectCounts(gateway.deps.queues.protect);
      assert.equal(counts.failed, 0, `no failed protect job: ${JSON.stringify(counts)}`);
      const census = orthanc
        ? await orthancCensus(orthanc.httpUrl)
        : filesystemCensus(config.archive.filesystem.dir);
      assert.deepEqual(census.strays, []);
      assert.deepEqual([...census.copies.keys()].sort(), [...sops].sort());
      for (const [sop, n] of census.copies) assert.equal(n, 1, `${sop} archived ${n} times`);
      const rows = indexRows(config.index.file);
      for (const sop of sops) assert.deepEqual(rows.get(sop), ['archived'], 'one index row');
      const revealed = await wadoStudy(gateway.httpPort, WORKSTATION_TOKEN, studyUID);
      const out = new Map<string, Buffer>();
      for (const sop of sops) {
        assert.equal(revealed.get(sop)?.length, 1, 'one instance per SOP over WADO-RS');
        out.set(sop, revealed.get(sop)![0]!);
      }
      return out;
    }

    /** The data set of `got` is exactly `want`'s, pixels included (as assertSameDataSet). */
    function same(got: Buffer, want: Buffer): boolean {
      const a = parsePart10(got).dataset;
      const b = parsePart10(want).dataset;
      return (
        diffDataSets(a, b, { ignore: (tag) => tag === 0xfffcfffc }).length === 0 &&
        a.get(Tags.PixelData)!.value!.equals(b.get(Tags.PixelData)!.value!)
      );
    }

    it('(a) two senders at once, three rounds: one object per SOP, exactly one of the two versions, the later acknowledged where the order was clear', async () => {
      let ordered = 0;
      let tied = 0;
      for (let round = 1; round <= ROUNDS; round += 1) {
        const a = version(round * 10 + 1);
        const b = version(round * 10 + 2);
        const [ackA, ackB] = await Promise.all([
          timedStorescu(gateway.dimsePort, a.files),
          timedStorescu(gateway.dimsePort, b.files),
        ]);
        const revealed = await settled();
        sops.forEach((sop, i) => {
          const got = revealed.get(sop)!;
          const isA = same(got, a.bySop.get(sop)!);
          const isB = same(got, b.bySop.get(sop)!);
          assert.ok(isA !== isB, `round ${round}: ${sop} is exactly one of the two versions`);
          const gap = ackB[i]! - ackA[i]!;
          if (Math.abs(gap) > 1000) {
            ordered += 1;
            assert.equal(isB, gap > 0, `round ${round}: the version acknowledged last wins`);
          } else tied += 1;
        });
      }
      // eslint-disable-next-line no-console
      console.log(
        `      duplicates/${kind} (a): ${ROUNDS} rounds x ${SLICES} SOPs, one object each; ${ordered} with a clear ack order (later won), ${tied} acknowledged within 1 s (one version byte-exact)`,
      );
    });

    it('(b) a version sent right after another (the first still queued or being protected): the later one is archived', async () => {
      const first = version(51);
      const second = version(52);
      assert.equal(await storescu(gateway.dimsePort, first.files), SLICES);
      const c = await protectCounts(gateway.deps.queues.protect);
      const pending = c.waiting + c.active + c.delayed + c.prioritized;
      assert.equal(await storescu(gateway.dimsePort, second.files), SLICES);
      const revealed = await settled();
      for (const sop of sops) assert.ok(same(revealed.get(sop)!, second.bySop.get(sop)!), sop);
      // eslint-disable-next-line no-console
      console.log(
        `      duplicates/${kind} (b): ${pending} of ${SLICES} first versions still pending (${c.active} active) when the second push began; the second archived for all`,
      );
    });

    it('(c) a version sent after the earlier one was archived replaces it', async () => {
      const later = version(99);
      assert.equal(await storescu(gateway.dimsePort, later.files), SLICES);
      const revealed = await settled();
      for (const sop of sops) assert.ok(same(revealed.get(sop)!, later.bySop.get(sop)!), sop);
    });
  });
}

duplicatesSuite('dicomweb');
duplicatesSuite('filesystem');
