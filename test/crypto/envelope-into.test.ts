import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { decryptInPlace, decryptInto, encryptInPlace, encryptInto } from '../../src/crypto';

describe('crypto/envelope encryptInto / decryptInto (source to target, one pass)', () => {
  const key = randomBytes(32);
  const iv = randomBytes(12);
  const aad = Buffer.from('aad');

  for (const size of [0, 1, 65535, 65536, 65537, 300001]) {
    it(`gives the same ciphertext and tag as in place, and round-trips (${size} bytes)`, () => {
      const plain = randomBytes(size);
      const source = Buffer.from(plain);
      const target = Buffer.alloc(size);
      const tag = encryptInto(key, iv, aad, source, target);
      assert.ok(source.equals(plain), 'source untouched');
      const inPlace = Buffer.from(plain);
      assert.ok(encryptInPlace(key, iv, aad, inPlace).equals(tag));
      assert.ok(inPlace.equals(target));
      const back = Buffer.alloc(size, 0xee);
      assert.equal(decryptInto(key, iv, aad, target, back, tag), true);
      assert.ok(back.equals(plain));
      assert.equal(decryptInPlace(key, iv, aad, inPlace, tag), true);
      assert.ok(inPlace.equals(plain));
    });
  }

  it('zero-fills the target and returns false when the tag does not verify', () => {
    const source = randomBytes(1000);
    const cipher = Buffer.alloc(1000);
    const tag = encryptInto(key, iv, aad, source, cipher);
    cipher[10] ^= 1;
    const target = Buffer.alloc(1000, 0xee);
    assert.equal(decryptInto(key, iv, aad, cipher, target, tag), false);
    assert.ok(target.every((b) => b === 0));
  });

  it('refuses a target of another length', () => {
    assert.throws(() => encryptInto(key, iv, aad, Buffer.alloc(10), Buffer.alloc(9)), RangeError);
  });
});
