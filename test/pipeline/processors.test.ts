import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { Queue, UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import type { Archive, InstanceRef } from '../../src/archive/archive';
import { FilesystemArchive } from '../../src/archive/filesystem-archive';
import { VeilError } from '../../src/errors';
import { SqliteCatalogue } from '../../src/index/sqlite-catalogue';
import { silentLogger } from '../../src/log';
import type { EmbeddedRedis } from '../../src/pipeline/embedded-redis';
import { RedisInstanceLock } from '../../src/pipeline/instance-lock';
import {
  type ProtectJobData,
  type RevealItem,
  type RevealProgress,
  protectJobId,
} from '../../src/pipeline/jobs';
import {
  type RevealJobLike,
  processProtect,
  processReveal,
  processRevealBatch,
} from '../../src/pipeline/processors';
import { defaultJobOptions, redisConnection } from '../../src/pipeline/queues';
import { queuedFileName } from '../../src/pipeline/spool';
import { SpoolIntake } from '../../src/pipeline/spool-intake';
import { type WorkerContext, createWorkerContext } from '../../src/pipeline/worker-context';
import { generateCtSeries } from '../../samples/generate';
import { assertSameInstance } from '../helpers/compare';
import { syntheticInstance } from '../helpers/synthetic';
import { decodePng } from '../helpers/images';
import { tempDir } from '../helpers/tools';
import { startTestRedis, testConfig, uniqueNaming } from './harness';
import { Tags, parsePart10 } from '../../src/dicom';
import { protect } from '../../src/protection';
import { testKey } from '../helpers/keys';
import { protectOptions } from '../helpers/options';

const SOURCE = { kind: 'stow', who: 'uploader' } as const;

/** A filesystem archive whose put fails `failures` times with a transient error first. */
class FlakyArchive extends FilesystemArchive {
  puts = 0;
  constructor(
    dir: string,
    public failures: number,
  ) {
    super(dir);
  }
  override async put(ref: InstanceRef, bytes: Buffer): Promise<void> {
    this.puts += 1;
    if (this.failures > 0) {
      this.failures -= 1;
      throw new VeilError('VEIL_E_ARCHIVE_UNAVAILABLE', 'Archive is down (test).');
    }
    return super.put(ref, bytes);
  }
  getSeries?: Archive['getSeries'];
  /** SOP Instance UIDs whose next read fails with a transient error (once each). */
  failNextGet = new Set<string>();
  gets: string[] = [];
  override async get(ref: InstanceRef): Promise<Buffer> {
    this.gets.push(ref.sopInstanceUID);
    if (this.failNextGet.delete(ref.sopInstanceUID)) {
      throw new VeilError('VEIL_E_ARCHIVE_UNAVAILABLE', 'Archive is down (test).');
    }
    return super.get(ref);
  }
}

/** An instance Veil already protected: protecting it again is a permanent failure. */
async function alreadyProtected(sopInstanceUID: string): Promise<Buffer> {
  const key = await testKey();
  return protect(syntheticInstance({ sopInstanceUID }), protectOptions([key])).bytes;
}

function refOf(bytes: Buffer): InstanceRef {
  const ds = parsePart10(bytes).dataset;
  return {
    studyInstanceUID: ds.string(Tags.StudyInstanceUID)!,
    seriesInstanceUID: ds.string(Tags.SeriesInstanceUID)!,
    sopInstanceUID: ds.string(Tags.SOPInstanceUID)!,
  };
}

describe('pipeline/processors (Redis, filesystem archive, SQLite catalogue)', function () {
  this.timeout(120_000);
  let tmp: ReturnType<typeof tempDir>;
  let redis: EmbeddedRedis;
  let ctx: WorkerContext;
  let archive: FlakyArchive;
  let catalogue: SqliteCatalogue;
  let queue: Queue;
  let intake: SpoolIntake;
  const naming = uniqueNaming();

  before(async () => {
    tmp = tempDir('veil-processors-');
    redis = await startTestRedis(tmp.dir);
    const config = testConfig(tmp.dir);
    archive = new FlakyArchive(config.archive.filesystem.dir, 0);
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
    await queue.close();
    await ctx.close();
    catalogue.close();
    await redis.stop();
    tmp.cleanup();
  });

  async function spool(bytes: Buffer): Promise<ProtectJobData> {
    const temp = intake.tempPath();
    writeFileSync(temp, bytes);
    const { sopInstanceUID } = await intake.accept(temp, SOURCE);
    const job = await queue.getJob(protectJobId(sopInstanceUID));
    return job!.data as ProtectJobData;
  }

  async function revealed(ref: InstanceRef): Promise<Buffer> {
    const outPath = path.join(ctx.layout.outgoing, `${ref.sopInstanceUID}.test.dcm`);
    const result = await processReveal(ctx, {
      data: { ref, outPath, requestedBy: 'WORKSTATION' },
      attemptsMade: 0,
    });
    const bytes = readFileSync(outPath);
    assert.equal(result.bytes, bytes.length);
    rmSync(outPath);
    return bytes;
  }

  it('protects a spooled instance into the archive and index, and reveals the original', async () => {
    const [original] = generateCtSeries({ slices: 1, rows: 64, columns: 64 });
    const ref = refOf(original);
    const data = await spool(original);
    const result = await processProtect(ctx, { id: 'j1', data, attemptsMade: 0 });
    assert.ok(result.archivedBytes > 0);
    assert.equal(existsSync(data.spoolPath), false);
    const stored = readFileSync(archive.pathOf(ref));
    assert.equal(stored.length, result.archivedBytes);
    assert.ok(!stored.includes(parsePart10(original).dataset.get(Tags.PixelData)!.value!));
    const record = catalogue.get(ref.sopInstanceUID)!;
    assert.equal(record.state, 'archived');
    assert.equal(record.bytes, result.archivedBytes);
    assert.equal(record.patientName, parsePart10(original).dataset.string(Tags.PatientName));
    assertSameInstance(original, await revealed(ref));
    const audit = readFileSync(ctx.config.audit.file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const created = audit.find((e) => e.sopInstanceUIDs?.includes(ref.sopInstanceUID));
    assert.equal(created.type, 'DICOMInstancesTransferred');
    assert.equal(created.action, 'C');
    assert.equal(created.outcome, 'success');
    assert.ok(!JSON.stringify(audit).includes(record.patientName!));
  });

  it('archives the newest of several queued copies and drops the older ones', async () => {
    const sop = '1.2.826.0.1.3680043.99.1';
    const older = syntheticInstance({ sopInstanceUID: sop, patientName: 'Older^Copy' });
    const newer = syntheticInstance({ sopInstanceUID: sop, patientName: 'Newer^Copy' });
    const olderFile = path.join(ctx.layout.queued, queuedFileName(sop));
    writeFileSync(olderFile, older);
    const data = await spool(newer);
    // The job of the older copy runs: it still archives the newest file.
    await processProtect(ctx, {
      id: 'j2',
      data: { ...data, spoolPath: olderFile },
      attemptsMade: 0,
    });
    assert.deepEqual(
      readdirSync(ctx.layout.queued).filter((n) => n.startsWith(sop)),
      [],
    );
    assertSameInstance(newer, await revealed(refOf(newer)));
    // A follow-up job finds nothing left: the newest copy is already archived.
    const again = await processProtect(ctx, { id: 'j3', data, attemptsMade: 0 });
    assert.equal(again.stego, 'superseded');
  });

  it('waits while another job holds the instance, then gives up with a retryable error', async () => {
    const data = await spool(syntheticInstance({ sopInstanceUID: '1.2.826.0.1.3680043.99.2' }));
    const client = new Redis(redis.url);
    const lock = new RedisInstanceLock(client, naming.prefix!, { waitMs: 500, pollMs: 50 });
    const release = await lock.acquire(data.sopInstanceUID, 'another-job');
    try {
      assert.ok(release);
      await assert.rejects(
        processProtect({ ...ctx, lock }, { id: 'j4', data, attemptsMade: 0 }),
        (err) =>
          !(err instanceof UnrecoverableError) && /Another worker/.test((err as Error).message),
      );
    } finally {
      await release!();
    }
    await processProtect({ ...ctx, lock }, { id: 'j4', data, attemptsMade: 1 });
    client.disconnect();
  });

  it('takes over at once a lock left by an earlier attempt of the same job (its child was killed)', async () => {
    const data = await spool(syntheticInstance({ sopInstanceUID: '1.2.826.0.1.3680043.99.3' }));
    const client = new Redis(redis.url);
    const lock = new RedisInstanceLock(client, naming.prefix!, { waitMs: 0 });
    // The killed attempt never released its lock.
    assert.ok(await lock.acquire(data.sopInstanceUID, 'j5'));
    assert.equal(await lock.acquire(data.sopInstanceUID, 'other-job'), undefined);
    const result = await processProtect({ ...ctx, lock }, { id: 'j5', data, attemptsMade: 1 });
    assert.ok(result.archivedBytes > 0);
    const after = await lock.acquire(data.sopInstanceUID, 'other-job');
    assert.ok(after, 'released after the run');
    await after();
    client.disconnect();
  });

  it('fails permanently with the code, parks the file in failed/ and marks the index', async () => {
    const sop = '1.2.826.0.1.3680043.99.3';
    const data = await spool(await alreadyProtected(sop));
    await assert.rejects(
      processProtect(ctx, { id: 'j5', data, attemptsMade: 0 }),
      (err) =>
        err instanceof UnrecoverableError &&
        /^VEIL_E_PROTECT_ALREADY_PROTECTED: /.test(err.message),
    );
    assert.ok(existsSync(path.join(ctx.layout.failed, path.basename(data.spoolPath))));
    assert.equal(existsSync(data.spoolPath), false);
    const record = catalogue.get(sop)!;
    assert.equal(record.state, 'failed');
    assert.equal(record.errorCode, 'VEIL_E_PROTECT_ALREADY_PROTECTED');
    // An administrator's retry brings the parked file back (and it fails the same way).
    await assert.rejects(
      processProtect(ctx, { id: 'j5', data, attemptsMade: 0 }),
      UnrecoverableError,
    );
    assert.ok(existsSync(path.join(ctx.layout.failed, path.basename(data.spoolPath))));
  });

  it('writes the revealed file 0600 with no temp file left, and a failed write is a retryable VEIL_E_IO', async () => {
    const original = syntheticInstance({
      sopInstanceUID: '1.2.826.0.1.3680043.99.7',
      rows: 16,
      columns: 16,
    });
    const ref = refOf(original);
    await processProtect(ctx, { id: 'j9', data: await spool(original), attemptsMade: 0 });
    const outPath = path.join(ctx.layout.outgoing, 'mode.dcm');
    await processReveal(ctx, { data: { ref, outPath, requestedBy: 'WS' }, attemptsMade: 0 });
    assert.equal(statSync(outPath).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(ctx.layout.outgoing), ['mode.dcm']);
    assertSameInstance(original, readFileSync(outPath));
    rmSync(outPath);
    // A folder in the way: the rename fails; the job may be retried and leaves nothing behind.
    const blocked = path.join(ctx.layout.outgoing, 'blocked.dcm');
    mkdirSync(blocked);
    await assert.rejects(
      processReveal(ctx, { data: { ref, outPath: blocked, requestedBy: 'WS' }, attemptsMade: 0 }),
      (err) => !(err instanceof UnrecoverableError) && /^VEIL_E_IO: /.test((err as Error).message),
    );
    assert.deepEqual(readdirSync(ctx.layout.outgoing), ['blocked.dcm']);
    rmSync(blocked, { recursive: true });
  });

  it('renders a frame as PNG in the worker when the item asks, and refuses a malformed rendering for good', async () => {
    const original = syntheticInstance({
      sopInstanceUID: '1.2.826.0.1.3680043.99.8',
      rows: 16,
      columns: 24,
      frames: 2,
      bitsAllocated: 8,
    });
    const ref = refOf(original);
    await processProtect(ctx, { id: 'j10', data: await spool(original), attemptsMade: 0 });
    const outPath = path.join(ctx.layout.outgoing, 'frame.png');
    const render = { frame: 2, viewport: { width: 12, height: 12 } };
    const { bytes } = await processReveal(ctx, {
      data: { ref, outPath, requestedBy: 'WS', render },
      attemptsMade: 0,
    });
    const png = readFileSync(outPath);
    assert.equal(bytes, png.length);
    const picture = decodePng(png);
    assert.deepEqual([picture.width, picture.height, picture.channels], [12, 8, 1]);
    // 8-bit MONOCHROME2 without a window is shown as stored: the picture samples frame 2.
    const frame2 = parsePart10(original).dataset.get(Tags.PixelData)!.value!.subarray(384, 768);
    assert.equal(picture.data[0], frame2[1 * 24 + 1]);
    rmSync(outPath);
    for (const bad of [
      { frame: 0 },
      { frame: 1, viewport: { width: 0, height: 5 } },
      { frame: 1, window: { center: 1, width: 0 } },
    ]) {
      await assert.rejects(
        processReveal(ctx, {
          data: { ref, outPath, requestedBy: 'WS', render: bad },
          attemptsMade: 0,
        }),
        (err) => err instanceof UnrecoverableError && /^VEIL_E_USAGE/.test(err.message),
        JSON.stringify(bad),
      );
    }
    await assert.rejects(
      processReveal(ctx, {
        data: { ref, outPath, requestedBy: 'WS', render: { frame: 3 } },
        attemptsMade: 0,
      }),
      (err) => err instanceof UnrecoverableError && /^VEIL_E_NOT_FOUND/.test(err.message),
    );
    assert.equal(existsSync(outPath), false);
  });

  it('refuses to reveal tampered pixels, unknown instances and paths outside outgoing/', async () => {
    const original = syntheticInstance({
      sopInstanceUID: '1.2.826.0.1.3680043.99.4',
      rows: 32,
      columns: 32,
    });
    const ref = refOf(original);
    await processProtect(ctx, { id: 'j6', data: await spool(original), attemptsMade: 0 });
    const file = archive.pathOf(ref);
    const stored = readFileSync(file);
    stored[stored.length - 10] ^= 0xff;
    writeFileSync(file, stored);
    const outPath = path.join(ctx.layout.outgoing, 'tampered.dcm');
    await assert.rejects(
      processReveal(ctx, { data: { ref, outPath, requestedBy: 'WS' }, attemptsMade: 0 }),
      (err) =>
        err instanceof UnrecoverableError && /^VEIL_E_REVEAL_PIXELS_TAMPERED/.test(err.message),
    );
    assert.equal(existsSync(outPath), false);
    const missing = { ...ref, sopInstanceUID: '1.2.826.0.1.3680043.99.404' };
    await assert.rejects(
      processReveal(ctx, { data: { ref: missing, outPath, requestedBy: 'WS' }, attemptsMade: 0 }),
      (err) => err instanceof UnrecoverableError && /^VEIL_E_ARCHIVE_NOT_FOUND/.test(err.message),
    );
    await assert.rejects(
      processReveal(ctx, {
        data: { ref, outPath: path.join(tmp.dir, 'x.dcm'), requestedBy: 'WS' },
        attemptsMade: 0,
      }),
      (err) => err instanceof UnrecoverableError && /^VEIL_E_USAGE/.test(err.message),
    );
  });

  it('retries a transient archive failure with backoff and then archives (BullMQ worker)', async () => {
    const original = syntheticInstance({ sopInstanceUID: '1.2.826.0.1.3680043.99.5' });
    archive.failures = 2;
    const worker = new Worker(naming.protect, (job) => processProtect(ctx, job), {
      connection: redisConnection(redis.url),
      prefix: naming.prefix,
    });
    worker.on('error', () => undefined);
    try {
      const data = await spool(original);
      const job = (await queue.getJob(protectJobId(data.sopInstanceUID)))!;
      const done = new Promise<void>((resolve, reject) => {
        worker.on('completed', (j) => j.id === job.id && resolve());
        worker.on('failed', (j, err) => j?.id === job.id && j?.finishedOn && reject(err));
      });
      await done;
      const finished = (await queue.getJob(job.id!))!;
      assert.equal(finished.attemptsMade, 3);
      assert.equal(archive.failures, 0);
      assertSameInstance(original, await revealed(refOf(original)));
    } finally {
      await worker.close();
    }
  });

  it('sends a permanent failure straight to failed with the code as reason (BullMQ worker)', async () => {
    const bad = await alreadyProtected('1.2.826.0.1.3680043.99.6');
    const worker = new Worker(naming.protect, (job) => processProtect(ctx, job), {
      connection: redisConnection(redis.url),
      prefix: naming.prefix,
    });
    worker.on('error', () => undefined);
    try {
      const data = await spool(bad);
      const id = protectJobId(data.sopInstanceUID);
      await new Promise<void>((resolve) => worker.on('failed', (j) => j?.id === id && resolve()));
      const failed = (await queue.getJob(id))!;
      assert.equal(await failed.getState(), 'failed');
      assert.equal(failed.attemptsMade, 1);
      assert.match(failed.failedReason, /^VEIL_E_PROTECT_ALREADY_PROTECTED: /);
      assert.ok(!failed.failedReason.includes('Copy'));
    } finally {
      await worker.close();
    }
  });

  describe('reveal jobs of several instances', () => {
    const sops = [
      '1.2.826.0.1.3680043.99.61',
      '1.2.826.0.1.3680043.99.62',
      '1.2.826.0.1.3680043.99.63',
    ];
    const originals = sops.map((sopInstanceUID) =>
      syntheticInstance({ sopInstanceUID, rows: 16, columns: 16 }),
    );
    let items: RevealItem[];

    before(async () => {
      items = [];
      for (const [i, original] of originals.entries()) {
        await processProtect(ctx, { id: `b${i}`, data: await spool(original), attemptsMade: 0 });
        items.push({
          ref: refOf(original),
          outPath: path.join(ctx.layout.outgoing, `batch-${i}.dcm`),
        });
      }
    });
    afterEach(() => {
      for (const item of items) rmSync(item.outPath, { force: true });
    });

    /** A job as BullMQ hands it to the processor, recording every progress it reports. */
    function batchJob(jobItems: RevealItem[], progress?: RevealProgress) {
      const reported: RevealProgress[] = [];
      const job: RevealJobLike = {
        id: 'batch',
        data: { items: jobItems, requestedBy: 'WS' },
        attemptsMade: 0,
        progress,
        updateProgress: async (value) => {
          reported.push(value);
          job.progress = value;
        },
      };
      return { job, reported };
    }

    it('reveals each item in order, reporting each outcome and the done items as progress', async () => {
      const { job, reported } = batchJob(items);
      const result = await processRevealBatch(ctx, job);
      // Done-bits: item i is bit i of byte i >> 3.
      assert.deepEqual(
        reported.map((r) => [r.settled.map(([i]) => i), Buffer.from(r.done, 'base64')[0]]),
        [
          [[0], 0b001],
          [[1], 0b011],
          [[2], 0b111],
        ],
      );
      for (const [i, item] of items.entries()) {
        const bytes = readFileSync(item.outPath);
        assert.deepEqual(result.outcomes[i], { ok: true, bytes: bytes.length });
        assert.deepEqual(reported[i]!.settled[0]![1], result.outcomes[i]);
        assertSameInstance(originals[i]!, bytes);
      }
    });

    it('makes a refused instance its outcome and goes on with the others', async () => {
      const tamperedFile = archive.pathOf(items[1]!.ref);
      const kept = readFileSync(tamperedFile);
      const stored = Buffer.from(kept);
      stored[stored.length - 10] ^= 0xff;
      writeFileSync(tamperedFile, stored);
      try {
        const missing: RevealItem = {
          ref: { ...items[0]!.ref, sopInstanceUID: '1.2.826.0.1.3680043.99.404' },
          outPath: path.join(ctx.layout.outgoing, 'batch-missing.dcm'),
        };
        const { job } = batchJob([items[0]!, items[1]!, missing, items[2]!]);
        const { outcomes } = await processRevealBatch(ctx, job);
        assert.equal(outcomes.length, 4);
        assert.equal(outcomes[0]!.ok, true);
        assert.deepEqual(
          [outcomes[1], outcomes[2]].map((o) => (o && !o.ok ? o.code : '')),
          ['VEIL_E_REVEAL_PIXELS_TAMPERED', 'VEIL_E_ARCHIVE_NOT_FOUND'],
        );
        assert.equal(outcomes[3]!.ok, true);
        assert.equal(existsSync(items[1]!.outPath), false);
        assert.equal(existsSync(missing.outPath), false);
        assertSameInstance(originals[2]!, readFileSync(items[2]!.outPath));
      } finally {
        writeFileSync(tamperedFile, kept);
      }
    });

    it('fails the attempt on a transient error, and the retry resumes after the last reported item', async () => {
      const { job, reported } = batchJob(items);
      // The first item's read succeeds; the second's read (made ahead, while the first is
      // revealed) fails: the attempt fails after reporting the first item.
      archive.failNextGet.add(sops[1]!);
      await assert.rejects(
        processRevealBatch(ctx, job),
        (err) =>
          !(err instanceof UnrecoverableError) &&
          /^VEIL_E_ARCHIVE_UNAVAILABLE: /.test((err as Error).message),
      );
      assert.equal(reported.length, 1);
      assert.ok(existsSync(items[0]!.outPath));
      rmSync(items[0]!.outPath);
      archive.gets = [];
      const result = await processRevealBatch(ctx, job);
      // Resumed: the first item is neither read nor written again; its outcome was reported.
      assert.deepEqual(archive.gets, [sops[1], sops[2]]);
      assert.equal(existsSync(items[0]!.outPath), false);
      assert.equal(result.outcomes[0], null);
      assert.ok(result.outcomes.slice(1).every((o) => o?.ok));
      assert.equal(Buffer.from(reported.at(-1)!.done, 'base64')[0], 0b111);
      assertSameInstance(originals[1]!, readFileSync(items[1]!.outPath));
    });

    it('reads a series job from one series stream in the archive order, and what it lacks on its own', async () => {
      const folder = path.dirname(archive.pathOf(items[0]!.ref));
      let streams = 0;
      // The filesystem archive has no series read: this one streams the series folder, newest
      // name first (an order unlike the items'), with the other tests' objects among them.
      archive.getSeries = async function* () {
        streams += 1;
        for (const name of readdirSync(folder).sort().reverse()) {
          yield readFileSync(path.join(folder, name));
        }
      };
      try {
        const missing: RevealItem = {
          ref: { ...items[0]!.ref, sopInstanceUID: '1.2.826.0.1.3680043.99.405' },
          outPath: path.join(ctx.layout.outgoing, 'batch-missing.dcm'),
        };
        const { job, reported } = batchJob([...items, missing]);
        job.data.fromSeries = true;
        archive.gets = [];
        const { outcomes } = await processRevealBatch(ctx, job);
        assert.equal(streams, 1);
        // Only the instance the series did not hold was asked for on its own.
        assert.deepEqual(archive.gets, [missing.ref.sopInstanceUID]);
        // Reported in the series' order: the last item first.
        assert.deepEqual(
          reported.map((r) => r.settled.map(([i]) => i)),
          [[2], [1], [0], [3]],
        );
        for (const [i, item] of items.entries()) {
          assert.deepEqual(outcomes[i], { ok: true, bytes: statSync(item.outPath).size });
          assertSameInstance(originals[i]!, readFileSync(item.outPath));
        }
        const last = outcomes[3];
        assert.equal(last && !last.ok ? last.code : '', 'VEIL_E_ARCHIVE_NOT_FOUND');
      } finally {
        delete archive.getSeries;
      }
    });

    it('routes series parts by their File Meta, and refuses a part filed under another UID', async () => {
      // Someone with archive access relabels the object of item 0 as item 1 (File Meta only).
      const stored = readFileSync(archive.pathOf(items[0]!.ref));
      const at = stored.indexOf(Buffer.from(sops[0]!, 'latin1'));
      assert.ok(at > 0 && at < 1024, 'the File Meta holds the SOP Instance UID');
      const relabelled = Buffer.from(stored);
      relabelled.write(sops[1]!, at, 'latin1');
      archive.getSeries = async function* () {
        yield relabelled;
      };
      try {
        const { job } = batchJob(items);
        job.data.fromSeries = true;
        archive.gets = [];
        const { outcomes } = await processRevealBatch(ctx, job);
        // Item 1 got item 0's object: a valid object, but not the one archived for item 1.
        const refused = outcomes[1];
        assert.equal(refused && !refused.ok ? refused.code : '', 'VEIL_E_REVEAL_STALE');
        assert.equal(existsSync(items[1]!.outPath), false);
        // The others were not in the stream and were read on their own.
        assert.deepEqual(archive.gets, [sops[0], sops[2]]);
        assertSameInstance(originals[0]!, readFileSync(items[0]!.outPath));
        assertSameInstance(originals[2]!, readFileSync(items[2]!.outPath));
      } finally {
        delete archive.getSeries;
      }
    });

    it('refuses a job naming no instance or too many', async () => {
      for (const jobItems of [[], Array.from({ length: 257 }, () => items[0]!)]) {
        await assert.rejects(
          processRevealBatch(ctx, batchJob(jobItems).job),
          (err) => err instanceof UnrecoverableError && /^VEIL_E_USAGE/.test(err.message),
        );
      }
    });
  });
});
