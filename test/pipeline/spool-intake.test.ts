import assert from 'node:assert/strict';
import {
  copyFileSync,
  existsSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { once } from 'node:events';
import path from 'node:path';
import { Queue, Worker } from 'bullmq';
import { Tags, parsePart10 } from '../../src/dicom';
import { isVeilError } from '../../src/errors';
import { silentLogger } from '../../src/log';
import type { EmbeddedRedis } from '../../src/pipeline/embedded-redis';
import { freePort } from '../../src/pipeline/embedded-redis';
import { protectJobId } from '../../src/pipeline/jobs';
import { createMetrics } from '../../src/pipeline/metrics';
import { redisConnection } from '../../src/pipeline/queues';
import { queuedFileName, spoolLayout } from '../../src/pipeline/spool';
import { SpoolIntake } from '../../src/pipeline/spool-intake';
import { SPOOL_HEAD_BYTES, SpoolWriter } from '../../src/pipeline/spool-writer';
import { syntheticInstance } from '../helpers/synthetic';
import { tempDir } from '../helpers/tools';
import { eventually, startTestRedis, uniqueNaming } from './harness';

const CT = path.join(__dirname, '..', '..', 'samples', 'ct-slice.dcm');
const SOURCE = { kind: 'dimse', who: 'MODALITY', address: '127.0.0.1' } as const;

describe('pipeline/spool-intake (Redis)', function () {
  this.timeout(60_000);
  let tmp: ReturnType<typeof tempDir>;
  let redis: EmbeddedRedis;
  let queue: Queue;
  let intake: SpoolIntake;
  const layout = () => spoolLayout(path.join(tmp.dir, 'spool'));
  const naming = uniqueNaming();
  const metrics = createMetrics({ defaultMetrics: false });

  before(async () => {
    tmp = tempDir('veil-intake-');
    redis = await startTestRedis(tmp.dir);
    queue = new Queue(naming.protect, {
      connection: redisConnection(redis.url),
      prefix: naming.prefix,
    });
    intake = await SpoolIntake.open({
      layout: layout(),
      minFreeBytes: 0,
      protectQueue: queue,
      log: silentLogger,
      metrics,
    });
  });
  after(async () => {
    await queue.close();
    await redis.stop();
    tmp.cleanup();
  });
  afterEach(async () => {
    await queue.obliterate({ force: true });
    for (const name of readdirSync(layout().queued)) rmSync(path.join(layout().queued, name));
  });

  /** Streams a copy of `bytes` into a fresh temp path, as a door would. */
  function upload(bytes: Buffer): string {
    const temp = intake.tempPath();
    writeFileSync(temp, bytes);
    return temp;
  }

  it('acknowledges after the file is in queued/ and its protect job exists', async () => {
    const bytes = readFileSync(CT);
    const ds = parsePart10(bytes).dataset;
    const temp = upload(bytes);
    const result = await intake.accept(temp, SOURCE);
    assert.equal(result.sopInstanceUID, ds.string(Tags.SOPInstanceUID));
    assert.equal(result.studyInstanceUID, ds.string(Tags.StudyInstanceUID));
    assert.equal(result.sopClassUID, ds.string(Tags.SOPClassUID));
    assert.equal(existsSync(temp), false);
    const job = await queue.getJob(protectJobId(result.sopInstanceUID));
    assert.ok(job);
    assert.equal(path.dirname(job.data.spoolPath), layout().queued);
    assert.ok(readFileSync(job.data.spoolPath).equals(bytes));
    assert.deepEqual(job.data.source, SOURCE);
    assert.deepEqual(Object.keys(job.data).sort(), [
      'receivedAt',
      'sopInstanceUID',
      'source',
      'spoolPath',
    ]);
    const received = await metrics.instancesReceived.get();
    assert.equal(received.values.find((v) => v.labels.door === 'dimse')?.value, 1);
  });

  it('points a waiting job at the newest copy and deletes the older file', async () => {
    const first = syntheticInstance({ sopInstanceUID: '1.2.3.4.100', patientName: 'First^Copy' });
    const second = syntheticInstance({ sopInstanceUID: '1.2.3.4.100', patientName: 'Second^Copy' });
    await intake.accept(upload(first), SOURCE);
    const older = (await queue.getJob(protectJobId('1.2.3.4.100')))!.data.spoolPath;
    await intake.accept(upload(second), SOURCE);
    const jobs = await queue.getJobs(['waiting', 'delayed', 'active']);
    assert.equal(jobs.length, 1);
    assert.ok(readFileSync(jobs[0].data.spoolPath).equals(second));
    assert.equal(existsSync(older), false);
  });

  it('adds a follow-up job when the instance is being processed', async () => {
    const sop = '1.2.3.4.101';
    await intake.accept(upload(syntheticInstance({ sopInstanceUID: sop })), SOURCE);
    const worker = new Worker(naming.protect, null, {
      connection: redisConnection(redis.url),
      prefix: naming.prefix,
    });
    try {
      const active = await worker.getNextJob('token-1');
      assert.equal(active?.id, protectJobId(sop));
      const newest = syntheticInstance({ sopInstanceUID: sop });
      await intake.accept(upload(newest), SOURCE);
      const waiting = await queue.getJobs(['waiting']);
      assert.equal(waiting.length, 1);
      assert.ok(waiting[0].id!.startsWith(`${protectJobId(sop)}-`));
      assert.ok(readFileSync(waiting[0].data.spoolPath).equals(newest));
      // Both files stay: the processor protects the newest under a per-instance lock.
      assert.equal(readdirSync(layout().queued).filter((n) => n.startsWith(`${sop}.`)).length, 2);
    } finally {
      await worker.close(true);
    }
  });

  it('replaces a finished job of an earlier copy with a new one', async () => {
    const sop = '1.2.3.4.102';
    await intake.accept(upload(syntheticInstance({ sopInstanceUID: sop })), SOURCE);
    const worker = new Worker(naming.protect, null, {
      connection: redisConnection(redis.url),
      prefix: naming.prefix,
    });
    try {
      const job = await worker.getNextJob('token-2');
      await job!.moveToCompleted({ archivedBytes: 1 }, 'token-2', false);
    } finally {
      await worker.close(true);
    }
    assert.equal(await (await queue.getJob(protectJobId(sop)))!.getState(), 'completed');
    await intake.accept(upload(syntheticInstance({ sopInstanceUID: sop })), SOURCE);
    assert.equal(await (await queue.getJob(protectJobId(sop)))!.getState(), 'waiting');
  });

  it('reads the UIDs of an instance whose header is larger than the first read', async () => {
    const big = syntheticInstance({
      sopInstanceUID: '1.2.3.4.103',
      extra: (ds) => ds.set({ tag: 0x00091010, vr: 'OB', value: Buffer.alloc(300 * 1024, 1) }),
    });
    const result = await intake.accept(upload(big), SOURCE);
    assert.equal(result.sopInstanceUID, '1.2.3.4.103');
  });

  it('takes a file its door wrote with a SpoolWriter from the kept head, without reading it', async () => {
    const bytes = readFileSync(CT);
    const temp = path.join(layout().incoming, 'writer.part');
    const writer = new SpoolWriter(temp);
    // Written in pieces, as dcmjs-dimse hands over PDVs.
    for (let at = 0; at < bytes.length; at += 5000) writer.write(bytes.subarray(at, at + 5000));
    writer.end();
    await once(writer, 'close');
    const written = writer.written()!;
    assert.equal(written.synced, true);
    assert.deepEqual(written.head, bytes.subarray(0, Math.min(bytes.length, SPOOL_HEAD_BYTES)));
    assert.deepEqual(readFileSync(temp), bytes);
    assert.equal(statSync(temp).mode & 0o777, 0o600);
    // The head is what intake reads: a head of another instance names that instance.
    const other = syntheticInstance({ sopInstanceUID: '1.2.3.4.105' });
    const result = await intake.accept(temp, SOURCE, { synced: true, head: other });
    assert.equal(result.sopInstanceUID, '1.2.3.4.105');
  });

  it('reads the file when its header is longer than the head a SpoolWriter keeps', async () => {
    const big = syntheticInstance({
      sopInstanceUID: '1.2.3.4.106',
      extra: (ds) => ds.set({ tag: 0x00091010, vr: 'OB', value: Buffer.alloc(300 * 1024, 1) }),
    });
    const temp = upload(big);
    const head = big.subarray(0, SPOOL_HEAD_BYTES);
    const result = await intake.accept(temp, SOURCE, { synced: true, head });
    assert.equal(result.sopInstanceUID, '1.2.3.4.106');
  });

  it('fails a SpoolWriter whose file exists already, leaving that file alone', async () => {
    const temp = upload(Buffer.from('someone else'));
    const writer = new SpoolWriter(temp);
    const closed = new Promise((resolve) => writer.on('close', resolve));
    writer.on('error', () => undefined);
    writer.end(Buffer.from('mine'));
    await closed;
    assert.equal(writer.written(), undefined);
    assert.equal((writer.errored as NodeJS.ErrnoException | null)?.code, 'EEXIST');
    assert.equal(readFileSync(temp, 'utf8'), 'someone else');
  });

  it('refuses bad DICOM and removes the temp file', async () => {
    const temp = upload(Buffer.from('this is not a DICOM file at all, just text'.repeat(10)));
    await assert.rejects(
      intake.accept(temp, SOURCE),
      (err) => isVeilError(err) && err.code.startsWith('VEIL_E_DICOM_'),
    );
    assert.equal(existsSync(temp), false);
    assert.deepEqual(readdirSync(layout().queued), []);
    assert.equal((await queue.getJobs(['waiting'])).length, 0);
  });

  it('refuses a truncated header and an instance without SOP Instance UID', async () => {
    const whole = readFileSync(CT);
    const cut = upload(whole.subarray(0, 400));
    await assert.rejects(intake.accept(cut, SOURCE), (err) =>
      isVeilError(err, 'VEIL_E_DICOM_TRUNCATED'),
    );
    assert.equal(existsSync(cut), false);
    const noUid = syntheticInstance({ extra: (ds) => ds.delete(Tags.SOPInstanceUID) });
    const temp = upload(noUid);
    await assert.rejects(intake.accept(temp, SOURCE), (err) =>
      isVeilError(err, 'VEIL_E_DICOM_MISSING_ATTRIBUTE'),
    );
    assert.equal(existsSync(temp), false);
  });

  it('refuses instances when the spool volume is below spool.minFreeBytes', async () => {
    const full = await SpoolIntake.open({
      layout: layout(),
      minFreeBytes: Number.MAX_SAFE_INTEGER,
      protectQueue: queue,
      log: silentLogger,
    });
    const temp = upload(readFileSync(CT));
    await assert.rejects(full.accept(temp, SOURCE), (err) => isVeilError(err, 'VEIL_E_SPOOL_FULL'));
    await assert.rejects(full.checkAccepting(), (err) => isVeilError(err, 'VEIL_E_SPOOL_FULL'));
    assert.equal(existsSync(temp), false);
    assert.deepEqual(readdirSync(layout().queued), []);
  });

  it('refuses instances with VEIL_E_QUEUE_UNAVAILABLE when Redis is down and leaves nothing', async () => {
    const deadUrl = `redis://127.0.0.1:${await freePort()}`;
    const dead = new Queue('dead', { connection: redisConnection(deadUrl) });
    dead.on('error', () => undefined);
    try {
      const down = await SpoolIntake.open({
        queueTimeoutMs: 300,
        layout: layout(),
        minFreeBytes: 0,
        protectQueue: dead,
        log: silentLogger,
      });
      const temp = upload(readFileSync(CT));
      await assert.rejects(down.accept(temp, SOURCE), (err) =>
        isVeilError(err, 'VEIL_E_QUEUE_UNAVAILABLE'),
      );
      await assert.rejects(down.checkAccepting(), (err) =>
        isVeilError(err, 'VEIL_E_QUEUE_UNAVAILABLE'),
      );
      assert.equal(existsSync(temp), false);
      assert.deepEqual(readdirSync(layout().queued), []);
    } finally {
      await dead.close();
    }
  });

  it('re-enqueues queued files that have no job (crash recovery)', async () => {
    const sop = '1.2.3.4.104';
    const file = path.join(layout().queued, queuedFileName(sop));
    copyFileSync(CT, file);
    assert.equal(await intake.recoverSpool(), 1);
    const job = await queue.getJob(protectJobId(sop));
    assert.equal(job?.data.spoolPath, file);
    assert.equal(await intake.recoverSpool(), 0);
  });

  it('gives a queued file whose job failed for good (archive down) a new job at restart', async () => {
    const sop = '1.2.3.4.105';
    const file = path.join(layout().queued, queuedFileName(sop));
    copyFileSync(CT, file);
    const data = {
      spoolPath: file,
      sopInstanceUID: sop,
      receivedAt: new Date().toISOString(),
      source: SOURCE,
    };
    await queue.add('protect', data, { jobId: protectJobId(sop), attempts: 1 });
    const worker = new Worker(
      naming.protect,
      async () => {
        throw new Error('VEIL_E_ARCHIVE_UNAVAILABLE: the archive is down');
      },
      { connection: redisConnection(redis.url), prefix: naming.prefix },
    );
    try {
      await eventually(
        async () => ((await queue.getJobCounts('failed')).failed === 1 ? true : undefined),
        'the job failed',
      );
    } finally {
      await worker.close();
    }
    assert.equal(await intake.recoverSpool(), 1);
    const job = await queue.getJob(protectJobId(sop));
    assert.equal(await job!.getState(), 'waiting');
    assert.equal(job!.data.spoolPath, file);
  });
});
