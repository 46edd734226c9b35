/**
 * RSAES-PKCS1-v1_5 decoding (RFC 8017 7.2.2) for key transport, done by us because Node 20
 * refuses PKCS#1 v1.5 privateDecrypt (CVE-2023-46809) and only RSA_NO_PADDING is left.
 */
import { randomBytes } from 'node:crypto';

/** 1 when a === b, else 0, without a data-dependent branch (a, b non-negative and below 2^31). */
function equalMask(a: number, b: number): number {
  return (((a ^ b) - 1) >>> 31) & 1;
}

/**
 * Extracts a key of exactly `keyLength` bytes from the encoded message EM = 00 || 02 || PS || 00 || K.
 * Bad padding yields a random key instead of an error (implicit rejection, as OpenSSL 3.2 and
 * RFC 5652 14 advise), so the caller's later failure cannot be told apart from a wrong key: no
 * Bleichenbacher oracle. Constant-time-ish: the scan never branches on the secret bytes.
 */
export function unpadPkcs1KeyTransport(em: Uint8Array, keyLength: number): Buffer {
  const k = em.length;
  const fallback = randomBytes(keyLength);
  let good = equalMask(em[0] ?? 1, 0x00) & equalMask(em[1] ?? 0, 0x02);
  let separator = 0;
  let searching = 1;
  for (let i = 2; i < k; i += 1) {
    const isZero = equalMask(em[i] as number, 0);
    const found = searching & isZero;
    separator = (separator & (found - 1)) | (i & -found); // select i when found
    searching &= 1 - isZero;
  }
  good &= 1 - searching; // a separator exists
  good &= ((9 - separator) >>> 31) & 1; // PS is at least 8 octets: separator index >= 10
  good &= equalMask(k - separator - 1, keyLength); // K has exactly the expected length
  const mask = -good & 0xff;
  const key = Buffer.alloc(keyLength);
  const start = k - keyLength;
  for (let j = 0; j < keyLength; j += 1) {
    const candidate = start + j >= 0 ? (em[start + j] as number) : 0;
    key[j] = (candidate & mask) | ((fallback[j] as number) & ~mask);
  }
  return key;
}
