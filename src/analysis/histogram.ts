/**
 * Histograms of levels and the chi-square test of uniformity a cipher image should pass: with
 * L = 2^bits bins (pooled into wider bins when fewer than 5 samples are expected per bin),
 * chi-square must stay below the critical value of L - 1 degrees of freedom at alpha 0.05.
 */
import type { Plane } from './plane';
import { chiSquareCritical } from './statistics';

/** Counts of each level 0..2^bits-1. */
export function histogram(plane: Plane): Uint32Array {
  const counts = new Uint32Array(2 ** plane.bits);
  for (let i = 0; i < plane.levels.length; i++) counts[plane.levels[i]!]!++;
  return counts;
}

/** Result of the chi-square uniformity test. */
export interface ChiSquareResult {
  value: number;
  /** Ideal: the expected chi-square of a uniform image, its degrees of freedom. */
  ideal: number;
  critical: number;
  degreesOfFreedom: number;
  /** Levels per pooled bin (1 unless the image is small for its depth). */
  levelsPerBin: number;
  pass: boolean;
}

/** Chi-square of the histogram against the uniform distribution. */
export function chiSquareUniformity(plane: Plane, alpha = 0.05): ChiSquareResult {
  const counts = histogram(plane);
  const n = plane.levels.length;
  let levelsPerBin = 1;
  // Pearson's test needs about 5 expected samples per bin: pool neighbouring levels until so.
  while (levelsPerBin < counts.length && n / (counts.length / levelsPerBin) < 5) levelsPerBin *= 2;
  const bins = counts.length / levelsPerBin;
  const expected = n / bins;
  let value = 0;
  for (let b = 0; b < bins; b++) {
    let observed = 0;
    for (let k = b * levelsPerBin; k < (b + 1) * levelsPerBin; k++) observed += counts[k]!;
    value += (observed - expected) ** 2 / expected;
  }
  const df = bins - 1;
  const critical = df >= 1 ? chiSquareCritical(df, alpha) : Infinity;
  return {
    value,
    ideal: df,
    critical,
    degreesOfFreedom: df,
    levelsPerBin,
    pass: value <= critical,
  };
}
