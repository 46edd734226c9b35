/** Small statistics the metrics need: the normal quantile, the chi-square critical value, a seeded PRNG. */

/**
 * Quantile of the standard normal distribution (Acklam's rational approximation, relative error
 * below 1.2e-9), e.g. normalQuantile(0.95) = 1.6449.
 */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError('p must be in (0, 1)');
  const a = [
    -39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716,
    2.506628277459239,
  ];
  const b = [
    -54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972,
    -13.28068155288572,
  ];
  const c = [
    -0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734,
    4.374664141464968, 2.938163982698783,
  ];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const low = 0.02425;
  if (p < low) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (
      (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) /
      ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1)
    );
  }
  if (p > 1 - low) return -normalQuantile(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) /
    (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1)
  );
}

/**
 * Upper critical value of chi-square with `df` degrees of freedom at significance alpha
 * (Wilson-Hilferty: accurate to ~0.1% for df >= 15; 255 df at 0.05 gives 293.25).
 */
export function chiSquareCritical(df: number, alpha = 0.05): number {
  const z = normalQuantile(1 - alpha);
  const k = 2 / (9 * df);
  return df * (1 - k + z * Math.sqrt(k)) ** 3;
}

/** Deterministic PRNG (mulberry32) so that random blocks and samples are the same on every run. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A value with the interval a random (ideal) image would fall in, and whether it does. */
export interface Judged {
  value: number;
  ideal: number;
  /** Acceptance interval at alpha 0.05; a bound may be +/-Infinity. */
  low: number;
  high: number;
  pass: boolean;
}

/** Judges a value against [low, high]. */
export function judge(value: number, ideal: number, low: number, high: number): Judged {
  return { value, ideal, low, high, pass: value >= low && value <= high };
}
