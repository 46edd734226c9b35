/**
 * Pixel difference between the plain and the cipher image (the paper's first measure): the mean
 * absolute difference, judged against what an independent uniform cipher image would give for
 * THIS plain image (it depends on the plain levels), and the per-pixel difference map.
 */
import type { Plane } from './plane';
import { type Judged, judge, normalQuantile } from './statistics';

/** |plain - cipher| per sample. */
export function differenceMap(plain: Plane, cipher: Plane): Uint16Array {
  const out = new Uint16Array(plain.levels.length);
  for (let i = 0; i < out.length; i++) out[i] = Math.abs(plain.levels[i]! - cipher.levels[i]!);
  return out;
}

/**
 * Mean absolute difference. Ideal: E|p - U| with U uniform on 0..F for each plain level p,
 * i.e. (p(p+1) + (F-p)(F-p+1)) / (2(F+1)); the 95% interval adds the summed variances.
 */
export function meanAbsoluteDifference(plain: Plane, cipher: Plane): Judged {
  const L = 2 ** plain.bits;
  const F = L - 1;
  const mean = new Float64Array(L);
  const variance = new Float64Array(L);
  for (let p = 0; p < L; p++) {
    const m1 = (p * (p + 1) + (F - p) * (F - p + 1)) / (2 * L);
    // E(p - U)^2 = p^2 - 2p F/2 + F(2F+1)/6 for U uniform on 0..F.
    const m2 = p * p - p * F + (F * (2 * F + 1)) / 6;
    mean[p] = m1;
    variance[p] = m2 - m1 * m1;
  }
  let sum = 0;
  let ideal = 0;
  let v = 0;
  for (let i = 0; i < plain.levels.length; i++) {
    const p = plain.levels[i]!;
    sum += Math.abs(p - cipher.levels[i]!);
    ideal += mean[p]!;
    v += variance[p]!;
  }
  const n = plain.levels.length;
  const half = (normalQuantile(0.975) * Math.sqrt(v)) / n;
  return judge(sum / n, ideal / n, ideal / n - half, ideal / n + half);
}
