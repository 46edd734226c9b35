import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Tags, parsePart10 } from '../../src/dicom';
import { protect } from '../../src/protection';
import {
  decryptStegoPixels,
  encryptStegoPixels,
  pipelineStages,
} from '../../src/protection/stages';
import { testKey } from '../helpers/keys';
import { protectOptions } from '../helpers/options';

const SAMPLE = path.join(__dirname, '..', '..', 'samples', 'mono8.dcm');

describe('protection/stages', () => {
  it('recovers the stego-marked pixels and the ciphertext protect() wrote', async () => {
    const key = await testKey();
    const input = readFileSync(SAMPLE);
    const original = parsePart10(input).dataset.get(Tags.PixelData)!.value!;
    const { bytes, report } = protect(input, protectOptions([key]));
    const stages = pipelineStages(bytes, key.privateKey);
    assert.ok(stages.cipherPixels.equals(parsePart10(bytes).dataset.get(Tags.PixelData)!.value!));
    let changed = 0;
    for (let i = 0; i < original.length; i++) {
      const diff = original[i]! ^ stages.stegoPixels[i]!;
      assert.ok(diff === 0 || diff === 1, 'stego touches the lowest bit only');
      if (diff) changed++;
    }
    assert.equal(changed, report.stego.samplesChanged);
    const again = encryptStegoPixels(
      stages.stegoPixels,
      stages.dataKey,
      stages.record,
      stages.geometry,
    );
    assert.ok(again.equals(stages.cipherPixels), 'the same key, salt and AAD give the same bytes');
  });

  it('refuses a data key differing in one bit, and a key the object is not wrapped for', async () => {
    const key = await testKey();
    const { bytes } = protect(readFileSync(SAMPLE), protectOptions([key]));
    const s = pipelineStages(bytes, key.privateKey);
    const flipped = Buffer.from(s.dataKey);
    flipped[31] = flipped[31]! ^ 0x80;
    assert.equal(decryptStegoPixels(s.cipherPixels, flipped, s.record, s.geometry), undefined);
    const other = await testKey('other');
    assert.throws(() => pipelineStages(bytes, other.privateKey), { code: 'VEIL_E_KEY_NOT_FOUND' });
    assert.throws(() => pipelineStages(readFileSync(SAMPLE), key.privateKey), {
      code: 'VEIL_E_REVEAL_NOT_PROTECTED',
    });
  });
});
