import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { unpadPkcs1KeyTransport } from '../../src/crypto/rsa-pkcs1-unpad';

const K = 256;

/** EM = 00 || 02 || PS (non-zero) || 00 || key, RFC 8017 7.2.1 step 2. */
function encode(key: Buffer, k = K): Buffer {
  const em = Buffer.alloc(k);
  em[1] = 0x02;
  for (let i = 2; i < k - key.length - 1; i += 1) em[i] = 1 + (i % 255);
  key.copy(em, k - key.length);
  return em;
}

describe('crypto/rsa-pkcs1-unpad', () => {
  it('extracts a well-padded key of the expected length', () => {
    for (const length of [16, 24, 32]) {
      const key = randomBytes(length);
      assert.deepEqual(unpadPkcs1KeyTransport(encode(key), length), key);
    }
  });

  it('accepts the shortest padding string (8 octets)', () => {
    const key = randomBytes(32);
    assert.deepEqual(unpadPkcs1KeyTransport(encode(key, 32 + 11), 32), key);
  });

  const bad: [string, (em: Buffer) => void][] = [
    ['a non-zero first octet', (em) => void (em[0] = 0x01)],
    ['a block type other than 02', (em) => void (em[1] = 0x01)],
    ['no zero separator', (em) => void (em[K - 33] = 0xff)],
    ['a padding string shorter than 8 octets', (em) => void (em[5] = 0x00)],
    [
      'a key of another length',
      (em) => {
        em[K - 33] = 0xff; // move the separator three octets right: a 29-byte key
        em[K - 30] = 0x00;
      },
    ],
  ];
  for (const [what, damage] of bad) {
    it(`returns a random key of the right length for ${what} (implicit rejection)`, () => {
      const key = randomBytes(32);
      const em = encode(key);
      damage(em);
      const first = unpadPkcs1KeyTransport(em, 32);
      assert.equal(first.length, 32);
      assert.notDeepEqual(first, key.subarray(0));
      assert.notDeepEqual(first, em.subarray(K - 32));
      assert.notDeepEqual(unpadPkcs1KeyTransport(em, 32), first);
    });
  }
});
