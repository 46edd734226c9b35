import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { Tags, parsePart10 } from '../../src/dicom';
import { inspect, protect, reveal } from '../../src/protection';
import { assertSameInstance } from '../helpers/compare';
import { testKey } from '../helpers/keys';
import { protectOptions, revealOptions } from '../helpers/options';
import { syntheticInstance } from '../helpers/synthetic';

const SAMPLES = path.join(__dirname, '..', '..', 'samples');
const sampleFiles = readdirSync(SAMPLES).filter((f) => f.endsWith('.dcm'));

describe('protection/protect + reveal round trip', () => {
  it('has samples to work on', () => {
    assert.ok(sampleFiles.length >= 5, `samples/ has ${sampleFiles.length} .dcm files`);
  });

  for (const file of sampleFiles) {
    it(`restores ${file} bit for bit, header and pixels`, async () => {
      const key = await testKey();
      const original = readFileSync(path.join(SAMPLES, file));
      const before = Buffer.from(original);
      const { bytes: protectedBytes, report } = protect(original, protectOptions([key]));
      assert.ok(original.equals(before), 'protect left its input unchanged');
      assert.equal(report.header.profile, 'basic-retain-uids');
      // Every sample but the deliberately tiny one has room for the full payload.
      assert.equal(report.stego.outcome, file.startsWith('tiny') ? 'skipped' : 'full');

      const prot = parsePart10(protectedBytes);
      const orig = parsePart10(original);
      // The archived object keeps the UIDs and geometry, but not the identity or the pixels.
      for (const tag of [
        Tags.SOPInstanceUID,
        Tags.StudyInstanceUID,
        Tags.SeriesInstanceUID,
        Tags.Rows,
        Tags.Columns,
      ]) {
        assert.ok(
          prot.dataset.get(tag)?.value?.equals(orig.dataset.get(tag)!.value!),
          `tag ${tag.toString(16)} kept`,
        );
      }
      assert.equal(prot.dataset.string(Tags.PatientIdentityRemoved), 'YES');
      const name = orig.dataset.get(Tags.PatientName)!.value!.toString('latin1').trim();
      const id = orig.dataset.get(Tags.PatientID)!.value!.toString('latin1').trim();
      assert.equal(
        protectedBytes.indexOf(Buffer.from(name, 'latin1')),
        -1,
        'patient name absent from protected bytes',
      );
      assert.equal(
        protectedBytes.indexOf(Buffer.from(id, 'latin1')),
        -1,
        'patient ID absent from protected bytes',
      );
      const origPixels = orig.dataset.get(Tags.PixelData)!.value!;
      const protPixels = prot.dataset.get(Tags.PixelData)!.value!;
      assert.equal(protPixels.length, origPixels.length, 'pixel data length preserved');
      assert.ok(!protPixels.equals(origPixels), 'pixels are encrypted');

      const { bytes: revealed, report: rr } = reveal(protectedBytes, revealOptions([key]));
      assert.equal(rr.kind, 'veil');
      assert.equal(rr.stego.verified, report.stego.outcome !== 'skipped');
      assertSameInstance(original, revealed);
    });
  }

  it('keeps the header in clear but still encrypts pixels with header confidentiality off', async () => {
    const key = await testKey();
    const original = readFileSync(path.join(SAMPLES, sampleFiles[0]!));
    const { bytes } = protect(original, protectOptions([key], { headerConfidentiality: false }));
    const prot = parsePart10(bytes);
    const orig = parsePart10(original);
    assert.equal(prot.dataset.string(Tags.PatientName), orig.dataset.string(Tags.PatientName));
    assert.equal(prot.dataset.has(Tags.EncryptedAttributesSequence), false);
    assert.ok(
      !prot.dataset.get(Tags.PixelData)!.value!.equals(orig.dataset.get(Tags.PixelData)!.value!),
    );
    assertSameInstance(original, reveal(bytes, revealOptions([key])).bytes);
  });

  it('wraps the data key for every recipient, and either private key reveals', async () => {
    const archive = await testKey('archive');
    const breakGlass = await testKey('break-glass');
    const original = syntheticInstance();
    const { bytes, report } = protect(original, protectOptions([archive, breakGlass]));
    assert.deepEqual(report.keyIds, [archive.recipient.keyId, breakGlass.recipient.keyId]);
    assertSameInstance(original, reveal(bytes, revealOptions([archive])).bytes);
    assertSameInstance(original, reveal(bytes, revealOptions([breakGlass])).bytes);
  });

  it('shares one wrapped data key and one CMS content key across a series, unwrapping each once', async () => {
    const key = await testKey();
    const { wrapDataKey } = await import('../../src/crypto');
    const dataKey = Buffer.alloc(32, 9);
    const shared = {
      key: dataKey,
      recipients: [
        {
          keyId: key.recipient.keyId,
          wrappedKey: wrapDataKey(dataKey, key.recipient).toString('base64'),
        },
      ],
      cms: { contentKey: Buffer.alloc(32, 5), encryptedKeys: new Map<string, Buffer>() },
    };
    const options = protectOptions([key], { dataKeyFor: () => shared });
    const a = syntheticInstance();
    const b = syntheticInstance();
    const pa = protect(a, options).bytes;
    const pb = protect(b, options).bytes;
    assert.equal(shared.cms.encryptedKeys.size, 1, 'the CMS content key was wrapped once');
    const cache = new Map<string, Buffer>();
    assertSameInstance(a, reveal(pa, revealOptions([key], cache)).bytes);
    assert.equal(cache.size, 2, 'data key and CMS content key cached after the first reveal');
    assertSameInstance(b, reveal(pb, revealOptions([key], cache)).bytes);
    assert.equal(cache.size, 2, 'the second instance needed no new unwrap');
    assert.notDeepEqual(inspect(pa).record, undefined);
  });

  it('records a minimal payload or no stego for a tiny image, per policy', async () => {
    const key = await testKey();
    const tiny = syntheticInstance({ rows: 24, columns: 24, bitsAllocated: 8 });
    const minimal = protect(tiny, protectOptions([key]));
    assert.equal(minimal.report.stego.outcome, 'minimal');
    assertSameInstance(tiny, reveal(minimal.bytes, revealOptions([key])).bytes);
    const skipped = protect(
      tiny,
      protectOptions([key], {
        stego: { enabled: true, fields: ['PatientID'], whenTooSmall: 'skip' },
      }),
    );
    assert.equal(skipped.report.stego.outcome, 'skipped');
    assert.match(skipped.report.stego.reason ?? '', /capacity/);
    assertSameInstance(tiny, reveal(skipped.bytes, revealOptions([key])).bytes);
    const micro = syntheticInstance({ rows: 2, columns: 2, bitsAllocated: 8 });
    const none = protect(micro, protectOptions([key]));
    assert.equal(none.report.stego.outcome, 'skipped');
    assertSameInstance(micro, reveal(none.bytes, revealOptions([key])).bytes);
  });

  it('protects an instance without pixel data (header only)', async () => {
    const key = await testKey();
    const original = syntheticInstance({ extra: (ds) => ds.delete(Tags.PixelData) });
    const { bytes, report } = protect(original, protectOptions([key]));
    assert.equal(report.pixelMode, 'none');
    assertSameInstance(original, reveal(bytes, revealOptions([key])).bytes);
  });

  it('round-trips random geometries and pixels (property)', async () => {
    const key = await testKey();
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          rows: fc.integer({ min: 1, max: 40 }),
          columns: fc.integer({ min: 1, max: 40 }),
          frames: fc.integer({ min: 1, max: 3 }),
          samplesPerPixel: fc.constantFrom<1 | 3>(1, 3),
          planarConfiguration: fc.constantFrom<0 | 1>(0, 1),
          bits: fc.constantFrom(
            { bitsAllocated: 8 as const, bitsStored: 8, highBit: 7 },
            { bitsAllocated: 8 as const, bitsStored: 6, highBit: 5 },
            { bitsAllocated: 16 as const, bitsStored: 12, highBit: 11 },
            { bitsAllocated: 16 as const, bitsStored: 12, highBit: 15 },
            { bitsAllocated: 16 as const, bitsStored: 16, highBit: 15 },
            { bitsAllocated: 32 as const, bitsStored: 32, highBit: 31 },
            { bitsAllocated: 1 as const, bitsStored: 1, highBit: 0 },
          ),
          pixelRepresentation: fc.constantFrom<0 | 1>(0, 1),
          patientName: fc
            .string({ minLength: 1, maxLength: 30 })
            .map((s) => s.replace(/[^A-Za-z^ ]/g, 'X')),
          headerConfidentiality: fc.boolean(),
        }),
        async (g) => {
          const spp = g.bits.bitsAllocated === 1 ? 1 : g.samplesPerPixel;
          const original = syntheticInstance({ ...g, ...g.bits, samplesPerPixel: spp });
          const { bytes } = protect(
            original,
            protectOptions([key], { headerConfidentiality: g.headerConfidentiality }),
          );
          assertSameInstance(original, reveal(bytes, revealOptions([key])).bytes);
        },
      ),
      { numRuns: 40 },
    );
  });
});
