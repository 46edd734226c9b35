/**
 * `veil serve` as the operator runs it: the real `node bin/veil --data-dir <dir> serve` process with
 * an embedded Redis (redis.url empty) on free loopback ports; DCMTK echoscu / storescu push, the
 * first-start admin token reads the study back; SIGTERM and SIGINT stop it with exit code 0 and
 * no process of its tree (redis-server, worker children) left; a restart on the same data folder
 * serves the study again.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Tags, parsePart10 } from '../../src/dicom';
import { generateCtSeries } from '../../samples/generate';
import { tempDir } from '../helpers/tools';
import { eventually } from '../pipeline/harness';
import { type Served, alive, descendants, spawnServe } from '../faults/fault-tools';
import { assertSameDataSet, dcmtk, multipartParts, sopOf } from './e2e-tools';

const ROOT = path.join(__dirname, '..', '..');
const SAMPLE = path.join(ROOT, 'samples', 'ct-slice.dcm');

describe('e2e/serve-process (node bin/veil serve)', function () {
  this.timeout(180_000);
  let tmp: ReturnType<typeof tempDir>;
  let dataDir: string;
  const started: Served[] = [];
  let token: string;
  const original = readFileSync(SAMPLE);
  const header = parsePart10(original, { stopAtPixelData: true }).dataset;
  const study = header.string(Tags.StudyInstanceUID)!;
  const sop = sopOf(original);

  before(() => {
    tmp = tempDir('veil-e2e-serve-');
    dataDir = path.join(tmp.dir, 'data');
  });
  after(async () => {
    // A failed test may leave a gateway running: stop its whole tree.
    for (const s of started) {
      if (s.child.exitCode !== null || s.child.signalCode !== null) continue;
      const tree = descendants(s.child.pid!);
      s.child.kill('SIGKILL');
      await s.exit;
      for (const p of tree) if (alive(p)) process.kill(p.pid, 'SIGKILL');
    }
    tmp?.cleanup();
  });

  async function serve(): Promise<Served> {
    const served = await spawnServe({ dataDir, cwd: tmp.dir });
    started.push(served);
    return served;
  }

  /** WADO-RS of a study with the admin token: the parts of the multipart answer. */
  async function wadoStudy(s: Served, studyUID = study): Promise<Buffer[]> {
    const res = await fetch(`http://127.0.0.1:${s.httpPort}/dicom-web/studies/${studyUID}`, {
      headers: {
        authorization: `Bearer ${token}`,
        accept: 'multipart/related; type="application/dicom"',
      },
    });
    assert.equal(res.status, 200);
    return multipartParts(Buffer.from(await res.arrayBuffer()), res.headers.get('content-type')!);
  }

  /** Waits until QIDO-RS lists every given instance of the study (it lists archived ones only). */
  async function waitListed(s: Served, studyUID: string, sops: string[]): Promise<void> {
    await eventually(
      async () => {
        const res = await fetch(
          `http://127.0.0.1:${s.httpPort}/dicom-web/studies/${studyUID}/instances`,
          { headers: { authorization: `Bearer ${token}`, accept: 'application/dicom+json' } },
        );
        if (res.status !== 200) {
          await res.arrayBuffer();
          return undefined;
        }
        const rows = (await res.json()) as Array<Record<string, { Value?: unknown[] }>>;
        const listed = new Set(rows.map((r) => r['00080018']?.Value?.[0]));
        return sops.every((x) => listed.has(x)) ? true : undefined;
      },
      `${sops.length} instances archived`,
      120_000,
    );
  }

  /** Sends `signal`, expects exit code 0 and that nothing of the process tree survives. */
  async function stopWith(s: Served, signal: NodeJS.Signals): Promise<void> {
    const tree = descendants(s.child.pid!);
    assert.ok(
      tree.some((p) => /redis-server/.test(p.command)),
      `the embedded redis-server runs under veil serve: ${tree.map((p) => p.command).join('; ')}`,
    );
    assert.ok(
      tree.some((p) => /bullmq/.test(p.command)),
      'worker children run under veil serve',
    );
    s.child.kill(signal);
    const { code, signal: killedBy } = await s.exit;
    assert.equal(killedBy, null, s.output());
    assert.equal(code, 0, s.output());
    // Sandbox children leave on their parent's disconnect, which they see as it exits.
    await eventually(
      () => (tree.some(alive) ? undefined : true),
      'every process of the tree gone',
      15_000,
    ).catch(() => {
      const left = tree.filter(alive).map((p) => `${p.pid} ${p.command}`);
      assert.fail(`processes survived veil serve: ${left.join('; ')}`);
    });
    assert.equal(existsSync(path.join(dataDir, 'redis')), true, 'redis keeps its data folder');
  }

  it('starts, prints the first admin token, answers echoscu, archives a storescu push and stops on SIGTERM with exit 0', async () => {
    const s = await serve();
    const printed = /admin bearer token[^\n]*\n\*\*\*\s+(\S+)/.exec(s.output());
    assert.ok(printed, `the first start prints an admin token:\n${s.output()}`);
    token = printed[1]!;
    const tokensFile = readFileSync(path.join(dataDir, 'tokens.json'), 'utf8');
    assert.equal(tokensFile.includes(token), false, 'the token is stored hashed only');

    assert.match(
      await dcmtk('echoscu', ['-v', '-aec', 'VEIL', '127.0.0.1', String(s.dimsePort)]),
      /Echo Response \(Success\)/,
    );
    await dcmtk('storescu', ['-aec', 'VEIL', '127.0.0.1', String(s.dimsePort), SAMPLE]);
    await waitListed(s, study, [sop]);
    const parts = await wadoStudy(s);
    assert.equal(parts.length, 1);
    assertSameDataSet(original, parts[0]!);
    assert.equal(s.output().includes('DOE^JANE'), false, 'no patient name in the log');

    await stopWith(s, 'SIGTERM');
  });

  it('restarts on the same data folder with the same key and token, serves the study again, and stops on SIGINT with exit 0', async () => {
    assert.ok(token, 'the first start ran');
    const s = await serve();
    assert.equal(/admin bearer token/.test(s.output()), false, 'no second first-start token');
    assert.equal(/generated a new/.test(s.output()), false, 'no new key on restart');
    const parts = await wadoStudy(s);
    assert.equal(parts.length, 1);
    assertSameDataSet(original, parts[0]!);

    await stopWith(s, 'SIGINT');
  });

  it('loses nothing it acknowledged when stopped by SIGTERM right after a push: the restart archives and serves it', async () => {
    const series = generateCtSeries({ slices: 5, rows: 256, columns: 256, seed: 77 });
    const studyUID = parsePart10(series[0]!).dataset.string(Tags.StudyInstanceUID)!;
    const pushDir = path.join(tmp.dir, 'push');
    mkdirSync(pushDir);
    const files = series.map((bytes, i) => {
      const file = path.join(pushDir, `ct${i}.dcm`);
      writeFileSync(file, bytes);
      return file;
    });
    const first = await serve();
    await dcmtk('storescu', ['-aec', 'VEIL', '127.0.0.1', String(first.dimsePort), ...files]);
    // Every C-STORE was acknowledged: each instance is on the spool with its job queued.
    await stopWith(first, 'SIGTERM');

    const second = await serve();
    await waitListed(second, studyUID, series.map(sopOf));
    const parts = await wadoStudy(second, studyUID);
    assert.deepEqual(parts.map(sopOf).sort(), series.map(sopOf).sort());
    const bySop = new Map(series.map((b) => [sopOf(b), b]));
    for (const part of parts) assertSameDataSet(bySop.get(sopOf(part))!, part);
    await stopWith(second, 'SIGTERM');
  });
});
