/**
 * Synthetic images that look like their modality (smooth anatomy-like shapes, realistic value
 * ranges, correlated texture and gentle noise), so histogram and correlation analyses of the
 * protected samples mean something. Coordinates u, v run from -1 to 1 across the image.
 */
import { createGaussian, inEllipse, smoothNoise } from './noise';

const coord = (i: number, n: number): number => ((i + 0.5) / n) * 2 - 1;
const clamp = (v: number, lo: number, hi: number): number => (v < lo ? lo : v > hi ? hi : v);

/** Rib cross-sections around the thorax, as (u, v) centres. */
const RIBS: ReadonlyArray<readonly [number, number]> = [
  [-0.74, -0.1],
  [0.74, -0.1],
  [-0.68, -0.36],
  [0.68, -0.36],
  [-0.5, -0.55],
  [0.5, -0.55],
  [-0.7, 0.2],
  [0.7, 0.2],
  [-0.55, 0.43],
  [0.55, 0.43],
];

/** Hounsfield units of a thorax at height z in [-1, 1]; NaN outside the circular field of view. */
function thoraxHU(u: number, v: number, z: number, texture: number): number {
  if (u * u + v * v > 1) return NaN;
  const taper = 1 - 0.1 * z * z;
  if (v > 0.8 && v < 0.84 && u > -0.7 && u < 0.7) return 250; // patient table
  if (!inEllipse(u, v, 0, 0, 0.86 * taper, 0.66 * taper)) return -1000;
  if (!inEllipse(u, v, 0, 0, 0.8 * taper, 0.6 * taper)) return -100 + 10 * texture; // fat
  if (inEllipse(u, v, 0.3, -0.3, 0.015, 0.015)) return 2000; // surgical clip
  for (const [cu, cv] of RIBS) if (inEllipse(u, v, cu * taper, cv * taper, 0.045, 0.03)) return 900;
  if (inEllipse(u, v, 0, 0.45, 0.1, 0.09)) {
    return inEllipse(u, v, 0, 0.45, 0.07, 0.065) ? 280 + 30 * texture : 1200; // vertebra
  }
  if (inEllipse(u, v, 0.03, 0.25, 0.06, 0.06)) return 320 + 8 * texture; // contrast in aorta
  const lung = Math.sqrt(Math.max(0, 1 - 0.6 * z * z));
  for (const side of [-1, 1]) {
    if (inEllipse(u, v, side * 0.36, -0.02, 0.27 * lung, 0.4 * lung)) {
      if (texture > 0.55) return -40 + 20 * texture; // vessels
      return -850 + 40 * texture;
    }
  }
  if (z > -0.4 && z < 0.6 && inEllipse(u, v, 0.06, -0.05, 0.2, 0.18)) return 45 + 6 * texture; // heart
  return 40 + 12 * texture; // soft tissue
}

/**
 * One axial CT slice: signed 16-bit stored values = HU + 1024 (Rescale Intercept -1024), with
 * -2000 outside the field of view as scanners pad it.
 */
export function ctSlice(rows: number, columns: number, z: number, seed: number): Buffer {
  const texture = smoothNoise(columns, rows, 12, 12, seed);
  const gauss = createGaussian(seed ^ 0x5eed);
  const out = Buffer.alloc(rows * columns * 2);
  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < columns; x++) {
      const i = y * columns + x;
      const hu = thoraxHU(coord(x, columns), coord(y, rows), z, texture[i]);
      const stored = Number.isNaN(hu)
        ? -2000
        : Math.round(clamp(hu + 10 * gauss() + 1024, -1024, 32767));
      out.writeInt16LE(stored, i * 2);
    }
  }
  return out;
}

/** 5×7 glyphs of the burned-in-style marker drawn into the bits above High Bit. */
const GLYPHS = [
  '10001100011000101010001001',
  '11111100001111010000111110',
  '01110001000010000100011100',
  '10000100001000010000111110',
];

/**
 * A PA chest radiograph, MONOCHROME2, 12 stored bits; a "VEIL" marker in bits 12–15 (above
 * High Bit 11, as old overlays in pixel data were) that must survive a protect/reveal round trip.
 */
export function dxChest(rows: number, columns: number, seed: number): Buffer {
  const texture = smoothNoise(
    columns,
    rows,
    Math.max(4, columns >> 6),
    Math.max(4, rows >> 6),
    seed,
  );
  const gauss = createGaussian(seed ^ 0xd0);
  const out = Buffer.alloc(rows * columns * 2);
  for (let y = 0; y < rows; y++) {
    const v = coord(y, rows);
    for (let x = 0; x < columns; x++) {
      const u = coord(x, columns);
      const i = y * columns + x;
      let value = 180; // direct exposure
      if (inEllipse(u, v, 0, 0.15, 0.82, 1.05)) {
        value = 2100 + 250 * v; // soft tissue, thicker towards the abdomen
        const lungs =
          inEllipse(u, v, -0.36, -0.1, 0.3, 0.62) || inEllipse(u, v, 0.36, -0.1, 0.3, 0.62);
        if (lungs) value = 950 + 500 * texture[i] * texture[i] - 150 * v;
        if (inEllipse(u, v, 0.08, 0.18, 0.28, 0.3)) value = 2500; // heart
        if (u > -0.06 && u < 0.06) value = 2900 + 100 * v; // spine
        for (let k = 0; k < 8; k++) {
          const ring = (u * u) / 0.36 + ((v + 0.75 - k * 0.17) * (v + 0.75 - k * 0.17)) / 0.09;
          if (ring > 0.8 && ring < 1 && v < 0.45 && (u < -0.1 || u > 0.1)) value += 350; // ribs
        }
        if (v > -0.72 && v < -0.66 && u > -0.6 && u < 0.6) value += 500; // clavicles
      }
      out.writeUInt16LE(Math.round(clamp(value + 160 * texture[i] + 12 * gauss(), 0, 4095)), i * 2);
    }
  }
  markHighBits(out, rows, columns);
  return out;
}

/** Draws "VEIL" (scaled ×s) in bit 12 and a frame in bit 15, near the top-left corner. */
function markHighBits(pixels: Buffer, rows: number, columns: number): void {
  const s = Math.max(1, Math.floor(columns / 128));
  const x0 = 4 * s;
  const y0 = 4 * s;
  const width = (GLYPHS.length * 6 + 1) * s;
  const height = 9 * s;
  for (let y = 0; y < height && y0 + y < rows; y++) {
    for (let x = 0; x < width && x0 + x < columns; x++) {
      const offset = ((y0 + y) * columns + x0 + x) * 2;
      let bits = pixels.readUInt16LE(offset);
      if (y < s || y >= height - s || x < s || x >= width - s) bits |= 0x8000;
      const gx = Math.floor(x / s) - 1;
      const gy = Math.floor(y / s) - 1;
      const glyph = GLYPHS[Math.floor(gx / 6)];
      if (glyph && gx % 6 < 5 && gy >= 0 && gy < 5 && glyph[gy * 5 + (gx % 6)] === '1')
        bits |= 0x1000;
      pixels.writeUInt16LE(bits, offset);
    }
  }
}

const TAN_35 = 0.7002075382097097;

/**
 * Ultrasound B-mode sector with speckle and a colour Doppler vessel, 8-bit RGB, frame by frame;
 * colour-by-pixel (R G B R G B…) or, when `planar`, colour-by-plane per frame (PS3.3 C.7.6.3.1.3).
 */
export function usFrames(
  rows: number,
  columns: number,
  frames: number,
  seed: number,
  planar: boolean,
): Buffer {
  const frameSize = rows * columns * 3;
  const out = Buffer.alloc(frameSize * frames);
  const speckle = smoothNoise(columns, rows * 2, 3, 1, seed);
  const tissue = smoothNoise(
    columns,
    rows * 2,
    Math.max(2, columns >> 4),
    Math.max(2, rows >> 4),
    seed ^ 0x77,
  );
  const apexX = columns / 2;
  const apexY = rows * 0.03;
  const maxDepth = rows * 0.94;
  for (let f = 0; f < frames; f++) {
    const shift = (f * 2) % rows; // breathing: tissue slides along the beam
    const pulse = 0.55 + 0.45 * (1 - Math.abs((f % 8) - 4) / 4); // systole peaks mid-cycle
    for (let y = 0; y < rows; y++) {
      for (let x = 0; x < columns; x++) {
        const dx = x - apexX;
        const dy = y - apexY;
        const depth = Math.sqrt(dx * dx + dy * dy);
        let r = 0;
        let g = 0;
        let b = 0;
        if (dy > 0 && Math.abs(dx) <= dy * TAN_35 && depth > rows * 0.06 && depth < maxDepth) {
          const n = (y + shift) * columns + x;
          const u = coord(x, columns);
          const v = coord(y, rows);
          let echo = 95 + 45 * tissue[n] + (v > 0.1 && v < 0.16 ? 70 : 0); // fascia layer
          const cyst = inEllipse(u, v, -0.12, 0.45, 0.13, 0.09);
          if (cyst) echo = 6;
          else if (inEllipse(u, v, -0.12, 0.68, 0.12, 0.14)) echo += 35; // posterior enhancement
          const gain = 1.15 - (0.55 * depth) / maxDepth;
          const gray = clamp(Math.round(echo * gain * (1 + 0.45 * speckle[n])), 0, 255);
          r = g = b = gray;
          const vessel = Math.abs(v - 0.05 - 0.25 * u) < 0.045 && u > -0.35 && u < 0.35;
          if (vessel) {
            const flow = Math.round(
              clamp(150 + 100 * pulse * (1 - Math.abs(v - 0.05 - 0.25 * u) / 0.045), 0, 255),
            );
            if (u < 0.1)
              [r, g, b] = [flow, Math.round(flow * 0.2), 0]; // towards the probe
            else [r, g, b] = [0, Math.round(flow * 0.3), flow]; // away
          }
        } else if (x >= columns - 8 && x < columns - 4 && y >= rows * 0.2 && y < rows * 0.8) {
          r = g = b = Math.round((255 * (rows * 0.8 - 1 - y)) / (rows * 0.6 - 1)); // grey bar
        }
        const p = y * columns + x;
        const base = f * frameSize;
        if (planar) {
          out[base + p] = r;
          out[base + rows * columns + p] = g;
          out[base + 2 * rows * columns + p] = b;
        } else {
          out[base + p * 3] = r;
          out[base + p * 3 + 1] = g;
          out[base + p * 3 + 2] = b;
        }
      }
    }
  }
  return out;
}

const COS_18 = 0.9510565162951535;
const SIN_18 = 0.3090169943749474;

/** An 8-bit MONOCHROME2 head in the manner of the Shepp–Logan phantom, with a smooth bias field. */
export function headMono8(rows: number, columns: number, seed: number): Buffer {
  const texture = smoothNoise(columns, rows, 8, 8, seed);
  const gauss = createGaussian(seed ^ 0x88);
  const out = Buffer.alloc(rows * columns);
  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < columns; x++) {
      const u = coord(x, columns);
      const v = coord(y, rows);
      let value = 8;
      if (inEllipse(u, v, 0, 0, 0.69, 0.92)) value = 230; // skull
      if (inEllipse(u, v, 0, -0.0184, 0.6624, 0.874)) value = 120 + 10 * texture[y * columns + x]; // brain
      const ru = (u - 0.22) * COS_18 + v * SIN_18;
      const rv = -(u - 0.22) * SIN_18 + v * COS_18;
      const lu = (u + 0.22) * COS_18 - v * SIN_18;
      const lv = (u + 0.22) * SIN_18 + v * COS_18;
      if (inEllipse(ru, rv, 0, 0, 0.11, 0.31) || inEllipse(lu, lv, 0, 0, 0.16, 0.41)) value = 60; // ventricles
      if (inEllipse(u, v, 0, 0.35, 0.21, 0.25)) value += 25;
      if (inEllipse(u, v, 0, -0.1, 0.046, 0.046) || inEllipse(u, v, -0.08, -0.605, 0.046, 0.023))
        value = 175;
      const bias = 0.9 + 0.12 * (1 - u * u) - 0.05 * v;
      out[y * columns + x] = Math.round(clamp(value * bias + 3 * gauss(), 0, 255));
    }
  }
  return out;
}

/** A small 8-bit diagonal gradient, too small for the full stego payload. */
export function gradient8(rows: number, columns: number): Buffer {
  const out = Buffer.alloc(rows * columns);
  const span = Math.max(1, rows + columns - 2);
  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < columns; x++) out[y * columns + x] = Math.round((255 * (x + y)) / span);
  }
  return out;
}
