import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Queue, UnrecoverableError } from 'bullmq';
import type { InstanceRef } from '../../src/archive/archive';
import { FilesystemArchive } from '../../src/archive/filesystem-archive';
import { Tags, parsePart10 } from '../../src/dicom';
import { isVeilError } from '../../src/errors';
import { SqliteCatalogue } from '../../src/index/sqlite-catalogue';
import { silentLogger } from '../../src/log';
import type { EmbeddedRedis } from '../../src/pipeline/embedded-redis';
import { type ProtectJobData, protectJobId } from '../../src/pipeline/jobs';
import { assertCurrent, processProtect, processReveal } from '../../src/pipeline/processors';
import { defaultJobOptions, redisConnection } from '../../src/pipeline/queues';
import { SpoolIntake } from '../../src/pipeline/spool-intake';
import { type WorkerContext, createWorkerContext } from '../../src/pipeline/worker-context';
import { inspect } from '../../src/protection';
import { assertSameInstance } from '../helpers/compare';
import { syntheticInstance } from '../helpers/synthetic';
import { tempDir } from '../helpers/tools';
import { startTestRedis, testConfig, uniqueNaming } from './harness';

const SOP = '1.2.826.0.1.3680043.99.77.1';

function refOf(bytes: Buffer): InstanceRef {
  const ds = parsePart10(bytes).dataset;
  return {
    studyInstanceUID: ds.string(Tags.StudyInstanceUID)!,
    seriesInstanceUID: ds.string(Tags.SeriesInstanceUID)!,
    sopInstanceUID: ds.string(Tags.SOPInstanceUID)!,
  };
}

/** The header MAC in an archived object's protection record. */
function macOf(bytes: Buffer): string {
  const match = /"mac":"([^"]+)"/.exec(bytes.toString('latin1'));
  return match![1]!;
}

describe('pipeline/processors: replay detection against the catalogue (Redis, filesystem archive)', function () {
  this.timeout(120_000);
  let tmp: ReturnType<typeof tempDir>;
  let redis: EmbeddedRedis;
  let ctx: WorkerContext;
  let archive: FilesystemArchive;
  let catalogue: SqliteCatalogue;
  let queue: Queue;
  let intake: SpoolIntake;
  const naming = uniqueNaming();
  // Two versions of one instance, as a modality re-sending a corrected image would.
  const first = syntheticInstance({ sopInstanceUID: SOP, rows: 32, columns: 32, patientID: 'V1' });
  const second = syntheticInstance({ sopInstanceUID: SOP, rows: 32, columns: 32, patientID: 'V2' });
  const ref = refOf(first);
  let archivedFirst: Buffer;
  let archivedSecond: Buffer;

  before(async () => {
    tmp = tempDir('veil-replay-');
    redis = await startTestRedis(tmp.dir);
    const config = testConfig(tmp.dir);
    archive = new FilesystemArchive(config.archive.filesystem.dir);
    catalogue = SqliteCatalogue.open(config.index.file);
    ctx = await createWorkerContext({
      config,
      log: silentLogger,
      redisUrl: redis.url,
      prefix: naming.prefix,
      archive,
      catalogue,
    });
    queue = new Queue(naming.protect, {
      connection: redisConnection(redis.url),
      prefix: naming.prefix,
      defaultJobOptions: defaultJobOptions(config),
    });
    intake = await SpoolIntake.open({
      layout: ctx.layout,
      minFreeBytes: 0,
      protectQueue: queue,
      log: silentLogger,
    });
  });
  after(async () => {
    await queue?.close();
    await ctx?.close();
    catalogue?.close();
    await redis?.stop();
    tmp?.cleanup();
  });

  async function protectCopy(bytes: Buffer, id: string): Promise<Buffer> {
    const temp = intake.tempPath();
    writeFileSync(temp, bytes);
    await intake.accept(temp, { kind: 'stow', who: 'uploader' });
    const job = await queue.getJob(protectJobId(SOP));
    await processProtect(ctx, { id, data: job!.data as ProtectJobData, attemptsMade: 0 });
    await job!.remove();
    return readFileSync(archive.pathOf(ref));
  }

  async function reveal(name: string): Promise<Buffer> {
    const outPath = path.join(ctx.layout.outgoing, name);
    await processReveal(ctx, { data: { ref, outPath, requestedBy: 'WS' }, attemptsMade: 0 });
    const bytes = readFileSync(outPath);
    rmSync(outPath);
    return bytes;
  }

  it('records the archived object’s MAC and key ids in the catalogue', async () => {
    archivedFirst = await protectCopy(first, 'p1');
    const record = catalogue.get(SOP)!;
    assert.equal(record.protectionMac, macOf(archivedFirst));
    assert.deepEqual(record.keyIds, inspect(archivedFirst).record!.keyIds);
    assert.equal(record.pendingMac, undefined);
    assertSameInstance(first, await reveal('first.dcm'));
  });

  it('refuses the older version put back after a re-send: VEIL_E_REVEAL_STALE, nothing written', async () => {
    archivedSecond = await protectCopy(second, 'p2');
    assert.notEqual(macOf(archivedSecond), macOf(archivedFirst));
    assert.equal(catalogue.get(SOP)!.protectionMac, macOf(archivedSecond));
    writeFileSync(archive.pathOf(ref), archivedFirst);
    const outPath = path.join(ctx.layout.outgoing, 'replayed.dcm');
    await assert.rejects(
      processReveal(ctx, { data: { ref, outPath, requestedBy: 'WS' }, attemptsMade: 0 }),
      (err) => err instanceof UnrecoverableError && /^VEIL_E_REVEAL_STALE: /.test(err.message),
    );
    assert.equal(existsSync(outPath), false);
    writeFileSync(archive.pathOf(ref), archivedSecond);
    assertSameInstance(second, await reveal('second.dcm'));
  });

  it('accepts the object being written (pending MAC) until the catalogue moves on', async () => {
    writeFileSync(archive.pathOf(ref), archivedFirst);
    catalogue.setPending(SOP, macOf(archivedFirst));
    assertSameInstance(first, await reveal('pending.dcm'));
    const record = catalogue.get(SOP)!;
    catalogue.upsert({ ...record, pendingMac: undefined });
    await assert.rejects(reveal('after.dcm'), /VEIL_E_REVEAL_STALE: /);
    writeFileSync(archive.pathOf(ref), archivedSecond);
  });

  it('does not check rows catalogued before the MAC was recorded (index schema 1)', async () => {
    const record = catalogue.get(SOP)!;
    catalogue.upsert({ ...record, protectionMac: undefined, keyIds: undefined });
    writeFileSync(archive.pathOf(ref), archivedFirst);
    assertSameInstance(first, await reveal('legacy.dcm'));
    catalogue.upsert(record);
    writeFileSync(archive.pathOf(ref), archivedSecond);
  });

  it('assertCurrent: an object without a Veil record where one was archived is stale too', () => {
    const expected = { protectionMac: 'M2' };
    assert.doesNotThrow(() => assertCurrent(expected, 'M2'));
    assert.doesNotThrow(() => assertCurrent({ protectionMac: 'M2', pendingMac: 'M3' }, 'M3'));
    assert.doesNotThrow(() => assertCurrent(undefined, 'M1'));
    assert.doesNotThrow(() => assertCurrent({}, undefined));
    for (const mac of ['M1', undefined]) {
      assert.throws(
        () => assertCurrent(expected, mac),
        (err) => isVeilError(err) && err.code === 'VEIL_E_REVEAL_STALE',
      );
    }
  });
});
