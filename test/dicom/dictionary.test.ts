import assert from 'node:assert/strict';
import {
  TransferSyntax,
  isEncapsulated,
  isKnownTransferSyntax,
  keywordOf,
  tagOfKeyword,
  transferSyntaxName,
  vrOf,
} from '../../src/dicom';

describe('dicom/dictionary', () => {
  it('gives dictionary VRs of public tags', () => {
    assert.equal(vrOf(0x00100010), 'PN');
    assert.equal(vrOf(0x00280010), 'US');
    assert.equal(vrOf(0x00081115), 'SQ');
    assert.equal(vrOf(0x00020010), 'UI');
  });

  it('resolves ambiguous dictionary VRs to their first choice', () => {
    assert.equal(vrOf(0x7fe00010), 'OW', 'OB or OW');
    assert.equal(vrOf(0x00280106), 'US', 'US or SS');
    assert.equal(vrOf(0x60003000), 'OW', 'repeating group overlay data');
  });

  it('applies the rules for group lengths, private creators and unknown tags', () => {
    assert.equal(vrOf(0x00080000), 'UL');
    assert.equal(vrOf(0x00190000), 'UL');
    assert.equal(vrOf(0x00190010), 'LO');
    assert.equal(vrOf(0x001900ff), 'LO');
    assert.equal(vrOf(0x00191001), 'UN');
    assert.equal(vrOf(0x0008fff0), 'UN');
  });

  it('maps keywords and tags both ways, retired ones without a prefix', () => {
    assert.equal(keywordOf(0x00100010), 'PatientName');
    assert.equal(tagOfKeyword('PatientName'), 0x00100010);
    assert.equal(tagOfKeyword('PixelData'), 0x7fe00010);
    assert.equal(keywordOf(0x00280040), 'ImageFormat');
    assert.equal(tagOfKeyword('ImageFormat'), 0x00280040);
    assert.equal(keywordOf(0x00191001), undefined);
    assert.equal(keywordOf(0x0008fff0), undefined);
    assert.equal(keywordOf(0x00080001), 'LengthToEnd');
    assert.equal(tagOfKeyword('NoSuchKeyword'), undefined);
  });
});

describe('dicom/transfer-syntax', () => {
  it('knows native and encapsulated transfer syntaxes', () => {
    for (const uid of Object.values(TransferSyntax)) assert.ok(isKnownTransferSyntax(uid), uid);
    assert.equal(isEncapsulated(TransferSyntax.ExplicitVRLittleEndian), false);
    assert.equal(isEncapsulated(TransferSyntax.ExplicitVRBigEndian), false);
    assert.equal(isEncapsulated(TransferSyntax.DeflatedExplicitVRLittleEndian), false);
    assert.equal(isEncapsulated(TransferSyntax.RLELossless), true);
    assert.equal(isEncapsulated(TransferSyntax.JPEG2000), true);
    assert.equal(isEncapsulated('1.2.840.10008.1.2.4.201'), true);
  });

  it('names transfer syntaxes, and unknown ones by UID', () => {
    assert.equal(transferSyntaxName(TransferSyntax.RLELossless), 'RLE Lossless');
    assert.equal(transferSyntaxName('1.2.3'), 'unknown transfer syntax 1.2.3');
    assert.equal(isKnownTransferSyntax('1.2.3'), false);
    assert.equal(isEncapsulated('1.2.3'), false);
  });
});
