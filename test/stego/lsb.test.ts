import assert from 'node:assert/strict';
import {
  type SampleLayout,
  embedBits,
  extractBits,
  restoreBits,
  sampleLayout,
  selectPositions,
} from '../../src/stego';
import { assertVeil, bytesFor, bytesOf, changedSamples, targetBit } from './fixtures';

const key = bytesOf('lsb key', 32);

const geometries: Array<{ name: string; layout: SampleLayout }> = [
  {
    name: '1-bit',
    layout: sampleLayout({ bitsAllocated: 1, bitsStored: 1, highBit: 0, sampleCount: 1001 }),
  },
  {
    name: '8-bit',
    layout: sampleLayout({ bitsAllocated: 8, bitsStored: 8, highBit: 7, sampleCount: 777 }),
  },
  {
    name: '16-bit, 12 stored at High Bit 11',
    layout: sampleLayout({ bitsAllocated: 16, bitsStored: 12, highBit: 11, sampleCount: 600 }),
  },
  {
    name: '16-bit, 12 stored at High Bit 15 (lsbBit 4)',
    layout: sampleLayout({ bitsAllocated: 16, bitsStored: 12, highBit: 15, sampleCount: 600 }),
  },
  {
    name: '32-bit, 20 stored at High Bit 27 (lsbBit 8)',
    layout: sampleLayout({ bitsAllocated: 32, bitsStored: 20, highBit: 27, sampleCount: 300 }),
  },
  {
    name: '32-bit',
    layout: sampleLayout({ bitsAllocated: 32, bitsStored: 32, highBit: 31, sampleCount: 300 }),
  },
];

describe('stego/lsb', () => {
  for (const { name, layout } of geometries) {
    it(`embeds, extracts and restores bit for bit (${name})`, () => {
      // One trailing byte stands for the padding of odd-length Pixel Data: it must never change.
      const original = bytesOf(`pixels ${name}`, bytesFor(layout) + 1);
      const pixels = Buffer.from(original);
      const bitLength = 257;
      const bits = bytesOf(`bits ${name}`, Math.ceil(bitLength / 8));
      const before = extractBits(pixels, layout, key, bitLength);

      const { restoration, changed } = embedBits(pixels, layout, key, bits, bitLength);

      const extracted = extractBits(pixels, layout, key, bitLength);
      assert.deepEqual(extracted.subarray(0, 32), bits.subarray(0, 32));
      assert.equal(extracted[32], bits[32]! & 0x80, 'bit 257 and the zeroed tail');
      assert.deepEqual(restoration, before, 'the restoration record holds the displaced bits');
      assert.equal(changedSamples(layout, original, pixels), changed);
      assert.ok(changed > 0);
      assert.equal(
        pixels[pixels.length - 1],
        original[original.length - 1],
        'padding byte touched',
      );

      restoreBits(pixels, layout, key, restoration, bitLength);
      assert.deepEqual(pixels, original);
    });
  }

  it('writes the lowest stored bit at the byte and bit PS3.5 8.1.1 places it', () => {
    const layout = sampleLayout({
      bitsAllocated: 16,
      bitsStored: 12,
      highBit: 15,
      sampleCount: 50,
    });
    const pixels = new Uint8Array(100);
    const [first] = selectPositions(key, 1, 50);
    embedBits(pixels, layout, key, Buffer.from([0x80]), 1);
    // Sample `first` little endian: bit 4 is bit 4 of its low byte.
    const expected = new Uint8Array(100);
    expected[first! * 2] = 0x10;
    assert.deepEqual(pixels, expected);

    const bitmap = sampleLayout({ bitsAllocated: 1, bitsStored: 1, highBit: 0, sampleCount: 20 });
    const packed = new Uint8Array(3);
    const [one] = selectPositions(key, 1, 20);
    embedBits(packed, bitmap, key, Buffer.from([0x80]), 1);
    const expectedPacked = new Uint8Array(3);
    expectedPacked[Math.floor(one! / 8)] = 1 << (one! % 8);
    assert.deepEqual(packed, expectedPacked);
    assert.deepEqual(targetBit(bitmap, one!), {
      byte: Math.floor(one! / 8),
      mask: 1 << (one! % 8),
    });
  });

  it('leaves overlay bits above High Bit untouched', () => {
    const layout = sampleLayout({
      bitsAllocated: 16,
      bitsStored: 12,
      highBit: 11,
      sampleCount: 64,
    });
    // Every sample 0xF000 | value: overlay bits 12..15 set.
    const original = Buffer.alloc(128);
    for (let i = 0; i < 64; i++) original.writeUInt16LE(0xf000 | ((i * 37) % 4096), i * 2);
    const pixels = Buffer.from(original);
    const { restoration } = embedBits(pixels, layout, key, bytesOf('all', 8), 64);
    for (let i = 0; i < 64; i++) {
      assert.equal(pixels.readUInt16LE(i * 2) & 0xfffe, original.readUInt16LE(i * 2) & 0xfffe);
    }
    restoreBits(pixels, layout, key, restoration, 64);
    assert.deepEqual(pixels, original);
  });

  it('fills every sample of a tiny image and still restores it', () => {
    const layout = sampleLayout({ bitsAllocated: 8, bitsStored: 8, highBit: 7, sampleCount: 64 });
    const original = bytesOf('tiny', 64);
    const pixels = Buffer.from(original);
    const bits = bytesOf('tiny bits', 8);
    const { restoration } = embedBits(pixels, layout, key, bits, 64);
    assert.deepEqual(extractBits(pixels, layout, key, 64), bits);
    restoreBits(pixels, layout, key, restoration, 64);
    assert.deepEqual(pixels, original);
  });

  it('does nothing for zero bits', () => {
    const layout = sampleLayout({ bitsAllocated: 8, bitsStored: 8, highBit: 7, sampleCount: 4 });
    const pixels = Buffer.from([1, 2, 3, 4]);
    assert.deepEqual(embedBits(pixels, layout, key, Buffer.alloc(0), 0), {
      restoration: Buffer.alloc(0),
      changed: 0,
    });
    assert.deepEqual(pixels, Buffer.from([1, 2, 3, 4]));
  });

  it('rejects pixel data shorter than its samples', () => {
    const layout = sampleLayout({
      bitsAllocated: 16,
      bitsStored: 16,
      highBit: 15,
      sampleCount: 10,
    });
    assertVeil(
      () => embedBits(new Uint8Array(19), layout, key, Buffer.alloc(1), 8),
      'VEIL_E_DICOM_PIXELS_SHORT',
    );
    assertVeil(() => extractBits(new Uint8Array(19), layout, key, 8), 'VEIL_E_DICOM_PIXELS_SHORT');
    assertVeil(
      () => restoreBits(new Uint8Array(19), layout, key, Buffer.alloc(1), 8),
      'VEIL_E_DICOM_PIXELS_SHORT',
    );
    const bitmap = sampleLayout({ bitsAllocated: 1, bitsStored: 1, highBit: 0, sampleCount: 17 });
    assertVeil(() => extractBits(new Uint8Array(2), bitmap, key, 1), 'VEIL_E_DICOM_PIXELS_SHORT');
  });

  it('rejects more bits than samples', () => {
    const layout = sampleLayout({ bitsAllocated: 8, bitsStored: 8, highBit: 7, sampleCount: 8 });
    assertVeil(
      () => embedBits(new Uint8Array(8), layout, key, Buffer.alloc(2), 9),
      'VEIL_E_STEGO_CAPACITY',
    );
    assertVeil(() => extractBits(new Uint8Array(8), layout, key, 9), 'VEIL_E_STEGO_CAPACITY');
    assertVeil(
      () => embedBits(new Uint8Array(8), layout, key, Buffer.alloc(2), -1),
      'VEIL_E_STEGO_CAPACITY',
    );
  });

  it('rejects bit and restoration buffers shorter than the bit length', () => {
    const layout = sampleLayout({ bitsAllocated: 8, bitsStored: 8, highBit: 7, sampleCount: 64 });
    assertVeil(
      () => embedBits(new Uint8Array(64), layout, key, Buffer.alloc(1), 9),
      'VEIL_E_STEGO_PAYLOAD',
    );
    assertVeil(
      () => restoreBits(new Uint8Array(64), layout, key, Buffer.alloc(1), 9),
      'VEIL_E_STEGO_PAYLOAD',
    );
  });

  it('rejects an impossible layout', () => {
    const layout = { bitsAllocated: 8 as const, lsbBit: 9, sampleCount: 8 };
    assertVeil(() => extractBits(new Uint8Array(8), layout, key, 1), 'VEIL_E_DICOM_BAD_GEOMETRY');
  });
});
