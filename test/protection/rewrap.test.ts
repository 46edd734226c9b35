import assert from 'node:assert/strict';
import { type DataSet, Tags, parsePart10, textElement, writePart10 } from '../../src/dicom';
import { inspectEnvelopedData } from '../../src/crypto';
import { type ErrorCode, isVeilError } from '../../src/errors';
import { protect, reveal, rewrap } from '../../src/protection';
import { PrivateElement, findVeilBlock, veilTag } from '../../src/protection/private-block';
import { decodeRecord } from '../../src/protection/record';
import { assertSameInstance } from '../helpers/compare';
import { testKey } from '../helpers/keys';
import { protectOptions, revealOptions } from '../helpers/options';
import { syntheticInstance } from '../helpers/synthetic';

function rewrite(bytes: Buffer, edit: (ds: DataSet) => void): Buffer {
  const { meta, dataset } = parsePart10(bytes);
  edit(dataset);
  return Buffer.concat(writePart10(meta, dataset));
}

function expectCode(fn: () => unknown, code: ErrorCode): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isVeilError(err), `expected a VeilError, got ${String(err)}`);
    assert.equal(err.code, code);
    return true;
  });
}

function pixelsOf(bytes: Buffer): Buffer {
  return Buffer.from(parsePart10(bytes).dataset.get(Tags.PixelData)!.value!);
}

function recordOf(bytes: Buffer): ReturnType<typeof decodeRecord> {
  const ds = parsePart10(bytes).dataset;
  return decodeRecord(ds.get(veilTag(findVeilBlock(ds)!, PrivateElement.ProtectionRecord))!.value!);
}

describe('protection/rewrap', () => {
  let original: Buffer;
  let protectedBytes: Buffer;

  before(async () => {
    const old = await testKey('rotate-old');
    original = syntheticInstance({ rows: 32, columns: 32, patientName: 'ROTATE^ME' });
    protectedBytes = protect(original, protectOptions([old])).bytes;
  });

  it('re-wraps for a new key: reveal with only the new key gives the original bit for bit', async () => {
    const [old, fresh] = [await testKey('rotate-old'), await testKey('rotate-new')];
    const { bytes, report } = rewrap(protectedBytes, {
      privateKeys: [old.privateKey],
      recipients: [fresh.recipient],
    });
    assert.deepEqual(report.fromKeyIds, [old.recipient.keyId]);
    assert.deepEqual(report.toKeyIds, [fresh.recipient.keyId]);
    assertSameInstance(original, reveal(bytes, revealOptions([fresh])).bytes);
    assert.deepEqual(
      recordOf(bytes).recipients.map((r) => r.keyId),
      [fresh.recipient.keyId],
    );
  });

  it('leaves pixel ciphertext and GCM tags untouched', async () => {
    const [old, fresh] = [await testKey('rotate-old'), await testKey('rotate-new')];
    const { bytes } = rewrap(protectedBytes, {
      privateKeys: [old.privateKey],
      recipients: [fresh.recipient],
    });
    assert.ok(pixelsOf(bytes).equals(pixelsOf(protectedBytes)));
    assert.deepEqual(recordOf(bytes).pixelTags, recordOf(protectedBytes).pixelTags);
    assert.equal(recordOf(bytes).salt, recordOf(protectedBytes).salt);
    assert.notEqual(recordOf(bytes).mac, recordOf(protectedBytes).mac);
  });

  it('the removed old key no longer reveals it, pixels nor encrypted attributes', async () => {
    const [old, fresh] = [await testKey('rotate-old'), await testKey('rotate-new')];
    const { bytes } = rewrap(protectedBytes, {
      privateKeys: [old.privateKey],
      recipients: [fresh.recipient],
    });
    expectCode(() => reveal(bytes, revealOptions([old])), 'VEIL_E_KEY_NOT_FOUND');
    const ds = parsePart10(bytes).dataset;
    const items = ds.get(Tags.EncryptedAttributesSequence)!.items!;
    assert.equal(items.length, 1);
    const cms = inspectEnvelopedData(items[0]!.get(Tags.EncryptedContent)!.value!);
    assert.equal(cms.recipients.length, 1);
    assert.equal(cms.recipients[0]!.keyEncryptionAlgorithm, 'rsa-pkcs1v15');
  });

  it('keeps several recipients, and a rewrap of a rewrap still reveals', async () => {
    const [old, fresh, glass] = [
      await testKey('rotate-old'),
      await testKey('rotate-new'),
      await testKey('rotate-glass'),
    ];
    const both = rewrap(protectedBytes, {
      privateKeys: [old.privateKey],
      recipients: [fresh.recipient, glass.recipient],
      cmsKeyTransport: 'rsa-oaep',
    }).bytes;
    assertSameInstance(original, reveal(both, revealOptions([glass])).bytes);
    assertSameInstance(original, reveal(both, revealOptions([fresh])).bytes);
    const back = rewrap(both, { privateKeys: [glass.privateKey], recipients: [old.recipient] });
    assertSameInstance(original, reveal(back.bytes, revealOptions([old])).bytes);
    assert.ok(pixelsOf(back.bytes).equals(pixelsOf(protectedBytes)));
  });

  it('re-wraps objects without header confidentiality and without pixels', async () => {
    const [old, fresh] = [await testKey('rotate-old'), await testKey('rotate-new')];
    const plain = syntheticInstance({ rows: 8, columns: 8 });
    const clear = protect(
      plain,
      protectOptions([old], { headerConfidentiality: false, pseudonymKey: undefined }),
    ).bytes;
    const out = rewrap(clear, { privateKeys: [old.privateKey], recipients: [fresh.recipient] });
    assertSameInstance(plain, reveal(out.bytes, revealOptions([fresh])).bytes);
    const noPixels = rewrite(syntheticInstance({ rows: 8, columns: 8 }), (ds) =>
      ds.delete(Tags.PixelData),
    );
    const sealed = protect(noPixels, protectOptions([old])).bytes;
    const moved = rewrap(sealed, { privateKeys: [old.privateKey], recipients: [fresh.recipient] });
    assertSameInstance(noPixels, reveal(moved.bytes, revealOptions([fresh])).bytes);
  });

  it('uses and fills the key cache', async () => {
    const [old, fresh] = [await testKey('rotate-old'), await testKey('rotate-new')];
    const keyCache = new Map<string, Buffer>();
    rewrap(protectedBytes, {
      privateKeys: [old.privateKey],
      recipients: [fresh.recipient],
      keyCache,
    });
    assert.equal(keyCache.size >= 1, true);
    const again = rewrap(protectedBytes, {
      privateKeys: [old.privateKey],
      recipients: [fresh.recipient],
      keyCache,
    });
    assertSameInstance(original, reveal(again.bytes, revealOptions([fresh])).bytes);
  });

  it('refuses a tampered header: VEIL_E_REVEAL_HEADER_TAMPERED', async () => {
    const [old, fresh] = [await testKey('rotate-old'), await testKey('rotate-new')];
    const bad = rewrite(protectedBytes, (ds) => ds.set(textElement(Tags.Modality, 'CS', 'MR')));
    expectCode(
      () => rewrap(bad, { privateKeys: [old.privateKey], recipients: [fresh.recipient] }),
      'VEIL_E_REVEAL_HEADER_TAMPERED',
    );
  });

  it('refuses tampered pixels (and truncated ones) with the codes reveal gives', async () => {
    const [old, fresh] = [await testKey('rotate-old'), await testKey('rotate-new')];
    const options = { privateKeys: [old.privateKey], recipients: [fresh.recipient] };
    const flipped = rewrite(protectedBytes, (ds) => {
      const px = pixelsOf(protectedBytes);
      px[7] ^= 0x80;
      ds.set({ tag: Tags.PixelData, vr: 'OW', value: px });
    });
    expectCode(() => rewrap(flipped, options), 'VEIL_E_REVEAL_PIXELS_TAMPERED');
    const short = rewrite(protectedBytes, (ds) =>
      ds.set({ tag: Tags.PixelData, vr: 'OW', value: pixelsOf(protectedBytes).subarray(0, 64) }),
    );
    // The header digest binds the pixel length, so reveal and rewrap both see a header change.
    expectCode(() => reveal(short, revealOptions([old])), 'VEIL_E_REVEAL_HEADER_TAMPERED');
    expectCode(() => rewrap(short, options), 'VEIL_E_REVEAL_HEADER_TAMPERED');
  });

  it('refuses a record moved to another instance: VEIL_E_REVEAL_INSTANCE_MISMATCH', async () => {
    const [old, fresh] = [await testKey('rotate-old'), await testKey('rotate-new')];
    const bad = rewrite(protectedBytes, (ds) =>
      ds.set(textElement(Tags.SOPInstanceUID, 'UI', '2.25.1')),
    );
    expectCode(
      () => rewrap(bad, { privateKeys: [old.privateKey], recipients: [fresh.recipient] }),
      'VEIL_E_REVEAL_INSTANCE_MISMATCH',
    );
  });

  it('refuses without a held key, without recipients, and unprotected input', async () => {
    const [old, fresh] = [await testKey('rotate-old'), await testKey('rotate-new')];
    expectCode(
      () =>
        rewrap(protectedBytes, { privateKeys: [fresh.privateKey], recipients: [fresh.recipient] }),
      'VEIL_E_KEY_NOT_FOUND',
    );
    expectCode(
      () => rewrap(protectedBytes, { privateKeys: [old.privateKey], recipients: [] }),
      'VEIL_E_KEY_NOT_FOUND',
    );
    expectCode(
      () => rewrap(original, { privateKeys: [old.privateKey], recipients: [fresh.recipient] }),
      'VEIL_E_REVEAL_NOT_PROTECTED',
    );
  });
});
