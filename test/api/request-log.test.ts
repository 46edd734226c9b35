import assert from 'node:assert/strict';
import { loggablePath } from '../../src/api/request-log';

describe('api/request-log', () => {
  it('keeps route words, UIDs and frame numbers of a path', () => {
    const p = '/dicom-web/studies/1.2.840.10008.1/series/2.25.7/instances/1.3/frames/1';
    assert.equal(loggablePath(p), p);
    assert.equal(loggablePath('/admin/api/analysis'), '/admin/api/analysis');
  });

  it('masks segments that may carry patient data: IDs, numeric MRNs, names, accessions', () => {
    assert.equal(
      loggablePath('/dicom-web/studies/LEAK-7731-Q/series'),
      '/dicom-web/studies/*/series',
    );
    assert.equal(loggablePath('/dicom-web/studies/12345678'), '/dicom-web/studies/*');
    assert.equal(loggablePath('/dicom-web/studies/DOE%5EJANE'), '/dicom-web/studies/*');
    assert.equal(
      loggablePath('/dicom-web/studies/1.2/frames/1,2'),
      '/dicom-web/studies/1.2/frames/*',
    );
  });
});
