/**
 * Lays encoded chunks into one output buffer and reports where given regions (Pixel Data value,
 * fragments) landed, so they can be encrypted or decrypted in place: one copy, no second buffer.
 */

export interface Assembled {
  bytes: Buffer;
  /** Output offset of each requested region, in the order asked. */
  offsets: number[];
}

/**
 * Copies `chunks` into a new buffer; `regions` must be chunk objects themselves (by identity).
 * With `fillRegions: false` the regions' bytes are left for the caller to write (e.g. encrypt
 * straight from the source into them): one pass over the pixels instead of two.
 */
export function assemble(
  chunks: readonly Buffer[],
  regions: readonly Buffer[],
  options: { fillRegions?: boolean } = {},
): Assembled {
  const total = chunks.reduce((n, c) => n + c.length, 0);
  const bytes = Buffer.allocUnsafe(total);
  const skip = options.fillRegions === false ? new Set(regions) : undefined;
  const where = new Map<Buffer, number>();
  let offset = 0;
  for (const chunk of chunks) {
    where.set(chunk, offset);
    if (!skip?.has(chunk)) bytes.set(chunk, offset);
    offset += chunk.length;
  }
  const offsets = regions.map((region) => {
    const at = where.get(region);
    if (at === undefined) throw new Error('assemble: region is not one of the encoded chunks');
    return at;
  });
  return { bytes, offsets };
}

/** Overwrites the single occurrence of `placeholder` within bytes[0, end) by `replacement` (same length). */
export function patchOnce(
  bytes: Buffer,
  end: number,
  placeholder: Buffer,
  replacement: Buffer,
): void {
  if (placeholder.length !== replacement.length) throw new Error('patchOnce: length mismatch');
  const at = bytes.subarray(0, end).indexOf(placeholder);
  if (at < 0 || bytes.subarray(at + 1, end).indexOf(placeholder) >= 0) {
    throw new Error('patchOnce: placeholder not found exactly once');
  }
  replacement.copy(bytes, at);
}
