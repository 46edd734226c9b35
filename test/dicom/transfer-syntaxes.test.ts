import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Tags, TransferSyntax, parsePart10, type DataSet } from '../../src/dicom';
import { pydicomCorpusDir, runPydicom } from '../helpers/pydicom-corpus';

/** pydicom's reading of one file: Rows, numeric values by tag, pixel hashes. */
const PYDICOM_VALUES = `
import sys, json, hashlib
import pydicom
ds = pydicom.dcmread(sys.argv[1])
numbers = {}
for e in ds:
    if e.VR in ('US', 'SS', 'UL', 'SL', 'FL', 'FD') and e.value is not None and e.value != b'':
        v = e.value if e.VM > 1 else [e.value]
        numbers['%08x' % int(e.tag)] = [float(x) for x in v]
a = ds.pixel_array
print(json.dumps({
    'rows': int(ds.Rows),
    'patientName': str(ds.PatientName),
    'numbers': numbers,
    'pixelSha': hashlib.sha256(ds.PixelData).hexdigest(),
    'arraySha': hashlib.sha256(a.astype(a.dtype.newbyteorder('<')).tobytes()).hexdigest(),
}))
`;

interface PydicomValues {
  rows: number;
  patientName: string;
  numbers: Record<string, number[]>;
  pixelSha: string;
  arraySha: string;
}

const READERS: Record<string, [number, (b: Buffer, o: number) => number]> = {
  US: [2, (b, o) => b.readUInt16LE(o)],
  SS: [2, (b, o) => b.readInt16LE(o)],
  UL: [4, (b, o) => b.readUInt32LE(o)],
  SL: [4, (b, o) => b.readInt32LE(o)],
  FL: [4, (b, o) => b.readFloatLE(o)],
  FD: [8, (b, o) => b.readDoubleLE(o)],
};

function numbersOf(dataset: DataSet): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const tag of dataset.tags()) {
    const el = dataset.get(tag)!;
    const reader = READERS[el.vr];
    if (reader === undefined || el.value === undefined || el.value.length === 0) continue;
    const [size, read] = reader;
    const values: number[] = [];
    for (let o = 0; o + size <= el.value.length; o += size) values.push(read(el.value, o));
    out[tag.toString(16).padStart(8, '0')] = values;
  }
  return out;
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('dicom/parse of each transfer syntax, checked against pydicom', () => {
  const dir = pydicomCorpusDir() ?? '';
  const load = (name: string): { bytes: Buffer; py: PydicomValues } => {
    const file = path.join(dir, name);
    return {
      bytes: readFileSync(file),
      py: JSON.parse(runPydicom(PYDICOM_VALUES, [file])) as PydicomValues,
    };
  };

  it('reads Explicit VR Little Endian with Pixel Data as a view of the input', () => {
    const { bytes, py } = load('MR_small.dcm');
    const parsed = parsePart10(bytes);
    assert.equal(parsed.transferSyntaxUID, TransferSyntax.ExplicitVRLittleEndian);
    assert.equal(parsed.dataset.uint16(Tags.Rows), py.rows);
    assert.deepEqual(numbersOf(parsed.dataset), py.numbers);
    const pixels = parsed.dataset.get(Tags.PixelData)!.value!;
    assert.equal(sha256(pixels), py.pixelSha);
    assert.equal(pixels.buffer, bytes.buffer, 'Pixel Data shares the input ArrayBuffer');
  });

  it('reads Implicit VR Little Endian with dictionary VRs', () => {
    const { bytes, py } = load('MR_small_implicit.dcm');
    const parsed = parsePart10(bytes);
    assert.equal(parsed.transferSyntaxUID, TransferSyntax.ImplicitVRLittleEndian);
    assert.equal(parsed.dataset.uint16(Tags.Rows), py.rows);
    assert.equal(parsed.dataset.string(Tags.PatientName), py.patientName);
    assert.equal(parsed.dataset.get(Tags.PatientName)!.vr, 'PN');
    assert.equal(parsed.dataset.get(Tags.Rows)!.vr, 'US');
    assert.deepEqual(numbersOf(parsed.dataset), py.numbers);
    const pixels = parsed.dataset.get(Tags.PixelData)!;
    assert.equal(pixels.vr, 'OW', 'BitsAllocated 16 gives OW');
    assert.equal(sha256(pixels.value!), py.pixelSha);
    assert.equal(pixels.value!.buffer, bytes.buffer);
    const explicit = parsePart10(readFileSync(path.join(dir, 'MR_small.dcm')));
    assert.ok(explicit.dataset.get(Tags.PixelData)!.value!.equals(pixels.value!));
  });

  it('reads Explicit VR Big Endian, swapping 16-bit pixels and numbers to little endian', () => {
    const { bytes, py } = load('MR_small_bigendian.dcm');
    const parsed = parsePart10(bytes);
    assert.equal(parsed.transferSyntaxUID, TransferSyntax.ExplicitVRBigEndian);
    assert.ok(Object.keys(py.numbers).length >= 8, 'enough binary numbers to compare');
    assert.equal(parsed.dataset.uint16(Tags.Rows), py.rows);
    assert.equal(parsed.dataset.string(Tags.PatientName), py.patientName);
    assert.deepEqual(numbersOf(parsed.dataset), py.numbers);
    assert.equal(sha256(parsed.dataset.get(Tags.PixelData)!.value!), py.arraySha);
    const little = parsePart10(readFileSync(path.join(dir, 'MR_small.dcm')));
    assert.ok(
      little.dataset.get(Tags.PixelData)!.value!.equals(parsed.dataset.get(Tags.PixelData)!.value!),
    );
  });

  it('reads Explicit VR Big Endian 32-bit pixels (OW) swapped per pixel', () => {
    const { bytes, py } = load('rtdose_expb.dcm');
    const parsed = parsePart10(bytes);
    assert.equal(parsed.dataset.uint16(Tags.BitsAllocated), 32);
    assert.deepEqual(numbersOf(parsed.dataset), py.numbers);
    assert.equal(sha256(parsed.dataset.get(Tags.PixelData)!.value!), py.arraySha);
  });

  it('reads Explicit VR Big Endian OB pixels untouched', () => {
    const { bytes, py } = load('ExplVR_BigEnd.dcm');
    const parsed = parsePart10(bytes);
    assert.equal(parsed.dataset.get(Tags.PixelData)!.vr, 'OB');
    assert.equal(sha256(parsed.dataset.get(Tags.PixelData)!.value!), py.pixelSha);
  });

  it('reads Deflated Explicit VR Little Endian by inflating it', () => {
    const { bytes, py } = load('image_dfl.dcm');
    const parsed = parsePart10(bytes);
    assert.equal(parsed.transferSyntaxUID, TransferSyntax.DeflatedExplicitVRLittleEndian);
    assert.equal(parsed.dataset.uint16(Tags.Rows), py.rows);
    assert.deepEqual(numbersOf(parsed.dataset), py.numbers);
    assert.equal(sha256(parsed.dataset.get(Tags.PixelData)!.value!), py.pixelSha);
  });

  it('reads data sets without a meta group, little and big endian', () => {
    const little = parsePart10(readFileSync(path.join(dir, 'ExplVR_LitEndNoMeta.dcm')));
    const big = parsePart10(readFileSync(path.join(dir, 'ExplVR_BigEndNoMeta.dcm')));
    assert.equal(little.transferSyntaxUID, TransferSyntax.ExplicitVRLittleEndian);
    assert.equal(big.transferSyntaxUID, TransferSyntax.ExplicitVRBigEndian);
    assert.equal(little.meta.size, 0);
    assert.equal(big.meta.size, 0);
    assert.ok(little.dataset.size > 10);
    assert.equal(
      little.dataset.string(Tags.SOPInstanceUID),
      big.dataset.string(Tags.SOPInstanceUID),
    );
  });

  it('reads a bare Implicit VR data set (no preamble) and one whose meta lacks (0002,0010)', () => {
    const bare = parsePart10(readFileSync(path.join(dir, 'rtstruct.dcm')));
    assert.equal(bare.transferSyntaxUID, TransferSyntax.ImplicitVRLittleEndian);
    const noSyntax = parsePart10(readFileSync(path.join(dir, 'meta_missing_tsyntax.dcm')));
    assert.equal(noSyntax.transferSyntaxUID, TransferSyntax.ImplicitVRLittleEndian);
    assert.equal(noSyntax.meta.has(Tags.TransferSyntaxUID), false);
  });

  it('reads nested private sequences of Implicit VR as sequences', () => {
    const parsed = parsePart10(readFileSync(path.join(dir, 'nested_priv_SQ.dcm')));
    const outer = parsed.dataset.get(0x00010001)!;
    assert.equal(outer.vr, 'SQ');
    const inner = outer.items![0]!.get(0x00010001)!;
    assert.equal(inner.vr, 'SQ');
    assert.equal(inner.items!.length, 1);
  });

  it('reads an explicit UN of undefined length as the sequence it holds (PS3.5 6.2.2)', () => {
    const parsed = parsePart10(readFileSync(path.join(dir, 'UN_sequence.dcm')));
    const [tag] = parsed.dataset.tags();
    const el = parsed.dataset.get(tag!)!;
    assert.equal(el.vr, 'SQ');
    assert.ok(el.items!.length > 0);
  });

  it('reads encapsulated Pixel Data as fragments with the Basic Offset Table first', () => {
    const bytes = readFileSync(path.join(dir, 'SC_rgb_rle_2frame.dcm'));
    const parsed = parsePart10(bytes);
    const pixels = parsed.dataset.get(Tags.PixelData)!;
    assert.equal(pixels.vr, 'OB');
    assert.equal(pixels.value, undefined);
    assert.equal(pixels.fragments!.length, 3);
    assert.equal(pixels.fragments![0]!.length, 8, 'BOT with two offsets');
    assert.equal(pixels.fragments![1]!.buffer, bytes.buffer);
  });
});
