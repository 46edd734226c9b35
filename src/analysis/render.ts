/**
 * Pictures of the analysis, drawn by our code: frames windowed for people (Window Center/Width
 * from the header, else the 0.5th-99.5th percentiles for deep data), histograms and the
 * adjacent-pixel scatter plots of the paper's correlation figures.
 */
import { type Direction, forEachPair } from './correlation';
import { histogram } from './histogram';
import type { Plane } from './plane';
import type { RasterImage } from './png';
import type { DisplayHints } from './source';

/** Maps a level 0..2^bits-1 to grey 0..255. */
export type GreyMap = (level: number) => number;

/** The whole stored range, linearly: how cipher images are shown (noise needs no window). */
export function fullRange(bits: number): GreyMap {
  const max = 2 ** bits - 1;
  return (level) => Math.round((level * 255) / max);
}

/**
 * The viewer's map for the original: PS3.3 C.11.2.1.2.1 linear VOI window on the modality value
 * (stored value * slope + intercept) when the header has one; else for deeper than 8 bits the
 * 0.5th to 99.5th percentile of the original's levels; 8-bit data as stored.
 */
export function viewerMap(original: Plane, display: DisplayHints, signed: boolean): GreyMap {
  const offset = signed ? 2 ** (original.bits - 1) : 0;
  const invert = display.photometricInterpretation === 'MONOCHROME1';
  const out = (g: number) => (invert ? 255 - g : g);
  if (display.windowCenter !== undefined && display.windowWidth !== undefined) {
    const c = display.windowCenter;
    const w = display.windowWidth;
    return (level) => {
      const x = (level - offset) * display.rescaleSlope + display.rescaleIntercept;
      if (x <= c - 0.5 - (w - 1) / 2) return out(0);
      if (x > c - 0.5 + (w - 1) / 2) return out(255);
      return out(Math.round(((x - (c - 0.5)) / (w - 1) + 0.5) * 255));
    };
  }
  if (original.bits <= 8) {
    const full = fullRange(original.bits);
    return (level) => out(full(level));
  }
  const counts = histogram(original);
  const lo = percentile(counts, original.levels.length, 0.005);
  const hi = Math.max(lo + 1, percentile(counts, original.levels.length, 0.995));
  return (level) => out(Math.round(Math.min(1, Math.max(0, (level - lo) / (hi - lo))) * 255));
}

function percentile(counts: Uint32Array, total: number, q: number): number {
  let seen = 0;
  for (let k = 0; k < counts.length; k++) {
    seen += counts[k]!;
    if (seen >= q * total) return k;
  }
  return counts.length - 1;
}

/** The plane as an 8-bit picture (RGB planes stay in colour). */
export function picture(plane: Plane, map: GreyMap): RasterImage {
  const lut = new Uint8Array(2 ** plane.bits);
  for (let k = 0; k < lut.length; k++) lut[k] = map(k);
  const data = new Uint8Array(plane.levels.length);
  for (let i = 0; i < data.length; i++) data[i] = lut[plane.levels[i]!]!;
  return { width: plane.width, height: plane.height, channels: plane.channels === 3 ? 3 : 1, data };
}

/** Where the stego image differs from the original: changed samples white on black. */
export function changeMap(original: Plane, stego: Plane): RasterImage {
  const data = new Uint8Array(original.width * original.height);
  for (let i = 0; i < original.levels.length; i++) {
    if (original.levels[i] !== stego.levels[i]) data[Math.floor(i / original.channels)] = 255;
  }
  return { width: original.width, height: original.height, channels: 1, data };
}

/** Histogram as bars (at most 256, levels pooled for deeper data), dark on white, 512 x 160. */
export function histogramPicture(plane: Plane): RasterImage {
  const width = 512;
  const height = 160;
  const counts = histogram(plane);
  // Bars span the levels actually used, so a CT's few thousand levels of 65536 stay visible.
  const [lo, hi] = levelRange(plane);
  const bars = Math.min(256, hi - lo + 1);
  const per = (hi - lo + 1) / bars;
  const pooled = new Float64Array(bars);
  for (let k = lo; k <= hi; k++) pooled[Math.floor((k - lo) / per)]! += counts[k]!;
  const max = Math.max(...pooled);
  const data = new Uint8Array(width * height).fill(255);
  const barWidth = width / bars;
  for (let b = 0; b < bars; b++) {
    const h = max > 0 ? Math.round((pooled[b]! / max) * (height - 4)) : 0;
    for (let x = Math.floor(b * barWidth); x < Math.floor((b + 1) * barWidth); x++) {
      for (let y = height - h; y < height; y++) data[y * width + x] = 40;
    }
  }
  return { width, height, channels: 1, data };
}

/**
 * Scatter plot of neighbour pairs (level, next level) over all pairs and the levels the image
 * uses, 256 x 256, darker where
 * more pairs fall: a diagonal line for natural images, an even grey square for a good cipher.
 */
export function scatterPicture(plane: Plane, direction: Direction): RasterImage {
  const size = 256;
  const [lo, hi] = levelRange(plane);
  const scale = size / (hi - lo + 1);
  const density = new Uint32Array(size * size);
  forEachPair(plane, direction, (a, b) => {
    density[(size - 1 - Math.floor((b - lo) * scale)) * size + Math.floor((a - lo) * scale)]!++;
  });
  let max = 1;
  for (const d of density) if (d > max) max = d;
  const data = new Uint8Array(size * size);
  for (let i = 0; i < data.length; i++) {
    const d = density[i]!;
    data[i] = d === 0 ? 255 : Math.round(220 - (200 * Math.log1p(d)) / Math.log1p(max));
  }
  return { width: size, height: size, channels: 1, data };
}

/** Lowest and highest level the plane uses. */
function levelRange(plane: Plane): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of plane.levels) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo > hi ? [0, 0] : [lo, hi];
}
