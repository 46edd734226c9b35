import assert from 'node:assert/strict';
import { selectPositions } from '../../src/stego';
import { assertVeil, bytesOf } from './fixtures';

const key = bytesOf('positions key', 32);

function assertDistinctInRange(positions: number[], sampleCount: number): void {
  assert.equal(new Set(positions).size, positions.length, 'positions repeat');
  for (const p of positions) {
    assert.ok(Number.isInteger(p) && p >= 0 && p < sampleCount, `position ${p} out of range`);
  }
}

describe('stego/positions', () => {
  it('matches the format version 1 known answer (AES-256-CTR under HMAC(key), 48-bit draws)', () => {
    // Cross-checked with an independent Python + `openssl enc -aes-256-ctr` implementation.
    assert.deepEqual(
      selectPositions(Buffer.alloc(32, 7), 12, 1000),
      [566, 67, 978, 393, 483, 521, 232, 243, 813, 278, 186, 763],
    );
  });

  it('returns distinct positions in range', () => {
    for (const [count, sampleCount] of [
      [1, 1],
      [10, 11],
      [500, 512],
      [2000, 1_000_000],
    ] as const) {
      const positions = selectPositions(key, count, sampleCount);
      assert.equal(positions.length, count);
      assertDistinctInRange(positions, sampleCount);
    }
  });

  it('fills a tiny image to capacity with a permutation of all its samples', () => {
    const positions = selectPositions(key, 64, 64);
    assert.deepEqual(
      [...positions].sort((a, b) => a - b),
      Array.from({ length: 64 }, (_, i) => i),
    );
  });

  it('gives the same first n positions whatever total is asked for', () => {
    const long = selectPositions(key, 3000, 4096);
    for (const n of [0, 1, 32, 100, 2999]) {
      assert.deepEqual(selectPositions(key, n, 4096), long.slice(0, n));
    }
  });

  it('is deterministic for one key and differs between keys', () => {
    assert.deepEqual(
      selectPositions(key, 100, 10_000),
      selectPositions(Buffer.from(key), 100, 10_000),
    );
    const other = selectPositions(bytesOf('another key', 32), 100, 10_000);
    assert.notDeepEqual(other, selectPositions(key, 100, 10_000));
    // One flipped key bit moves (nearly) every position.
    const flipped = Buffer.from(key);
    flipped[0] = flipped[0]! ^ 1;
    const a = selectPositions(key, 100, 10_000);
    const b = selectPositions(flipped, 100, 10_000);
    assert.ok(a.filter((p, i) => p === b[i]).length < 5);
  });

  it('addresses sample counts beyond 2^32 with exact Number arithmetic', () => {
    const sampleCount = 2 ** 33 + 5;
    const positions = selectPositions(key, 1000, sampleCount);
    assertDistinctInRange(positions, sampleCount);
    assert.ok(
      positions.some((p) => p >= 2 ** 32),
      'no position above 2^32',
    );
  });

  it('spreads the first position evenly over the samples', () => {
    const buckets = new Array<number>(10).fill(0);
    for (let i = 0; i < 5000; i++) {
      const [p] = selectPositions(bytesOf(`key ${i}`, 32), 1, 10);
      buckets[p!]!++;
    }
    for (const n of buckets) assert.ok(n > 400 && n < 600, `bucket holds ${n} of 5000`);
  });

  it('returns nothing when asked for nothing', () => {
    assert.deepEqual(selectPositions(key, 0, 0), []);
  });

  it('rejects an empty key', () => {
    assertVeil(() => selectPositions(Buffer.alloc(0), 1, 10), 'VEIL_E_KEY_INVALID');
  });

  it('rejects more positions than samples, and negative or fractional counts', () => {
    assertVeil(() => selectPositions(key, 11, 10), 'VEIL_E_STEGO_CAPACITY');
    assertVeil(() => selectPositions(key, -1, 10), 'VEIL_E_STEGO_CAPACITY');
    assertVeil(() => selectPositions(key, 1.5, 10), 'VEIL_E_STEGO_CAPACITY');
  });

  it('rejects sample counts outside 0..2^48', () => {
    assertVeil(() => selectPositions(key, 0, -1), 'VEIL_E_DICOM_BAD_GEOMETRY');
    assertVeil(() => selectPositions(key, 0, 2 ** 48 + 1), 'VEIL_E_DICOM_BAD_GEOMETRY');
    assertVeil(() => selectPositions(key, 0, 0.5), 'VEIL_E_DICOM_BAD_GEOMETRY');
  });
});
