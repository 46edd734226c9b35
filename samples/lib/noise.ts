/**
 * Seeded, platform-independent randomness for the sample images. Only integer arithmetic and
 * IEEE basic operations (no Math.sin/exp/log, whose last bits may differ between engines), so
 * re-running the generator anywhere yields identical bytes.
 */

/** mulberry32: a small 32-bit generator, good enough for image noise; returns [0, 1). */
export function createRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Approximately normal noise (Irwin–Hall of 4 uniforms, rescaled to unit variance). */
export function createGaussian(seed: number): () => number {
  const random = createRandom(seed);
  const scale = 1.7320508075688772; // sqrt(12 / 4)
  return () => (random() + random() + random() + random() - 2) * scale;
}

/**
 * Smooth value noise in about [-1, 1]: random values on a coarse grid (cells of cellX × cellY
 * pixels), bilinearly interpolated, so neighbouring pixels are correlated like real tissue texture.
 */
export function smoothNoise(
  width: number,
  height: number,
  cellX: number,
  cellY: number,
  seed: number,
): Float64Array {
  const gauss = createGaussian(seed);
  const gw = Math.ceil(width / cellX) + 2;
  const gh = Math.ceil(height / cellY) + 2;
  const grid = new Float64Array(gw * gh);
  for (let i = 0; i < grid.length; i++) grid[i] = gauss() * 0.5;
  const out = new Float64Array(width * height);
  for (let y = 0; y < height; y++) {
    const gy = Math.floor(y / cellY);
    const fy = (y % cellY) / cellY;
    for (let x = 0; x < width; x++) {
      const gx = Math.floor(x / cellX);
      const fx = (x % cellX) / cellX;
      const a = grid[gy * gw + gx] * (1 - fx) + grid[gy * gw + gx + 1] * fx;
      const b = grid[(gy + 1) * gw + gx] * (1 - fx) + grid[(gy + 1) * gw + gx + 1] * fx;
      out[y * width + x] = a * (1 - fy) + b * fy;
    }
  }
  return out;
}

/** True when (u, v) lies inside the ellipse centred at (cx, cy) with semi-axes a, b. */
export function inEllipse(
  u: number,
  v: number,
  cx: number,
  cy: number,
  a: number,
  b: number,
): boolean {
  const du = (u - cx) / a;
  const dv = (v - cy) / b;
  return du * du + dv * dv <= 1;
}
