import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Tags, parsePart10 } from '../../src/dicom';
import { assertSameInstance } from '../helpers/compare';
import { syntheticInstance } from '../helpers/synthetic';
import { tempDir } from '../helpers/tools';

const ROOT = path.join(__dirname, '..', '..');
const VEIL = path.join(ROOT, 'bin', 'veil');

function veil(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [VEIL, ...args], {
    encoding: 'utf8',
    env: { ...process.env, NODE_ENV: 'test' },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function pixelsOf(file: string): Buffer {
  return Buffer.from(parsePart10(readFileSync(file)).dataset.get(Tags.PixelData)!.value!);
}

describe('cli/keys rotation (the real binary)', function () {
  this.timeout(120000);
  let tmp: ReturnType<typeof tempDir>;
  let data: string;
  let plain: string;
  let prot: string;
  const originals = [syntheticInstance({ rows: 16, columns: 16 }), syntheticInstance()];
  let oldKey: string;
  let newKey: string;
  const keysOf = (): { keyId: string; status: string }[] =>
    JSON.parse(veil(['--data-dir', data, 'keys', 'list', '--json']).stdout) as {
      keyId: string;
      status: string;
    }[];

  before(() => {
    tmp = tempDir('veil-rotate-');
    data = path.join(tmp.dir, 'data');
    plain = path.join(tmp.dir, 'plain');
    prot = path.join(tmp.dir, 'prot');
    mkdirSync(plain);
    originals.forEach((bytes, i) => writeFileSync(path.join(plain, `i${i}.dcm`), bytes));
    writeFileSync(path.join(plain, 'README.txt'), 'not DICOM');
    const gen = veil(['--data-dir', data, 'keys', 'generate', '--bits', '2048', '--json']);
    assert.equal(gen.status, 0, gen.stderr);
    oldKey = (JSON.parse(gen.stdout) as { keyId: string }).keyId;
    const r = veil(['--data-dir', data, 'protect', plain, prot]);
    assert.equal(r.status, 0, r.stderr);
  });
  after(() => tmp.cleanup());

  it('keys rotate makes a new current key and retires the old one; old data still reveals', () => {
    assert.equal(veil(['--data-dir', data, 'keys', 'rotate', '--bits', '1000']).status, 2);
    const r = veil(['--data-dir', data, 'keys', 'rotate', '--bits', '2048', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { current: { keyId: string }; retired: string };
    newKey = out.current.keyId;
    assert.equal(out.retired, oldKey);
    const status = new Map(keysOf().map((k) => [k.keyId, k.status]));
    assert.equal(status.get(newKey), 'current');
    assert.equal(status.get(oldKey), 'retired');
    const back = path.join(tmp.dir, 'back-before');
    assert.equal(veil(['--data-dir', data, 'reveal', prot, back]).status, 0);
    originals.forEach((bytes, i) =>
      assertSameInstance(bytes, readFileSync(path.join(back, `i${i}.dcm`))),
    );
  });

  it('keys usage lists the files only the old key opens; remove refuses while they exist', () => {
    const usage = veil(['--data-dir', data, 'keys', 'usage', oldKey.slice(0, 12), prot, '--json']);
    assert.equal(usage.status, 0, usage.stderr);
    const files = (JSON.parse(usage.stdout) as { files: string[] }).files;
    assert.deepEqual(files.map((f) => path.basename(f)).sort(), ['i0.dcm', 'i1.dcm']);
    assert.equal(
      veil(['--data-dir', data, 'keys', 'usage', newKey, prot]).stdout.trim().split('\n').pop(),
      `0 file(s) in ${prot} need key ${newKey}`,
    );

    const refused = veil(['--data-dir', data, 'keys', 'remove', oldKey, '--check', prot]);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /2 file\(s\) need it/);
    assert.equal(veil(['--data-dir', data, 'keys', 'remove', oldKey]).status, 2);
    assert.equal(veil(['--data-dir', data, 'keys', 'remove', newKey, '--force']).status, 2);
    assert.equal(veil(['--data-dir', data, 'keys', 'usage', 'xyz', prot]).status, 2);
    assert.ok(keysOf().some((k) => k.keyId === oldKey));
  });

  it('rewrap to OUT and in place: pixels untouched, new key only, a bad file fails alone', () => {
    const before = originals.map((_, i) => pixelsOf(path.join(prot, `i${i}.dcm`)));
    const copy = path.join(tmp.dir, 'rewrapped');
    const out = veil([
      '--data-dir',
      data,
      'rewrap',
      path.join(prot, 'i0.dcm'),
      path.join(copy, 'i0.dcm'),
    ]);
    assert.equal(out.status, 0, out.stderr);
    assert.match(out.stdout, new RegExp(`${oldKey.slice(0, 12)} -> ${newKey.slice(0, 12)}`));
    assert.ok(pixelsOf(path.join(copy, 'i0.dcm')).equals(before[0]!));

    writeFileSync(path.join(prot, 'clear.dcm'), originals[0]!);
    const inPlace = veil(['--data-dir', data, 'rewrap', prot]);
    assert.equal(inPlace.status, 1);
    assert.match(inPlace.stdout, /2 of 3 file\(s\) done, 1 failed/);
    assert.match(inPlace.stderr + inPlace.stdout, /clear\.dcm: VEIL_E_REVEAL_NOT_PROTECTED/);
    originals.forEach((_, i) =>
      assert.ok(pixelsOf(path.join(prot, `i${i}.dcm`)).equals(before[i]!)),
    );
    const inspected = veil(['--data-dir', data, 'inspect', path.join(prot, 'i1.dcm'), '--json']);
    assert.doesNotMatch(inspected.stdout, new RegExp(oldKey));
    assert.match(inspected.stdout, new RegExp(newKey));
  });

  it('once nothing needs it, the old key is removed, and the data reveals with the new key alone', () => {
    const usage = veil(['--data-dir', data, 'keys', 'usage', oldKey, prot]);
    assert.match(usage.stdout, /^0 file\(s\)/m);
    const removed = veil(['--data-dir', data, 'keys', 'remove', oldKey, '--check', prot]);
    assert.equal(removed.status, 0, removed.stderr);
    assert.deepEqual(
      keysOf().map((k) => k.keyId),
      [newKey],
    );
    assert.equal(existsSync(path.join(data, 'keys', `${oldKey}.key.pem`)), false);
    const back = path.join(tmp.dir, 'back-after');
    for (const i of [0, 1]) {
      const r = veil([
        '--data-dir',
        data,
        'reveal',
        path.join(prot, `i${i}.dcm`),
        path.join(back, `i${i}.dcm`),
      ]);
      assert.equal(r.status, 0, r.stderr);
      assertSameInstance(originals[i]!, readFileSync(path.join(back, `i${i}.dcm`)));
    }
  });
});
