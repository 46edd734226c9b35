import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { analyzeInstance } from '../../src/analysis/analyze-instance';
import { generateAnalysisKeys } from '../../src/analysis/keys';
import { crc32, encodePng } from '../../src/analysis/png';
import { type ReportFile, renderHtmlReport } from '../../src/analysis/report-html';
import {
  BEGIN_MARKER,
  END_MARKER,
  renderMarkdown,
  spliceGenerated,
} from '../../src/analysis/report-markdown';
import { launchChromium } from '../helpers/chromium';
import { tempDir } from '../helpers/tools';

const ROOT = path.join(__dirname, '..', '..');

describe('analysis/report', function () {
  this.timeout(60000);
  let files: ReportFile[];
  let tmp: ReturnType<typeof tempDir>;

  before(async () => {
    tmp = tempDir('veil-report-');
    const keys = await generateAnalysisKeys(2048);
    const entries = [];
    for (const name of ['mono8.dcm', 'tiny-8x8.dcm']) {
      const bytes = readFileSync(path.join(ROOT, 'samples', name));
      entries.push({
        name: `samples/${name}`,
        result: await analyzeInstance(bytes, { keys, keepPlanes: true }),
      });
    }
    files = renderHtmlReport(entries);
    for (const f of files) {
      mkdirSync(path.dirname(path.join(tmp.dir, f.path)), { recursive: true });
      writeFileSync(path.join(tmp.dir, f.path), f.bytes);
    }
  });
  after(() => tmp.cleanup());

  it('encodes PNG with the standard CRC-32', () => {
    assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
    const png = encodePng({ width: 2, height: 1, channels: 1, data: Uint8Array.from([0, 255]) });
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    assert.equal(png.readUInt32BE(16), 2);
  });

  it('writes the pictures the issue lists for every frame, and a table row per metric', () => {
    const names = files.map((f) => f.path);
    for (const kind of [
      'original',
      'stego',
      'veil',
      'textbook',
      'revealed',
      'textbook-decrypted',
      'difference-veil',
      'difference-textbook',
      'stego-changes',
      'histogram-veil',
      'scatter-horizontal-original',
    ]) {
      assert.ok(names.includes(`mono8/frame-0-${kind}.png`), kind);
    }
    const html = files.find((f) => f.path === 'index.html')!.bytes.toString('utf8');
    assert.match(html, /Wu|NPCR/);
    assert.ok((html.match(/<tr class=/g) ?? []).length > 80);
  });

  it('opens in headless Chromium and shows every image (naturalWidth > 0), screenshot taken', async () => {
    const profile = path.join(tmp.dir, 'chromium-profile');
    mkdirSync(profile);
    const context = await launchChromium(profile, { viewport: { width: 1400, height: 1000 } });
    try {
      const page = await context.newPage();
      await page.goto(`file://${path.join(tmp.dir, 'index.html')}`, { waitUntil: 'load' });
      const images = await page.$$eval('img', (imgs) =>
        imgs.map((img) => ({
          src: img.getAttribute('src'),
          complete: img.complete,
          width: img.naturalWidth,
        })),
      );
      assert.equal(images.length, files.filter((f) => f.path.endsWith('.png')).length);
      for (const img of images) {
        assert.ok(img.complete && img.width > 0, `${img.src} did not load`);
      }
      const shot = await page.screenshot({
        fullPage: true,
        path: path.join(tmp.dir, 'report.png'),
      });
      assert.equal(shot.toString('latin1', 1, 4), 'PNG');
      assert.ok(shot.length > 50_000, 'the screenshot shows pictures, not a blank page');
      assert.match(await page.title(), /Veil security analysis/);
    } finally {
      await context.close();
    }
  });

  it('splices the Markdown tables between their markers and keeps the hand-written text', () => {
    const doc = `# Title\n\nintro\n\n${BEGIN_MARKER}\nold\n${END_MARKER}\n\n## After\n`;
    const out = spliceGenerated(doc, '| new |');
    assert.match(out, /intro[\s\S]*\| new \|[\s\S]*## After/);
    assert.doesNotMatch(out, /\nold\n/);
    assert.match(
      spliceGenerated('', 'x'),
      new RegExp(`${BEGIN_MARKER.slice(0, 20).replace(/[()]/g, '\\$&')}`),
    );
    assert.equal(renderMarkdown([]), '');
  });
});
