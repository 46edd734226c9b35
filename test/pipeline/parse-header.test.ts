import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  DataSet,
  Tags,
  parsePart10,
  sequenceElement,
  textElement,
  usElement,
} from '../../src/dicom';
import { isVeilError } from '../../src/errors';
import { syntheticInstance } from '../helpers/synthetic';

const CT = path.join(__dirname, '..', '..', 'samples', 'ct-slice.dcm');

describe('dicom/parse stopAtPixelData', () => {
  it('reads the header of a whole file without Pixel Data', () => {
    const bytes = readFileSync(CT);
    const full = parsePart10(bytes);
    const header = parsePart10(bytes, { stopAtPixelData: true });
    assert.equal(header.dataset.has(Tags.PixelData), false);
    assert.equal(
      header.dataset.string(Tags.SOPInstanceUID),
      full.dataset.string(Tags.SOPInstanceUID),
    );
    assert.equal(header.dataset.size, full.dataset.tags().filter((t) => t < Tags.PixelData).length);
  });

  it('accepts input cut anywhere after the start of Pixel Data', () => {
    const bytes = readFileSync(CT);
    const at = bytes.indexOf(Buffer.from([0xe0, 0x7f, 0x10, 0x00]));
    for (const end of [at, at + 4, at + 13, at + 1000]) {
      const header = parsePart10(bytes.subarray(0, end), { stopAtPixelData: true });
      assert.ok(header.dataset.string(Tags.SOPInstanceUID));
    }
  });

  it('skips Pixel Data nested in an icon sequence and tag bytes inside values', () => {
    const icon = new DataSet()
      .set(usElement(Tags.Rows, 2))
      .set({ tag: Tags.PixelData, vr: 'OB', value: Buffer.alloc(4) });
    const bytes = syntheticInstance({
      sopInstanceUID: '1.2.3.9',
      extra: (ds) => {
        ds.set(textElement(0x00081030, 'LO', 'x\u00e0\u007f\u0010\u0000y'));
        ds.set(sequenceElement(0x00880200, [icon]));
      },
    });
    const header = parsePart10(bytes, { stopAtPixelData: true });
    assert.equal(header.dataset.has(Tags.PixelData), false);
    assert.ok(header.dataset.has(0x00880200));
    assert.equal(header.dataset.string(Tags.SOPInstanceUID), '1.2.3.9');
  });

  it('still reports a header cut short as truncated', () => {
    const bytes = readFileSync(CT).subarray(0, 300);
    assert.throws(
      () => parsePart10(bytes, { stopAtPixelData: true }),
      (err) => isVeilError(err, 'VEIL_E_DICOM_TRUNCATED'),
    );
  });
});
