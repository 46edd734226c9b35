import assert from 'node:assert/strict';
import {
  DataSet,
  type Element,
  bytesElement,
  formatTag,
  sequenceElement,
  textElement,
  usElement,
} from '../../src/dicom/data-set';
import { Tags } from '../../src/dicom/tags';
import { isVeilError } from '../../src/errors';
import {
  BASIC_PROFILE_TABLE,
  type ProfileCode,
  basicProfileRowFor,
  veilActionOf,
} from '../../src/protection/basic-profile-table';
import { deidentify, pseudonymFor, reidentify } from '../../src/protection/confidentiality-profile';

const KEY = Buffer.from('0123456789abcdef0123456789abcdef', 'latin1');
const OTHER_KEY = Buffer.from('fedcba9876543210fedcba9876543210', 'latin1');

const T = {
  InstitutionName: 0x00080080,
  SeriesDate: 0x00080021,
  SeriesTime: 0x00080031,
  AcquisitionDate: 0x00080022,
  AcquisitionDateTime: 0x0008002a,
  ReferringPhysicianName: 0x00080090,
  InstitutionCodeSequence: 0x00080082,
  ReferencedImageSequence: 0x00081140,
  ReferencedSOPClassUID: 0x00081150,
  ReferencedSOPInstanceUID: 0x00081155,
  ReferencedPatientSequence: 0x00081120,
  OtherPatientIDs: 0x00101000,
  PatientAge: 0x00101010,
  FrameOfReferenceUID: 0x00200052,
  CodeValue: 0x00080100,
  CodingSchemeDesignator: 0x00080102,
  CodeMeaning: 0x00080104,
  ContrastBolusAgentSequence: 0x00180012,
  CurveDimensions: 0x50000005,
  CurveData: 0x50023000,
  OverlayRows: 0x60000010,
  OverlayData: 0x60003000,
  PrivateCreator: 0x00090010,
  PrivateValue: 0x00091001,
};

/** Deep, byte-for-byte comparison of two data sets; returns the first difference or undefined. */
function diff(a: DataSet, b: DataSet, path = ''): string | undefined {
  const tagsA = a.tags();
  const tagsB = b.tags();
  if (tagsA.join() !== tagsB.join()) {
    return `${path} tags differ: ${tagsA.map(formatTag).join()} vs ${tagsB.map(formatTag).join()}`;
  }
  for (const tag of tagsA) {
    const x = a.get(tag)!;
    const y = b.get(tag)!;
    const where = `${path}${formatTag(tag)}`;
    if (x.vr !== y.vr) return `${where} VR ${x.vr} vs ${y.vr}`;
    if ((x.value === undefined) !== (y.value === undefined)) return `${where} value presence`;
    if (x.value !== undefined && !x.value.equals(y.value!)) return `${where} value bytes`;
    if ((x.fragments?.length ?? -1) !== (y.fragments?.length ?? -1)) return `${where} fragments`;
    for (let i = 0; i < (x.fragments?.length ?? 0); i++) {
      if (!x.fragments![i]!.equals(y.fragments![i]!)) return `${where} fragment ${i}`;
    }
    if ((x.items?.length ?? -1) !== (y.items?.length ?? -1)) return `${where} item count`;
    for (let i = 0; i < (x.items?.length ?? 0); i++) {
      const inner = diff(x.items![i]!, y.items![i]!, `${where}[${i}]`);
      if (inner !== undefined) return inner;
    }
  }
  return undefined;
}

/** A deep copy whose buffers are fresh, so later mutation of the input cannot hide in the copy. */
function deepCopy(ds: DataSet): DataSet {
  const copy = new DataSet();
  for (const el of ds.elements.values()) {
    const next: Element = { tag: el.tag, vr: el.vr };
    if (el.value !== undefined) next.value = Buffer.from(el.value);
    if (el.items !== undefined) next.items = el.items.map(deepCopy);
    if (el.fragments !== undefined) next.fragments = el.fragments.map((f) => Buffer.from(f));
    copy.set(next);
  }
  return copy;
}

function text(ds: DataSet, tag: number): string | undefined {
  return ds.string(tag);
}

function codeItem(value: string, scheme: string, meaning: string): DataSet {
  return new DataSet()
    .set(textElement(T.CodeValue, 'SH', value))
    .set(textElement(T.CodingSchemeDesignator, 'SH', scheme))
    .set(textElement(T.CodeMeaning, 'LO', meaning));
}

/** A CT-like instance carrying one value of most kinds the profile handles. */
function sampleInstance(): DataSet {
  const referenced = new DataSet()
    .set(textElement(T.ReferencedSOPClassUID, 'UI', '1.2.840.10008.5.1.4.1.1.2'))
    .set(textElement(T.ReferencedSOPInstanceUID, 'UI', '1.2.3.4.5.6.7.8.99'))
    .set(textElement(Tags.PatientName, 'PN', 'Nested^Name'))
    .set(textElement(T.PrivateCreator, 'LO', 'ACME 1.0'))
    .set(textElement(T.PrivateValue, 'LO', 'secret nested'));
  return new DataSet()
    .set(textElement(Tags.TransferSyntaxUID, 'UI', '1.2.840.10008.1.2.1'))
    .set(textElement(Tags.MediaStorageSOPInstanceUID, 'UI', '1.2.3.4.5.6.7.8.1'))
    .set(textElement(Tags.SpecificCharacterSet, 'CS', 'ISO_IR 100'))
    .set(textElement(Tags.SOPClassUID, 'UI', '1.2.840.10008.5.1.4.1.1.2'))
    .set(textElement(Tags.SOPInstanceUID, 'UI', '1.2.3.4.5.6.7.8.1'))
    .set(textElement(Tags.StudyDate, 'DA', '20240131'))
    .set(textElement(T.SeriesDate, 'DA', '20240131'))
    .set(textElement(T.AcquisitionDate, 'DA', '20240131'))
    .set(textElement(T.AcquisitionDateTime, 'DT', '20240131101500'))
    .set(textElement(T.SeriesTime, 'TM', '101500'))
    .set(textElement(Tags.AccessionNumber, 'SH', 'ACC123456'))
    .set(textElement(Tags.Modality, 'CS', 'CT'))
    .set(textElement(T.InstitutionName, 'LO', 'General Hospital'))
    .set(sequenceElement(T.InstitutionCodeSequence, [codeItem('GH1', '99LOCAL', 'General')]))
    .set(textElement(T.ReferringPhysicianName, 'PN', 'Doe^John'))
    .set(sequenceElement(T.ReferencedImageSequence, [referenced]))
    .set(textElement(T.PrivateCreator, 'LO', 'ACME 1.0'))
    .set(textElement(T.PrivateValue, 'LO', 'secret top'))
    .set(textElement(Tags.PatientName, 'PN', 'Smith^Jane'))
    .set(textElement(Tags.PatientID, 'LO', 'MRN-0042'))
    .set(textElement(Tags.PatientBirthDate, 'DA', '19700101'))
    .set(textElement(Tags.PatientSex, 'CS', 'F'))
    .set(textElement(T.OtherPatientIDs, 'LO', 'OLD-7'))
    .set(textElement(T.PatientAge, 'AS', '054Y'))
    .set(textElement(Tags.StudyInstanceUID, 'UI', '1.2.3.4.5.6.7.8.2'))
    .set(textElement(Tags.SeriesInstanceUID, 'UI', '1.2.3.4.5.6.7.8.3'))
    .set(textElement(Tags.StudyID, 'SH', 'S1'))
    .set(textElement(T.FrameOfReferenceUID, 'UI', '1.2.3.4.5.6.7.8.4'))
    .set(usElement(Tags.Rows, 2))
    .set(usElement(Tags.Columns, 2))
    .set(usElement(T.CurveDimensions, 1))
    .set(bytesElement(T.CurveData, 'OB', Buffer.from([1, 2, 3, 4])))
    .set(usElement(T.OverlayRows, 2))
    .set(bytesElement(T.OverlayData, 'OW', Buffer.from([0xff, 0x00])))
    .set(bytesElement(0x7fe10010, 'OB', Buffer.from([9, 9])))
    .set(bytesElement(Tags.PixelData, 'OW', Buffer.from([1, 0, 2, 0, 3, 0, 4, 0])));
}

describe('protection/confidentiality-profile', () => {
  it('gives back exactly the original after deidentify then reidentify', () => {
    const ds = sampleInstance();
    const before = deepCopy(ds);
    const result = deidentify(ds, { pseudonymKey: KEY });
    assert.notEqual(diff(ds, before), undefined);
    reidentify(ds, result.original, result.added);
    assert.equal(diff(ds, before), undefined);
  });

  it('pseudonymises Patient ID and Name and strips the other identifying values', () => {
    const ds = sampleInstance();
    deidentify(ds, { pseudonymKey: KEY });
    const p = pseudonymFor(KEY, Buffer.from('MRN-0042'));
    assert.equal(text(ds, Tags.PatientID), `VEIL-${p}`);
    assert.equal(text(ds, Tags.PatientName), `VEIL^${p}`);
    assert.equal(ds.get(Tags.PatientBirthDate)!.value!.length, 0);
    assert.equal(ds.get(Tags.AccessionNumber)!.value!.length, 0);
    assert.equal(ds.get(Tags.StudyDate)!.value!.length, 0);
    assert.equal(ds.get(T.AcquisitionDate)!.value!.length, 0);
    assert.equal(ds.get(T.ReferringPhysicianName)!.value!.length, 0);
    assert.equal(text(ds, T.InstitutionName), 'ANONYMIZED');
    assert.equal(text(ds, T.SeriesDate), '19000101');
    assert.equal(text(ds, T.SeriesTime), '000000');
    assert.equal(text(ds, T.AcquisitionDateTime), '19000101000000');
    assert.equal(ds.has(T.OtherPatientIDs), false);
    assert.equal(ds.has(T.PatientAge), false);
    assert.equal(ds.has(T.CurveDimensions), false);
    assert.equal(ds.has(T.CurveData), false);
    assert.equal(ds.has(T.OverlayData), false);
    assert.equal(ds.uint16(T.OverlayRows), 2);
    assert.equal(text(ds, Tags.Modality), 'CT');
    // D on a code sequence dummies its text but keeps the item's shape.
    const code = ds.get(T.InstitutionCodeSequence)!.items![0]!;
    assert.equal(text(code, T.CodeValue), 'ANONYMIZED');
    assert.equal(text(code, T.CodeMeaning), 'ANONYMIZED');
  });

  it('sets Patient Identity Removed, the method text and the CID 7050 codes', () => {
    const ds = sampleInstance();
    const result = deidentify(ds, { pseudonymKey: KEY });
    assert.equal(text(ds, Tags.PatientIdentityRemoved), 'YES');
    const method = text(ds, Tags.DeidentificationMethod)!.split('\\');
    assert.deepEqual(method, [
      'Veil v1: PS3.15 Basic Application Confidentiality Profile',
      'Retain UIDs Option',
    ]);
    for (const value of method) assert.ok(value.length <= 64, 'LO values hold at most 64 chars');
    const codes = ds.get(Tags.DeidentificationMethodCodeSequence)!.items!;
    assert.deepEqual(
      codes.map((item) => [text(item, T.CodeValue), text(item, T.CodingSchemeDesignator)]),
      [
        ['113100', 'DCM'],
        ['113110', 'DCM'],
      ],
    );
    assert.equal(text(codes[1]!, T.CodeMeaning), 'Retain UIDs Option');
    assert.deepEqual(result.added, [
      Tags.PatientIdentityRemoved,
      Tags.DeidentificationMethod,
      Tags.DeidentificationMethodCodeSequence,
    ]);
  });

  it('removes private elements at every depth and restores them', () => {
    const ds = sampleInstance();
    const result = deidentify(ds, { pseudonymKey: KEY });
    assert.equal(ds.has(T.PrivateCreator), false);
    assert.equal(ds.has(T.PrivateValue), false);
    assert.equal(ds.has(0x7fe10010), false);
    const nested = ds.get(T.ReferencedImageSequence)!.items![0]!;
    assert.equal(nested.has(T.PrivateValue), false);
    assert.equal(text(result.original, T.PrivateValue), 'secret top');
    reidentify(ds, result.original, result.added);
    assert.equal(text(ds, T.PrivateValue), 'secret top');
    assert.equal(
      text(ds.get(T.ReferencedImageSequence)!.items![0]!, T.PrivateValue),
      'secret nested',
    );
  });

  it('records a kept sequence whole when a Patient Name inside it changes, and restores it', () => {
    const ds = sampleInstance();
    const before = deepCopy(ds);
    const result = deidentify(ds, { pseudonymKey: KEY });
    const kept = ds.get(T.ReferencedImageSequence)!.items![0]!;
    const p = pseudonymFor(KEY, Buffer.from('MRN-0042'));
    assert.equal(text(kept, Tags.PatientName), `VEIL^${p}`);
    assert.equal(text(kept, T.ReferencedSOPInstanceUID), '1.2.3.4.5.6.7.8.99');
    const recorded = result.original.get(T.ReferencedImageSequence)!;
    const whole = new DataSet().set(recorded);
    const expected = new DataSet().set(before.get(T.ReferencedImageSequence)!);
    assert.equal(diff(whole, expected), undefined);
    reidentify(ds, result.original, result.added);
    assert.equal(
      text(ds.get(T.ReferencedImageSequence)!.items![0]!, Tags.PatientName),
      'Nested^Name',
    );
  });

  it('leaves UIDs, File Meta Information and Pixel Data untouched', () => {
    const ds = sampleInstance();
    const pixels = ds.get(Tags.PixelData)!;
    const before = deepCopy(ds);
    deidentify(ds, { pseudonymKey: KEY });
    for (const tag of [
      Tags.SOPInstanceUID,
      Tags.SOPClassUID,
      Tags.StudyInstanceUID,
      Tags.SeriesInstanceUID,
      T.FrameOfReferenceUID,
      Tags.TransferSyntaxUID,
      Tags.MediaStorageSOPInstanceUID,
    ]) {
      assert.ok(ds.get(tag)!.value!.equals(before.get(tag)!.value!), formatTag(tag));
    }
    assert.equal(ds.get(Tags.PixelData), pixels);
  });

  it('always records the SOP Instance UID in the original attributes', () => {
    const ds = new DataSet()
      .set(textElement(Tags.SOPInstanceUID, 'UI', '1.2.3'))
      .set(textElement(Tags.Modality, 'CS', 'MR'));
    const result = deidentify(ds, { pseudonymKey: KEY });
    assert.deepEqual(result.original.tags(), [Tags.SOPInstanceUID]);
    assert.equal(result.replaced + result.emptied + result.removed, 0);
  });

  it('counts what it replaced, emptied and removed', () => {
    const ds = new DataSet()
      .set(textElement(Tags.PatientID, 'LO', 'X1'))
      .set(textElement(Tags.PatientName, 'PN', 'A^B'))
      .set(textElement(Tags.AccessionNumber, 'SH', 'A1'))
      .set(textElement(T.OtherPatientIDs, 'LO', 'Y'))
      .set(textElement(T.PrivateValue, 'LO', 'Z'));
    const result = deidentify(ds, { pseudonymKey: KEY });
    assert.deepEqual([result.replaced, result.emptied, result.removed], [2, 1, 2]);
    assert.equal(result.original.size, 5);
  });

  it('gives the same pseudonym for one patient whatever the padding, and only with the same key', () => {
    const a = pseudonymFor(KEY, Buffer.from('MRN-0042'));
    assert.match(a, /^[A-Z2-7]{20}$/);
    assert.equal(pseudonymFor(KEY, Buffer.from('MRN-0042')), a);
    assert.notEqual(pseudonymFor(OTHER_KEY, Buffer.from('MRN-0042')), a);
    assert.notEqual(pseudonymFor(KEY, Buffer.from('MRN-0043')), a);
    const spaced = new DataSet().set({
      tag: Tags.PatientID,
      vr: 'LO',
      value: Buffer.from(' MRN-0042 '),
    });
    const nul = new DataSet().set({
      tag: Tags.PatientID,
      vr: 'LO',
      value: Buffer.from('MRN-0042\0\0'),
    });
    deidentify(spaced, { pseudonymKey: KEY });
    deidentify(nul, { pseudonymKey: KEY });
    assert.equal(text(spaced, Tags.PatientID), `VEIL-${a}`);
    assert.equal(text(nul, Tags.PatientID), `VEIL-${a}`);
  });

  it('renders the pseudonym as the first 20 RFC 4648 base32 characters of the HMAC', () => {
    // Known answer computed independently: base64.b32encode(hmac(KEY, b'MRN-0042', sha256))[:20].
    assert.equal(pseudonymFor(KEY, Buffer.from('MRN-0042')), 'DXMXNJJR27EW4YR5AVNG');
  });

  it('empties the Patient Name when no Patient ID gives a pseudonym', () => {
    const ds = new DataSet().set(textElement(Tags.PatientName, 'PN', 'Smith^Jane'));
    const result = deidentify(ds, { pseudonymKey: KEY });
    assert.equal(ds.get(Tags.PatientName)!.value!.length, 0);
    assert.equal(result.emptied, 1);
  });

  it('keeps the original Patient Identity Removed and method values through reidentify', () => {
    const ds = sampleInstance()
      .set(textElement(Tags.PatientIdentityRemoved, 'CS', 'NO'))
      .set(textElement(Tags.DeidentificationMethod, 'LO', 'earlier tool'));
    const before = deepCopy(ds);
    const result = deidentify(ds, { pseudonymKey: KEY });
    assert.equal(text(ds, Tags.PatientIdentityRemoved), 'YES');
    assert.deepEqual(result.added, [Tags.DeidentificationMethodCodeSequence]);
    assert.equal(text(result.original, Tags.PatientIdentityRemoved), 'NO');
    reidentify(ds, result.original, result.added);
    assert.equal(text(ds, Tags.PatientIdentityRemoved), 'NO');
    assert.equal(diff(ds, before), undefined);
  });

  it('handles an empty data set both ways', () => {
    const ds = new DataSet();
    const result = deidentify(ds, { pseudonymKey: KEY });
    assert.equal(result.original.size, 0);
    assert.equal(ds.size, 3);
    reidentify(ds, result.original, result.added);
    assert.equal(ds.size, 0);
  });

  it('does not alter the element objects it records as original', () => {
    const ds = sampleInstance();
    const seq = ds.get(T.ReferencedImageSequence)!;
    const item = seq.items![0]!;
    deidentify(ds, { pseudonymKey: KEY });
    assert.equal(item.string(Tags.PatientName), 'Nested^Name');
    assert.equal(item.has(T.PrivateValue), true);
  });

  it('rejects a pseudonym key shorter than 16 bytes', () => {
    const short = Buffer.alloc(15, 1);
    assert.throws(
      () => deidentify(sampleInstance(), { pseudonymKey: short }),
      (err) => isVeilError(err, 'VEIL_E_KEY_INVALID'),
    );
    assert.throws(
      () => pseudonymFor(short, Buffer.from('X')),
      (err) => isVeilError(err, 'VEIL_E_KEY_INVALID'),
    );
  });

  it('refuses original attributes recorded for another SOP instance', () => {
    const ds = sampleInstance();
    const result = deidentify(ds, { pseudonymKey: KEY });
    const other = new DataSet().set(textElement(Tags.SOPInstanceUID, 'UI', '9.9.9'));
    assert.throws(
      () => reidentify(other, result.original, result.added),
      (err) => isVeilError(err, 'VEIL_E_REVEAL_INSTANCE_MISMATCH'),
    );
    assert.equal(other.size, 1);
  });

  it('refuses an added list holding something that is not a tag', () => {
    const ds = sampleInstance();
    const result = deidentify(ds, { pseudonymKey: KEY });
    const before = deepCopy(ds);
    for (const bad of [-1, 1.5, 0x100000000, Number.NaN]) {
      assert.throws(
        () => reidentify(ds, result.original, [...result.added, bad]),
        (err) => isVeilError(err, 'VEIL_E_REVEAL_FORMAT'),
      );
    }
    assert.equal(diff(ds, before), undefined);
  });
});

describe('protection/basic-profile-table', () => {
  const PROFILE_CODES: readonly ProfileCode[] = [
    'D',
    'Z',
    'X',
    'K',
    'U',
    'X/Z',
    'X/D',
    'Z/D',
    'X/Z/D',
    'X/Z/U*',
  ];

  it('has no duplicate tags', () => {
    const seen = new Set<number>();
    for (const row of BASIC_PROFILE_TABLE) {
      assert.ok(!seen.has(row.tag), `duplicate ${formatTag(row.tag)}`);
      seen.add(row.tag);
    }
    assert.ok(BASIC_PROFILE_TABLE.length > 400);
  });

  it('uses only the allowed codes, actions, keywords and VRs', () => {
    for (const row of BASIC_PROFILE_TABLE) {
      const where = `${formatTag(row.tag)} ${row.keyword}`;
      assert.ok(PROFILE_CODES.includes(row.profile), where);
      assert.ok(['D', 'Z', 'X', 'K'].includes(row.action), where);
      assert.ok(row.retainUids === undefined || ['K', 'X'].includes(row.retainUids), where);
      assert.match(row.keyword, /^[A-Z][A-Za-z0-9]+$/, where);
      assert.match(row.vr, /^[A-Z]{2}$/, where);
      assert.equal((row.tag >>> 16) & 1, 0, `${where} is in a private group`);
      assert.equal(row.action, veilActionOf(row.profile, row.retainUids), where);
    }
  });

  it('applies the Retain UIDs Option and resolves compound codes to the conformant choice', () => {
    assert.equal(veilActionOf('U'), 'K');
    assert.equal(veilActionOf('X', 'K'), 'K');
    assert.equal(veilActionOf('X', 'X'), 'X');
    assert.equal(veilActionOf('X/Z'), 'Z');
    assert.equal(veilActionOf('X/D'), 'D');
    assert.equal(veilActionOf('Z/D'), 'D');
    assert.equal(veilActionOf('X/Z/D'), 'D');
    assert.equal(veilActionOf('X/Z/U*'), 'K');
    assert.equal(basicProfileRowFor(Tags.PatientName)?.profile, 'Z');
    assert.equal(basicProfileRowFor(Tags.SOPInstanceUID)?.action, 'K');
    assert.equal(basicProfileRowFor(0x00081120)?.action, 'X');
    assert.equal(basicProfileRowFor(Tags.Modality), undefined);
  });

  it('matches the 50xx and 60xx repeating groups and nothing else', () => {
    assert.equal(basicProfileRowFor(0x50001234)?.keyword, 'CurveData');
    assert.equal(basicProfileRowFor(0x501e3000)?.keyword, 'CurveData');
    assert.equal(basicProfileRowFor(0x50203000), undefined);
    assert.equal(basicProfileRowFor(0x601e3000)?.keyword, 'OverlayData');
    assert.equal(basicProfileRowFor(0x60024000)?.keyword, 'OverlayComments');
    assert.equal(basicProfileRowFor(0x60010010), undefined);
    assert.equal(basicProfileRowFor(0x60000010), undefined);
    assert.equal(basicProfileRowFor(0x60203000), undefined);
  });
});
