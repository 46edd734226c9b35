/**
 * Stego image quality against the original: PSNR (peak 2^bits - 1) and SSIM (Wang et al. 2004,
 * 8x8 sliding windows, K1 = 0.01, K2 = 0.03), over the stored levels.
 */
import { VeilError } from '../errors';
import type { Plane } from './plane';

/** PSNR in dB; Infinity when the images are identical. */
export function psnr(a: Plane, b: Plane): number {
  same(a, b);
  let se = 0;
  for (let i = 0; i < a.levels.length; i++) se += (a.levels[i]! - b.levels[i]!) ** 2;
  if (se === 0) return Infinity;
  const peak = 2 ** a.bits - 1;
  return 10 * Math.log10((peak * peak) / (se / a.levels.length));
}

/** Mean SSIM over every 8x8 window of every channel (1 for identical images). */
export function ssim(a: Plane, b: Plane, window = 8): number {
  same(a, b);
  const peak = 2 ** a.bits - 1;
  const c1 = (0.01 * peak) ** 2;
  const c2 = (0.03 * peak) ** 2;
  const w = Math.min(window, a.width);
  const h = Math.min(window, a.height);
  const n = w * h;
  let total = 0;
  let count = 0;
  for (let c = 0; c < a.channels; c++) {
    // Summed-area tables of x, y, x^2, y^2, xy make each window O(1).
    const sums = [0, 1, 2, 3, 4].map(() => new Float64Array((a.width + 1) * (a.height + 1)));
    const W = a.width + 1;
    for (let y = 0; y < a.height; y++) {
      for (let x = 0; x < a.width; x++) {
        const i = (y * a.width + x) * a.channels + c;
        const p = a.levels[i]!;
        const q = b.levels[i]!;
        const vals = [p, q, p * p, q * q, p * q];
        const o = (y + 1) * W + x + 1;
        for (let s = 0; s < 5; s++) {
          const t = sums[s]!;
          t[o] = vals[s]! + t[o - 1]! + t[o - W]! - t[o - W - 1]!;
        }
      }
    }
    const box = (t: Float64Array, x: number, y: number): number =>
      t[(y + h) * W + x + w]! - t[y * W + x + w]! - t[(y + h) * W + x]! + t[y * W + x]!;
    for (let y = 0; y + h <= a.height; y++) {
      for (let x = 0; x + w <= a.width; x++) {
        const mx = box(sums[0]!, x, y) / n;
        const my = box(sums[1]!, x, y) / n;
        const vx = box(sums[2]!, x, y) / n - mx * mx;
        const vy = box(sums[3]!, x, y) / n - my * my;
        const cxy = box(sums[4]!, x, y) / n - mx * my;
        total +=
          ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2));
        count++;
      }
    }
  }
  return total / count;
}

function same(a: Plane, b: Plane): void {
  if (a.levels.length !== b.levels.length || a.bits !== b.bits) {
    throw new VeilError('VEIL_E_DICOM_BAD_GEOMETRY', 'Compared images differ in size or depth.');
  }
}
