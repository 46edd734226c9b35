/**
 * One frame of an image as the analysis sees it: the stored value of every sample as a level
 * 0..2^bits-1 (signed values in offset binary, so levels keep their order), channels interleaved.
 */
import type { PixelGeometry } from '../dicom';
import { VeilError } from '../errors';

/** A frame's samples as levels; index (y * width + x) * channels + c. */
export interface Plane {
  width: number;
  height: number;
  channels: number;
  /** Bits Stored: levels run 0..2^bits-1. */
  bits: number;
  levels: Uint16Array;
}

/** Stored-bit depths the analysis handles (histograms need 2^bits bins). */
export const ANALYSIS_BITS = { min: 4, max: 16 } as const;

/** Throws VEIL_E_DICOM_BAD_GEOMETRY for pixels the analysis cannot read (1- or 32-bit cells, deep data). */
export function checkAnalysable(g: PixelGeometry): void {
  if (g.bitsAllocated !== 8 && g.bitsAllocated !== 16) {
    throw new VeilError(
      'VEIL_E_DICOM_BAD_GEOMETRY',
      `Analysis reads 8- or 16-bit allocated samples, not ${g.bitsAllocated}.`,
    );
  }
  if (g.bitsStored < ANALYSIS_BITS.min || g.bitsStored > ANALYSIS_BITS.max) {
    throw new VeilError(
      'VEIL_E_DICOM_BAD_GEOMETRY',
      `Analysis handles ${ANALYSIS_BITS.min} to ${ANALYSIS_BITS.max} stored bits, not ${g.bitsStored}.`,
    );
  }
}

/**
 * Reads frame `frame` of native Pixel Data into a Plane. Only the stored bits count (PS3.5 8.1.1:
 * bits above HighBit, e.g. old overlays, are ignored); two's complement values get their top stored
 * bit flipped, which maps -2^(b-1)..2^(b-1)-1 onto 0..2^b-1 in order.
 */
export function readPlane(pixels: Uint8Array, g: PixelGeometry, frame: number): Plane {
  checkAnalysable(g);
  const { rows: height, columns: width, samplesPerPixel: channels } = g;
  const perFrame = width * height * channels;
  const levels = new Uint16Array(perFrame);
  const shift = g.highBit - g.bitsStored + 1;
  const mask = 2 ** g.bitsStored - 1;
  const flip = g.pixelRepresentation === 1 ? 2 ** (g.bitsStored - 1) : 0;
  const bytes = g.bitsAllocated / 8;
  const base = frame * perFrame;
  const planeSize = width * height;
  for (let i = 0; i < perFrame; i++) {
    // Planar Configuration 1 stores RR..GG..BB.. per frame (PS3.3 C.7.6.3.1.3).
    const pixel = Math.floor(i / channels);
    const c = i % channels;
    const src = base + (g.planarConfiguration === 1 ? c * planeSize + pixel : i);
    const raw = bytes === 1 ? pixels[src]! : pixels[2 * src]! | (pixels[2 * src + 1]! << 8);
    levels[i] = ((raw >>> shift) & mask) ^ flip;
  }
  return { width, height, channels, bits: g.bitsStored, levels };
}

/** A plane with the same shape and other levels. */
export function withLevels(plane: Plane, levels: Uint16Array): Plane {
  return { ...plane, levels };
}
