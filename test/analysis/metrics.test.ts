import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { adjacentCorrelation, judgedCorrelation } from '../../src/analysis/correlation';
import { npcr, uaci, wuCriticalValues, differential } from '../../src/analysis/differential';
import { meanAbsoluteDifference, differenceMap } from '../../src/analysis/difference';
import { entropy, expectedEntropy, globalEntropy, localEntropy } from '../../src/analysis/entropy';
import { chiSquareUniformity, histogram } from '../../src/analysis/histogram';
import type { Plane } from '../../src/analysis/plane';
import { psnr, ssim } from '../../src/analysis/quality';
import { aesSecurityBits, rsaSecurityBits } from '../../src/analysis/security-level';
import { chiSquareCritical, normalQuantile } from '../../src/analysis/statistics';

function plane(
  width: number,
  height: number,
  bits: number,
  f: (x: number, y: number) => number,
): Plane {
  const levels = new Uint16Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) levels[y * width + x] = f(x, y);
  return { width, height, channels: 1, bits, levels };
}

/** A random image from SHA-256 in counter mode: cryptographic quality, the same on every run. */
function randomPlane(width: number, height: number, bits: number, seed: number): Plane {
  const bytes = Buffer.concat(
    Array.from({ length: Math.ceil((width * height * 2) / 32) }, (_, i) =>
      createHash('sha256').update(`${seed}/${i}`).digest(),
    ),
  );
  return plane(width, height, bits, (x, y) => bytes.readUInt16LE(2 * (y * width + x)) % 2 ** bits);
}

const close = (actual: number, expected: number, tolerance: number) =>
  assert.ok(
    Math.abs(actual - expected) <= tolerance,
    `${actual} is not within ${tolerance} of ${expected}`,
  );

describe('analysis/metrics', () => {
  it('gives the Wu-Noonan-Agaian critical values for 8-bit 512x512 at alpha 0.05', () => {
    const wu = wuCriticalValues(8, 512 * 512);
    assert.equal((wu.npcrCritical * 100).toFixed(4), '99.5893');
    assert.equal((wu.uaciLow * 100).toFixed(4), '33.3730');
    assert.equal((wu.uaciHigh * 100).toFixed(4), '33.5541');
    close(wu.npcrExpected, 255 / 256, 1e-12);
    close(wu.uaciExpected, 257 / 768, 1e-12);
  });

  it('gives the Wu critical values of the paper for 256x256 and 1024x1024 too', () => {
    assert.equal((wuCriticalValues(8, 256 * 256).npcrCritical * 100).toFixed(4), '99.5693');
    assert.equal((wuCriticalValues(8, 1024 * 1024).npcrCritical * 100).toFixed(4), '99.5994');
    assert.equal((wuCriticalValues(8, 256 * 256).uaciLow * 100).toFixed(4), '33.2824');
  });

  it('measures entropy 1 bit for a two-value image with equal halves', () => {
    const p = plane(16, 16, 8, (x) => (x < 8 ? 10 : 200));
    assert.equal(entropy(p.levels, 8), 1);
    assert.equal(entropy(new Uint16Array(100).fill(3), 8), 0);
  });

  it('expects less than the maximum entropy from a finite random image', () => {
    const e = expectedEntropy(512 * 512, 8);
    assert.ok(e < 8 && e > 7.999);
    // Miller-Madow: the bias is about (L - 1) / (2 N ln 2).
    close(8 - e, 255 / (2 * 512 * 512 * Math.LN2), 2e-5);
    const deep = expectedEntropy(512 * 512, 16);
    assert.ok(deep < 15.85 && deep > 15.75, String(deep));
  });

  it('passes a random image and fails a smooth one on global and local entropy', () => {
    const random = randomPlane(256, 256, 8, 9);
    assert.equal(globalEntropy(random).pass, true);
    assert.equal(localEntropy(random).pass, true);
    // 256 / 44 gives 5 x 5 tiles; Wu's expected block entropy for 8 bits and 1936 pixels.
    assert.equal(localEntropy(random).blocks, 25);
    assert.equal(localEntropy(random).ideal.toFixed(9), '7.902469317');
    const smooth = plane(256, 256, 8, (x, y) => (x + y) >> 1);
    assert.equal(globalEntropy(smooth).pass, false);
    assert.equal(localEntropy(smooth).pass, false);
  });

  it('gives NPCR 0 and UACI 0 for identical images', () => {
    const p = randomPlane(32, 32, 8, 1);
    assert.equal(npcr(p.levels, p.levels), 0);
    assert.equal(uaci(p.levels, p.levels, 8), 0);
  });

  it('gives NPCR 100% and UACI 100% for an image and its inverse (all 0 against all 255)', () => {
    const zero = plane(8, 8, 8, () => 0);
    const full = plane(8, 8, 8, () => 255);
    assert.equal(npcr(zero.levels, full.levels), 1);
    assert.equal(uaci(zero.levels, full.levels, 8), 1);
    const g = plane(16, 16, 8, (x, y) => (x * 16 + y) % 256);
    const inv = plane(16, 16, 8, (x, y) => 255 - ((x * 16 + y) % 256));
    // Mean |p - (255 - p)| over p = 0..255 is 128, so UACI is 128 / 255.
    close(uaci(g.levels, inv.levels, 8), 128 / 255, 1e-12);
  });

  it('passes two independent random images on NPCR and UACI', () => {
    const d = differential(randomPlane(256, 256, 8, 2), randomPlane(256, 256, 8, 3));
    assert.equal(d.npcr.pass, true);
    assert.equal(d.uaci.pass, true);
  });

  it('gives correlation 1 for a gradient in every direction and near 0 for noise', () => {
    const gradient = plane(64, 64, 8, (x, y) => x + y);
    for (const d of ['horizontal', 'vertical', 'diagonal'] as const) {
      close(adjacentCorrelation(gradient, d).r, 1, 1e-12);
    }
    assert.equal(adjacentCorrelation(gradient, 'horizontal').pairs, 63 * 64);
    assert.equal(adjacentCorrelation(gradient, 'diagonal').pairs, 63 * 63);
    assert.equal(judgedCorrelation(gradient, 'vertical').pass, false);
    assert.equal(judgedCorrelation(randomPlane(128, 128, 8, 4), 'vertical').pass, true);
    // A checkerboard is perfectly anti-correlated horizontally.
    close(
      adjacentCorrelation(
        plane(8, 8, 8, (x, y) => ((x + y) % 2) * 255),
        'horizontal',
      ).r,
      -1,
      1e-12,
    );
  });

  it('computes the chi-square critical value for 255 degrees of freedom', () => {
    close(chiSquareCritical(255), 293.2478, 0.05);
    close(normalQuantile(0.95), 1.6448536, 1e-6);
    close(normalQuantile(0.025), -1.959964, 1e-6);
  });

  it('passes a uniform histogram and fails a peaked one on chi-square', () => {
    const flat = plane(256, 4, 8, (x) => x);
    const h = histogram(flat);
    assert.ok(h.every((c) => c === 4));
    assert.equal(chiSquareUniformity(flat).value, 0);
    const peaked = plane(64, 64, 8, () => 9);
    assert.equal(chiSquareUniformity(peaked).pass, false);
  });

  it('pools bins when fewer than 5 samples per level are expected', () => {
    const r = chiSquareUniformity(randomPlane(64, 64, 16, 5));
    assert.ok(r.levelsPerBin >= 64);
    assert.equal(r.degreesOfFreedom, 65536 / r.levelsPerBin - 1);
    assert.equal(r.pass, true);
  });

  it('expects mean absolute difference 127.5 + ... against uniform for the plain levels', () => {
    const dark = plane(64, 64, 8, () => 0);
    const d = meanAbsoluteDifference(dark, randomPlane(64, 64, 8, 6));
    close(d.ideal, 127.5, 1e-9);
    assert.equal(d.pass, true);
    assert.equal(meanAbsoluteDifference(dark, dark).pass, false);
    assert.deepEqual(
      [
        ...differenceMap(
          dark,
          plane(64, 64, 8, () => 3),
        ).slice(0, 2),
      ],
      [3, 3],
    );
  });

  it('gives PSNR infinity and SSIM 1 for identical images; known PSNR for one changed level', () => {
    const p = randomPlane(32, 32, 8, 8);
    assert.equal(psnr(p, p), Infinity);
    close(ssim(p, p), 1, 1e-12);
    const q = { ...p, levels: p.levels.slice() };
    q.levels[0] = q.levels[0]! ^ 1;
    close(psnr(p, q), 10 * Math.log10((255 * 255 * 1024) / 1), 1e-9);
    assert.ok(ssim(p, q) < 1 && ssim(p, q) > 0.99);
  });

  it('maps RSA moduli to NIST SP 800-57 strengths', () => {
    assert.equal(rsaSecurityBits(2048), 112);
    assert.equal(rsaSecurityBits(3072), 128);
    assert.equal(rsaSecurityBits(253), 0);
    assert.equal(aesSecurityBits(256), 256);
  });

  it('refuses to compare images of different sizes', () => {
    assert.throws(() => npcr([1], [1, 2]), { code: 'VEIL_E_DICOM_BAD_GEOMETRY' });
    assert.throws(() => psnr(randomPlane(4, 4, 8, 1), randomPlane(4, 5, 8, 1)), {
      code: 'VEIL_E_DICOM_BAD_GEOMETRY',
    });
  });
});
