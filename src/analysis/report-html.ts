/**
 * The `--report DIR` page: for every analysed file the original, stego, encrypted (both ciphers)
 * and decrypted frames as PNG, histograms, correlation scatter plots and the table of every metric
 * with its ideal and verdict. Pure: returns the files (relative path, bytes) for the caller to write.
 */
import type { AnalysisResult, FramePlanes } from './analyze-instance';
import { DIRECTIONS } from './correlation';
import { differenceMap } from './difference';
import { withLevels } from './plane';
import { SUBJECT_NAMES, formatFrame, formatIdeal, formatValue, formatVerdict } from './format';
import { type RasterImage, encodePng } from './png';
import {
  changeMap,
  fullRange,
  histogramPicture,
  picture,
  scatterPicture,
  viewerMap,
} from './render';

/** One analysed file for the report. */
export interface ReportEntry {
  /** Name shown for the file (e.g. its path as given). */
  name: string;
  /** The analysis, run with keepPlanes: true. */
  result: AnalysisResult;
}

/** A file of the report. */
export interface ReportFile {
  path: string;
  bytes: Buffer;
}

/** Renders index.html and every picture. */
export function renderHtmlReport(
  entries: ReportEntry[],
  title = 'Veil security analysis',
): ReportFile[] {
  const files: ReportFile[] = [];
  const sections: string[] = [];
  const used = new Set<string>();
  for (const entry of entries) {
    const folder = uniqueSlug(entry.name, used);
    const figures: string[] = [];
    const png = (name: string, image: RasterImage, caption: string) => {
      const path = `${folder}/${name}.png`;
      files.push({ path, bytes: encodePng(image) });
      figures.push(figure(path, caption, image));
    };
    for (const planes of entry.result.planes ?? []) framePictures(entry.result, planes, png);
    sections.push(fileSection(entry, figures));
  }
  files.push({ path: 'index.html', bytes: Buffer.from(page(title, sections), 'utf8') });
  return files;
}

function framePictures(
  result: AnalysisResult,
  p: FramePlanes,
  png: (name: string, image: RasterImage, caption: string) => void,
): void {
  const f = `frame-${p.frame}`;
  const viewer = viewerMap(p.original, result.display, result.instance.signed);
  const full = fullRange(p.original.bits);
  const how = describeWindow(result);
  png(`${f}-original`, picture(p.original, viewer), `frame ${p.frame}: original (${how})`);
  png(`${f}-stego`, picture(p.stego, viewer), `stego (patient details in the lowest stored bit)`);
  png(`${f}-stego-changes`, changeMap(p.original, p.stego), `samples the stego changed (white)`);
  png(`${f}-veil`, picture(p.veil, full), `encrypted by Veil (AES-256-GCM), full range`);
  png(
    `${f}-textbook`,
    picture(p.textbook, full),
    `encrypted by the paper's textbook RSA, full range`,
  );
  png(`${f}-revealed`, picture(p.revealed, viewer), `revealed by Veil (bit for bit the original)`);
  png(`${f}-textbook-decrypted`, picture(p.textbookDecrypted, viewer), `decrypted textbook RSA`);
  // The paper's per-pixel difference, |original - encrypted|, over the full stored range.
  png(
    `${f}-difference-veil`,
    picture(withLevels(p.original, differenceMap(p.original, p.veil)), full),
    `|original - Veil encrypted| per pixel`,
  );
  png(
    `${f}-difference-textbook`,
    picture(withLevels(p.original, differenceMap(p.original, p.textbook)), full),
    `|original - textbook encrypted| per pixel`,
  );
  for (const [name, plane] of [
    ['original', p.original],
    ['stego', p.stego],
    ['veil', p.veil],
    ['textbook', p.textbook],
  ] as const) {
    png(`${f}-histogram-${name}`, histogramPicture(plane), `histogram: ${name}`);
  }
  for (const d of DIRECTIONS) {
    for (const [name, plane] of [
      ['original', p.original],
      ['veil', p.veil],
      ['textbook', p.textbook],
    ] as const) {
      png(`${f}-scatter-${d}-${name}`, scatterPicture(plane, d), `${d} neighbours: ${name}`);
    }
  }
}

function describeWindow(result: AnalysisResult): string {
  const d = result.display;
  if (d.windowCenter !== undefined)
    return `window ${d.windowCenter} / ${d.windowWidth} from the header`;
  if (result.instance.bitsStored > 8) return '0.5-99.5 percentile window';
  return 'stored values';
}

function fileSection(entry: ReportEntry, figures: string[]): string {
  const r = entry.result;
  const i = r.instance;
  const frames =
    r.framesAnalysed.length === i.frames
      ? `${i.frames} frame(s), all analysed`
      : `frames ${r.framesAnalysed.join(', ')} of ${i.frames} analysed`;
  const rows = r.rows
    .map(
      (row) =>
        `<tr class="${row.pass === null ? 'info' : row.pass ? 'pass' : 'fail'}"><td>${esc(row.section)}</td><td>${esc(row.label)}${row.note ? `<br><small>${esc(row.note)}</small>` : ''}</td><td>${esc(SUBJECT_NAMES[row.cipher])}</td><td>${formatFrame(row)}</td><td>${esc(formatValue(row))}</td><td>${esc(formatIdeal(row))}</td><td>${formatVerdict(row)}</td></tr>`,
    )
    .join('\n');
  return `<section>
<h2>${esc(entry.name)}</h2>
<p>${i.columns} x ${i.rows}, ${i.samplesPerPixel === 3 ? 'RGB' : esc(i.photometricInterpretation)}, ${i.bitsStored} of ${i.bitsAllocated} bits${i.signed ? ' signed' : ''}; ${frames}${i.revealedFromProtected ? '; revealed from a protected object first' : ''}.
Keys: ephemeral RSA-${r.keys.veil.rsaBits} recipient and AES-256 data key for Veil; textbook RSA n = ${r.keys.textbook.p} x ${r.keys.textbook.q} = ${r.keys.textbook.n}, e = ${r.keys.textbook.e}, and a ${r.keys.textbook.modulusBits}-bit modulus for size and time.</p>
<p class="verdict">Veil: ${r.verdict.veil.pass} pass, ${r.verdict.veil.fail} fail. Paper's cipher: ${r.verdict.textbook.pass} pass, ${r.verdict.textbook.fail} fail. At alpha 0.05 a perfect cipher fails about one statistical test in twenty by chance; a broken one fails by orders of magnitude.</p>
<div class="figures">${figures.join('\n')}</div>
<table><thead><tr><th>section</th><th>metric</th><th>subject</th><th>frame</th><th>value</th><th>ideal (acceptance)</th><th>verdict</th></tr></thead>
<tbody>
${rows}
</tbody></table>
</section>`;
}

function figure(path: string, caption: string, image: RasterImage): string {
  const width = Math.min(256, image.width);
  return `<figure><img src="${esc(path)}" alt="${esc(caption)}" width="${width}" style="image-rendering:${image.width < 64 ? 'pixelated' : 'auto'}"><figcaption>${esc(caption)}</figcaption></figure>`;
}

function page(title: string, sections: string[]): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222;max-width:90rem}
.figures{display:flex;flex-wrap:wrap;gap:.75rem}
figure{margin:0;width:256px}figcaption{font-size:.8rem;color:#555}
img{display:block;background:#eee;border:1px solid #ccc}
table{border-collapse:collapse;margin-top:1rem;font-size:.85rem}
td,th{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top}
tr.pass td:last-child{background:#d8f5d8}tr.fail td:last-child{background:#f8d4d4}
.verdict{font-weight:600}
</style></head><body>
<h1>${esc(title)}</h1>
<p>Veil's pipeline (LSB stego, then AES-256-GCM under an RSA-OAEP wrapped key) and the source paper's per-pixel textbook RSA, measured on the same images. See docs/security-analysis.md for what each number means.</p>
${sections.join('\n')}
</body></html>
`;
}

function uniqueSlug(name: string, used: Set<string>): string {
  const base =
    name
      .split(/[\\/]/)
      .pop()!
      .replace(/\.[^.]*$/, '')
      .replace(/[^A-Za-z0-9_-]+/g, '-') || 'file';
  let slug = base;
  for (let n = 2; used.has(slug); n++) slug = `${base}-${n}`;
  used.add(slug);
  return slug;
}

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
