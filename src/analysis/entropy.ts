/**
 * Shannon entropy of pixel levels, globally and over random blocks (local entropy, Wu et al.
 * 2013), judged against what a truly random image of the same size and depth would give: with N
 * samples and L = 2^bits levels the expected plug-in entropy is below log2 L (by ~(L-1)/(2N ln 2)).
 */
import type { Plane } from './plane';
import { type Judged, judge, normalQuantile, seededRandom } from './statistics';

/** Shannon entropy in bits of the levels of `levels` (L = 2^bits bins). */
export function entropy(levels: ArrayLike<number>, bits: number): number {
  const counts = new Uint32Array(2 ** bits);
  for (let i = 0; i < levels.length; i++) counts[levels[i]!]!++;
  return entropyOfCounts(counts, levels.length);
}

function entropyOfCounts(counts: ArrayLike<number>, total: number): number {
  let h = 0;
  for (let k = 0; k < counts.length; k++) {
    const c = counts[k]!;
    if (c > 0) {
      const p = c / total;
      h -= p * Math.log2(p);
    }
  }
  return h;
}

/**
 * Exact expected entropy of N uniform random samples over L levels: each bin count is
 * Binomial(N, 1/L), so E[H] = -L * sum_k P(k) (k/N) log2(k/N).
 */
export function expectedEntropy(samples: number, bits: number): number {
  const L = 2 ** bits;
  const p = 1 / L;
  const mean = samples * p;
  const kMax = Math.min(samples, Math.ceil(mean + 12 * Math.sqrt(mean) + 20));
  let logPmf = samples * Math.log1p(-p); // log P(k = 0)
  const ratio = Math.log(p) - Math.log1p(-p);
  let sum = 0;
  for (let k = 1; k <= kMax; k++) {
    logPmf += Math.log(samples - k + 1) - Math.log(k) + ratio;
    const x = k / samples;
    sum += Math.exp(logPmf) * x * Math.log2(x);
  }
  return -L * sum;
}

/**
 * Standard deviation of the entropy of N uniform samples over L levels, estimated by a seeded
 * simulation (deterministic), so that the acceptance interval holds also when N is close to L.
 */
export function entropySpread(samples: number, bits: number, trials = 0): number {
  const L = 2 ** bits;
  const n = trials > 0 ? trials : Math.max(30, Math.min(300, Math.floor(2e7 / samples)));
  const random = seededRandom(0x5eed ^ (samples * 31 + bits));
  const counts = new Uint32Array(L);
  let s = 0;
  let s2 = 0;
  for (let t = 0; t < n; t++) {
    counts.fill(0);
    for (let i = 0; i < samples; i++) counts[Math.floor(random() * L)]!++;
    const h = entropyOfCounts(counts, samples);
    s += h;
    s2 += h * h;
  }
  const mean = s / n;
  return Math.sqrt(Math.max(0, s2 / n - mean * mean));
}

/** Global entropy with its ideal (the expected value for a random image) and 95% interval. */
export function globalEntropy(plane: Plane): Judged & { maximum: number } {
  const n = plane.levels.length;
  const ideal = expectedEntropy(n, plane.bits);
  const z = normalQuantile(0.975);
  const sd = entropySpread(n, plane.bits);
  return {
    ...judge(entropy(plane.levels, plane.bits), ideal, ideal - z * sd, ideal + z * sd),
    maximum: plane.bits,
  };
}

/** Local entropy parameters of Wu et al. (2013): k = 30 blocks of 44 x 44 = 1936 pixels. */
export const LOCAL_BLOCKS = 30;
export const LOCAL_SIDE = 44;

/**
 * Mean entropy of up to 30 random non-overlapping 44x44 blocks (seeded, so the same blocks on
 * every run), judged against the expected block entropy +/- z * sd / sqrt(k).
 */
export function localEntropy(
  plane: Plane,
  seed = 1,
): Judged & { blocks: number; blockSamples: number } {
  const bw = Math.min(LOCAL_SIDE, plane.width);
  const bh = Math.min(LOCAL_SIDE, plane.height);
  const tilesX = Math.floor(plane.width / bw);
  const tilesY = Math.floor(plane.height / bh);
  const tiles = Array.from({ length: tilesX * tilesY }, (_, i) => i);
  const random = seededRandom(seed);
  for (let i = tiles.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [tiles[i], tiles[j]] = [tiles[j]!, tiles[i]!];
  }
  const chosen = tiles.slice(0, LOCAL_BLOCKS);
  const blockSamples = bw * bh * plane.channels;
  const block = new Uint16Array(blockSamples);
  let sum = 0;
  for (const tile of chosen) {
    const x0 = (tile % tilesX) * bw;
    const y0 = Math.floor(tile / tilesX) * bh;
    let o = 0;
    for (let y = y0; y < y0 + bh; y++) {
      const row = (y * plane.width + x0) * plane.channels;
      for (let i = 0; i < bw * plane.channels; i++) block[o++] = plane.levels[row + i]!;
    }
    sum += entropy(block, plane.bits);
  }
  const k = chosen.length;
  const ideal = expectedEntropy(blockSamples, plane.bits);
  const half = (normalQuantile(0.975) * entropySpread(blockSamples, plane.bits)) / Math.sqrt(k);
  return { ...judge(sum / k, ideal, ideal - half, ideal + half), blocks: k, blockSamples };
}
