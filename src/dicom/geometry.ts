/**
 * Pixel geometry of an image (PS3.3 C.7.6.3 Image Pixel Module): how many samples, frames and
 * bits the Pixel Data holds, validated so that stego and encryption can trust the numbers.
 */
import { VeilError } from '../errors';
import { formatTag, type DataSet, type Tag } from './data-set';
import { Tags } from './tags';

/** Pixel geometry read from the Image Pixel Module attributes. */
export interface PixelGeometry {
  rows: number;
  columns: number;
  /** Number of Frames (0028,0008), 1 when absent. */
  frames: number;
  samplesPerPixel: 1 | 3;
  /** 0 = colour-by-pixel (RGBRGB...), 1 = colour-by-plane (RR..GG..BB..); 0 when absent. */
  planarConfiguration: 0 | 1;
  bitsAllocated: 1 | 8 | 16 | 32;
  bitsStored: number;
  highBit: number;
  /** 0 unsigned, 1 two's complement. */
  pixelRepresentation: 0 | 1;
  photometricInterpretation: string;
  /** rows * columns * frames * samplesPerPixel. */
  sampleCount: number;
  /**
   * Bytes of one native frame. For bitsAllocated 1 this is ceil(bits of one frame / 8), but
   * 1-bit frames are NOT byte aligned in Pixel Data (PS3.5 8.1.1): frame n starts at bit
   * n * rows * columns * samplesPerPixel, so use sampleCount-based bit offsets, not n * frameBytes.
   */
  frameBytes: number;
  /** ceil(sampleCount * bitsAllocated / 8): native Pixel Data must be at least this long. */
  expectedBytes: number;
}

function bad(message: string, details: Record<string, unknown> = {}): VeilError {
  return new VeilError('VEIL_E_DICOM_BAD_GEOMETRY', message, details);
}

function required(dataset: DataSet, tag: Tag, keyword: string): number {
  const value = dataset.uint16(tag);
  if (value === undefined) {
    throw new VeilError(
      'VEIL_E_DICOM_MISSING_ATTRIBUTE',
      `${keyword} ${formatTag(tag)} is missing`,
      {
        attribute: keyword,
      },
    );
  }
  return value;
}

function frameCount(dataset: DataSet): number {
  const element = dataset.get(Tags.NumberOfFrames);
  const text = dataset.string(Tags.NumberOfFrames);
  if (element === undefined || text === undefined) return 1;
  // Number of Frames is IS (a decimal string); accept a binary US from odd writers too.
  const frames = element.vr === 'US' ? dataset.uint16(Tags.NumberOfFrames) : Number(text.trim());
  if (frames === undefined || !Number.isSafeInteger(frames) || frames < 1) {
    throw bad('NumberOfFrames must be a positive integer');
  }
  return frames;
}

/**
 * Reads and validates the pixel geometry of an image data set. Throws
 * VEIL_E_DICOM_MISSING_ATTRIBUTE when a required attribute is absent and
 * VEIL_E_DICOM_BAD_GEOMETRY when the values are inconsistent or unsupported.
 */
export function readGeometry(dataset: DataSet): PixelGeometry {
  const rows = required(dataset, Tags.Rows, 'Rows');
  const columns = required(dataset, Tags.Columns, 'Columns');
  const samplesPerPixel = required(dataset, Tags.SamplesPerPixel, 'SamplesPerPixel');
  const bitsAllocated = required(dataset, Tags.BitsAllocated, 'BitsAllocated');
  const bitsStored = required(dataset, Tags.BitsStored, 'BitsStored');
  const highBit = required(dataset, Tags.HighBit, 'HighBit');
  const pixelRepresentation = required(dataset, Tags.PixelRepresentation, 'PixelRepresentation');
  const photometricInterpretation = dataset.string(Tags.PhotometricInterpretation)?.trim();
  if (photometricInterpretation === undefined) {
    throw new VeilError(
      'VEIL_E_DICOM_MISSING_ATTRIBUTE',
      `PhotometricInterpretation ${formatTag(Tags.PhotometricInterpretation)} is missing`,
      { attribute: 'PhotometricInterpretation' },
    );
  }
  const planarConfiguration = dataset.uint16(Tags.PlanarConfiguration) ?? 0;
  const frames = frameCount(dataset);

  if (rows < 1 || columns < 1)
    throw bad('Rows and Columns must be greater than 0', { rows, columns });
  if (samplesPerPixel !== 1 && samplesPerPixel !== 3) {
    throw bad('SamplesPerPixel must be 1 or 3', { samplesPerPixel });
  }
  if (bitsAllocated !== 1 && bitsAllocated !== 8 && bitsAllocated !== 16 && bitsAllocated !== 32) {
    throw bad('BitsAllocated must be 1, 8, 16 or 32', { bitsAllocated });
  }
  if (bitsStored < 1 || bitsStored > bitsAllocated) {
    throw bad('BitsStored must be between 1 and BitsAllocated', { bitsStored, bitsAllocated });
  }
  // HighBit is BitsStored - 1 in practice; any position that holds all stored bits is accepted.
  if (highBit >= bitsAllocated || highBit + 1 < bitsStored) {
    throw bad('HighBit does not fit BitsStored within BitsAllocated', { highBit, bitsStored });
  }
  if (pixelRepresentation !== 0 && pixelRepresentation !== 1) {
    throw bad('PixelRepresentation must be 0 or 1', { pixelRepresentation });
  }
  if (planarConfiguration !== 0 && planarConfiguration !== 1) {
    throw bad('PlanarConfiguration must be 0 or 1', { planarConfiguration });
  }

  // Plain Number arithmetic: exact up to 2^53, far beyond 2^32-byte Pixel Data.
  const frameSamples = rows * columns * samplesPerPixel;
  const sampleCount = frameSamples * frames;
  const expectedBits = sampleCount * bitsAllocated;
  if (!Number.isSafeInteger(expectedBits)) throw bad('Pixel Data would be too large', { frames });
  return {
    rows,
    columns,
    frames,
    samplesPerPixel: samplesPerPixel as 1 | 3,
    planarConfiguration: planarConfiguration as 0 | 1,
    bitsAllocated: bitsAllocated as 1 | 8 | 16 | 32,
    bitsStored,
    highBit,
    pixelRepresentation: pixelRepresentation as 0 | 1,
    photometricInterpretation,
    sampleCount,
    frameBytes: Math.ceil((frameSamples * bitsAllocated) / 8),
    expectedBytes: Math.ceil(expectedBits / 8),
  };
}
