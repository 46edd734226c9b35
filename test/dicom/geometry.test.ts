import assert from 'node:assert/strict';
import { DataSet, Tags, readGeometry, textElement, usElement } from '../../src/dicom';
import { isVeilError, type ErrorCode } from '../../src/errors';

interface Attributes {
  rows?: number;
  columns?: number;
  samples?: number;
  allocated?: number;
  stored?: number;
  high?: number;
  representation?: number;
  planar?: number;
  frames?: string;
  photometric?: string;
}

function image(a: Attributes = {}): DataSet {
  const ds = new DataSet();
  const us = (tag: number, value: number | undefined): void => {
    if (value !== undefined) ds.set(usElement(tag, value));
  };
  us(Tags.Rows, 'rows' in a ? a.rows : 4);
  us(Tags.Columns, 'columns' in a ? a.columns : 5);
  us(Tags.SamplesPerPixel, 'samples' in a ? a.samples : 1);
  us(Tags.BitsAllocated, 'allocated' in a ? a.allocated : 16);
  us(Tags.BitsStored, 'stored' in a ? a.stored : 12);
  us(Tags.HighBit, 'high' in a ? a.high : 11);
  us(Tags.PixelRepresentation, 'representation' in a ? a.representation : 0);
  us(Tags.PlanarConfiguration, a.planar);
  if (a.frames !== undefined) ds.set(textElement(Tags.NumberOfFrames, 'IS', a.frames));
  const photometric = 'photometric' in a ? a.photometric : 'MONOCHROME2';
  if (photometric !== undefined)
    ds.set(textElement(Tags.PhotometricInterpretation, 'CS', photometric));
  return ds;
}

describe('dicom/geometry', () => {
  it('reads a 16-bit image with defaults for frames and planar configuration', () => {
    assert.deepEqual(readGeometry(image()), {
      rows: 4,
      columns: 5,
      frames: 1,
      samplesPerPixel: 1,
      planarConfiguration: 0,
      bitsAllocated: 16,
      bitsStored: 12,
      highBit: 11,
      pixelRepresentation: 0,
      photometricInterpretation: 'MONOCHROME2',
      sampleCount: 20,
      frameBytes: 40,
      expectedBytes: 40,
    });
  });

  const accepted: Array<[string, Attributes, Partial<ReturnType<typeof readGeometry>>]> = [
    [
      'multi-frame RGB by plane',
      { samples: 3, allocated: 8, stored: 8, high: 7, planar: 1, frames: '3 ', photometric: 'RGB' },
      {
        frames: 3,
        samplesPerPixel: 3,
        planarConfiguration: 1,
        sampleCount: 180,
        frameBytes: 60,
        expectedBytes: 180,
      },
    ],
    [
      '1-bit frames that are not byte aligned',
      { rows: 3, columns: 3, allocated: 1, stored: 1, high: 0, frames: '3' },
      { frameBytes: 2, expectedBytes: 4, sampleCount: 27 },
    ],
    [
      '32-bit signed',
      { allocated: 32, stored: 32, high: 31, representation: 1 },
      { expectedBytes: 80, pixelRepresentation: 1 },
    ],
    ['a HighBit above BitsStored - 1', { stored: 12, high: 15 }, { highBit: 15 }],
    [
      'sizes beyond 2^32 bytes',
      { rows: 65535, columns: 65535, frames: '4000' },
      { expectedBytes: 65535 * 65535 * 4000 * 2 },
    ],
  ];
  for (const [what, attributes, expected] of accepted) {
    it(`accepts ${what}`, () => {
      const geometry = readGeometry(image(attributes));
      for (const [key, value] of Object.entries(expected)) {
        assert.equal(geometry[key as keyof typeof geometry], value, key);
      }
    });
  }

  const rejected: Array<[string, Attributes, ErrorCode]> = [
    ['missing Rows', { rows: undefined }, 'VEIL_E_DICOM_MISSING_ATTRIBUTE'],
    ['missing Columns', { columns: undefined }, 'VEIL_E_DICOM_MISSING_ATTRIBUTE'],
    ['missing SamplesPerPixel', { samples: undefined }, 'VEIL_E_DICOM_MISSING_ATTRIBUTE'],
    ['missing BitsAllocated', { allocated: undefined }, 'VEIL_E_DICOM_MISSING_ATTRIBUTE'],
    ['missing BitsStored', { stored: undefined }, 'VEIL_E_DICOM_MISSING_ATTRIBUTE'],
    ['missing HighBit', { high: undefined }, 'VEIL_E_DICOM_MISSING_ATTRIBUTE'],
    [
      'missing PixelRepresentation',
      { representation: undefined },
      'VEIL_E_DICOM_MISSING_ATTRIBUTE',
    ],
    [
      'missing PhotometricInterpretation',
      { photometric: undefined },
      'VEIL_E_DICOM_MISSING_ATTRIBUTE',
    ],
    ['zero Rows', { rows: 0 }, 'VEIL_E_DICOM_BAD_GEOMETRY'],
    ['zero Columns', { columns: 0 }, 'VEIL_E_DICOM_BAD_GEOMETRY'],
    ['SamplesPerPixel 2', { samples: 2 }, 'VEIL_E_DICOM_BAD_GEOMETRY'],
    ['SamplesPerPixel 4', { samples: 4 }, 'VEIL_E_DICOM_BAD_GEOMETRY'],
    ['BitsAllocated 12', { allocated: 12 }, 'VEIL_E_DICOM_BAD_GEOMETRY'],
    ['BitsAllocated 64', { allocated: 64, stored: 64, high: 63 }, 'VEIL_E_DICOM_BAD_GEOMETRY'],
    ['BitsStored 0', { stored: 0 }, 'VEIL_E_DICOM_BAD_GEOMETRY'],
    [
      'BitsStored above BitsAllocated',
      { allocated: 8, stored: 12, high: 11 },
      'VEIL_E_DICOM_BAD_GEOMETRY',
    ],
    ['HighBit at BitsAllocated', { stored: 16, high: 16 }, 'VEIL_E_DICOM_BAD_GEOMETRY'],
    ['HighBit below BitsStored - 1', { stored: 12, high: 10 }, 'VEIL_E_DICOM_BAD_GEOMETRY'],
    ['PixelRepresentation 2', { representation: 2 }, 'VEIL_E_DICOM_BAD_GEOMETRY'],
    ['PlanarConfiguration 2', { planar: 2 }, 'VEIL_E_DICOM_BAD_GEOMETRY'],
    ['NumberOfFrames 0', { frames: '0' }, 'VEIL_E_DICOM_BAD_GEOMETRY'],
    ['NumberOfFrames -2', { frames: '-2' }, 'VEIL_E_DICOM_BAD_GEOMETRY'],
    ['NumberOfFrames not a number', { frames: 'many' }, 'VEIL_E_DICOM_BAD_GEOMETRY'],
    ['NumberOfFrames 1.5', { frames: '1.5' }, 'VEIL_E_DICOM_BAD_GEOMETRY'],
    [
      'a size beyond exact Number arithmetic',
      { rows: 65535, columns: 65535, frames: '2147483647', allocated: 32, stored: 32, high: 31 },
      'VEIL_E_DICOM_BAD_GEOMETRY',
    ],
  ];
  for (const [what, attributes, code] of rejected) {
    it(`rejects ${what} with ${code}`, () => {
      assert.throws(
        () => readGeometry(image(attributes)),
        (e) => isVeilError(e, code),
      );
    });
  }
});
