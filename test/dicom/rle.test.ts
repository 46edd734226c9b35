import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  Tags,
  decodeRle,
  framesOfFragments,
  parsePart10,
  readGeometry,
  type PixelGeometry,
} from '../../src/dicom';
import { isVeilError } from '../../src/errors';
import { pydicomCorpusDir, runPydicom } from '../helpers/pydicom-corpus';

/** pydicom's decoded pixel_array, little endian, colour-by-pixel, hashed. */
const PYDICOM_PIXELS = `
import sys, json, hashlib
import pydicom
out = {}
for p in sys.argv[1:]:
    a = pydicom.dcmread(p).pixel_array
    out[p] = hashlib.sha256(a.astype(a.dtype.newbyteorder('<')).tobytes()).hexdigest()
print(json.dumps(out))
`;

const RLE_FILES = [
  'MR_small_RLE.dcm',
  'SC_rgb_rle.dcm',
  'SC_rgb_rle_2frame.dcm',
  'SC_rgb_rle_16bit.dcm',
  'SC_rgb_rle_16bit_2frame.dcm',
  'SC_rgb_rle_32bit.dcm',
  'SC_rgb_rle_32bit_2frame.dcm',
  'rtdose_rle.dcm',
  'rtdose_rle_1frame.dcm',
];

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

function load(file: string): { frames: Buffer[][]; geometry: PixelGeometry } {
  const { dataset } = parsePart10(readFileSync(file));
  const geometry = readGeometry(dataset);
  const fragments = dataset.get(Tags.PixelData)!.fragments!;
  return { frames: framesOfFragments(fragments, geometry.frames), geometry };
}

/** One RLE frame: header with the given segments, then the segments. */
function rleFrame(segments: Buffer[]): Buffer {
  const header = Buffer.alloc(64);
  header.writeUInt32LE(segments.length, 0);
  let offset = 64;
  segments.forEach((segment, i) => {
    header.writeUInt32LE(offset, 4 + i * 4);
    offset += segment.length;
  });
  return Buffer.concat([header, ...segments]);
}

const GRAY_2X2: PixelGeometry = {
  rows: 2,
  columns: 2,
  frames: 1,
  samplesPerPixel: 1,
  planarConfiguration: 0,
  bitsAllocated: 8,
  bitsStored: 8,
  highBit: 7,
  pixelRepresentation: 0,
  photometricInterpretation: 'MONOCHROME2',
  sampleCount: 4,
  frameBytes: 4,
  expectedBytes: 4,
};

describe('dicom/rle', () => {
  const dir = pydicomCorpusDir() ?? '';
  const files = RLE_FILES.map((name) => path.join(dir, name));
  let expected: Record<string, string> = {};
  before(() => {
    expected = JSON.parse(runPydicom(PYDICOM_PIXELS, files)) as Record<string, string>;
  });

  for (const name of RLE_FILES) {
    it(`decodes ${name} to pydicom's pixel_array bytes`, () => {
      const file = path.join(dir, name);
      const { frames, geometry } = load(file);
      // pydicom returns colour-by-pixel whatever the (meaningless for RLE) PlanarConfiguration says.
      const out = decodeRle(frames, { ...geometry, planarConfiguration: 0 });
      assert.equal(out.length, geometry.expectedBytes);
      assert.equal(sha256(out), expected[file]);
    });
  }

  it('decodes MR_small_RLE.dcm to the Pixel Data of MR_small.dcm', () => {
    const { frames, geometry } = load(path.join(dir, 'MR_small_RLE.dcm'));
    const native = parsePart10(readFileSync(path.join(dir, 'MR_small.dcm'))).dataset.get(
      Tags.PixelData,
    )!.value!;
    assert.ok(decodeRle(frames, geometry).equals(native));
  });

  it('writes colour-by-plane output when PlanarConfiguration is 1', () => {
    const { frames, geometry } = load(path.join(dir, 'SC_rgb_rle_16bit.dcm'));
    const byPixel = decodeRle(frames, { ...geometry, planarConfiguration: 0 });
    const byPlane = decodeRle(frames, { ...geometry, planarConfiguration: 1 });
    const pixels = geometry.rows * geometry.columns;
    for (const p of [0, 1, pixels - 1]) {
      for (let s = 0; s < 3; s++) {
        assert.equal(
          byPlane.readUInt16LE((s * pixels + p) * 2),
          byPixel.readUInt16LE((p * 3 + s) * 2),
        );
      }
    }
  });

  it('decodes literal, replicate and no-op runs (PS3.5 G.3.1)', () => {
    // literal 2 bytes [1,2], no-op (-128), replicate 2 x 9
    const frame = rleFrame([Buffer.from([0x01, 1, 2, 0x80, 0xff, 9])]);
    assert.deepEqual([...decodeRle([[frame]], GRAY_2X2)], [1, 2, 9, 9]);
  });

  it('tolerates a padding byte after a complete segment', () => {
    const frame = rleFrame([Buffer.from([0xfd, 7, 0x00])]);
    assert.deepEqual([...decodeRle([[frame]], GRAY_2X2)], [7, 7, 7, 7]);
  });

  const corrupt: Array<[string, Buffer]> = [
    ['a frame shorter than its header', Buffer.alloc(10)],
    ['a wrong segment count', rleFrame([Buffer.from([0xfd, 7]), Buffer.from([0xfd, 7])])],
    ['a segment that ends early', rleFrame([Buffer.from([0xff, 7])])],
    ['a literal run past the segment end', rleFrame([Buffer.from([0x05, 1, 2])])],
    ['a replicate run without its byte', rleFrame([Buffer.from([0x01, 1, 2, 0xff])])],
    [
      'an out-of-range offset',
      Buffer.concat([Buffer.from([1, 0, 0, 0, 0xff, 0, 0, 0]), Buffer.alloc(56)]),
    ],
  ];
  for (const [what, frame] of corrupt) {
    it(`refuses ${what} with VEIL_E_DICOM_CODEC`, () => {
      assert.throws(
        () => decodeRle([[frame]], GRAY_2X2),
        (e) => isVeilError(e, 'VEIL_E_DICOM_CODEC'),
      );
    });
  }

  it('refuses a frame count that does not match the geometry, and 1-bit images', () => {
    const frame = rleFrame([Buffer.from([0xfd, 7])]);
    assert.throws(
      () => decodeRle([[frame], [frame]], GRAY_2X2),
      (e) => isVeilError(e, 'VEIL_E_DICOM_CODEC'),
    );
    assert.throws(
      () => decodeRle([[frame]], { ...GRAY_2X2, bitsAllocated: 1, bitsStored: 1, highBit: 0 }),
      (e) => isVeilError(e, 'VEIL_E_DICOM_CODEC'),
    );
  });
});
