/**
 * The table of the analysis: one row per metric, cipher and frame, with its value, the ideal for
 * the image's depth and size, the acceptance interval and pass / fail (null: informational).
 */
import { DIRECTIONS, adjacentCorrelation, judgedCorrelation } from './correlation';
import { differential } from './differential';
import { meanAbsoluteDifference } from './difference';
import { globalEntropy, localEntropy } from './entropy';
import { chiSquareUniformity } from './histogram';
import type { Plane } from './plane';
import { psnr, ssim } from './quality';
import { aesSecurityBits, rsaSecurityBits } from './security-level';
import type { Judged } from './statistics';
import type { TextbookRun } from './textbook-run';
import type { VeilRun } from './veil-run';

/** Who a row is about: the plain or stego image, Veil's cipher, or the paper's. */
export type Subject = 'plain' | 'stego' | 'veil' | 'textbook';

/** One metric. Percentages (NPCR, UACI) are in percent. */
export interface MetricRow {
  /** Stable id for scripts, e.g. `entropy.global`. */
  id: string;
  section: string;
  label: string;
  cipher: Subject;
  /** Frame number, or null for the instance as a whole. */
  frame: number | null;
  value: number | boolean | string;
  unit: '' | '%' | 'bits' | 'dB' | 'ms' | 'bytes';
  ideal: number | boolean | string;
  /** Acceptance interval (alpha 0.05 where statistical). */
  low?: number;
  high?: number;
  pass: boolean | null;
  note?: string;
}

/** The planes of one frame that the rows need. */
export interface FrameInput {
  frame: number;
  original: Plane;
  stego: Plane;
  veil: Plane;
  veilDifferential: Plane;
  veilKeyFlip: Plane;
  textbook: Plane;
  textbookDifferential: Plane;
  textbookKeyFlip: Plane;
  textbookWrongKey: Plane;
}

/** Builds every row of one instance's analysis. */
export function metricRows(input: {
  frames: FrameInput[];
  veil: VeilRun;
  textbook: TextbookRun;
  veilBits: number;
  revealExact: boolean;
  bytesPerSample: number;
}): MetricRow[] {
  const rows: MetricRow[] = [];
  const add = (row: MetricRow) => rows.push(row);
  const judged = (
    base: Omit<MetricRow, 'value' | 'ideal' | 'pass' | 'low' | 'high'>,
    j: Judged,
    scale = 1,
  ) =>
    add({
      ...base,
      value: j.value * scale,
      ideal: j.ideal * scale,
      low: j.low * scale,
      high: j.high * scale,
      pass: j.pass,
    });

  for (const f of input.frames) {
    const frame = f.frame;
    const g = globalEntropy(f.original);
    add({
      id: 'entropy.global',
      section: 'entropy',
      label: 'global entropy',
      cipher: 'plain',
      frame,
      value: g.value,
      unit: 'bits',
      ideal: g.maximum,
      pass: null,
      note: 'natural images sit well below the maximum',
    });
    for (const d of DIRECTIONS) {
      const { r } = adjacentCorrelation(f.original, d);
      add({
        id: `correlation.${d}`,
        section: 'correlation',
        label: `${d} correlation`,
        cipher: 'plain',
        frame,
        value: r,
        unit: '',
        ideal: 'near 1 (natural image)',
        pass: null,
      });
    }
    const p = psnr(f.original, f.stego);
    add({
      id: 'stego.psnr',
      section: 'stego',
      label: 'PSNR stego vs original',
      cipher: 'stego',
      frame,
      value: Number.isFinite(p) ? p : 'infinite',
      unit: 'dB',
      ideal: '>= 40 (invisible)',
      low: 40,
      pass: p >= 40,
    });
    const s = ssim(f.original, f.stego);
    add({
      id: 'stego.ssim',
      section: 'stego',
      label: 'SSIM stego vs original',
      cipher: 'stego',
      frame,
      value: s,
      unit: '',
      ideal: 1,
      low: 0.99,
      pass: s >= 0.99,
    });

    const ciphers: [Subject, Plane, Plane, Plane][] = [
      ['veil', f.veil, f.veilDifferential, f.veilKeyFlip],
      ['textbook', f.textbook, f.textbookDifferential, f.textbookKeyFlip],
    ];
    for (const [cipher, c, diff, flip] of ciphers) {
      const base = { cipher, frame };
      judged(
        {
          ...base,
          id: 'difference.mean',
          section: 'pixel difference',
          label: 'mean |original - encrypted|',
          unit: '',
        },
        meanAbsoluteDifference(f.original, c),
      );
      const chi = chiSquareUniformity(c);
      add({
        ...base,
        id: 'histogram.chi-square',
        section: 'histogram',
        label: `chi-square uniformity (${chi.degreesOfFreedom} df${chi.levelsPerBin > 1 ? `, ${chi.levelsPerBin} levels per bin` : ''})`,
        value: chi.value,
        unit: '',
        ideal: chi.ideal,
        high: chi.critical,
        pass: chi.pass,
      });
      const ge = globalEntropy(c);
      judged(
        {
          ...base,
          id: 'entropy.global',
          section: 'entropy',
          label: `global entropy (max ${ge.maximum})`,
          unit: 'bits',
        },
        ge,
      );
      const le = localEntropy(c);
      judged(
        {
          ...base,
          id: 'entropy.local',
          section: 'entropy',
          label: `local entropy (${le.blocks} blocks of ${le.blockSamples} samples)`,
          unit: 'bits',
        },
        le,
      );
      for (const d of DIRECTIONS) {
        judged(
          {
            ...base,
            id: `correlation.${d}`,
            section: 'correlation',
            label: `${d} correlation`,
            unit: '',
          },
          judgedCorrelation(c, d),
        );
      }
      const dd = differential(c, diff);
      judged(
        {
          ...base,
          id: 'differential.npcr',
          section: 'differential attack',
          label: 'NPCR, plain images differing in one pixel',
          unit: '%',
        },
        dd.npcr,
        100,
      );
      judged(
        {
          ...base,
          id: 'differential.uaci',
          section: 'differential attack',
          label: 'UACI, plain images differing in one pixel',
          unit: '%',
        },
        dd.uaci,
        100,
      );
      const kd = differential(c, flip);
      judged(
        {
          ...base,
          id: 'key-sensitivity.npcr',
          section: 'key sensitivity',
          label: 'NPCR, keys differing in one bit',
          unit: '%',
        },
        kd.npcr,
        100,
      );
      judged(
        {
          ...base,
          id: 'key-sensitivity.uaci',
          section: 'key sensitivity',
          label: 'UACI, keys differing in one bit',
          unit: '%',
        },
        kd.uaci,
        100,
      );
    }
    const wrong = differential(f.stego, f.textbookWrongKey).npcr.value * 100;
    add({
      id: 'key-sensitivity.wrong-key',
      section: 'key sensitivity',
      label: 'decryption with a one-bit-wrong private exponent: refused?',
      cipher: 'textbook',
      frame,
      value: false,
      unit: '',
      ideal: true,
      pass: false,
      note: `silently returns a wrong image (${wrong.toFixed(2)}% of samples differ)`,
    });
  }
  instanceRows(input, add);
  return rows;
}

function instanceRows(
  input: Parameters<typeof metricRows>[0],
  add: (row: MetricRow) => void,
): void {
  const { veil, textbook } = input;
  const frame = null;
  add({
    id: 'decryption.exact',
    section: 'decryption',
    label: 'reveal restores the original pixels bit for bit',
    cipher: 'veil',
    frame,
    value: input.revealExact,
    unit: '',
    ideal: true,
    pass: input.revealExact,
  });
  const stego = concatStego(input);
  const decrypted = textbook.decrypted.every((m, i) => m === stego[i]);
  add({
    id: 'decryption.exact',
    section: 'decryption',
    label: 'decryption restores the stego image',
    cipher: 'textbook',
    frame,
    value: decrypted,
    unit: '',
    ideal: true,
    pass: decrypted,
    note: `${textbook.unencryptable} samples >= n = ${textbook.key.n} left as they are`,
  });
  add({
    id: 'key-sensitivity.wrong-key',
    section: 'key sensitivity',
    label: 'decryption with a one-bit-flipped data key: refused?',
    cipher: 'veil',
    frame,
    value: veil.flippedKeyRefused,
    unit: '',
    ideal: true,
    pass: veil.flippedKeyRefused,
    note: 'AES-GCM tag check fails; output zero-filled',
  });
  const impostorRefused = veil.wrongKeyReveal !== 'accepted';
  add({
    id: 'key-sensitivity.wrong-private-key',
    section: 'key sensitivity',
    label: 'reveal with another RSA private key under the right key id',
    cipher: 'veil',
    frame,
    value: veil.wrongKeyReveal,
    unit: '',
    ideal: 'refused',
    pass: impostorRefused,
  });

  const wrapStrength = rsaSecurityBits(input.veilBits);
  add({
    id: 'key-space.data-key',
    section: 'key space',
    label: 'AES-256-GCM data key space',
    cipher: 'veil',
    frame,
    value: 256,
    unit: 'bits',
    ideal: '>= 128',
    low: 128,
    pass: true,
  });
  add({
    id: 'key-space.security-level',
    section: 'key space',
    label: `security level: min(AES-256 = ${aesSecurityBits(256)}, RSA-${input.veilBits} wrap = ${wrapStrength}) (NIST SP 800-57)`,
    cipher: 'veil',
    frame,
    value: Math.min(256, wrapStrength),
    unit: 'bits',
    ideal: '>= 112',
    low: 112,
    pass: Math.min(256, wrapStrength) >= 112,
  });
  const phi = (textbook.key.p - 1) * (textbook.key.q - 1);
  add({
    id: 'key-space.data-key',
    section: 'key space',
    label: `textbook RSA key space: exponents e < phi(${textbook.key.n}) = ${phi}`,
    cipher: 'textbook',
    frame,
    value: Math.log2(phi),
    unit: 'bits',
    ideal: '>= 128',
    low: 128,
    pass: false,
    note: `n = ${textbook.key.p} x ${textbook.key.q} factors instantly`,
  });
  const large = textbook.large;
  add({
    id: 'key-space.security-level',
    section: 'key space',
    label: `security level against pixel recovery (small n; ${large.modulusBits}-bit n would be ${rsaSecurityBits(large.modulusBits)} for the modulus but a 2^${input.frames[0]!.original.bits} codebook recovers pixels)`,
    cipher: 'textbook',
    frame,
    value: 0,
    unit: 'bits',
    ideal: '>= 112',
    low: 112,
    pass: false,
  });

  const a = textbook.attacks;
  const recovered = a.codebookRecovered === a.codebookSamples;
  add({
    id: 'attack.codebook',
    section: 'attacks',
    label: `public-key codebook recovers every sample (${a.codebookRecovered} of ${a.codebookSamples}, ${a.codebookMs.toFixed(1)} ms)`,
    cipher: 'textbook',
    frame,
    value: recovered,
    unit: '',
    ideal: false,
    pass: !recovered,
  });
  add({
    id: 'attack.identical-pixels',
    section: 'attacks',
    label: `identical pixels give identical ciphertexts (${a.distinctPlainLevels} plain levels -> ${a.distinctCipherLevels} cipher levels)`,
    cipher: 'textbook',
    frame,
    value: a.identicalPlainIdenticalCipher,
    unit: '',
    ideal: false,
    pass: !a.identicalPlainIdenticalCipher,
  });
  const malleable = a.malleableTried > 0 && a.malleableSamples === a.malleableTried;
  add({
    id: 'attack.malleability',
    section: 'attacks',
    label: `c x E(2) mod n decrypts to 2m without the key (${a.malleableSamples} of ${a.malleableTried} samples)`,
    cipher: 'textbook',
    frame,
    value: malleable,
    unit: '',
    ideal: false,
    pass: !malleable,
  });
  add({
    id: 'attack.codebook-2048',
    section: 'attacks',
    label: `${large.modulusBits}-bit textbook RSA: codebook recovered ${large.codebookRecovered} of ${large.sampledPixels} sampled pixels with ${large.codebookEncryptions} public-key encryptions`,
    cipher: 'textbook',
    frame,
    value: large.codebookRecovered === large.sampledPixels,
    unit: '',
    ideal: false,
    pass: large.codebookRecovered !== large.sampledPixels,
    note: `full 2^${input.frames[0]!.original.bits} codebook ~${(large.fullCodebookMsExtrapolated / 1000).toFixed(2)} s (extrapolated); deterministic: ${large.deterministic}; malleable: ${large.malleable}`,
  });

  const samples = textbook.cipher.length;
  const plainBytes = samples * input.bytesPerSample;
  add({
    id: 'time.protect',
    section: 'time and size',
    label: 'protect (stego + AES-256-GCM + RSA-OAEP wrap + header), measured',
    cipher: 'veil',
    frame,
    value: veil.protectMs,
    unit: 'ms',
    ideal: '',
    pass: null,
  });
  add({
    id: 'time.reveal',
    section: 'time and size',
    label: 'reveal (unwrap + decrypt + verify + restore), measured',
    cipher: 'veil',
    frame,
    value: veil.revealMs,
    unit: 'ms',
    ideal: '',
    pass: null,
  });
  add({
    id: 'size.file',
    section: 'time and size',
    label: `protected file vs original ${veil.inputFileBytes} bytes (pixels length-preserving)`,
    cipher: 'veil',
    frame,
    value: veil.protectedFileBytes,
    unit: 'bytes',
    ideal: '',
    pass: null,
  });
  add({
    id: 'time.encrypt',
    section: 'time and size',
    label: `encrypt analysed frames, n = ${textbook.key.n}, measured`,
    cipher: 'textbook',
    frame,
    value: textbook.encryptMs,
    unit: 'ms',
    ideal: '',
    pass: null,
  });
  add({
    id: 'time.encrypt-2048',
    section: 'time and size',
    label: `encrypt analysed frames, ${large.modulusBits}-bit n, extrapolated from ${large.sampledPixels} pixels`,
    cipher: 'textbook',
    frame,
    value: large.encryptMsExtrapolated,
    unit: 'ms',
    ideal: '',
    pass: null,
  });
  add({
    id: 'time.decrypt-2048',
    section: 'time and size',
    label: `decrypt analysed frames, ${large.modulusBits}-bit n, extrapolated from ${large.sampledPixels} pixels`,
    cipher: 'textbook',
    frame,
    value: large.decryptMsExtrapolated,
    unit: 'ms',
    ideal: '',
    pass: null,
  });
  add({
    id: 'size.cipher-2048',
    section: 'time and size',
    label: `ciphertext of analysed frames, ${large.modulusBits}-bit n (plain ${plainBytes} bytes)`,
    cipher: 'textbook',
    frame,
    value: large.cipherBytes,
    unit: 'bytes',
    ideal: plainBytes,
    pass: null,
    note: `${(large.cipherBytes / plainBytes).toFixed(0)}x larger`,
  });

  const st = veil.stego;
  add({
    id: 'stego.capacity',
    section: 'stego',
    label: `capacity (outcome ${st.outcome}${st.reason ? `: ${st.reason}` : ''})`,
    cipher: 'stego',
    frame,
    value: st.capacityBits,
    unit: 'bits',
    ideal: '',
    pass: null,
  });
  add({
    id: 'stego.bits-used',
    section: 'stego',
    label: `bits used (${st.samplesChanged} samples changed)`,
    cipher: 'stego',
    frame,
    value: st.bitsUsed,
    unit: 'bits',
    ideal: '',
    pass: null,
  });
}

function concatStego(input: Parameters<typeof metricRows>[0]): Uint16Array {
  const parts = input.frames.map((f) => f.stego.levels);
  const out = new Uint16Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
