import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { assertSameInstance } from '../helpers/compare';
import { tempDir } from '../helpers/tools';

const ROOT = path.join(__dirname, '..', '..');
const VEIL = path.join(ROOT, 'bin', 'veil');
const SAMPLES = path.join(ROOT, 'samples');

function veil(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [VEIL, ...args], {
    encoding: 'utf8',
    env: { ...process.env, NODE_ENV: 'test', ...env },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('cli/veil (the real binary)', function () {
  this.timeout(120000);
  let tmp: ReturnType<typeof tempDir>;
  let data: string;

  before(() => {
    tmp = tempDir('veil-cli-');
    data = path.join(tmp.dir, 'data');
  });
  after(() => tmp.cleanup());

  it('prints help and exits 0; a wrong command line exits 2', () => {
    const help = veil(['--help']);
    assert.equal(help.status, 0);
    for (const command of ['keys', 'protect', 'reveal', 'inspect'])
      assert.match(help.stdout, new RegExp(command));
    assert.equal(veil(['frobnicate']).status, 2);
    assert.equal(veil(['protect', 'only-one-argument']).status, 2);
    assert.equal(
      veil(['--data-dir', data, 'protect', path.join(tmp.dir, 'missing.dcm'), 'x.dcm']).status,
      2,
    );
    assert.equal(veil(['--data-dir', data, 'keys', 'generate', '--bits', '1000']).status, 2);
  });

  it('exits 3 with a message naming the key when the configuration is invalid', () => {
    const r = veil(['keys', 'list'], { VEIL_KEYS__BITS: '1234' });
    assert.equal(r.status, 3);
    assert.match(r.stderr, /VEIL_E_CONFIG_INVALID.*keys\.bits/);
  });

  it('generates keys and lists them', () => {
    const gen = veil(['--data-dir', data, 'keys', 'generate', '--bits', '2048', '--json']);
    assert.equal(gen.status, 0, gen.stderr);
    const key = JSON.parse(gen.stdout) as { keyId: string; status: string; bits: number };
    assert.equal(key.status, 'current');
    assert.equal(key.bits, 2048);
    assert.match(key.keyId, /^[0-9a-f]{64}$/);
    const list = veil(['--data-dir', data, 'keys', 'list', '--json']);
    assert.equal(list.status, 0);
    assert.deepEqual(
      (JSON.parse(list.stdout) as { keyId: string }[]).map((k) => k.keyId),
      [key.keyId],
    );
    assert.equal(statSync(path.join(data, 'keys', `${key.keyId}.key.pem`)).mode & 0o777, 0o600);
  });

  it('protects, inspects and reveals one file, bit for bit', () => {
    const input = path.join(SAMPLES, 'ct-slice.dcm');
    const prot = path.join(tmp.dir, 'ct.protected.dcm');
    const back = path.join(tmp.dir, 'ct.revealed.dcm');
    const p = veil(['--data-dir', data, 'protect', input, prot]);
    assert.equal(p.status, 0, p.stderr);
    const i = veil(['inspect', prot]);
    assert.equal(i.status, 0);
    assert.match(i.stdout, /Veil protection format/);
    assert.match(i.stdout, /stego\s+full/);
    const json = JSON.parse(veil(['inspect', '--json', prot]).stdout) as {
      protection: string;
      record: { keyIds: string[] };
    };
    assert.equal(json.protection, 'veil');
    assert.equal(json.record.keyIds.length, 1);
    assert.doesNotMatch(i.stdout + JSON.stringify(json), /wrappedKey|restoration|DOE/);
    const r = veil(['--data-dir', data, 'reveal', prot, back]);
    assert.equal(r.status, 0, r.stderr);
    assertSameInstance(readFileSync(input), readFileSync(back));
  });

  it('protects and reveals a folder, mirrored, skipping non-DICOM files and reporting failures with exit 1', () => {
    const src = path.join(tmp.dir, 'in');
    mkdirSync(path.join(src, 'series'), { recursive: true });
    const dcm = readdirSync(SAMPLES).filter((f) => f.endsWith('.dcm'));
    for (const f of dcm) copyFileSync(path.join(SAMPLES, f), path.join(src, 'series', f));
    writeFileSync(path.join(src, 'notes.txt'), 'not dicom');
    const out = path.join(tmp.dir, 'out');
    const p = veil(['--data-dir', data, 'protect', src, out]);
    assert.equal(p.status, 0, p.stdout + p.stderr);
    assert.match(
      p.stdout,
      new RegExp(`${dcm.length} of ${dcm.length} file\\(s\\) done, 0 failed, 1 non-DICOM`),
    );
    const back = path.join(tmp.dir, 'back');
    const r = veil(['--data-dir', data, 'reveal', '--json', out, back]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim().split('\n').length, dcm.length);
    for (const f of dcm)
      assertSameInstance(
        readFileSync(path.join(SAMPLES, f)),
        readFileSync(path.join(back, 'series', f)),
      );

    // A broken file among good ones: it fails with its code, the others are still done.
    writeFileSync(path.join(out, 'series', 'broken.dcm'), Buffer.alloc(300, 1));
    const again = veil(['--data-dir', data, 'reveal', out, path.join(tmp.dir, 'back2')]);
    assert.equal(again.status, 1);
    assert.match(again.stderr + again.stdout, /broken\.dcm: VEIL_E_DICOM_NOT_DICOM/);
    assert.match(
      again.stdout,
      new RegExp(`${dcm.length} of ${dcm.length + 1} file\\(s\\) done, 1 failed`),
    );
  });

  it('reveals with a retired key after a new current key is generated', () => {
    const input = path.join(SAMPLES, 'mono8.dcm');
    const prot = path.join(tmp.dir, 'mono8.protected.dcm');
    assert.equal(veil(['--data-dir', data, 'protect', input, prot]).status, 0);
    const gen = veil(['--data-dir', data, 'keys', 'generate', '--bits', '2048']);
    assert.equal(gen.status, 0);
    const keys = JSON.parse(veil(['--data-dir', data, 'keys', 'list', '--json']).stdout) as {
      status: string;
    }[];
    assert.deepEqual(keys.map((k) => k.status).sort(), ['current', 'retired']);
    const back = path.join(tmp.dir, 'mono8.revealed.dcm');
    assert.equal(veil(['--data-dir', data, 'reveal', prot, back]).status, 0);
    assertSameInstance(readFileSync(input), readFileSync(back));
  });

  it('refuses to reveal without the key (exit 1, VEIL_E_KEY_NOT_FOUND)', () => {
    const prot = path.join(tmp.dir, 'ct.protected.dcm');
    const other = path.join(tmp.dir, 'other-data');
    const r = veil(['--data-dir', other, 'reveal', prot, path.join(tmp.dir, 'nope.dcm')]);
    assert.equal(r.status, 1);
    assert.match(r.stderr + r.stdout, /VEIL_E_KEY_NOT_FOUND/);
  });
});
