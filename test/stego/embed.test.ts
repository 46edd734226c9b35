import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  type SampleLayout,
  type StegoPayload,
  embedPayload,
  encodePayload,
  extractBits,
  extractPayload,
  psnr,
  restorePayloadBits,
  sampleLayout,
  selectPositions,
} from '../../src/stego';
import { assertVeil, bytesFor, bytesOf, changedSamples, targetBit } from './fixtures';

const keys = { positionKey: bytesOf('position key', 32), macKey: bytesOf('mac key', 32) };

function image(
  name: string,
  layout: SampleLayout,
): { original: Buffer; pixels: Buffer; payload: StegoPayload } {
  const original = bytesOf(name, bytesFor(layout));
  return {
    original,
    pixels: Buffer.from(original),
    payload: {
      kind: 'full',
      fields: new Map([
        ['PatientID', Buffer.from('PAT-0042')],
        ['PatientName', Buffer.from('Doe^Jane')],
        ['PatientBirthDate', Buffer.from('19700101')],
        ['AccessionNumber', Buffer.from('ACC123')],
        ['StudyInstanceUID', Buffer.from('1.2.826.0.1.3680043.8.498.1')],
        ['SOPInstanceUID', Buffer.from('1.2.826.0.1.3680043.8.498.2')],
      ]),
      pixelDigest: createHash('sha256').update(original).digest(),
    },
  };
}

const mr = sampleLayout({ bitsAllocated: 16, bitsStored: 12, highBit: 11, sampleCount: 64 * 64 });
const fullBits = (p: StegoPayload): number => 32 + encodePayload(p, keys.macKey).length * 8;
const MINIMAL_BITS = 32 + 54 * 8;

describe('stego/embed', () => {
  it('embeds a full payload that extracts and verifies', () => {
    const { pixels, payload } = image('mr', mr);
    const { restoration, report } = embedPayload(pixels, mr, keys, payload, 'minimal');
    assert.ok(restoration !== undefined);
    assert.equal(report.outcome, 'full');
    assert.equal(report.reason, undefined);
    const extracted = extractPayload(pixels, mr, keys);
    assert.deepEqual(extracted.payload, payload);
    assert.equal(extracted.bitsUsed, report.bitsUsed);
  });

  it('restores the original pixels bit for bit', () => {
    const { original, pixels, payload } = image('mr restore', mr);
    const { restoration } = embedPayload(pixels, mr, keys, payload, 'skip');
    assert.notDeepEqual(pixels, original);
    const { bitsUsed } = extractPayload(pixels, mr, keys);
    restorePayloadBits(pixels, mr, keys.positionKey, restoration!, bitsUsed);
    assert.deepEqual(pixels, original);
  });

  it('restores at the positions extractPayload chose, the same as choosing them again', () => {
    const { original, pixels, payload } = image('mr positions', mr);
    const { restoration } = embedPayload(pixels, mr, keys, payload, 'skip');
    const stego = Buffer.from(pixels);
    const extracted = extractPayload(pixels, mr, keys);
    assert.deepEqual(
      extracted.positions,
      selectPositions(keys.positionKey, extracted.bitsUsed, mr.sampleCount),
    );
    restorePayloadBits(
      pixels,
      mr,
      keys.positionKey,
      restoration!,
      extracted.bitsUsed,
      extracted.positions,
    );
    assert.deepEqual(pixels, original);
    // Too few positions for the bits: refused, nothing touched.
    assertVeil(
      () =>
        restorePayloadBits(
          stego,
          mr,
          keys.positionKey,
          restoration!,
          extracted.bitsUsed,
          extracted.positions.slice(0, 10),
        ),
      'VEIL_E_STEGO_CAPACITY',
    );
    assert.notDeepEqual(stego, original);
  });

  it('reports capacity, bits used, samples changed and PSNR', () => {
    const { original, pixels, payload } = image('mr report', mr);
    const { report } = embedPayload(pixels, mr, keys, payload, 'minimal');
    assert.equal(report.capacityBits, 4096);
    assert.equal(report.bitsUsed, fullBits(payload));
    assert.equal(report.samplesChanged, changedSamples(mr, original, pixels));
    assert.equal(report.psnr, 10 * Math.log10((4095 * 4095 * 4096) / report.samplesChanged));
  });

  it('writes a 32-bit big-endian bit length before the payload', () => {
    const { pixels, payload } = image('mr prefix', mr);
    const { report } = embedPayload(pixels, mr, keys, payload, 'minimal');
    const prefix = extractBits(pixels, mr, keys.positionKey, 32).readUInt32BE(0);
    assert.equal(prefix, report.bitsUsed - 32);
    const bits = extractBits(pixels, mr, keys.positionKey, report.bitsUsed);
    assert.equal(bits.subarray(4, 8).toString('latin1'), 'VEIL');
  });

  it('falls back to the minimal payload when the full one does not fit and policy is minimal', () => {
    const layout = sampleLayout({ bitsAllocated: 8, bitsStored: 8, highBit: 7, sampleCount: 600 });
    const { original, pixels, payload } = image('small', layout);
    const { restoration, report } = embedPayload(pixels, layout, keys, payload, 'minimal');
    assert.equal(report.outcome, 'minimal');
    assert.equal(report.reason, `capacity 600 bits < full payload ${fullBits(payload)} bits`);
    assert.equal(report.bitsUsed, MINIMAL_BITS);
    const extracted = extractPayload(pixels, layout, keys);
    assert.deepEqual(extracted.payload, {
      kind: 'minimal',
      fields: new Map(),
      pixelDigest: payload.pixelDigest,
    });
    restorePayloadBits(pixels, layout, keys.positionKey, restoration!, extracted.bitsUsed);
    assert.deepEqual(pixels, original);
  });

  it('skips when the full payload does not fit and policy is skip', () => {
    const layout = sampleLayout({ bitsAllocated: 8, bitsStored: 8, highBit: 7, sampleCount: 600 });
    const { original, pixels, payload } = image('small skip', layout);
    const result = embedPayload(pixels, layout, keys, payload, 'skip');
    assert.equal(result.restoration, undefined);
    assert.deepEqual(result.report, {
      outcome: 'skipped',
      reason: `capacity 600 bits < full payload ${fullBits(payload)} bits`,
      capacityBits: 600,
      bitsUsed: 0,
      samplesChanged: 0,
      psnr: Infinity,
    });
    assert.deepEqual(pixels, original);
  });

  it('skips an 8x8 image under either policy, saying why', () => {
    const layout = sampleLayout({
      bitsAllocated: 16,
      bitsStored: 16,
      highBit: 15,
      sampleCount: 64,
    });
    for (const policy of ['minimal', 'skip'] as const) {
      const { original, pixels, payload } = image(`8x8 ${policy}`, layout);
      const { restoration, report } = embedPayload(pixels, layout, keys, payload, policy);
      assert.equal(restoration, undefined);
      assert.equal(report.outcome, 'skipped');
      const needed =
        policy === 'minimal'
          ? `minimal payload ${MINIMAL_BITS}`
          : `full payload ${fullBits(payload)}`;
      assert.equal(report.reason, `capacity 64 bits < ${needed} bits`);
      assert.deepEqual(pixels, original);
    }
  });

  it('uses every sample of an image exactly as large as the minimal payload', () => {
    const layout = sampleLayout({
      bitsAllocated: 8,
      bitsStored: 8,
      highBit: 7,
      sampleCount: MINIMAL_BITS,
    });
    const { original, pixels, payload } = image('exact', layout);
    const { restoration, report } = embedPayload(pixels, layout, keys, payload, 'minimal');
    assert.equal(report.outcome, 'minimal');
    assert.equal(report.bitsUsed, layout.sampleCount);
    const { bitsUsed } = extractPayload(pixels, layout, keys);
    restorePayloadBits(pixels, layout, keys.positionKey, restoration!, bitsUsed);
    assert.deepEqual(pixels, original);
  });

  it('embeds a payload asked for as minimal without a fallback reason', () => {
    const { pixels, payload } = image('asked minimal', mr);
    const minimal: StegoPayload = {
      kind: 'minimal',
      fields: new Map(),
      pixelDigest: payload.pixelDigest,
    };
    const { report } = embedPayload(pixels, mr, keys, minimal, 'skip');
    assert.equal(report.outcome, 'minimal');
    assert.equal(report.reason, undefined);
    assert.deepEqual(extractPayload(pixels, mr, keys).payload, minimal);
  });

  it('embeds in 1-bit and 32-bit images and in the stored LSB at High Bit 15', () => {
    for (const layout of [
      sampleLayout({ bitsAllocated: 1, bitsStored: 1, highBit: 0, sampleCount: 3001 }),
      sampleLayout({ bitsAllocated: 32, bitsStored: 32, highBit: 31, sampleCount: 3000 }),
      sampleLayout({ bitsAllocated: 16, bitsStored: 12, highBit: 15, sampleCount: 3000 }),
    ]) {
      const { original, pixels, payload } = image(`bits ${layout.bitsAllocated}`, layout);
      const { restoration, report } = embedPayload(pixels, layout, keys, payload, 'skip');
      assert.equal(report.outcome, 'full');
      assert.equal(changedSamples(layout, original, pixels), report.samplesChanged);
      assert.deepEqual(extractPayload(pixels, layout, keys).payload, payload);
      restorePayloadBits(pixels, layout, keys.positionKey, restoration!, report.bitsUsed);
      assert.deepEqual(pixels, original);
    }
  });

  it('rejects extraction with a wrong position key', () => {
    const { pixels, payload } = image('wrong position key', mr);
    embedPayload(pixels, mr, keys, payload, 'minimal');
    assertVeil(
      () => extractPayload(pixels, mr, { ...keys, positionKey: bytesOf('other', 32) }),
      'VEIL_E_STEGO_PAYLOAD',
    );
  });

  it('rejects extraction with a wrong MAC key', () => {
    const { pixels, payload } = image('wrong mac key', mr);
    embedPayload(pixels, mr, keys, payload, 'minimal');
    assertVeil(
      () => extractPayload(pixels, mr, { ...keys, macKey: bytesOf('other', 32) }),
      'VEIL_E_STEGO_PAYLOAD',
    );
  });

  it('rejects a payload with one flipped bit in the pixels', () => {
    const { pixels, payload } = image('flipped', mr);
    const { report } = embedPayload(pixels, mr, keys, payload, 'minimal');
    const positions = selectPositions(keys.positionKey, report.bitsUsed, mr.sampleCount);
    for (const k of [40, 100, report.bitsUsed - 1]) {
      const altered = Buffer.from(pixels);
      const { byte, mask } = targetBit(mr, positions[k]!);
      altered[byte] = altered[byte]! ^ mask;
      assertVeil(() => extractPayload(altered, mr, keys), 'VEIL_E_STEGO_PAYLOAD');
    }
  });

  it('rejects a length prefix that is not a whole payload', () => {
    const { pixels, payload } = image('prefix', mr);
    embedPayload(pixels, mr, keys, payload, 'minimal');
    const positions = selectPositions(keys.positionKey, 32, mr.sampleCount);
    // Bit 31 of the prefix is its least significant: the length stops being whole bytes.
    // Bit 1 makes it 2^30 + n bits: beyond the image.
    for (const k of [31, 1]) {
      const altered = Buffer.from(pixels);
      const { byte, mask } = targetBit(mr, positions[k]!);
      altered[byte] = altered[byte]! ^ mask;
      assertVeil(() => extractPayload(altered, mr, keys), 'VEIL_E_STEGO_PAYLOAD');
    }
  });

  it('rejects an image that carries no payload', () => {
    const { pixels } = image('clean', mr);
    assertVeil(() => extractPayload(pixels, mr, keys), 'VEIL_E_STEGO_PAYLOAD');
    assertVeil(() => extractPayload(Buffer.alloc(8192), mr, keys), 'VEIL_E_STEGO_PAYLOAD');
  });

  it('rejects extraction from an image too small for any payload', () => {
    const layout = sampleLayout({
      bitsAllocated: 8,
      bitsStored: 8,
      highBit: 7,
      sampleCount: MINIMAL_BITS - 1,
    });
    assertVeil(
      () => extractPayload(Buffer.alloc(MINIMAL_BITS), layout, keys),
      'VEIL_E_STEGO_PAYLOAD',
    );
  });

  it('rejects pixel data shorter than its geometry', () => {
    const { payload } = image('short', mr);
    assertVeil(
      () => embedPayload(Buffer.alloc(100), mr, keys, payload, 'minimal'),
      'VEIL_E_DICOM_PIXELS_SHORT',
    );
  });
});

describe('stego/embed psnr', () => {
  const eight = sampleLayout({ bitsAllocated: 8, bitsStored: 8, highBit: 7, sampleCount: 100 });

  it('gives 10*log10(255^2*100) dB for one changed sample of 100 at 8 bits', () => {
    assert.equal(psnr(eight, 8, 1), 10 * Math.log10(255 ** 2 * 100));
    assert.ok(Math.abs(psnr(eight, 8, 1) - 68.1308) < 1e-4);
  });

  it('uses BitsStored for MAX, not BitsAllocated', () => {
    const twelve = sampleLayout({
      bitsAllocated: 16,
      bitsStored: 12,
      highBit: 11,
      sampleCount: 1000,
    });
    assert.equal(psnr(twelve, 12, 10), 10 * Math.log10((4095 ** 2 * 1000) / 10));
  });

  it('is Infinity when nothing changed', () => {
    assert.equal(psnr(eight, 8, 0), Infinity);
  });

  it('rejects BitsStored outside 1..32', () => {
    assertVeil(() => psnr(eight, 0, 1), 'VEIL_E_DICOM_BAD_GEOMETRY');
    assertVeil(() => psnr(eight, 33, 1), 'VEIL_E_DICOM_BAD_GEOMETRY');
  });
});
