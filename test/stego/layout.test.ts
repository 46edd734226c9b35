import assert from 'node:assert/strict';
import { checkLayout, pixelBytesOf, sampleLayout, storedBitsOf } from '../../src/stego';
import { assertVeil } from './fixtures';

describe('stego/layout', () => {
  it('puts the lowest stored bit at HighBit - BitsStored + 1', () => {
    const g = { bitsAllocated: 16 as const, bitsStored: 12, highBit: 15, sampleCount: 10 };
    assert.deepEqual(sampleLayout(g), {
      bitsAllocated: 16,
      lsbBit: 4,
      sampleCount: 10,
      bitsStored: 12,
    });
    assert.equal(sampleLayout({ ...g, highBit: 11 }).lsbBit, 0);
    assert.equal(
      sampleLayout({ bitsAllocated: 8, bitsStored: 8, highBit: 7, sampleCount: 1 }).lsbBit,
      0,
    );
    assert.equal(
      sampleLayout({ bitsAllocated: 32, bitsStored: 20, highBit: 27, sampleCount: 1 }).lsbBit,
      8,
    );
    assert.equal(
      sampleLayout({ bitsAllocated: 1, bitsStored: 1, highBit: 0, sampleCount: 9 }).lsbBit,
      0,
    );
  });

  it('accepts an empty image and sample counts beyond 2^32', () => {
    assert.equal(
      sampleLayout({ bitsAllocated: 8, bitsStored: 8, highBit: 7, sampleCount: 0 }).sampleCount,
      0,
    );
    const big = 2 ** 32 + 3;
    assert.equal(
      sampleLayout({ bitsAllocated: 1, bitsStored: 1, highBit: 0, sampleCount: big }).sampleCount,
      big,
    );
  });

  it('counts the bytes the samples occupy, packing 1-bit samples eight to a byte', () => {
    assert.equal(pixelBytesOf({ bitsAllocated: 1, lsbBit: 0, sampleCount: 9 }), 2);
    assert.equal(pixelBytesOf({ bitsAllocated: 8, lsbBit: 0, sampleCount: 9 }), 9);
    assert.equal(pixelBytesOf({ bitsAllocated: 16, lsbBit: 4, sampleCount: 9 }), 18);
    assert.equal(pixelBytesOf({ bitsAllocated: 32, lsbBit: 0, sampleCount: 9 }), 36);
  });

  it('defaults BitsStored of a hand-built layout to the bits from lsbBit to the top', () => {
    assert.equal(storedBitsOf({ bitsAllocated: 16, lsbBit: 4, sampleCount: 1 }), 12);
    assert.equal(
      storedBitsOf({ bitsAllocated: 16, lsbBit: 0, sampleCount: 1, bitsStored: 12 }),
      12,
    );
  });

  it('rejects Bits Allocated other than 1, 8, 16 or 32', () => {
    for (const bitsAllocated of [0, 12, 24, 64]) {
      assertVeil(
        () =>
          sampleLayout({
            bitsAllocated: bitsAllocated as 8,
            bitsStored: 8,
            highBit: 7,
            sampleCount: 1,
          }),
        'VEIL_E_DICOM_BAD_GEOMETRY',
      );
    }
  });

  it('rejects Bits Stored outside 1..Bits Allocated', () => {
    for (const bitsStored of [0, 17, 1.5, NaN]) {
      assertVeil(
        () => sampleLayout({ bitsAllocated: 16, bitsStored, highBit: 15, sampleCount: 1 }),
        'VEIL_E_DICOM_BAD_GEOMETRY',
      );
    }
  });

  it('rejects a High Bit below Bits Stored - 1 or outside the cell', () => {
    for (const highBit of [10, 16, -1, 12.5]) {
      assertVeil(
        () => sampleLayout({ bitsAllocated: 16, bitsStored: 12, highBit, sampleCount: 1 }),
        'VEIL_E_DICOM_BAD_GEOMETRY',
      );
    }
    assertVeil(
      () => sampleLayout({ bitsAllocated: 1, bitsStored: 1, highBit: 1, sampleCount: 1 }),
      'VEIL_E_DICOM_BAD_GEOMETRY',
    );
  });

  it('rejects negative, fractional and unsafe sample counts', () => {
    for (const sampleCount of [-1, 2.5, 2 ** 53, Infinity]) {
      assertVeil(
        () => sampleLayout({ bitsAllocated: 8, bitsStored: 8, highBit: 7, sampleCount }),
        'VEIL_E_DICOM_BAD_GEOMETRY',
      );
    }
  });

  it('rejects hand-built layouts whose bits do not fit the cell', () => {
    assertVeil(
      () => checkLayout({ bitsAllocated: 8, lsbBit: 8, sampleCount: 1 }),
      'VEIL_E_DICOM_BAD_GEOMETRY',
    );
    assertVeil(
      () => checkLayout({ bitsAllocated: 1, lsbBit: 1, sampleCount: 1 }),
      'VEIL_E_DICOM_BAD_GEOMETRY',
    );
    assertVeil(
      () => checkLayout({ bitsAllocated: 16, lsbBit: 4, sampleCount: 1, bitsStored: 13 }),
      'VEIL_E_DICOM_BAD_GEOMETRY',
    );
    assertVeil(
      () => checkLayout({ bitsAllocated: 16, lsbBit: 0, sampleCount: 1, bitsStored: 0 }),
      'VEIL_E_DICOM_BAD_GEOMETRY',
    );
  });
});
