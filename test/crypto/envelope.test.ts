import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { isVeilError } from '../../src/errors';
import {
  decryptInPlace,
  deriveSubkey,
  encryptInPlace,
  openBytes,
  randomDataKey,
  sealBytes,
  unwrapDataKey,
  wrapDataKey,
} from '../../src/crypto/envelope';
import { testKey } from './key-fixtures';

const CHUNK = 64 * 1024;
const key = randomDataKey();
const iv = randomBytes(12);
const aad = Buffer.from('1.2.3.4.5|512x512x16');

function allZero(data: Uint8Array): boolean {
  return data.every((byte) => byte === 0);
}

describe('crypto/envelope', () => {
  describe('data keys', () => {
    it('makes 32-byte random data keys', () => {
      const a = randomDataKey();
      assert.equal(a.length, 32);
      assert.notDeepEqual(a, randomDataKey());
    });

    it('wraps and unwraps a data key with RSA-OAEP SHA-256', async () => {
      const alice = await testKey('alice');
      const dataKey = randomDataKey();
      const wrapped = wrapDataKey(dataKey, alice.recipient);
      assert.equal(wrapped.length, 256);
      assert.notDeepEqual(wrapDataKey(dataKey, alice.recipient), wrapped, 'OAEP is randomised');
      assert.deepEqual(unwrapDataKey(wrapped, alice.privateKey), dataKey);
    });

    it('rejects unwrapping with the wrong key or a damaged blob with VEIL_E_KEY_UNWRAP', async () => {
      const [alice, bob] = await Promise.all([testKey('alice'), testKey('bob')]);
      const wrapped = wrapDataKey(randomDataKey(), alice.recipient);
      const unwrapError = (err: unknown) => {
        assert.ok(isVeilError(err, 'VEIL_E_KEY_UNWRAP'));
        assert.equal(err.details.keyId, bob.privateKey.keyId);
        return true;
      };
      assert.throws(() => unwrapDataKey(wrapped, bob.privateKey), unwrapError);
      const damaged = Buffer.from(wrapped);
      damaged[100] ^= 1;
      assert.throws(
        () => unwrapDataKey(damaged, alice.privateKey),
        (err) => isVeilError(err, 'VEIL_E_KEY_UNWRAP'),
      );
      assert.throws(
        () => unwrapDataKey(wrapped.subarray(1), alice.privateKey),
        (err) => isVeilError(err, 'VEIL_E_KEY_UNWRAP'),
      );
    });

    it('derives HKDF-SHA-256 subkeys (RFC 5869 test case 3) that differ by purpose', () => {
      assert.equal(
        deriveSubkey(Buffer.alloc(22, 0x0b), Buffer.alloc(0), '', 42).toString('hex'),
        '8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8',
      );
      const dataKey = randomDataKey();
      assert.equal(deriveSubkey(dataKey, Buffer.alloc(0), 'stego').length, 32);
      assert.notDeepEqual(
        deriveSubkey(dataKey, Buffer.alloc(0), 'stego'),
        deriveSubkey(dataKey, Buffer.alloc(0), 'hmac'),
      );
    });
  });

  describe('AES-256-GCM in place', () => {
    for (const size of [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 5 * 1024 * 1024 + 7]) {
      it(`round trips ${size} bytes in place`, () => {
        const original = randomBytes(size);
        const data = Buffer.from(original);
        const tag = encryptInPlace(key, iv, aad, data);
        assert.equal(tag.length, 16);
        if (size > 16) assert.notDeepEqual(data, original);
        assert.equal(decryptInPlace(key, iv, aad, data, tag), true);
        assert.deepEqual(data, original);
      });
    }

    it('gives the same ciphertext and tag whatever the chunk size', () => {
      const original = randomBytes(300_001);
      const whole = Buffer.from(original);
      const tag = encryptInPlace(key, iv, aad, whole, original.length);
      for (const chunk of [1, 15, 16, 4096, CHUNK]) {
        const data = Buffer.from(original);
        assert.deepEqual(encryptInPlace(key, iv, aad, data, chunk), tag);
        assert.deepEqual(data, whole);
        assert.equal(decryptInPlace(key, iv, aad, data, tag, chunk + 3), true);
        assert.deepEqual(data, original);
      }
    });

    it('works on a view into a larger buffer without touching its neighbours', () => {
      const backing = randomBytes(1000);
      const before = Buffer.from(backing);
      const view = new Uint8Array(backing.buffer, backing.byteOffset + 100, 500);
      const tag = encryptInPlace(key, iv, aad, view, 64);
      assert.deepEqual(backing.subarray(0, 100), before.subarray(0, 100));
      assert.deepEqual(backing.subarray(600), before.subarray(600));
      assert.equal(decryptInPlace(key, iv, aad, view, tag, 64), true);
      assert.deepEqual(backing, before);
    });

    const tamperings: [
      string,
      (c: { data: Buffer; tag: Buffer; iv: Buffer; aad: Buffer }) => void,
    ][] = [
      ['a flipped ciphertext byte', (c) => void (c.data[CHUNK + 5] ^= 0x01)],
      ['a wrong aad', (c) => void (c.aad = Buffer.from('1.2.3.4.6|512x512x16'))],
      ['a wrong iv', (c) => void (c.iv = randomBytes(12))],
      ['a wrong tag', (c) => void (c.tag[0] ^= 0x80)],
      ['a truncated tag', (c) => void (c.tag = c.tag.subarray(0, 12))],
      ['a short iv', (c) => void (c.iv = c.iv.subarray(0, 8))],
    ];
    for (const [what, tamper] of tamperings) {
      it(`returns false and zero-fills the data on ${what}`, () => {
        const data = randomBytes(3 * CHUNK);
        const tag = encryptInPlace(key, iv, aad, data);
        const c = { data, tag: Buffer.from(tag), iv: Buffer.from(iv), aad };
        tamper(c);
        assert.equal(decryptInPlace(key, c.iv, c.aad, c.data, c.tag), false);
        assert.ok(allZero(c.data));
      });
    }

    it('returns false for the wrong key', () => {
      const data = randomBytes(100);
      const tag = encryptInPlace(key, iv, aad, data);
      assert.equal(decryptInPlace(randomDataKey(), iv, aad, data, tag), false);
      assert.ok(allZero(data));
    });

    it('throws RangeError on misuse: key or iv of the wrong size, bad chunk size', () => {
      const data = Buffer.alloc(10);
      assert.throws(() => encryptInPlace(key.subarray(0, 16), iv, aad, data), RangeError);
      assert.throws(() => encryptInPlace(key, iv.subarray(0, 8), aad, data), RangeError);
      assert.throws(() => encryptInPlace(key, iv, aad, data, 0), RangeError);
      assert.throws(
        () => decryptInPlace(key.subarray(0, 16), iv, aad, data, Buffer.alloc(16)),
        RangeError,
      );
      assert.throws(() => decryptInPlace(key, iv, aad, data, Buffer.alloc(16), 1.5), RangeError);
    });
  });

  describe('sealed blobs', () => {
    it('seals and opens small blobs with a fresh iv each time', () => {
      const plaintext = Buffer.from('original low bits and digest');
      const sealed = sealBytes(key, aad, plaintext);
      assert.equal(sealed.length, 12 + plaintext.length + 16);
      assert.notDeepEqual(sealBytes(key, aad, plaintext), sealed);
      assert.deepEqual(openBytes(key, aad, sealed), plaintext);
      assert.deepEqual(openBytes(key, aad, sealBytes(key, aad, Buffer.alloc(0))), Buffer.alloc(0));
    });

    it('does not modify the plaintext it seals', () => {
      const plaintext = Buffer.from('keep me');
      sealBytes(key, aad, plaintext);
      assert.equal(plaintext.toString(), 'keep me');
    });

    it('returns undefined for tampered, truncated, wrong-key or wrong-aad blobs', () => {
      const sealed = sealBytes(key, aad, Buffer.from('secret'));
      for (let i = 0; i < sealed.length; i += 1) {
        const tampered = Buffer.from(sealed);
        tampered[i] ^= 0x01;
        assert.equal(openBytes(key, aad, tampered), undefined, `byte ${i}`);
      }
      assert.equal(openBytes(key, aad, sealed.subarray(0, sealed.length - 1)), undefined);
      assert.equal(openBytes(key, aad, sealed.subarray(0, 27)), undefined);
      assert.equal(openBytes(randomDataKey(), aad, sealed), undefined);
      assert.equal(openBytes(key, Buffer.from('other'), sealed), undefined);
    });
  });
});
