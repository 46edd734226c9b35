/** Deterministic test bytes and bit comparisons shared by the stego tests. */
import { createHash } from 'node:crypto';
import assert from 'node:assert/strict';
import { isVeilError, type ErrorCode } from '../../src/errors';
import type { SampleLayout } from '../../src/stego';

/** `length` pseudo-random bytes derived from `seed` (SHAKE-256), the same on every run. */
export function bytesOf(seed: string, length: number): Buffer {
  return createHash('shake256', { outputLength: length }).update(seed).digest();
}

/** Asserts that `fn` throws a VeilError with `code`. */
export function assertVeil(fn: () => unknown, code: ErrorCode): void {
  assert.throws(fn, (err: unknown) => isVeilError(err, code));
}

/** Byte index and mask of sample i's lowest stored bit, written out independently of src/stego. */
export function targetBit(layout: SampleLayout, i: number): { byte: number; mask: number } {
  if (layout.bitsAllocated === 1) return { byte: Math.floor(i / 8), mask: 1 << (i % 8) };
  const width = layout.bitsAllocated / 8;
  return { byte: i * width + (layout.lsbBit >> 3), mask: 1 << (layout.lsbBit & 7) };
}

/** Samples whose target bit differs; throws if any other bit or byte differs. */
export function changedSamples(
  layout: SampleLayout,
  before: Uint8Array,
  after: Uint8Array,
): number {
  assert.equal(after.length, before.length);
  const allowed = new Uint8Array(before.length);
  for (let i = 0; i < layout.sampleCount; i++) {
    const { byte, mask } = targetBit(layout, i);
    allowed[byte] = allowed[byte]! | mask;
  }
  let changed = 0;
  for (let b = 0; b < before.length; b++) {
    const diff = before[b]! ^ after[b]!;
    assert.equal(diff & ~allowed[b]!, 0, `byte ${b} changed outside the lowest stored bits`);
  }
  for (let i = 0; i < layout.sampleCount; i++) {
    const { byte, mask } = targetBit(layout, i);
    if (((before[byte]! ^ after[byte]!) & mask) !== 0) changed++;
  }
  return changed;
}

/** Bytes a layout's samples occupy, computed independently of src/stego. */
export function bytesFor(layout: SampleLayout): number {
  return layout.bitsAllocated === 1
    ? Math.ceil(layout.sampleCount / 8)
    : layout.sampleCount * (layout.bitsAllocated / 8);
}
