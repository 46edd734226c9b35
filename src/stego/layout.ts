/**
 * Where the samples of native Pixel Data sit and which bit of each is its lowest stored bit
 * (PS3.5 8.1.1 and PS3.3 C.7.6.3.1.1: BitsAllocated, BitsStored, HighBit).
 */
import { VeilError } from '../errors';

/** Where the samples are and which bit is their lowest *stored* bit. */
export interface SampleLayout {
  bitsAllocated: 1 | 8 | 16 | 32;
  /** Bit index (0 = least significant of the little-endian cell) of the lowest stored bit:
   *  HighBit - BitsStored + 1. Bits above HighBit (e.g. overlay bits) are never touched. */
  lsbBit: number;
  /** Number of samples (rows*columns*frames*samplesPerPixel). Capacity in bits equals this. */
  sampleCount: number;
  /** BitsStored, for the PSNR of the report. Set by sampleLayout(); when absent the stored bits
   *  are taken to run from lsbBit to the top of the cell. */
  bitsStored?: number;
}

/** Builds the layout from the pixel geometry; VEIL_E_DICOM_BAD_GEOMETRY when it is inconsistent. */
export function sampleLayout(g: {
  bitsAllocated: 1 | 8 | 16 | 32;
  bitsStored: number;
  highBit: number;
  sampleCount: number;
}): SampleLayout {
  const { bitsAllocated, bitsStored, highBit, sampleCount } = g;
  if (![1, 8, 16, 32].includes(bitsAllocated)) {
    throw badGeometry(`Bits Allocated ${String(bitsAllocated)} is not 1, 8, 16 or 32.`);
  }
  if (!Number.isInteger(bitsStored) || bitsStored < 1 || bitsStored > bitsAllocated) {
    throw badGeometry(`Bits Stored ${String(bitsStored)} is outside 1..${bitsAllocated}.`);
  }
  // PS3.3 C.7.6.3.1.1: the stored bits end at HighBit, inside the allocated cell.
  if (!Number.isInteger(highBit) || highBit < bitsStored - 1 || highBit > bitsAllocated - 1) {
    throw badGeometry(
      `High Bit ${String(highBit)} is outside ${bitsStored - 1}..${bitsAllocated - 1}.`,
    );
  }
  const layout: SampleLayout = {
    bitsAllocated,
    lsbBit: highBit - bitsStored + 1,
    sampleCount,
    bitsStored,
  };
  checkLayout(layout);
  return layout;
}

/** Throws VEIL_E_DICOM_BAD_GEOMETRY when a (possibly hand-built) layout cannot be addressed. */
export function checkLayout(layout: SampleLayout): void {
  const { bitsAllocated, lsbBit, sampleCount } = layout;
  if (![1, 8, 16, 32].includes(bitsAllocated)) {
    throw badGeometry(`Bits Allocated ${String(bitsAllocated)} is not 1, 8, 16 or 32.`);
  }
  if (!Number.isInteger(lsbBit) || lsbBit < 0 || lsbBit > bitsAllocated - 1) {
    throw badGeometry(
      `Lowest stored bit ${String(lsbBit)} is outside the ${bitsAllocated}-bit cell.`,
    );
  }
  if (!Number.isSafeInteger(sampleCount) || sampleCount < 0) {
    throw badGeometry(`Sample count ${String(sampleCount)} is not a non-negative integer.`);
  }
  const stored = storedBitsOf(layout);
  if (!Number.isInteger(stored) || stored < 1 || lsbBit + stored > bitsAllocated) {
    throw badGeometry(`Bits Stored ${String(stored)} does not fit above bit ${lsbBit}.`);
  }
}

/** BitsStored of the layout (see SampleLayout.bitsStored for the default). */
export function storedBitsOf(layout: SampleLayout): number {
  return layout.bitsStored ?? layout.bitsAllocated - layout.lsbBit;
}

/** Bytes the samples occupy: 1-bit samples are packed eight to a byte (PS3.5 8.1.1). */
export function pixelBytesOf(layout: SampleLayout): number {
  return layout.bitsAllocated === 1
    ? Math.ceil(layout.sampleCount / 8)
    : layout.sampleCount * (layout.bitsAllocated / 8);
}

function badGeometry(message: string): VeilError {
  return new VeilError('VEIL_E_DICOM_BAD_GEOMETRY', message);
}
