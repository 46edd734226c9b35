import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { type AnalysisResult, analyzeInstance } from '../../src/analysis/analyze-instance';
import { type AnalysisKeys, generateAnalysisKeys } from '../../src/analysis/keys';
import type { MetricRow } from '../../src/analysis/metric-rows';
import { protect } from '../../src/protection';
import { testKey } from '../helpers/keys';
import { protectOptions } from '../helpers/options';

const ROOT = path.join(__dirname, '..', '..');
const sample = (name: string) => readFileSync(path.join(ROOT, 'samples', name));
const CORPUS = '/usr/lib/python3/dist-packages/pydicom/data/test_files';

function row(r: AnalysisResult, id: string, cipher: MetricRow['cipher'], frame: number | null = 0) {
  const found = r.rows.find((x) => x.id === id && x.cipher === cipher && x.frame === frame);
  assert.ok(found, `row ${id} ${cipher} ${frame}`);
  return found;
}

describe('analysis/analyze-instance', function () {
  this.timeout(60000);
  let keys: AnalysisKeys;
  let mono8: AnalysisResult;

  before(async () => {
    keys = await generateAnalysisKeys(2048);
    mono8 = await analyzeInstance(sample('mono8.dcm'), { keys });
  });

  it('runs Veil through protect and reveal: bit-exact reveal, wrong keys refused', () => {
    assert.equal(row(mono8, 'decryption.exact', 'veil', null).value, true);
    assert.equal(row(mono8, 'key-sensitivity.wrong-key', 'veil', null).pass, true);
    assert.equal(
      row(mono8, 'key-sensitivity.wrong-private-key', 'veil', null).value,
      'VEIL_E_KEY_UNWRAP',
    );
    assert.equal(row(mono8, 'key-space.security-level', 'veil', null).value, 112);
    assert.equal(mono8.keys.veil.rsaBits, 2048);
  });

  it("gives Veil's ciphertext the numbers of a random image (far from chance boundaries)", () => {
    for (const id of ['differential.npcr', 'key-sensitivity.npcr']) {
      assert.ok((row(mono8, id, 'veil').value as number) > 99, id);
    }
    for (const id of ['differential.uaci', 'key-sensitivity.uaci']) {
      const v = row(mono8, id, 'veil').value as number;
      assert.ok(v > 32 && v < 35, id);
    }
    assert.ok((row(mono8, 'entropy.global', 'veil').value as number) > 7.99);
    assert.ok(Math.abs(row(mono8, 'correlation.horizontal', 'veil').value as number) < 0.05);
    assert.ok((row(mono8, 'correlation.horizontal', 'plain').value as number) > 0.9);
  });

  it("shows the paper's cipher failing: no diffusion, codebook, identical pixels, malleability", () => {
    const npcr = row(mono8, 'differential.npcr', 'textbook');
    assert.equal(npcr.pass, false);
    assert.ok((npcr.value as number) < 0.01);
    for (const id of [
      'attack.codebook',
      'attack.identical-pixels',
      'attack.malleability',
      'attack.codebook-2048',
    ]) {
      const r = row(mono8, id, 'textbook', null);
      assert.equal(r.value, true, id);
      assert.equal(r.pass, false, id);
    }
    assert.equal(row(mono8, 'decryption.exact', 'textbook', null).value, true);
    assert.equal(row(mono8, 'entropy.global', 'textbook').pass, false);
    assert.deepEqual(mono8.keys.textbook, {
      p: 11,
      q: 23,
      n: 253,
      e: 3,
      modulusBits: 2048,
      largeE: 65537,
    });
  });

  it('judges every judged row against Wu critical values for the depth and size', () => {
    const npcr = row(mono8, 'differential.npcr', 'veil');
    assert.equal(npcr.low!.toFixed(4), '99.5693'); // Wu et al. 2011, 256 x 256, 8 bits
    for (const r of mono8.rows) {
      assert.ok(r.pass === null || typeof r.pass === 'boolean');
      assert.ok(['plain', 'stego', 'veil', 'textbook'].includes(r.cipher));
    }
    const judged = mono8.rows.filter((r) => r.cipher === 'veil' && r.pass !== null).length;
    assert.equal(mono8.verdict.veil.pass + mono8.verdict.veil.fail, judged);
  });

  it('analyses the first frames of a multi-frame RGB image up to maxFrames', async () => {
    const r = await analyzeInstance(sample('us-rgb-planar.dcm'), {
      keys,
      maxFrames: 2,
      keepPlanes: true,
    });
    assert.deepEqual(r.framesAnalysed, [0, 1]);
    assert.equal(r.instance.frames, 8);
    assert.equal(r.planes!.length, 2);
    assert.equal(r.planes![1]!.original.channels, 3);
    assert.ok(r.rows.some((x) => x.frame === 1) && !r.rows.some((x) => x.frame === 2));
    assert.equal(row(r, 'decryption.exact', 'veil', null).value, true);
  });

  it('handles 16-bit signed CT (offset binary levels, 16-bit textbook modulus)', async () => {
    const r = await analyzeInstance(sample('ct-slice.dcm'), { keys, timingSample: 8 });
    assert.equal(r.instance.signed, true);
    assert.equal(r.keys.textbook.n, 65531);
    assert.equal(row(r, 'decryption.exact', 'veil', null).value, true);
    assert.ok((row(r, 'correlation.vertical', 'plain').value as number) > 0.9);
  });

  it('analyses a protected object after revealing it with the given keys', async () => {
    const key = await testKey();
    const protectedBytes = protect(sample('mono8.dcm'), protectOptions([key])).bytes;
    await assert.rejects(analyzeInstance(protectedBytes, { keys }), {
      code: 'VEIL_E_KEY_NOT_FOUND',
    });
    const r = await analyzeInstance(protectedBytes, { keys, privateKeys: [key.privateKey] });
    assert.equal(r.instance.revealedFromProtected, true);
    assert.equal(
      row(r, 'entropy.global', 'plain').value,
      row(mono8, 'entropy.global', 'plain').value,
    );
  });

  it('decodes RLE like protect does, and rejects what it cannot read', async () => {
    const rle = await analyzeInstance(readFileSync(path.join(CORPUS, 'MR_small_RLE.dcm')), {
      keys,
    });
    assert.equal(row(rle, 'decryption.exact', 'veil', null).value, true);
    await assert.rejects(
      analyzeInstance(readFileSync(path.join(CORPUS, 'JPEG2000.dcm')), { keys }),
      {
        code: 'VEIL_E_DICOM_TRANSFER_SYNTAX',
      },
    );
    await assert.rejects(
      analyzeInstance(Buffer.from('not dicom'), { keys }),
      (err: { code?: string }) => /^VEIL_E_DICOM_/.test(err.code ?? ''),
    );
  });
});
