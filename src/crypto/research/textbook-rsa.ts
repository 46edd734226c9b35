/**
 * RESEARCH ONLY: the source paper's per-pixel textbook RSA (c = m^e mod n, no padding), for
 * `veil analyze` to show what breaks it. Deterministic, malleable and invertible from the public
 * key alone; never re-exported from src/crypto and never reachable from protect or the gateway.
 */
import {
  type KeyObject,
  constants,
  generateKeyPair,
  privateDecrypt,
  publicEncrypt,
} from 'node:crypto';
import { promisify } from 'node:util';
import { VeilError } from '../../errors';

/** A small textbook RSA key whose modulus fits the pixel's stored bits (the paper's MATLAB form). */
export interface SmallRsaKey {
  /** Stored bits per pixel the key serves: n <= 2^bits. */
  bits: number;
  p: number;
  q: number;
  n: number;
  /** Public exponent: the smallest e >= 3 coprime to phi(n). */
  e: number;
  d: number;
}

/** Bits per pixel the small form supports: n needs two distinct odd primes, products stay < 2^53. */
export const SMALL_RSA_BITS = { min: 4, max: 16 } as const;

/**
 * The key with the largest modulus n = p*q <= 2^bits (p < q odd primes), so as few levels as
 * possible (those >= n) cannot be encrypted.
 */
export function smallRsaKey(bits: number): SmallRsaKey {
  if (!Number.isInteger(bits) || bits < SMALL_RSA_BITS.min || bits > SMALL_RSA_BITS.max) {
    throw new VeilError(
      'VEIL_E_DICOM_BAD_GEOMETRY',
      `Textbook RSA per pixel supports ${SMALL_RSA_BITS.min} to ${SMALL_RSA_BITS.max} stored bits, not ${String(bits)}.`,
    );
  }
  for (let n = 2 ** bits; n > 1; n--) {
    const p = smallestOddFactor(n);
    if (p === undefined) continue;
    const q = n / p;
    if (q === p || q % 2 === 0 || smallestOddFactor(q) !== undefined || !isPrime(q)) continue;
    const phi = (p - 1) * (q - 1);
    let e = 3;
    while (gcd(e, phi) !== 1) e += 2;
    return { bits, p, q, n, e, d: modInverse(e, phi) };
  }
  throw new RangeError('no modulus found'); // unreachable for bits >= 4 (15 = 3 * 5)
}

/** m^e mod n for n < 2^26, exact in doubles (products stay below 2^52). */
export function modPow(base: number, exponent: number, modulus: number): number {
  let result = 1 % modulus;
  let b = base % modulus;
  let e = exponent;
  while (e > 0) {
    if (e & 1) result = (result * b) % modulus;
    b = (b * b) % modulus;
    e = Math.floor(e / 2);
  }
  return result;
}

/**
 * The per-level map of the cipher: table[m] = m^e mod n for m < n. Levels m >= n cannot be
 * encrypted (RSA needs m < n): they are left as they are (c = m), which keeps the map a
 * permutation of 0..2^bits-1, so decryption is exact and every ciphertext fits the stored bits.
 */
export function smallRsaTable(key: SmallRsaKey, direction: 'encrypt' | 'decrypt'): Uint32Array {
  const exponent = direction === 'encrypt' ? key.e : key.d;
  const table = new Uint32Array(2 ** key.bits);
  for (let m = 0; m < table.length; m++) table[m] = m < key.n ? modPow(m, exponent, key.n) : m;
  return table;
}

/** Applies a per-level table to every sample (encrypt or decrypt pixel by pixel, as the paper does). */
export function applyTable(levels: Uint16Array, table: Uint32Array): Uint16Array {
  const out = new Uint16Array(levels.length);
  for (let i = 0; i < levels.length; i++) out[i] = table[levels[i]!]!;
  return out;
}

/** A real-size textbook RSA key (e = 65537), used without padding to show size and time. */
export interface LargeRsaKey {
  modulusBits: number;
  publicKey: KeyObject;
  privateKey: KeyObject;
  /** The modulus, for the malleability demonstration (c1 * c2 mod n). */
  n: bigint;
}

const generateKeyPairAsync = promisify(generateKeyPair);

/** Generates a fresh RSA key of `modulusBits` (default 2048) for textbook use. */
export async function largeRsaKey(modulusBits = 2048): Promise<LargeRsaKey> {
  const { publicKey, privateKey } = await generateKeyPairAsync('rsa', {
    modulusLength: modulusBits,
    publicExponent: 0x10001,
  });
  const jwk = publicKey.export({ format: 'jwk' });
  const n = BigInt('0x' + Buffer.from(jwk.n!, 'base64url').toString('hex'));
  return { modulusBits, publicKey, privateKey, n };
}

/** Textbook c = m^e mod n with a real modulus: one modulus-sized block (256 bytes for 2048 bits) per pixel. */
export function largeEncrypt(key: LargeRsaKey, m: bigint): Buffer {
  return publicEncrypt({ key: key.publicKey, padding: constants.RSA_NO_PADDING }, toBlock(key, m));
}

/** Textbook m = c^d mod n with a real modulus. */
export function largeDecrypt(key: LargeRsaKey, c: Buffer): bigint {
  const m = privateDecrypt({ key: key.privateKey, padding: constants.RSA_NO_PADDING }, c);
  return BigInt('0x' + (m.toString('hex') || '0'));
}

/** A big-endian block as long as the modulus (what RSA_NO_PADDING expects). */
export function toBlock(key: LargeRsaKey, value: bigint): Buffer {
  const bytes = Math.ceil(key.modulusBits / 8);
  const hex = value.toString(16).padStart(bytes * 2, '0');
  return Buffer.from(hex, 'hex');
}

function smallestOddFactor(n: number): number | undefined {
  if (n % 2 === 0) return undefined; // the paper's form uses odd primes: skip even moduli
  for (let f = 3; f * f <= n; f += 2) if (n % f === 0) return f;
  return undefined;
}

function isPrime(n: number): boolean {
  if (n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let f = 3; f * f <= n; f += 2) if (n % f === 0) return false;
  return true;
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

function modInverse(a: number, m: number): number {
  let [oldR, r] = [a, m];
  let [oldS, s] = [1, 0];
  while (r !== 0) {
    const q = Math.floor(oldR / r);
    [oldR, r] = [r, oldR - q * r];
    [oldS, s] = [s, oldS - q * s];
  }
  return ((oldS % m) + m) % m;
}
