import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  type SampleLayout,
  type StegoPayload,
  embedBits,
  embedPayload,
  extractBits,
  extractPayload,
  restoreBits,
  restorePayloadBits,
  sampleLayout,
  selectPositions,
} from '../../src/stego';
import { bytesFor, changedSamples } from './fixtures';

/** Any geometry Veil accepts, with up to 5000 samples. */
const layouts: fc.Arbitrary<SampleLayout> = fc
  .record({
    bitsAllocated: fc.constantFrom(1 as const, 8 as const, 16 as const, 32 as const),
    sampleCount: fc.integer({ min: 1, max: 5000 }),
    storedSeed: fc.nat(),
    highSeed: fc.nat(),
  })
  .map(({ bitsAllocated, sampleCount, storedSeed, highSeed }) => {
    const bitsStored = 1 + (storedSeed % bitsAllocated);
    const highBit = bitsStored - 1 + (highSeed % (bitsAllocated - bitsStored + 1));
    return sampleLayout({ bitsAllocated, bitsStored, highBit, sampleCount });
  });

/** A layout with random pixel bytes for it, plus an odd padding byte now and then. */
const images = layouts.chain((layout) =>
  fc
    .tuple(
      fc.uint8Array({ minLength: bytesFor(layout), maxLength: bytesFor(layout) }),
      fc.boolean(),
    )
    .map(([bytes, pad]) => ({
      layout,
      original: Buffer.concat([bytes, Buffer.alloc(pad ? 1 : 0, 0xa5)]),
    })),
);

const keys = fc.record({
  positionKey: fc.uint8Array({ minLength: 1, maxLength: 64 }).map((b) => Buffer.from(b)),
  macKey: fc.uint8Array({ minLength: 1, maxLength: 64 }).map((b) => Buffer.from(b)),
});

const payloads: fc.Arbitrary<StegoPayload> = fc
  .record({
    kind: fc.constantFrom('full' as const, 'minimal' as const),
    entries: fc.array(
      fc.tuple(
        fc.stringMatching(/^[A-Za-z][A-Za-z0-9]{0,31}$/),
        fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
      ),
      { maxLength: 8 },
    ),
    digest: fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b)),
  })
  .map(({ kind, entries, digest }) => ({
    kind,
    fields: kind === 'full' ? new Map(entries) : new Map(),
    pixelDigest: digest,
  }));

describe('stego/properties', () => {
  it('embed, extract and restore of a payload is the identity on the pixels', () => {
    fc.assert(
      fc.property(
        images,
        keys,
        payloads,
        fc.constantFrom('minimal' as const, 'skip' as const),
        (image, k, payload, policy) => {
          const { layout, original } = image;
          const pixels = Buffer.from(original);
          const { restoration, report } = embedPayload(pixels, layout, k, payload, policy);
          assert.equal(report.capacityBits, layout.sampleCount);
          if (report.outcome === 'skipped') {
            assert.equal(restoration, undefined);
            assert.ok(report.reason !== undefined);
            assert.deepEqual(pixels, original);
            return;
          }
          assert.ok(report.bitsUsed <= layout.sampleCount);
          assert.equal(changedSamples(layout, original, pixels), report.samplesChanged);
          const extracted = extractPayload(pixels, layout, k);
          assert.equal(extracted.bitsUsed, report.bitsUsed);
          assert.equal(extracted.payload.kind, report.outcome);
          assert.deepEqual(extracted.payload.pixelDigest, payload.pixelDigest);
          assert.deepEqual(
            extracted.payload.fields,
            report.outcome === 'full' ? payload.fields : new Map(),
          );
          restorePayloadBits(pixels, layout, k.positionKey, restoration!, extracted.bitsUsed);
          assert.deepEqual(pixels, original);
        },
      ),
    );
  });

  it('embed, extract and restore of raw bits is the identity, up to capacity', () => {
    fc.assert(
      fc.property(
        images,
        keys,
        fc.nat(),
        fc.uint8Array({ minLength: 625, maxLength: 625 }),
        (image, k, lengthSeed, source) => {
          const { layout, original } = image;
          const bitLength = lengthSeed % (layout.sampleCount + 1);
          const bits = Buffer.from(source.subarray(0, Math.ceil(bitLength / 8)));
          const pixels = Buffer.from(original);
          const { restoration, changed } = embedBits(
            pixels,
            layout,
            k.positionKey,
            bits,
            bitLength,
          );
          assert.equal(changedSamples(layout, original, pixels), changed);
          const extracted = extractBits(pixels, layout, k.positionKey, bitLength);
          const tail = bitLength % 8;
          if (tail !== 0) bits[bits.length - 1] = bits[bits.length - 1]! & (0xff << (8 - tail));
          assert.deepEqual(extracted, bits);
          restoreBits(pixels, layout, k.positionKey, restoration, bitLength);
          assert.deepEqual(pixels, original);
        },
      ),
    );
  });

  it('positions are distinct, in range and prefix-stable', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 64 }),
        fc.integer({ min: 0, max: 5000 }),
        fc.nat(),
        fc.nat(),
        (key, sampleCount, a, b) => {
          const count = a % (sampleCount + 1);
          const shorter = b % (count + 1);
          const positions = selectPositions(Buffer.from(key), count, sampleCount);
          assert.equal(new Set(positions).size, count);
          assert.ok(positions.every((p) => Number.isInteger(p) && p >= 0 && p < sampleCount));
          assert.deepEqual(
            selectPositions(Buffer.from(key), shorter, sampleCount),
            positions.slice(0, shorter),
          );
        },
      ),
    );
  });
});
