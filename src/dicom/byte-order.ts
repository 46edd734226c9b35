/**
 * Byte order conversion for Explicit VR Big Endian input (PS3.5 7.3): values are swapped to
 * little endian by the size of their VR's numeric components; text and byte VRs are untouched.
 */

const WORD_SIZE: Readonly<Record<string, number>> = {
  US: 2,
  SS: 2,
  OW: 2,
  // AT is a pair of uint16 (group, element), each swapped on its own (PS3.5 7.3).
  AT: 2,
  UL: 4,
  SL: 4,
  FL: 4,
  OF: 4,
  OL: 4,
  FD: 8,
  OD: 8,
  SV: 8,
  UV: 8,
  OV: 8,
};

/** Size in bytes of one numeric component of a VR, or 1 when the VR needs no swapping. */
export function wordSizeOf(vr: string): number {
  return WORD_SIZE[vr] ?? 1;
}

/**
 * Returns a little-endian copy of a big-endian value whose components are `wordSize` bytes.
 * A trailing partial component (malformed length) is copied unchanged.
 */
export function swapToLittleEndian(value: Buffer, wordSize: number): Buffer {
  if (wordSize <= 1) return value;
  const out = Buffer.from(value);
  const whole = out.length - (out.length % wordSize);
  if (wordSize === 2) out.subarray(0, whole).swap16();
  else if (wordSize === 4) out.subarray(0, whole).swap32();
  else if (wordSize === 8) out.subarray(0, whole).swap64();
  return out;
}
