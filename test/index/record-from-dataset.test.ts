import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { DataSet, Tags, parsePart10, textElement, usElement } from '../../src/dicom';
import { isVeilError } from '../../src/errors';
import { recordFromDataSet } from '../../src/index/record-from-dataset';
import { listCorpusFiles, pydicomPython } from '../helpers/pydicom-corpus';

const SAMPLES = path.resolve(__dirname, '..', '..', 'samples');

/** Asks pydicom for the raw (undecoded latin1) values of the indexed attributes of each file. */
const ORACLE = String.raw`
import sys, json
import pydicom
TEXT = {'patientID':0x00100020,'patientName':0x00100010,'patientBirthDate':0x00100030,
 'patientSex':0x00100040,'issuerOfPatientID':0x00100021,'studyDate':0x00080020,
 'studyTime':0x00080030,'studyDescription':0x00081030,'studyID':0x00200010,
 'accessionNumber':0x00080050,'referringPhysicianName':0x00080090,'modality':0x00080060,
 'seriesNumber':0x00200011,'seriesDescription':0x0008103e,'bodyPartExamined':0x00180015,
 'instanceNumber':0x00200013,'studyInstanceUID':0x0020000d,'seriesInstanceUID':0x0020000e,
 'sopInstanceUID':0x00080018,'sopClassUID':0x00080016}
NUMBERS = {'rows':0x00280010,'columns':0x00280011,'bitsAllocated':0x00280100,'numberOfFrames':0x00280008}
out = {}
for f in sys.stdin.read().split('\n'):
    if not f: continue
    try:
        ds = pydicom.dcmread(f, force=True, stop_before_pixels=True)
        r = {}
        for field, tag in TEXT.items():
            if tag in ds and isinstance(ds.get_item(tag).value, (bytes, bytearray)):
                r[field] = bytes(ds.get_item(tag).value).decode('latin1')
        for field, tag in NUMBERS.items():
            if tag in ds and ds[tag].value not in (None, ''):
                v = ds[tag].value
                r[field] = int(v[0] if isinstance(v, pydicom.multival.MultiValue) else v)
        out[f] = r
    except Exception as e:
        out[f] = {'error': str(e)}
print(json.dumps(out))
`;

type OracleRecord = Record<string, string | number>;

function askPydicom(files: string[]): Record<string, OracleRecord> {
  const python = pydicomPython();
  assert.ok(python, 'python3-pydicom is installed');
  const r = spawnSync(python, ['-c', ORACLE], {
    input: files.join('\n'),
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Record<string, OracleRecord>;
}

/** Fields whose leading spaces are padding too (UI, DA, TM, CS, IS), per PS3.5 6.2. */
const TRIM_BOTH = new Set([
  'patientBirthDate',
  'patientSex',
  'studyDate',
  'studyTime',
  'modality',
  'seriesNumber',
  'bodyPartExamined',
  'instanceNumber',
  'studyInstanceUID',
  'seriesInstanceUID',
  'sopInstanceUID',
  'sopClassUID',
]);

/** What recordFromDataSet should make of pydicom's raw values: padding trimmed, empty left out. */
function expected(raw: OracleRecord, transferSyntaxUID: string): Record<string, unknown> {
  const out: Record<string, unknown> = { transferSyntaxUID };
  for (const [field, value] of Object.entries(raw)) {
    if (typeof value === 'number') {
      out[field] = value;
      continue;
    }
    let text = value.replace(/[\0 ]+$/, '');
    if (TRIM_BOTH.has(field)) text = text.replace(/^[\0 ]+/, '');
    if (text !== '') out[field] = text;
  }
  return out;
}

const REQUIRED = ['studyInstanceUID', 'seriesInstanceUID', 'sopInstanceUID', 'sopClassUID'];

function checkAgainstPydicom(files: string[]): { indexed: number; refused: number } {
  const oracle = askPydicom(files);
  let indexed = 0;
  let refused = 0;
  for (const file of files) {
    const raw = oracle[file];
    if (raw === undefined || 'error' in raw) continue;
    let parsed: ReturnType<typeof parsePart10>;
    try {
      parsed = parsePart10(fs.readFileSync(file));
    } catch (err) {
      if (isVeilError(err)) continue; // files Veil refuses to parse are the parser's tests
      throw err;
    }
    const want = expected(raw, parsed.transferSyntaxUID);
    if (REQUIRED.some((k) => want[k] === undefined)) {
      assert.throws(
        () => recordFromDataSet(parsed.dataset, parsed.transferSyntaxUID),
        { code: 'VEIL_E_DICOM_MISSING_ATTRIBUTE' },
        path.basename(file),
      );
      refused++;
      continue;
    }
    const record = recordFromDataSet(parsed.dataset, parsed.transferSyntaxUID);
    assert.deepEqual(record, want, path.basename(file));
    indexed++;
  }
  return { indexed, refused };
}

describe('index/record-from-dataset', () => {
  it('reads every sample as pydicom does, padding trimmed', () => {
    const files = fs
      .readdirSync(SAMPLES)
      .filter((f) => f.endsWith('.dcm'))
      .map((f) => path.join(SAMPLES, f));
    assert.ok(files.length >= 6);
    const { indexed } = checkAgainstPydicom(files);
    assert.equal(indexed, files.length);
  });

  it('reads the sample attributes a catalogue needs', () => {
    const { dataset, transferSyntaxUID } = parsePart10(
      fs.readFileSync(path.join(SAMPLES, 'us-rgb-multiframe.dcm')),
    );
    const record = recordFromDataSet(dataset, transferSyntaxUID);
    assert.equal(record.patientName, 'POE^MARY');
    assert.equal(record.patientSex, 'F');
    assert.equal(record.modality, 'US');
    assert.equal(record.numberOfFrames, 8);
    assert.equal(record.rows, 256);
    assert.equal(record.bitsAllocated, 8);
    assert.equal(record.sopClassUID, '1.2.840.10008.5.1.4.1.1.3.1');
    assert.equal(record.transferSyntaxUID, '1.2.840.10008.1.2.1');
    assert.equal('state' in record, false);
  });

  it('reads the pydicom corpus (implicit, big endian, compressed) as pydicom does, refusing files without UIDs', () => {
    const files = listCorpusFiles();
    assert.ok(files.length > 50, 'the pydicom corpus is installed');
    const { indexed, refused } = checkAgainstPydicom(files);
    assert.ok(indexed > 100, `indexed ${indexed} corpus files`);
    // some corpus files lack a required UID and are refused rather than half-indexed
    assert.ok(refused > 0, 'refused the files without required UIDs');
  });

  it('keeps non-ASCII names as raw latin1 text', () => {
    const ds = minimal();
    ds.set({ tag: Tags.PatientName, vr: 'PN', value: Buffer.from('MÜLLER^JÖRG ', 'latin1') });
    assert.equal(recordFromDataSet(ds, '1.2.840.10008.1.2').patientName, 'MÜLLER^JÖRG');
  });

  it('trims UID NUL padding and leading spaces of code strings', () => {
    const ds = minimal();
    ds.set({ tag: Tags.SOPInstanceUID, vr: 'UI', value: Buffer.from('1.2.3\0', 'latin1') });
    ds.set({ tag: Tags.Modality, vr: 'CS', value: Buffer.from(' CT ', 'latin1') });
    ds.set({ tag: 0x00200013, vr: 'IS', value: Buffer.from(' 12 ', 'latin1') });
    ds.set({ tag: Tags.PatientID, vr: 'LO', value: Buffer.from('    ', 'latin1') });
    const record = recordFromDataSet(ds, '1.2.840.10008.1.2.1');
    assert.equal(record.sopInstanceUID, '1.2.3');
    assert.equal(record.modality, 'CT');
    assert.equal(record.instanceNumber, '12');
    assert.equal(record.patientID, undefined);
    assert.equal('patientID' in record, false);
  });

  it('ignores attributes nested in sequences', () => {
    const ds = minimal();
    const item = new DataSet().set(textElement(Tags.PatientName, 'PN', 'NESTED^NAME'));
    ds.set({ tag: 0x00081115, vr: 'SQ', items: [item] });
    assert.equal(recordFromDataSet(ds, '1.2.840.10008.1.2.1').patientName, undefined);
  });

  for (const [keyword, tag] of [
    ['StudyInstanceUID', Tags.StudyInstanceUID],
    ['SeriesInstanceUID', Tags.SeriesInstanceUID],
    ['SOPInstanceUID', Tags.SOPInstanceUID],
    ['SOPClassUID', Tags.SOPClassUID],
  ] as const) {
    it(`refuses an instance without ${keyword}`, () => {
      for (const value of [undefined, Buffer.alloc(0), Buffer.from('  ')]) {
        const ds = minimal();
        ds.set(textElement(Tags.PatientName, 'PN', 'SECRET^NAME'));
        if (value === undefined) ds.delete(tag);
        else ds.set({ tag, vr: 'UI', value });
        assert.throws(
          () => recordFromDataSet(ds, '1.2.840.10008.1.2.1'),
          (err: unknown) => {
            assert.ok(isVeilError(err, 'VEIL_E_DICOM_MISSING_ATTRIBUTE'));
            assert.equal(err.details.attribute, keyword);
            assert.doesNotMatch(err.message, /SECRET/);
            return true;
          },
        );
      }
    });
  }
});

/** The four UIDs an instance needs and a little geometry. */
function minimal(): DataSet {
  return new DataSet()
    .set(textElement(Tags.SOPClassUID, 'UI', '1.2.840.10008.5.1.4.1.1.7'))
    .set(textElement(Tags.SOPInstanceUID, 'UI', '1.2.3.4.5.6'))
    .set(textElement(Tags.StudyInstanceUID, 'UI', '1.2.3.4'))
    .set(textElement(Tags.SeriesInstanceUID, 'UI', '1.2.3.4.5'))
    .set(usElement(Tags.Rows, 4));
}
