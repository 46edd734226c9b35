/**
 * The source paper's cipher, run for real on the same stego-marked image: per-pixel textbook RSA
 * with a small modulus that fits the stored bits, the attacks that break it, and a real-size
 * (2048-bit) modulus timed on a sample of pixels and extrapolated to the image.
 */
import { performance } from 'node:perf_hooks';
import {
  type LargeRsaKey,
  type SmallRsaKey,
  applyTable,
  largeDecrypt,
  largeEncrypt,
  modPow,
  smallRsaKey,
  smallRsaTable,
} from '../crypto/research/textbook-rsa';
import { seededRandom } from './statistics';

/** Result of the paper's cipher on the analysed frames (levels concatenated frame after frame). */
export interface TextbookRun {
  key: SmallRsaKey;
  cipher: Uint16Array;
  /** Ciphertext of the same image with one sample changed by one level. */
  differentialCipher: Uint16Array;
  /** Ciphertext under a public exponent differing in one bit (the smallest valid flip). */
  keyFlipCipher: Uint16Array;
  keyFlipExponent: number;
  decrypted: Uint16Array;
  /** Decryption with a private exponent differing in one bit: it is NOT refused, just wrong. */
  wrongKeyDecrypted: Uint16Array;
  /** Samples >= n that the cipher leaves as they are. */
  unencryptable: number;
  encryptMs: number;
  attacks: TextbookAttacks;
  large: LargeTextbook;
}

/** The attacks, each run over every analysed sample. */
export interface TextbookAttacks {
  /** Samples the public-key codebook (all 2^bits levels encrypted with (n, e)) recovered. */
  codebookRecovered: number;
  codebookSamples: number;
  codebookMs: number;
  /** Every pair of equal plain samples has equal ciphertexts (the map is a function of the level). */
  identicalPlainIdenticalCipher: boolean;
  distinctPlainLevels: number;
  distinctCipherLevels: number;
  /** Samples with 2m < n whose ciphertext, multiplied by E(2) without any key, decrypts to 2m. */
  malleableSamples: number;
  malleableTried: number;
}

/** The real-size modulus: measured on a sample, extrapolated to the image. */
export interface LargeTextbook {
  modulusBits: number;
  sampledPixels: number;
  encryptMsPerPixel: number;
  decryptMsPerPixel: number;
  /** Extrapolated from the sample to every sample of the analysed frames. */
  encryptMsExtrapolated: number;
  decryptMsExtrapolated: number;
  /** Bytes of ciphertext for the analysed samples: one modulus-sized block each. */
  cipherBytes: number;
  decryptsExactly: boolean;
  /** Equal plaintexts gave equal 2048-bit ciphertexts (determinism survives the big modulus). */
  deterministic: boolean;
  /** c * E(2) mod N decrypted to 2m for every sampled pixel. */
  malleable: boolean;
  /** Sampled pixels the attacker recovered by encrypting candidate levels with the public key. */
  codebookRecovered: number;
  codebookEncryptions: number;
  /** Time for the whole 2^bits codebook, extrapolated from the per-pixel encryption time. */
  fullCodebookMsExtrapolated: number;
}

/** Runs the paper's cipher over `plain` (stego-marked levels of `bits` bits). */
export function runTextbook(
  plain: Uint16Array,
  bits: number,
  changedSample: number,
  large: LargeRsaKey,
  timingSample = 64,
): TextbookRun {
  const key = smallRsaKey(bits);
  const t = performance.now();
  const encrypt = smallRsaTable(key, 'encrypt');
  const cipher = applyTable(plain, encrypt);
  const encryptMs = performance.now() - t;
  const decrypted = applyTable(cipher, smallRsaTable(key, 'decrypt'));

  const changed = plain.slice();
  changed[changedSample] = changed[changedSample]! ^ 1;
  const differentialCipher = applyTable(changed, encrypt);

  const keyFlipExponent = flippedExponent(key);
  const keyFlipCipher = applyTable(plain, smallRsaTable({ ...key, e: keyFlipExponent }, 'encrypt'));
  const wrongD = key.d ^ 1;
  const wrongKeyDecrypted = applyTable(cipher, smallRsaTable({ ...key, d: wrongD }, 'decrypt'));

  let unencryptable = 0;
  for (let i = 0; i < plain.length; i++) if (plain[i]! >= key.n) unencryptable++;
  return {
    key,
    cipher,
    differentialCipher,
    keyFlipCipher,
    keyFlipExponent,
    decrypted,
    wrongKeyDecrypted,
    unencryptable,
    encryptMs,
    attacks: attacks(plain, cipher, key),
    large: runLarge(plain, bits, large, timingSample),
  };
}

/** The smallest one-bit change of e that is still a valid exponent (odd, coprime to phi). */
function flippedExponent(key: SmallRsaKey): number {
  const phi = (key.p - 1) * (key.q - 1);
  for (let bit = 1; bit < 31; bit++) {
    const e = key.e ^ (1 << bit);
    if (e > 1 && gcd(e, phi) === 1) return e;
  }
  return key.e ^ 1; // not reached for the moduli smallRsaKey picks
}

function attacks(plain: Uint16Array, cipher: Uint16Array, key: SmallRsaKey): TextbookAttacks {
  // Codebook from the public key alone: encrypt every level, invert the table, look up each pixel.
  const t = performance.now();
  const codebook = new Int32Array(2 ** key.bits).fill(-1);
  for (let m = 0; m < codebook.length; m++) {
    codebook[m < key.n ? modPow(m, key.e, key.n) : m] = m;
  }
  let recovered = 0;
  for (let i = 0; i < cipher.length; i++) if (codebook[cipher[i]!] === plain[i]) recovered++;
  const codebookMs = performance.now() - t;

  const seen = new Int32Array(2 ** key.bits).fill(-1);
  let identical = true;
  const cipherLevels = new Set<number>();
  for (let i = 0; i < plain.length; i++) {
    const m = plain[i]!;
    if (seen[m] === -1) seen[m] = cipher[i]!;
    else if (seen[m] !== cipher[i]) identical = false;
    cipherLevels.add(cipher[i]!);
  }
  let distinctPlain = 0;
  for (const s of seen) if (s !== -1) distinctPlain++;

  // Malleability: E(m) * E(2) = E(2m) mod n, so anyone can double every pixel without any key.
  const two = modPow(2, key.e, key.n);
  let tried = 0;
  let malleable = 0;
  for (let i = 0; i < plain.length; i++) {
    const m = plain[i]!;
    if (2 * m >= key.n) continue;
    tried++;
    if (modPow((cipher[i]! * two) % key.n, key.d, key.n) === 2 * m) malleable++;
  }
  return {
    codebookRecovered: recovered,
    codebookSamples: cipher.length,
    codebookMs,
    identicalPlainIdenticalCipher: identical,
    distinctPlainLevels: distinctPlain,
    distinctCipherLevels: cipherLevels.size,
    malleableSamples: malleable,
    malleableTried: tried,
  };
}

function runLarge(
  plain: Uint16Array,
  bits: number,
  key: LargeRsaKey,
  count: number,
): LargeTextbook {
  // Pixels at seeded random positions, so the sample sees the image, not one border column.
  const random = seededRandom(count);
  const sample = Array.from({ length: Math.min(count, plain.length) }, () =>
    BigInt(plain[Math.floor(random() * plain.length)]!),
  );
  let t = performance.now();
  const ciphers = sample.map((m) => largeEncrypt(key, m));
  const encryptMsPerPixel = (performance.now() - t) / sample.length;
  t = performance.now();
  const back = ciphers.map((c) => largeDecrypt(key, c));
  const decryptMsPerPixel = (performance.now() - t) / sample.length;

  const deterministic = largeEncrypt(key, sample[0]!).equals(ciphers[0]!);
  const e2 = BigInt('0x' + largeEncrypt(key, 2n).toString('hex'));
  const malleable = ciphers.every((c, i) => {
    const forged = (BigInt('0x' + c.toString('hex')) * e2) % key.n;
    return largeDecrypt(key, blockOf(forged, c.length)) === 2n * sample[i]!;
  });
  // The attacker encrypts candidate levels 0, 1, 2... with the public key until every sampled
  // ciphertext is matched: no private key, no factoring.
  const wanted = new Map(ciphers.map((c) => [c.toString('hex'), true]));
  let found = 0;
  let encryptions = 0;
  for (let m = 0; m < 2 ** bits && found < wanted.size; m++) {
    encryptions++;
    const hex = largeEncrypt(key, BigInt(m)).toString('hex');
    if (wanted.get(hex)) {
      wanted.set(hex, false);
      found++;
    }
  }
  const recovered = ciphers.filter((c) => wanted.get(c.toString('hex')) === false).length;
  const blockBytes = Math.ceil(key.modulusBits / 8);
  return {
    modulusBits: key.modulusBits,
    sampledPixels: sample.length,
    encryptMsPerPixel,
    decryptMsPerPixel,
    encryptMsExtrapolated: encryptMsPerPixel * plain.length,
    decryptMsExtrapolated: decryptMsPerPixel * plain.length,
    cipherBytes: blockBytes * plain.length,
    decryptsExactly: back.every((m, i) => m === sample[i]),
    deterministic,
    malleable,
    codebookRecovered: recovered,
    codebookEncryptions: encryptions,
    fullCodebookMsExtrapolated: encryptMsPerPixel * 2 ** bits,
  };
}

function blockOf(value: bigint, bytes: number): Buffer {
  return Buffer.from(value.toString(16).padStart(bytes * 2, '0'), 'hex');
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}
