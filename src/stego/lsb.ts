/**
 * Reads and writes one bit per chosen sample: the lowest stored bit, never any other bit and
 * never a byte past the last sample (e.g. the padding byte of odd-length Pixel Data, PS3.5 8.1.1).
 */
import { VeilError } from '../errors';
import { type SampleLayout, checkLayout, pixelBytesOf } from './layout';
import { selectPositions } from './positions';

/** Writes `bitLength` bits of `bits` (MSB-first within each byte) into the lowest stored bit of the
 *  samples at the keyed positions, in place. Returns the restoration record: the original bits it
 *  displaced, packed MSB-first, and how many samples actually changed. */
export function embedBits(
  pixels: Uint8Array,
  layout: SampleLayout,
  key: Buffer,
  bits: Buffer,
  bitLength: number,
): { restoration: Buffer; changed: number } {
  const access = bitAccess(pixels, layout);
  checkBitBuffer(bits, bitLength, 'bits to embed');
  const positions = selectPositions(key, bitLength, layout.sampleCount);
  const restoration = Buffer.alloc(Math.ceil(bitLength / 8));
  let changed = 0;
  for (let k = 0; k < bitLength; k++) {
    const original = access.get(positions[k]!);
    if (original === 1) setPacked(restoration, k);
    if (original !== getPacked(bits, k)) {
      access.flip(positions[k]!);
      changed++;
    }
  }
  return { restoration, changed };
}

/** Reads `bitLength` bits from the keyed positions, packed MSB-first (unused tail bits zero). */
export function extractBits(
  pixels: Uint8Array,
  layout: SampleLayout,
  key: Buffer,
  bitLength: number,
): Buffer {
  return extractBitsAt(
    pixels,
    layout,
    selectPositions(key, bitLength, layout.sampleCount),
    bitLength,
  );
}

/**
 * extractBits at positions already chosen (selectPositions with the same key, at least
 * `bitLength` of them): a reveal reads and then restores the same positions, and choosing them
 * is the larger part of either step.
 */
export function extractBitsAt(
  pixels: Uint8Array,
  layout: SampleLayout,
  positions: readonly number[],
  bitLength: number,
): Buffer {
  const access = bitAccess(pixels, layout);
  checkPositions(positions, bitLength);
  const out = Buffer.alloc(Math.ceil(bitLength / 8));
  for (let k = 0; k < bitLength; k++) {
    if (access.get(positions[k]!) === 1) setPacked(out, k);
  }
  return out;
}

/** Puts the displaced original bits back, in place: the pixels become bit-identical to before embedBits. */
export function restoreBits(
  pixels: Uint8Array,
  layout: SampleLayout,
  key: Buffer,
  restoration: Buffer,
  bitLength: number,
): void {
  checkBitBuffer(restoration, bitLength, 'restoration record');
  const positions = selectPositions(key, bitLength, layout.sampleCount);
  restoreBitsAt(pixels, layout, positions, restoration, bitLength);
}

/** restoreBits at positions already chosen (see extractBitsAt). */
export function restoreBitsAt(
  pixels: Uint8Array,
  layout: SampleLayout,
  positions: readonly number[],
  restoration: Buffer,
  bitLength: number,
): void {
  const access = bitAccess(pixels, layout);
  checkBitBuffer(restoration, bitLength, 'restoration record');
  checkPositions(positions, bitLength);
  for (let k = 0; k < bitLength; k++) {
    const position = positions[k]!;
    if (access.get(position) !== getPacked(restoration, k)) access.flip(position);
  }
}

function checkPositions(positions: readonly number[], bitLength: number): void {
  if (positions.length < bitLength) {
    throw new VeilError(
      'VEIL_E_STEGO_CAPACITY',
      `${positions.length} positions were chosen; ${bitLength} bits need as many.`,
    );
  }
}

interface BitAccess {
  get(sample: number): 0 | 1;
  flip(sample: number): void;
}

/** Byte and mask of each sample's lowest stored bit; Number math so indices may pass 2^31. */
function bitAccess(pixels: Uint8Array, layout: SampleLayout): BitAccess {
  checkLayout(layout);
  const needed = pixelBytesOf(layout);
  if (pixels.length < needed) {
    throw new VeilError(
      'VEIL_E_DICOM_PIXELS_SHORT',
      `Pixel Data has ${pixels.length} bytes; ${layout.sampleCount} samples need ${needed}.`,
    );
  }
  if (layout.bitsAllocated === 1) {
    // PS3.5 8.1.1: 1-bit samples are packed LSB first, sample i in bit i mod 8 of byte i div 8.
    return accessor(
      pixels,
      (i) => Math.floor(i / 8),
      (i) => 1 << (i % 8),
    );
  }
  const width = layout.bitsAllocated / 8;
  const inCell = layout.lsbBit >> 3;
  const mask = 1 << (layout.lsbBit & 7);
  return accessor(
    pixels,
    (i) => i * width + inCell,
    () => mask,
  );
}

function accessor(
  pixels: Uint8Array,
  byteOf: (sample: number) => number,
  maskOf: (sample: number) => number,
): BitAccess {
  return {
    get: (sample) => ((pixels[byteOf(sample)]! & maskOf(sample)) === 0 ? 0 : 1),
    flip: (sample) => {
      const byte = byteOf(sample);
      pixels[byte] = pixels[byte]! ^ maskOf(sample);
    },
  };
}

function checkBitBuffer(buffer: Buffer, bitLength: number, what: string): void {
  if (!Number.isSafeInteger(bitLength) || bitLength < 0) {
    throw new VeilError('VEIL_E_STEGO_CAPACITY', `Bit length ${String(bitLength)} is not valid.`);
  }
  if (buffer.length * 8 < bitLength) {
    throw new VeilError(
      'VEIL_E_STEGO_PAYLOAD',
      `The ${what} holds ${buffer.length * 8} bits; ${bitLength} were asked for.`,
    );
  }
}

/** Bit k of an MSB-first packed buffer. */
function getPacked(buffer: Buffer, k: number): 0 | 1 {
  return ((buffer[Math.floor(k / 8)]! >> (7 - (k % 8))) & 1) as 0 | 1;
}

function setPacked(buffer: Buffer, k: number): void {
  const byte = Math.floor(k / 8);
  buffer[byte] = buffer[byte]! | (0x80 >> (k % 8));
}
