/**
 * Adjacent-pixel correlation (Pearson r) over ALL horizontal, vertical and diagonal neighbour
 * pairs, each channel paired with itself. Natural images give r near 1; a good cipher gives r
 * near 0, inside +/- z / sqrt(pairs) at alpha 0.05.
 */
import type { Plane } from './plane';
import { type Judged, judge, normalQuantile } from './statistics';

/** Neighbour directions: right, down, down-right. */
export type Direction = 'horizontal' | 'vertical' | 'diagonal';
export const DIRECTIONS: readonly Direction[] = ['horizontal', 'vertical', 'diagonal'];

const STEP: Record<Direction, [number, number]> = {
  horizontal: [1, 0],
  vertical: [0, 1],
  diagonal: [1, 1],
};

/** Calls `visit(first, second)` with the levels of every neighbour pair in `direction`. */
export function forEachPair(
  plane: Plane,
  direction: Direction,
  visit: (a: number, b: number) => void,
): void {
  const [dx, dy] = STEP[direction];
  const { width, height, channels, levels } = plane;
  for (let y = 0; y + dy < height; y++) {
    for (let x = 0; x + dx < width; x++) {
      const i = (y * width + x) * channels;
      const j = ((y + dy) * width + x + dx) * channels;
      for (let c = 0; c < channels; c++) visit(levels[i + c]!, levels[j + c]!);
    }
  }
}

/** Pearson correlation of all neighbour pairs in one direction, with the pair count. */
export function adjacentCorrelation(
  plane: Plane,
  direction: Direction,
): { r: number; pairs: number } {
  let n = 0;
  let sa = 0;
  let sb = 0;
  let saa = 0;
  let sbb = 0;
  let sab = 0;
  forEachPair(plane, direction, (a, b) => {
    n++;
    sa += a;
    sb += b;
    saa += a * a;
    sbb += b * b;
    sab += a * b;
  });
  const cov = sab / n - (sa / n) * (sb / n);
  const va = saa / n - (sa / n) ** 2;
  const vb = sbb / n - (sb / n) ** 2;
  // A constant image has no defined correlation; report 0 rather than NaN.
  const r = va > 0 && vb > 0 ? cov / Math.sqrt(va * vb) : 0;
  return { r, pairs: n };
}

/** Correlation judged as for a cipher image: ideal 0, pass when |r| <= z_0.975 / sqrt(pairs). */
export function judgedCorrelation(plane: Plane, direction: Direction): Judged {
  const { r, pairs } = adjacentCorrelation(plane, direction);
  const bound = normalQuantile(0.975) / Math.sqrt(Math.max(1, pairs));
  return judge(r, 0, -bound, bound);
}
