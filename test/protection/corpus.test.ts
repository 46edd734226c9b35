import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Tags, isEncapsulated, parsePart10 } from '../../src/dicom';
import { VeilError, isVeilError } from '../../src/errors';
import { protect, reveal } from '../../src/protection';
import { assertSameInstance } from '../helpers/compare';
import { testKey } from '../helpers/keys';
import { protectOptions, revealOptions } from '../helpers/options';
import { listCorpusFiles } from '../helpers/pydicom-corpus';
import { runTool, tempDir } from '../helpers/tools';

/** Broken files of the corpus and the code each must be refused with. */
const BROKEN: Record<string, string[]> = {
  'MR_truncated.dcm': ['VEIL_E_DICOM_PIXELS_SHORT', 'VEIL_E_DICOM_TRUNCATED'],
  'rtplan_truncated.dcm': ['VEIL_E_DICOM_TRUNCATED', 'VEIL_E_DICOM_MALFORMED'],
};

describe('protection on the python3-pydicom test corpus', () => {
  const files = listCorpusFiles().filter((f) => f.endsWith('.dcm'));
  const seen = { native: 0, encapsulated: 0, rle: 0, noPixels: 0, refused: 0 };
  let tmp: ReturnType<typeof tempDir>;
  before(() => {
    tmp = tempDir('veil-corpus-');
  });
  after(() => tmp.cleanup());

  it('finds the corpus (python3-pydicom installed)', () => {
    assert.ok(files.length > 40, `found ${files.length} corpus files`);
  });

  for (const file of files) {
    const name = path.basename(file);
    it(`handles ${name}`, async () => {
      const key = await testKey();
      const input = readFileSync(file);
      let parsed;
      try {
        parsed = parsePart10(input);
      } catch (err) {
        assert.ok(isVeilError(err), `parse of ${name} threw a non-VeilError: ${String(err)}`);
        assert.match(err.code, /^VEIL_E_DICOM_/);
        seen.refused++;
        return;
      }
      let result;
      try {
        result = protect(input, protectOptions([key]));
      } catch (err) {
        assert.ok(
          err instanceof VeilError,
          `protect of ${name} threw a non-VeilError: ${String(err)}`,
        );
        const allowed = BROKEN[name] ?? [
          'VEIL_E_DICOM_MISSING_ATTRIBUTE',
          'VEIL_E_DICOM_BAD_GEOMETRY',
          'VEIL_E_DICOM_PIXELS_SHORT',
        ];
        assert.ok(allowed.includes(err.code), `${name}: refused with ${err.code}: ${err.message}`);
        seen.refused++;
        return;
      }
      assert.ok(!(name in BROKEN), `${name} should have been refused`);
      const { bytes: revealed } = reveal(result.bytes, revealOptions([key]));
      // DCMTK reads both the protected and the revealed object.
      for (const [label, bytes] of [
        ['protected', result.bytes],
        ['revealed', revealed],
      ] as const) {
        const file = path.join(tmp.dir, `${label}-${name}`);
        writeFileSync(file, bytes);
        const dump = runTool('dcmdump', ['-q', file]);
        assert.equal(dump.status, 0, `dcmdump ${label} ${name}: ${dump.stderr}`);
        assert.doesNotMatch(dump.stdout + dump.stderr, /^E: /m);
      }
      const pixel = parsed.dataset.get(Tags.PixelData);
      if (result.report.pixelMode === 'decoded') {
        // RLE decoded on the way in: the header comes back, the pixels come back decoded.
        seen.rle++;
        const back = parsePart10(revealed);
        assert.equal(back.dataset.get(Tags.PixelData)!.fragments, undefined);
        assert.ok(back.dataset.get(Tags.PixelData)!.value!.length > 0);
        const again = reveal(
          protect(revealed, protectOptions([key])).bytes,
          revealOptions([key]),
        ).bytes;
        assertSameInstance(revealed, again);
      } else if (pixel?.fragments) {
        seen.encapsulated++;
        assert.ok(isEncapsulated(parsed.transferSyntaxUID));
        const prot = parsePart10(result.bytes).dataset.get(Tags.PixelData)!;
        assert.ok(
          prot
            .fragments!.slice(1)
            .every((f, i) => !f.equals(pixel.fragments![i + 1]!) || f.length < 2),
          'fragments encrypted',
        );
        assertSameInstance(input, revealed);
      } else {
        if (pixel) seen.native++;
        else seen.noPixels++;
        assertSameInstance(input, revealed);
      }
    });
  }

  it('rejects compressed pixels when the policy says reject', async () => {
    const key = await testKey();
    const jpeg = files.find((f) => path.basename(f) === 'JPEG2000.dcm');
    assert.ok(jpeg, 'JPEG2000.dcm in the corpus');
    assert.throws(
      () =>
        protect(readFileSync(jpeg), protectOptions([key], { compressed: { default: 'reject' } })),
      (err: unknown) => isVeilError(err, 'VEIL_E_POLICY_REJECTED'),
    );
    assert.throws(
      () =>
        protect(readFileSync(jpeg), protectOptions([key], { compressed: { default: 'decode' } })),
      (err: unknown) => isVeilError(err, 'VEIL_E_POLICY_REJECTED'),
    );
  });

  it('met every class of file: native, encapsulated, RLE', () => {
    // Runs after the per-file cases above (mocha keeps definition order).
    assert.ok(seen.native >= 15, `native files round-tripped: ${seen.native}`);
    assert.ok(seen.encapsulated >= 10, `encapsulated files round-tripped: ${seen.encapsulated}`);
    assert.ok(seen.rle >= 5, `RLE files decoded: ${seen.rle}`);
  });
});
