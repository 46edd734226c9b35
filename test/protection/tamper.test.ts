import assert from 'node:assert/strict';
import { type DataSet, Tags, parsePart10, textElement, writePart10 } from '../../src/dicom';
import { decryptInPlace, encryptInPlace, unwrapDataKey } from '../../src/crypto';
import { type ErrorCode, isVeilError } from '../../src/errors';
import { protect, reveal } from '../../src/protection';
import { instanceKeys, pixelAad } from '../../src/protection/keys';
import { geometryKey } from '../../src/protection/pixel-plan';
import { PrivateElement, findVeilBlock, veilTag } from '../../src/protection/private-block';
import { decodeRecord, encodeRecord, type ProtectionRecord } from '../../src/protection/record';
import { ivOf } from '../../src/protection/protect';
import { readGeometry } from '../../src/dicom';
import { assertSameInstance } from '../helpers/compare';
import { testKey } from '../helpers/keys';
import { protectOptions, revealOptions } from '../helpers/options';
import { syntheticInstance } from '../helpers/synthetic';

function rewrite(bytes: Buffer, edit: (ds: DataSet) => void): Buffer {
  const { meta, dataset } = parsePart10(bytes);
  edit(dataset);
  return Buffer.concat(writePart10(meta, dataset));
}

function expectCode(fn: () => unknown, ...codes: ErrorCode[]): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isVeilError(err), `expected a VeilError, got ${String(err)}`);
    assert.ok(codes.includes(err.code), `expected ${codes.join('|')}, got ${err.code}`);
    return true;
  });
}

function recordOf(ds: DataSet): { tag: number; record: ProtectionRecord } {
  const tag = veilTag(findVeilBlock(ds)!, PrivateElement.ProtectionRecord);
  return { tag, record: decodeRecord(ds.get(tag)!.value!) };
}

describe('protection/reveal rejects tampering', () => {
  let original: Buffer;
  let other: Buffer;
  let protectedBytes: Buffer;
  let otherProtected: Buffer;

  before(async () => {
    const key = await testKey();
    original = syntheticInstance({ rows: 32, columns: 32 });
    other = syntheticInstance({ rows: 32, columns: 32 });
    protectedBytes = protect(original, protectOptions([key])).bytes;
    otherProtected = protect(other, protectOptions([key])).bytes;
  });

  it('still reveals an untouched object re-encoded by an archive', async () => {
    const key = await testKey();
    assertSameInstance(
      original,
      reveal(
        rewrite(protectedBytes, () => undefined),
        revealOptions([key]),
      ).bytes,
    );
  });

  it('refuses a flipped ciphertext byte: VEIL_E_REVEAL_PIXELS_TAMPERED', async () => {
    const key = await testKey();
    const bad = rewrite(protectedBytes, (ds) => {
      const px = Buffer.from(ds.get(Tags.PixelData)!.value!);
      px[100] ^= 0x01;
      ds.set({ tag: Tags.PixelData, vr: 'OW', value: px });
    });
    expectCode(() => reveal(bad, revealOptions([key])), 'VEIL_E_REVEAL_PIXELS_TAMPERED');
  });

  it('refuses an edited header element: VEIL_E_REVEAL_HEADER_TAMPERED', async () => {
    const key = await testKey();
    const bad = rewrite(protectedBytes, (ds) => ds.set(textElement(Tags.Modality, 'CS', 'MR')));
    expectCode(() => reveal(bad, revealOptions([key])), 'VEIL_E_REVEAL_HEADER_TAMPERED');
    const added = rewrite(protectedBytes, (ds) =>
      ds.set(textElement(0x00081030, 'LO', 'INJECTED')),
    );
    expectCode(() => reveal(added, revealOptions([key])), 'VEIL_E_REVEAL_HEADER_TAMPERED');
  });

  it('refuses pixel data moved from another instance: VEIL_E_REVEAL_PIXELS_TAMPERED', async () => {
    const key = await testKey();
    const foreign = parsePart10(otherProtected).dataset.get(Tags.PixelData)!;
    const bad = rewrite(protectedBytes, (ds) => ds.set(foreign));
    expectCode(() => reveal(bad, revealOptions([key])), 'VEIL_E_REVEAL_PIXELS_TAMPERED');
  });

  it('refuses a protection record moved from another instance: VEIL_E_REVEAL_INSTANCE_MISMATCH', async () => {
    const key = await testKey();
    const sop = parsePart10(protectedBytes).dataset.get(Tags.SOPInstanceUID)!;
    const bad = rewrite(otherProtected, (ds) => ds.set(sop));
    expectCode(() => reveal(bad, revealOptions([key])), 'VEIL_E_REVEAL_INSTANCE_MISMATCH');
  });

  it('refuses a wrong key (VEIL_E_KEY_NOT_FOUND) and a corrupted wrapped key (VEIL_E_KEY_UNWRAP)', async () => {
    const key = await testKey();
    const stranger = await testKey('stranger');
    expectCode(() => reveal(protectedBytes, revealOptions([stranger])), 'VEIL_E_KEY_NOT_FOUND');
    expectCode(() => reveal(protectedBytes, { privateKeys: [] }), 'VEIL_E_KEY_NOT_FOUND');
    const bad = rewrite(protectedBytes, (ds) => {
      const { tag, record } = recordOf(ds);
      const wrapped = Buffer.from(record.recipients[0]!.wrappedKey, 'base64');
      wrapped[10] ^= 0xff;
      record.recipients[0]!.wrappedKey = wrapped.toString('base64');
      ds.set(textElement(tag, 'UT', encodeRecord(record).toString('latin1')));
    });
    expectCode(() => reveal(bad, revealOptions([key])), 'VEIL_E_KEY_UNWRAP');
  });

  it('refuses truncated objects', async () => {
    const key = await testKey();
    for (const cut of [
      1,
      2,
      100,
      Math.floor(protectedBytes.length / 2),
      protectedBytes.length - 200,
    ]) {
      expectCode(
        () => reveal(protectedBytes.subarray(0, protectedBytes.length - cut), revealOptions([key])),
        'VEIL_E_DICOM_TRUNCATED',
        'VEIL_E_DICOM_MALFORMED',
        'VEIL_E_REVEAL_PIXELS_TAMPERED',
        'VEIL_E_REVEAL_HEADER_TAMPERED',
      );
    }
  });

  it('refuses a malformed or unknown record: VEIL_E_REVEAL_FORMAT', async () => {
    const key = await testKey();
    const bad = rewrite(protectedBytes, (ds) =>
      ds.set(textElement(recordOf(ds).tag, 'UT', '{"version":2}')),
    );
    expectCode(() => reveal(bad, revealOptions([key])), 'VEIL_E_REVEAL_FORMAT');
  });

  it('refuses objects that are not protected, and protecting twice', async () => {
    const key = await testKey();
    expectCode(() => reveal(original, revealOptions([key])), 'VEIL_E_REVEAL_NOT_PROTECTED');
    expectCode(
      () => protect(protectedBytes, protectOptions([key])),
      'VEIL_E_PROTECT_ALREADY_PROTECTED',
    );
  });

  it('catches pixels changed by someone holding the key: VEIL_E_REVEAL_STEGO_MISMATCH', async () => {
    const key = await testKey();
    // An insider decrypts, edits one pixel and re-encrypts with a valid tag: only the hidden
    // digest of the original pixels can tell.
    const bad = rewrite(protectedBytes, (ds) => {
      const { tag, record } = recordOf(ds);
      const dataKey = unwrapDataKey(
        Buffer.from(record.recipients[0]!.wrappedKey, 'base64'),
        key.privateKey,
      );
      const keys = instanceKeys(dataKey, Buffer.from(record.salt, 'base64'));
      const px = Buffer.from(ds.get(Tags.PixelData)!.value!);
      const aad = pixelAad(record.sopInstanceUID, geometryKey(readGeometry(ds)), px.length);
      assert.ok(
        decryptInPlace(keys.pixels, ivOf(0), aad, px, Buffer.from(record.pixelTags[0]!, 'base64')),
      );
      px[501] ^= 0x40;
      record.pixelTags = [encryptInPlace(keys.pixels, ivOf(0), aad, px).toString('base64')];
      ds.set({ tag: Tags.PixelData, vr: 'OW', value: px });
      ds.set(textElement(tag, 'UT', encodeRecord(record).toString('latin1')));
    });
    expectCode(() => reveal(bad, revealOptions([key])), 'VEIL_E_REVEAL_STEGO_MISMATCH');
  });
});
