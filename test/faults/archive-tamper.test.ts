/**
 * Archive alterations at both doors (issue #5): a protected object altered inside the archive (one
 * ciphertext byte, one header element, Pixel Data of another instance of the series, a truncated
 * object, an older valid version put back) is never delivered. WADO-RS answers with the documented
 * problem part or 422, C-GET and C-MOVE report one failed sub-operation and deliver the others,
 * the audit file holds a SecurityAlert with the code and /metrics counts it. A real gateway
 * (startGateway: embedded Redis, sandboxed workers) over the filesystem archive and over a real
 * Orthanc (DICOMweb and DIMSE), altered there by deleting and re-uploading through its REST API.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { log as dimseLog } from 'dcmjs-dimse';
import { hashToken } from '../../src/api/tokens';
import type { InstanceRef } from '../../src/archive/archive';
import { CONFIG_DIR } from '../../src/cli/settings';
import { Tags, parsePart10, textElement, writePart10 } from '../../src/dicom';
import { silentLogger } from '../../src/log';
import { type Gateway, startGateway } from '../../src/pipeline/gateway';
import { assemble } from '../../src/protection/assemble';
import { generateCtSeries } from '../../samples/generate';
import { runAsync } from '../dimse/harness';
import {
  assertSameDataSet,
  multipartParts,
  receivedIn,
  sopOf,
  startStorescp,
  stopChild,
} from '../e2e/e2e-tools';
import {
  type RunningOrthanc,
  freePort,
  replaceInOrthanc,
  orthancArchiveSettings,
  startOrthanc,
} from '../helpers/orthanc';
import { tempDir } from '../helpers/tools';
import { eventually, testConfig, waitArchived } from '../pipeline/harness';

const WORKSTATION = 'tamper-workstation-token';
/** (0008,103E) Series Description: a header element outside the stego fields. */
const SERIES_DESCRIPTION = 0x0008103e;

/** The five alterations and the code reveal must refuse each with. */
const EXPECTED = {
  'one-byte': 'VEIL_E_REVEAL_PIXELS_TAMPERED',
  'header-element': 'VEIL_E_REVEAL_HEADER_TAMPERED',
  'pixel-swap': 'VEIL_E_REVEAL_PIXELS_TAMPERED',
  truncated: 'VEIL_E_REVEAL_TRUNCATED',
  replay: 'VEIL_E_REVEAL_STALE',
} as const;
type Alteration = keyof typeof EXPECTED;
type Kind = 'filesystem' | 'dicomweb' | 'dimse';

/** One study of three instances per alteration: A is altered, B and C must still be delivered. */
interface Study {
  uid: string;
  refs: InstanceRef[];
  originals: Map<string, Buffer>;
}

function refOf(bytes: Buffer): InstanceRef {
  const ds = parsePart10(bytes, { stopAtPixelData: true }).dataset;
  return {
    studyInstanceUID: ds.string(Tags.StudyInstanceUID)!,
    seriesInstanceUID: ds.string(Tags.SeriesInstanceUID)!,
    sopInstanceUID: ds.string(Tags.SOPInstanceUID)!,
  };
}

/** Rewrites a Part 10 object with `edit` applied to its data set (same transfer syntax). */
function edited(
  bytes: Buffer,
  edit: (ds: ReturnType<typeof parsePart10>['dataset']) => void,
): Buffer {
  const { meta, dataset, transferSyntaxUID } = parsePart10(bytes);
  edit(dataset);
  return assemble(writePart10(meta, dataset, { transferSyntaxUID }), []).bytes;
}

/** veil_failures_total{code, stage} from /metrics text. */
async function failures(gateway: Gateway, code: string, stage: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${gateway.httpPort}/metrics`)).text();
  let total = 0;
  for (const m of text.matchAll(/^veil_failures_total\{([^}]*)\} (\d+)$/gm)) {
    if (m[1]!.includes(`code="${code}"`) && m[1]!.includes(`stage="${stage}"`))
      total += Number(m[2]);
  }
  return total;
}

function tamperSuite(kind: Kind, alterations: Alteration[]): void {
  describe(`faults/archive-tamper (archive.kind = ${kind}${kind === 'filesystem' ? '' : ', real Orthanc'})`, function () {
    this.timeout(600_000);
    let tmp: ReturnType<typeof tempDir>;
    let orthanc: RunningOrthanc | undefined;
    let gateway: Gateway;
    let storescp: ChildProcess | undefined;
    const moveDir = (): string => path.join(tmp.dir, 'moved');
    const studies = new Map<Alteration, Study>();

    before(async () => {
      dimseLog.setLevel('silent');
      tmp = tempDir(`veil-tamper-${kind}-`);
      // storescp binds its port at once; Veil's DIMSE port is bound later, so Orthanc (which picks
      // its own free ports) is restarted in the rare case it took that one.
      const storescpPort = await freePort();
      mkdirSync(moveDir());
      storescp = await startStorescp('STORESCP', storescpPort, moveDir());
      const dimsePort = await freePort();
      const archive: Record<string, string> = {};
      while (kind !== 'filesystem') {
        orthanc = await startOrthanc({
          veil: { aeTitle: 'VEIL', host: '127.0.0.1', port: dimsePort },
        });
        if (orthanc.dicomPort === dimsePort || orthanc.httpUrl.endsWith(`:${dimsePort}`)) {
          await orthanc.stop();
          continue;
        }
        Object.assign(archive, orthancArchiveSettings(orthanc, kind));
        break;
      }
      const config = testConfig(path.join(tmp.dir, 'data'), {
        VEIL_HTTP__HOST: '127.0.0.1',
        VEIL_HTTP__PORT: '0',
        VEIL_DIMSE__HOST: '127.0.0.1',
        VEIL_DIMSE__PORT: String(dimsePort),
        VEIL_WORKERS__PROCESSES: '1',
        // One sandbox child: the series of the pixel-swap case then shares one data key.
        VEIL_WORKERS__CONCURRENCY: '1',
        VEIL_DIMSE__DESTINATIONS: `STORESCP@127.0.0.1:${storescpPort}`,
        VEIL_HTTP__TOKENS: `viewer:workstation:${hashToken(WORKSTATION)}`,
        ...archive,
      });
      gateway = await startGateway(config, silentLogger, {
        configDir: CONFIG_DIR,
        notice: () => undefined,
      });
      const files: string[] = [];
      alterations.forEach((alteration, i) => {
        const series = generateCtSeries({ slices: 3, rows: 64, columns: 64, seed: 500 + i });
        const originals = new Map(series.map((b) => [sopOf(b), b]));
        studies.set(alteration, {
          uid: refOf(series[0]!).studyInstanceUID,
          refs: series.map(refOf),
          originals,
        });
        series.forEach((b, j) => {
          const file = path.join(tmp.dir, `${alteration}-${j}.dcm`);
          writeFileSync(file, b);
          files.push(file);
        });
      });
      await push(files);
      await waitArchived(
        gateway,
        [...studies.values()].flatMap((s) => s.refs.map((r) => r.sopInstanceUID)),
      );
    });
    after(async () => {
      await stopChild(storescp);
      await gateway?.close();
      await orthanc?.stop();
      tmp?.cleanup();
    });

    async function push(files: string[]): Promise<void> {
      const run = await runAsync('storescu', [
        '-aec',
        'VEIL',
        '127.0.0.1',
        String(gateway.dimsePort),
        ...files,
      ]);
      assert.equal(run.status, 0, run.stderr);
    }

    /** Writes `bytes` into the archive in place of the instance, as someone with archive access would. */
    async function place(ref: InstanceRef, bytes: Buffer): Promise<void> {
      if (orthanc) await replaceInOrthanc(orthanc, ref.sopInstanceUID, bytes);
      else await gateway.deps.archive.put(ref, bytes);
    }

    /** The altered object for A (an older valid version for replay, pushed again first). */
    async function alter(alteration: Alteration, study: Study): Promise<Buffer> {
      const [a, b] = study.refs as [InstanceRef, InstanceRef];
      const stored = await gateway.deps.archive.get(a);
      switch (alteration) {
        case 'one-byte': {
          const out = Buffer.from(stored);
          out[out.length - 10]! ^= 0x01; // inside the encrypted Pixel Data
          return out;
        }
        case 'header-element':
          return edited(stored, (ds) => ds.set(textElement(SERIES_DESCRIPTION, 'LO', 'ALTERED')));
        case 'pixel-swap': {
          const other = await gateway.deps.archive.get(b);
          // Both wrapped with the one series data key: only the per-instance AAD and subkey differ.
          const wrapped = (x: Buffer) => /"wrappedKey":"([^"]+)"/.exec(x.toString('latin1'))![1];
          assert.equal(wrapped(stored), wrapped(other), 'A and B share the series data key');
          const pixels = parsePart10(other).dataset.get(Tags.PixelData)!;
          return edited(stored, (ds) => ds.set(pixels));
        }
        case 'truncated':
          return stored.subarray(0, Math.floor(stored.length * 0.6));
        case 'replay': {
          // The modality re-sends a corrected A; Veil archives it; the old object is put back.
          const before = gateway.deps.catalogue.get(a.sopInstanceUID)!.protectionMac;
          assert.ok(before);
          const corrected = edited(study.originals.get(a.sopInstanceUID)!, (ds) =>
            ds.set(textElement(SERIES_DESCRIPTION, 'LO', 'CORRECTED')),
          );
          const file = path.join(tmp.dir, 'corrected.dcm');
          writeFileSync(file, corrected);
          await push([file]);
          await eventually(
            () => {
              const now = gateway.deps.catalogue.get(a.sopInstanceUID);
              return now?.state === 'archived' && now.protectionMac !== before ? true : undefined;
            },
            'the corrected copy archived',
            240_000,
          );
          study.originals.set(a.sopInstanceUID, corrected);
          return stored;
        }
      }
    }

    for (const alteration of alterations) {
      const code = EXPECTED[alteration];
      it(`${alteration}: WADO-RS, C-GET and C-MOVE refuse it with ${code}, deliver the others, audit and count it`, async () => {
        const study = studies.get(alteration)!;
        const [a] = study.refs as [InstanceRef];
        const retrieveBefore = await failures(gateway, code, 'retrieve');
        const revealBefore = await failures(gateway, code, 'reveal');
        await place(a, await alter(alteration, study));
        const auth = { authorization: `Bearer ${WORKSTATION}` };
        const base = `http://127.0.0.1:${gateway.httpPort}/dicom-web/studies/${study.uid}`;

        // WADO-RS, study: 200, the two good instances, then an application/problem+json part.
        const res = await fetch(base, { headers: auth });
        assert.equal(res.status, 200);
        const parts = multipartParts(
          Buffer.from(await res.arrayBuffer()),
          res.headers.get('content-type')!,
        );
        const dicom = parts.filter((p) => p.subarray(128, 132).toString('latin1') === 'DICM');
        assert.equal(dicom.length, 2);
        for (const part of dicom) {
          assert.notEqual(sopOf(part), a.sopInstanceUID);
          assertSameDataSet(study.originals.get(sopOf(part))!, part);
        }
        const problem = JSON.parse(parts.at(-1)!.toString('utf8')) as {
          status: number;
          failed: unknown;
        };
        assert.equal(problem.status, 422);
        assert.deepEqual(problem.failed, [{ sopInstanceUID: a.sopInstanceUID, code }]);
        // WADO-RS, the altered instance alone: the failure status and code.
        const alone = await fetch(
          `${base}/series/${a.seriesInstanceUID}/instances/${a.sopInstanceUID}`,
          {
            headers: auth,
          },
        );
        assert.equal(alone.status, 422);
        assert.equal(((await alone.json()) as { code: string }).code, code);

        // C-GET and C-MOVE of the study: one failed sub-operation, the two others delivered.
        const getDir = path.join(tmp.dir, `get-${alteration}`);
        mkdirSync(getDir);
        const keys = ['-k', 'QueryRetrieveLevel=STUDY', '-k', `StudyInstanceUID=${study.uid}`];
        const target = ['127.0.0.1', String(gateway.dimsePort)];
        const get = await runAsync('getscu', [
          '-d',
          '-S',
          '-aec',
          'VEIL',
          '-od',
          getDir,
          ...target,
          ...keys,
        ]);
        assert.match(get.stdout + get.stderr, /Failed Suboperations\s*:\s*1\n/);
        const got = receivedIn(getDir);
        assert.deepEqual(
          [...got.keys()].sort(),
          study.refs
            .slice(1)
            .map((r) => r.sopInstanceUID)
            .sort(),
        );
        for (const [sop, bytes] of got) assertSameDataSet(study.originals.get(sop)!, bytes);
        const move = await runAsync('movescu', [
          '-d',
          '-S',
          '-aec',
          'VEIL',
          '-aem',
          'STORESCP',
          ...target,
          ...keys,
        ]);
        assert.match(move.stdout + move.stderr, /Failed Suboperations\s*:\s*1\n/);
        const moved = [...receivedIn(moveDir()).entries()].filter(([sop]) =>
          study.originals.has(sop),
        );
        assert.deepEqual(
          moved.map(([sop]) => sop).sort(),
          study.refs
            .slice(1)
            .map((r) => r.sopInstanceUID)
            .sort(),
        );
        for (const [sop, bytes] of moved) assertSameDataSet(study.originals.get(sop)!, bytes);

        // One SecurityAlert with the code per refused retrieval (4).
        const alerts = await eventually(() => {
          const events = readFileSync(gateway.deps.config.audit.file, 'utf8')
            .trim()
            .split('\n')
            .map(
              (l) =>
                JSON.parse(l) as { type: string; errorCode?: string; sopInstanceUIDs?: string[] },
            )
            .filter(
              (e) => e.type === 'SecurityAlert' && e.sopInstanceUIDs?.includes(a.sopInstanceUID),
            );
          return events.length >= 4 ? events : undefined;
        }, 'four SecurityAlert audit events');
        assert.equal(alerts.length, 4);
        assert.ok(alerts.every((e) => e.errorCode === code));
        // Counted once per refused retrieval by the door and once per failed reveal job.
        assert.equal((await failures(gateway, code, 'retrieve')) - retrieveBefore, 4);
        await eventually(
          async () =>
            (await failures(gateway, code, 'reveal')) - revealBefore >= 4 ? true : undefined,
          'four failed reveal jobs counted',
        );
        assert.equal((await failures(gateway, code, 'reveal')) - revealBefore, 4);
      });
    }
  });
}

tamperSuite('filesystem', ['one-byte', 'header-element', 'pixel-swap', 'truncated', 'replay']);
tamperSuite('dicomweb', ['one-byte', 'replay']);
tamperSuite('dimse', ['one-byte', 'replay']);
