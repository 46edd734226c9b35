import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { readPlane } from '../../src/analysis/plane';
import { runTextbook } from '../../src/analysis/textbook-run';
import {
  applyTable,
  largeDecrypt,
  largeEncrypt,
  largeRsaKey,
  modPow,
  smallRsaKey,
  smallRsaTable,
} from '../../src/crypto/research/textbook-rsa';
import { parsePart10, readGeometry, Tags } from '../../src/dicom';

const ROOT = path.join(__dirname, '..', '..');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? sourceFiles(full) : full.endsWith('.ts') ? [full] : [];
  });
}

function mono8Levels(): { levels: Uint16Array; bits: number } {
  const { dataset } = parsePart10(readFileSync(path.join(ROOT, 'samples', 'mono8.dcm')));
  const plane = readPlane(dataset.get(Tags.PixelData)!.value!, readGeometry(dataset), 0);
  return { levels: plane.levels, bits: plane.bits };
}

describe('crypto/research/textbook-rsa', () => {
  it('picks the largest n = p * q <= 2^bits with odd primes, and e, d inverse mod phi', () => {
    assert.deepEqual(smallRsaKey(8), { bits: 8, p: 11, q: 23, n: 253, e: 3, d: 147 });
    for (const bits of [4, 8, 12, 16]) {
      const k = smallRsaKey(bits);
      assert.ok(k.n <= 2 ** bits);
      assert.equal((k.e * k.d) % ((k.p - 1) * (k.q - 1)), 1);
    }
  });

  it('round trips every level, leaving levels >= n as they are (a permutation of 0..2^bits-1)', () => {
    const key = smallRsaKey(12);
    const encrypt = smallRsaTable(key, 'encrypt');
    const decrypt = smallRsaTable(key, 'decrypt');
    assert.equal(new Set(encrypt).size, 4096);
    for (let m = 0; m < 4096; m++) assert.equal(decrypt[encrypt[m]!], m);
    assert.equal(encrypt[4095], 4095); // 4095 >= n = 4087: not encryptable, kept
    assert.equal(encrypt[2], modPow(2, key.e, key.n));
    const levels = Uint16Array.from([0, 1, 2, 4095]);
    assert.deepEqual(applyTable(applyTable(levels, encrypt), decrypt), levels);
  });

  it('encrypts with a real 2048-bit modulus into 256-byte blocks, deterministically', async () => {
    const key = await largeRsaKey(2048);
    const c = largeEncrypt(key, 200n);
    assert.equal(c.length, 256);
    assert.ok(largeEncrypt(key, 200n).equals(c));
    assert.equal(largeDecrypt(key, c), 200n);
  });

  it('the public-key codebook attack recovers the whole image, and identical pixels and malleability show', async () => {
    const { levels, bits } = mono8Levels();
    const run = runTextbook(levels, bits, 100, await largeRsaKey(2048), 16);
    // The attacker's codebook, built from (n, e) only, inverts every ciphertext pixel.
    const codebook = new Map<number, number>();
    for (let m = 0; m < 2 ** bits; m++) {
      codebook.set(m < run.key.n ? modPow(m, run.key.e, run.key.n) : m, m);
    }
    const recovered = Uint16Array.from(run.cipher, (c) => codebook.get(c)!);
    assert.deepEqual(recovered, levels);
    assert.equal(run.attacks.codebookRecovered, levels.length);
    assert.equal(run.attacks.identicalPlainIdenticalCipher, true);
    assert.equal(run.attacks.distinctCipherLevels, run.attacks.distinctPlainLevels);
    assert.ok(run.attacks.malleableTried > 0);
    assert.equal(run.attacks.malleableSamples, run.attacks.malleableTried);
    assert.deepEqual(run.decrypted, levels);
    assert.equal(run.large.codebookRecovered, run.large.sampledPixels);
    assert.equal(run.large.decryptsExactly, true);
    assert.equal(run.large.malleable, true);
    assert.equal(run.large.cipherBytes, levels.length * 256);
    // One changed pixel changes one ciphertext pixel: no diffusion at all.
    let differ = 0;
    for (let i = 0; i < levels.length; i++)
      if (run.cipher[i] !== run.differentialCipher[i]) differ++;
    assert.equal(differ, 1);
  });

  it('rejects depths it cannot serve', () => {
    assert.throws(() => smallRsaKey(3), { code: 'VEIL_E_DICOM_BAD_GEOMETRY' });
    assert.throws(() => smallRsaKey(17), { code: 'VEIL_E_DICOM_BAD_GEOMETRY' });
  });

  it('is imported by nothing under src/ but src/analysis, and not re-exported by src/crypto', () => {
    const importers = sourceFiles(path.join(ROOT, 'src'))
      .filter((file) => /research\/textbook-rsa/.test(readFileSync(file, 'utf8')))
      .map((file) => path.relative(ROOT, file));
    assert.ok(importers.length > 0);
    for (const file of importers) assert.match(file, /^src\/analysis\//);
    const index = readFileSync(path.join(ROOT, 'src', 'crypto', 'index.ts'), 'utf8');
    assert.doesNotMatch(index, /research/);
  });
});
