/**
 * Key removal against the gateway's catalogue (issue #5): a running gateway (startGateway, embedded
 * Redis, sandboxed workers) archives a series; the real `veil` binary, pointed at the gateway's
 * data folder, says which archived instances need the old key, refuses to remove it (exit 1, the
 * UIDs listed), re-wraps the archive (in place in the filesystem archive folder, or through the
 * archive with --archive for Orthanc over DICOMweb) while the catalogue follows, so retrieval
 * still works and the pre-rewrap object put back is refused as a replay; then the key goes.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { log as dimseLog } from 'dcmjs-dimse';
import { hashToken } from '../../src/api/tokens';
import { CONFIG_DIR } from '../../src/cli/settings';
import { Tags, parsePart10 } from '../../src/dicom';
import { silentLogger } from '../../src/log';
import { type Gateway, startGateway } from '../../src/pipeline/gateway';
import { generateCtSeries } from '../../samples/generate';
import { runAsync } from '../dimse/harness';
import { assertSameDataSet, multipartParts, sopOf } from '../e2e/e2e-tools';
import {
  type RunningOrthanc,
  freePort,
  replaceInOrthanc,
  orthancArchiveSettings,
  startOrthanc,
} from '../helpers/orthanc';
import { tempDir } from '../helpers/tools';
import { eventually, testConfig } from '../pipeline/harness';

const VEIL = path.join(__dirname, '..', '..', 'bin', 'veil');
const WORKSTATION = 'keys-catalogue-workstation';

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function catalogueSuite(kind: 'filesystem' | 'dicomweb'): void {
  describe(`cli/keys against the gateway catalogue (archive.kind = ${kind}, real binary)`, function () {
    this.timeout(300_000);
    let tmp: ReturnType<typeof tempDir>;
    let data: string;
    let orthanc: RunningOrthanc | undefined;
    let gateway: Gateway;
    let archiveEnv: Record<string, string> = {};
    const series = generateCtSeries({ slices: 3, rows: 64, columns: 64, seed: 900 });
    const originals = new Map(series.map((b) => [sopOf(b), b]));
    let oldKey = '';
    let newKey = '';

    /** The veil binary on the gateway's data folder (not blocking: the gateway runs in here). */
    function veil(args: string[]): Promise<Run> {
      return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [VEIL, '--data-dir', data, ...args], {
          env: { ...process.env, NODE_ENV: 'test', VEIL_KEYS__BITS: '2048', ...archiveEnv },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.on('error', reject);
        child.on('close', (status) => resolve({ status, stdout, stderr }));
      });
    }

    async function wado(): Promise<{ status: number; dicom: Buffer[]; body: Buffer }> {
      const study = studyOf(series[0]!);
      const res = await fetch(`http://127.0.0.1:${gateway.httpPort}/dicom-web/studies/${study}`, {
        headers: { authorization: `Bearer ${WORKSTATION}` },
      });
      const body = Buffer.from(await res.arrayBuffer());
      const dicom =
        res.status === 200 ? multipartParts(body, res.headers.get('content-type')!) : [];
      return { status: res.status, dicom, body };
    }

    before(async () => {
      dimseLog.setLevel('silent');
      tmp = tempDir(`veil-keys-catalogue-${kind}-`);
      data = path.join(tmp.dir, 'data');
      if (kind === 'dicomweb') {
        orthanc = await startOrthanc();
        archiveEnv = orthancArchiveSettings(orthanc);
      }
      const config = testConfig(data, {
        VEIL_HTTP__HOST: '127.0.0.1',
        VEIL_HTTP__PORT: '0',
        VEIL_DIMSE__HOST: '127.0.0.1',
        VEIL_DIMSE__PORT: String(await freePort()),
        VEIL_WORKERS__PROCESSES: '1',
        VEIL_WORKERS__CONCURRENCY: '1',
        VEIL_HTTP__TOKENS: `viewer:workstation:${hashToken(WORKSTATION)}`,
        ...archiveEnv,
      });
      gateway = await startGateway(config, silentLogger, {
        configDir: CONFIG_DIR,
        notice: () => undefined,
      });
      const files = series.map((b, i) => {
        const file = path.join(tmp.dir, `i${i}.dcm`);
        writeFileSync(file, b);
        return file;
      });
      const push = await runAsync('storescu', [
        '-aec',
        'VEIL',
        '127.0.0.1',
        String(gateway.dimsePort),
        ...files,
      ]);
      assert.equal(push.status, 0, push.stderr);
      await eventually(
        () =>
          [...originals.keys()].every((s) => gateway.deps.catalogue.get(s)?.state === 'archived')
            ? true
            : undefined,
        'the series archived',
        240_000,
      );
      const list = await veil(['keys', 'list', '--json']);
      const keys = JSON.parse(list.stdout) as Array<{ keyId: string; status: string }>;
      oldKey = keys.find((k) => k.status === 'current')!.keyId;
    });
    after(async () => {
      await gateway?.close();
      await orthanc?.stop();
      tmp?.cleanup();
    });

    it('keys usage KEYID (no DIR) lists the archived instances only that key opens, by UIDs', async () => {
      for (const sop of originals.keys())
        assert.deepEqual(gateway.deps.catalogue.get(sop)!.keyIds, [oldKey]);
      const run = await veil(['keys', 'usage', oldKey.slice(0, 12), '--json']);
      assert.equal(run.status, 0, run.stderr);
      const out = JSON.parse(run.stdout) as {
        instances: Array<Record<string, string>>;
        unknown: unknown[];
      };
      assert.deepEqual(
        out.instances.map((i) => i.sopInstanceUID).sort(),
        [...originals.keys()].sort(),
      );
      assert.equal(out.instances[0]!.studyInstanceUID, studyOf(series[0]!));
      assert.deepEqual(out.unknown, []);
    });

    it('keys usage also names instances catalogued without key ids (index schema 1): they may need it', async () => {
      // As a row written by an older Veil: no MAC, no key ids (the archived object is unchanged).
      const legacy = gateway.deps.catalogue.get(sopOf(series[2]!))!;
      gateway.deps.catalogue.upsert({ ...legacy, protectionMac: undefined, keyIds: undefined });
      const run = await veil(['keys', 'usage', oldKey, '--json']);
      assert.equal(run.status, 0, run.stderr);
      const out = JSON.parse(run.stdout) as {
        instances: Array<Record<string, string>>;
        unknown: Array<Record<string, string>>;
      };
      assert.equal(out.instances.length, 2);
      assert.deepEqual(
        out.unknown.map((i) => i.sopInstanceUID),
        [legacy.sopInstanceUID],
      );
      const text = await veil(['keys', 'usage', oldKey]);
      assert.match(text.stdout, /^1 archived instance\(s\) have no recorded key ids/m);
    });

    it('after keys rotate, keys remove refuses (exit 1) and names every instance that needs the old key', async () => {
      const rotated = await veil(['keys', 'rotate', '--json']);
      assert.equal(rotated.status, 0, rotated.stderr);
      newKey = (JSON.parse(rotated.stdout) as { current: { keyId: string } }).current.keyId;
      const refused = await veil(['keys', 'remove', oldKey]);
      assert.equal(refused.status, 1, refused.stderr);
      for (const sop of originals.keys()) assert.ok(refused.stderr.includes(sop), `${sop} listed`);
      assert.match(
        refused.stderr,
        /2 archived instance\(s\), 1 archived instance\(s\) without recorded key ids need it/,
      );
      const list = JSON.parse((await veil(['keys', 'list', '--json'])).stdout) as Array<{
        keyId: string;
      }>;
      assert.ok(
        list.some((k) => k.keyId === oldKey),
        'the old key is still there',
      );
    });

    it('rewrap moves the archive to the new key and the catalogue follows: retrieval works, the old object is a replay', async () => {
      const sop = sopOf(series[0]!);
      const ref = gateway.deps.catalogue.get(sop)!;
      const before = await gateway.deps.archive.get(ref);
      const macBefore = ref.protectionMac;
      const run =
        kind === 'filesystem'
          ? await veil(['rewrap', gateway.deps.config.archive.filesystem.dir])
          : await veil(['rewrap', '--archive']);
      assert.equal(run.status, 0, run.stdout + run.stderr);
      for (const s of originals.keys()) {
        const row = gateway.deps.catalogue.get(s)!;
        assert.deepEqual(row.keyIds, [newKey]);
        assert.equal(row.pendingMac, undefined);
      }
      assert.notEqual(gateway.deps.catalogue.get(sop)!.protectionMac, macBefore);
      const good = await wado();
      assert.equal(good.status, 200, good.body.toString());
      assert.equal(good.dicom.length, 3);
      for (const part of good.dicom) assertSameDataSet(originals.get(sopOf(part))!, part);

      const after = await gateway.deps.archive.get(ref);
      if (orthanc) await replaceInOrthanc(orthanc, sop, before);
      else await gateway.deps.archive.put(ref, before);
      const res = await fetch(
        `http://127.0.0.1:${gateway.httpPort}/dicom-web/studies/${ref.studyInstanceUID}/series/${ref.seriesInstanceUID}/instances/${sop}`,
        { headers: { authorization: `Bearer ${WORKSTATION}` } },
      );
      assert.equal(res.status, 422);
      assert.equal(((await res.json()) as { code: string }).code, 'VEIL_E_REVEAL_STALE');
      if (kind === 'filesystem') {
        // Rewrap of the archive folder refuses to re-seal the replayed object (left as evidence).
        const again = await veil(['rewrap', gateway.deps.config.archive.filesystem.dir]);
        assert.equal(again.status, 1);
        assert.match(again.stdout + again.stderr, /VEIL_E_REVEAL_STALE/);
        assert.ok((await gateway.deps.archive.get(ref)).equals(before));
      }
      if (orthanc) await replaceInOrthanc(orthanc, sop, after);
      else await gateway.deps.archive.put(ref, after);
      const current = await veil(['rewrap', '--archive']);
      assert.equal(current.status, 0, current.stderr);
      assert.match(
        current.stdout,
        /0 archived instance\(s\) re-wrapped, 0 failed, 3 already current/,
      );
    });

    it('once nothing needs it, keys remove (no --check) deletes the old key and retrieval still works', async () => {
      const usage = await veil(['keys', 'usage', oldKey]);
      assert.match(usage.stdout, /^0 archived instance\(s\) need key/m);
      const removed = await veil(['keys', 'remove', oldKey]);
      assert.equal(removed.status, 0, removed.stderr);
      const list = JSON.parse((await veil(['keys', 'list', '--json'])).stdout) as Array<{
        keyId: string;
      }>;
      assert.deepEqual(
        list.map((k) => k.keyId),
        [newKey],
      );
      const good = await wado();
      assert.equal(good.status, 200);
      assert.equal(good.dicom.length, 3);
    });
  });
}

/** The Study Instance UID of a Part 10 object. */
function studyOf(bytes: Buffer): string {
  return parsePart10(bytes, { stopAtPixelData: true }).dataset.string(Tags.StudyInstanceUID)!;
}

catalogueSuite('filesystem');
catalogueSuite('dicomweb');
