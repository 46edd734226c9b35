/**
 * analyzeInstance(): the source paper's security analysis of one DICOM image, for Veil's real
 * pipeline and for the paper's per-pixel textbook RSA side by side. Pure (bytes and options in,
 * numbers and planes out) so the CLI and the admin HTTP API can both call it.
 */
import { createHash } from 'node:crypto';
import type { PrivateKey } from '../crypto';
import { type AnalysisKeys, generateAnalysisKeys } from './keys';
import { type MetricRow, metricRows } from './metric-rows';
import { type Plane, readPlane, withLevels } from './plane';
import { type DisplayHints, readSource } from './source';
import { type TextbookRun, runTextbook } from './textbook-run';
import { DEFAULT_STEGO_FIELDS, type VeilRun, runVeil } from './veil-run';

export interface AnalyzeOptions {
  /** Frames of a multi-frame image analysed, from the first (default 4). */
  maxFrames?: number;
  /** Keys to use (e.g. one set for every file of a command run); generated when absent. */
  keys?: AnalysisKeys;
  /** Modulus of the ephemeral Veil key when keys are generated (default 3072). */
  rsaBits?: 2048 | 3072 | 4096;
  /** Pixels timed with the real-size textbook RSA (default 64). */
  timingSample?: number;
  /** Stego fields protect() hides (default: those of config/default.json). */
  stegoFields?: readonly string[];
  /** Private keys to reveal an input that is already protected. */
  privateKeys?: PrivateKey[];
  /** Keep the frames' planes in the result, for pictures (default false). */
  keepPlanes?: boolean;
}

/** The planes of one analysed frame, for the report's pictures. */
export interface FramePlanes {
  frame: number;
  original: Plane;
  stego: Plane;
  veil: Plane;
  textbook: Plane;
  revealed: Plane;
  textbookDecrypted: Plane;
}

/** Everything the analysis found; `rows` is the table of every metric with its ideal and verdict. */
export interface AnalysisResult {
  instance: {
    sopClassUID: string;
    transferSyntaxUID: string;
    rows: number;
    columns: number;
    frames: number;
    samplesPerPixel: number;
    bitsAllocated: number;
    bitsStored: number;
    signed: boolean;
    photometricInterpretation: string;
    revealedFromProtected: boolean;
  };
  framesAnalysed: number[];
  keys: {
    veil: { rsaBits: number; dataKeyBits: 256; ephemeral: true };
    textbook: { p: number; q: number; n: number; e: number; modulusBits: number; largeE: 65537 };
  };
  rows: MetricRow[];
  /** Pass / fail counts per cipher over the judged rows. */
  verdict: Record<'veil' | 'textbook', { pass: number; fail: number }>;
  display: DisplayHints;
  planes?: FramePlanes[];
}

/** Analyses one instance (a Part 10 file's bytes). */
export async function analyzeInstance(
  bytes: Buffer,
  options: AnalyzeOptions = {},
): Promise<AnalysisResult> {
  const source = readSource(bytes, options.privateKeys);
  const keys = options.keys ?? (await generateAnalysisKeys(options.rsaBits ?? 3072));
  const g = source.geometry;
  const framesAnalysed = Array.from(
    { length: Math.min(g.frames, Math.max(1, options.maxFrames ?? 4)) },
    (_, i) => i,
  );
  const veil = runVeil(source, keys.veil, options.stegoFields ?? DEFAULT_STEGO_FIELDS);

  const planesOf = (pixels: Buffer) => framesAnalysed.map((f) => readPlane(pixels, g, f));
  const original = planesOf(source.pixels);
  const stego = planesOf(veil.stegoPixels);
  const perFrame = original[0]!.levels.length;
  const textbook = runTextbook(
    concat(stego.map((p) => p.levels)),
    g.bitsStored,
    Math.floor(perFrame / 2),
    keys.textbook,
    options.timingSample ?? 64,
  );
  const sliceOf = (levels: Uint16Array, i: number) =>
    levels.subarray(i * perFrame, (i + 1) * perFrame);
  const frames = framesAnalysed.map((frame, i) => ({
    frame,
    original: original[i]!,
    stego: stego[i]!,
    veil: readPlane(veil.cipherPixels, g, frame),
    veilDifferential: readPlane(veil.differentialCipherPixels, g, frame),
    veilKeyFlip: readPlane(veil.keyFlipCipherPixels, g, frame),
    revealed: readPlane(veil.revealedPixels, g, frame),
    textbook: withLevels(original[i]!, sliceOf(textbook.cipher, i)),
    textbookDifferential: withLevels(original[i]!, sliceOf(textbook.differentialCipher, i)),
    textbookKeyFlip: withLevels(original[i]!, sliceOf(textbook.keyFlipCipher, i)),
    textbookDecrypted: withLevels(original[i]!, sliceOf(textbook.decrypted, i)),
    textbookWrongKey: withLevels(original[i]!, sliceOf(textbook.wrongKeyDecrypted, i)),
  }));
  const rows = metricRows({
    frames,
    veil,
    textbook,
    veilBits: keys.veilBits,
    revealExact: sha256(veil.revealedPixels) === sha256(source.pixels),
    bytesPerSample: g.bitsAllocated / 8,
  });
  return {
    instance: {
      sopClassUID: source.sopClassUID,
      transferSyntaxUID: source.transferSyntaxUID,
      rows: g.rows,
      columns: g.columns,
      frames: g.frames,
      samplesPerPixel: g.samplesPerPixel,
      bitsAllocated: g.bitsAllocated,
      bitsStored: g.bitsStored,
      signed: g.pixelRepresentation === 1,
      photometricInterpretation: g.photometricInterpretation,
      revealedFromProtected: source.revealedFromProtected,
    },
    framesAnalysed,
    keys: {
      veil: { rsaBits: keys.veilBits, dataKeyBits: 256, ephemeral: true },
      textbook: {
        p: textbook.key.p,
        q: textbook.key.q,
        n: textbook.key.n,
        e: textbook.key.e,
        modulusBits: keys.textbook.modulusBits,
        largeE: 65537,
      },
    },
    rows,
    verdict: verdictOf(rows),
    display: source.display,
    ...(options.keepPlanes ? { planes: frames } : {}),
  };
}

function verdictOf(rows: MetricRow[]): AnalysisResult['verdict'] {
  const v = { veil: { pass: 0, fail: 0 }, textbook: { pass: 0, fail: 0 } };
  for (const row of rows) {
    if (row.pass === null || (row.cipher !== 'veil' && row.cipher !== 'textbook')) continue;
    v[row.cipher][row.pass ? 'pass' : 'fail']++;
  }
  return v;
}

function concat(parts: Uint16Array[]): Uint16Array {
  const out = new Uint16Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export type { VeilRun, TextbookRun };
