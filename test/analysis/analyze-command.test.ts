import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
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

describe('cli/analyze-command (the real binary)', function () {
  this.timeout(60000);
  let tmp: ReturnType<typeof tempDir>;
  before(() => (tmp = tempDir('veil-analyze-')));
  after(() => tmp.cleanup());

  it('prints one JSON line per file with the metric table, and exits 0', () => {
    const r = veil([
      'analyze',
      'samples/tiny-8x8.dcm',
      'samples/mono8.dcm',
      '--json',
      '--rsa-bits',
      '2048',
    ]);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(lines.length, 2);
    const [tiny, mono8] = lines;
    assert.equal(tiny.file, 'samples/tiny-8x8.dcm');
    assert.equal(mono8.instance.rows, 256);
    assert.deepEqual(mono8.framesAnalysed, [0]);
    assert.equal(mono8.keys.veil.rsaBits, 2048);
    assert.equal(mono8.planes, undefined);
    assert.ok(Array.isArray(mono8.rows) && mono8.rows.length > 30);
    for (const row of mono8.rows) {
      assert.equal(typeof row.id, 'string');
      assert.ok(['plain', 'stego', 'veil', 'textbook'].includes(row.cipher));
      assert.ok(row.pass === null || typeof row.pass === 'boolean');
      assert.ok(['number', 'string', 'boolean'].includes(typeof row.value));
    }
    assert.equal(typeof mono8.verdict.veil.pass, 'number');
  });

  it('writes an HTML report and the Markdown tables', () => {
    const dir = path.join(tmp.dir, 'report');
    const md = path.join(tmp.dir, 'doc.md');
    writeFileSync(md, '# Doc\n\nkept\n');
    const r = veil([
      'analyze',
      'samples/tiny-8x8.dcm',
      '--report',
      dir,
      '--markdown',
      md,
      '--rsa-bits',
      '2048',
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(existsSync(path.join(dir, 'index.html')));
    assert.ok(existsSync(path.join(dir, 'tiny-8x8', 'frame-0-veil.png')));
    const doc = readFileSync(md, 'utf8');
    assert.match(doc, /kept[\s\S]*### samples\/tiny-8x8\.dcm[\s\S]*\| differential attack \|/);
  });

  it('reports a non-DICOM input with its error code and exits 1; bad options exit 2', () => {
    const bad = path.join(tmp.dir, 'bad.dcm');
    writeFileSync(bad, 'not dicom at all');
    const r = veil(['analyze', bad, '--rsa-bits', '2048']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /analyze: .*bad\.dcm: VEIL_E_DICOM_/);
    assert.equal(veil(['analyze', 'samples/tiny-8x8.dcm', '--max-frames', '0']).status, 2);
    assert.equal(veil(['analyze']).status, 2);
  });
});
