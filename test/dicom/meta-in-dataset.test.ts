import assert from 'node:assert/strict';
import { Tags, diffDataSets, parsePart10, textElement, writePart10 } from '../../src/dicom';
import { syntheticInstance } from '../helpers/synthetic';

describe('dicom/parse group 0002 outside the File Meta', () => {
  it('moves a group 0002 element found among the data set into the meta, so parse-write-parse is stable', () => {
    const { meta, dataset } = parsePart10(syntheticInstance());
    // A meta cut short by a damaged element leaves group 0002 elements in the data set (found by fuzzing).
    meta.delete(Tags.ImplementationVersionName);
    dataset.set(textElement(Tags.ImplementationVersionName, 'SH', 'STRAY'));
    const once = parsePart10(Buffer.concat(writePart10(meta, dataset)));
    assert.equal(once.dataset.has(Tags.ImplementationVersionName), false);
    assert.equal(once.meta.string(Tags.ImplementationVersionName), 'STRAY');
    const twice = parsePart10(Buffer.concat(writePart10(once.meta, once.dataset)));
    assert.deepEqual(diffDataSets(once.dataset, twice.dataset), []);
    // (0002,0000) is recomputed by the writer on every write.
    const ignore = (tag: number) => tag === Tags.FileMetaInformationGroupLength;
    assert.deepEqual(diffDataSets(once.meta, twice.meta, { ignore }), []);
  });
});
