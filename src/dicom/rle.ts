/**
 * RLE Lossless decoding (PS3.5 Annex G) into native little-endian Pixel Data, so RLE images
 * can be protected like uncompressed ones.
 */
import { VeilError } from '../errors';
import type { PixelGeometry } from './geometry';

const HEADER_BYTES = 64;
const MAX_SEGMENTS = 15;

function codec(message: string, details: Record<string, unknown> = {}): VeilError {
  return new VeilError('VEIL_E_DICOM_CODEC', message, details);
}

/**
 * Decodes one PackBits segment (PS3.5 G.3.1) into `count` bytes of `out`, `stride` bytes apart.
 * Output beyond `count` is ignored: some encoders pad a segment with an extra byte.
 */
function decodeSegment(
  src: Buffer,
  start: number,
  end: number,
  out: Buffer,
  outStart: number,
  stride: number,
  count: number,
): void {
  let p = start;
  let n = 0;
  let o = outStart;
  while (n < count) {
    if (p >= end) throw codec('RLE segment ends before the image is complete');
    const control = src[p++]!;
    if (control < 128) {
      // Literal run of control + 1 bytes.
      const length = control + 1;
      if (p + length > end) throw codec('RLE literal run passes the end of its segment');
      const take = Math.min(length, count - n);
      for (let i = 0; i < take; i++, o += stride) out[o] = src[p + i]!;
      p += length;
      n += take;
    } else if (control > 128) {
      // Replicate run: the next byte 257 - control times.
      if (p >= end) throw codec('RLE replicate run passes the end of its segment');
      const byte = src[p++]!;
      const take = Math.min(257 - control, count - n);
      for (let i = 0; i < take; i++, o += stride) out[o] = byte;
      n += take;
    }
    // control === 128 (-128) is a no-op (PS3.5 G.3.1).
  }
}

function decodeFrame(
  frame: Buffer,
  geometry: PixelGeometry,
  out: Buffer,
  frameStart: number,
  frameIndex: number,
): void {
  const bytesPerSample = geometry.bitsAllocated / 8;
  const samples = geometry.samplesPerPixel;
  const pixels = geometry.rows * geometry.columns;
  if (frame.length < HEADER_BYTES)
    throw codec('RLE frame is shorter than its header', { frame: frameIndex });
  const segments = frame.readUInt32LE(0);
  if (segments !== samples * bytesPerSample || segments > MAX_SEGMENTS) {
    throw codec('RLE segment count does not match the image geometry', {
      frame: frameIndex,
      segments,
      expected: samples * bytesPerSample,
    });
  }
  const offsets: number[] = [];
  for (let i = 0; i < segments; i++) offsets.push(frame.readUInt32LE(4 + i * 4));
  offsets.push(frame.length);
  for (let i = 0; i < segments; i++) {
    if (offsets[i]! < HEADER_BYTES || offsets[i]! > offsets[i + 1]!) {
      throw codec('RLE segment offsets are out of order or out of range', { frame: frameIndex });
    }
  }
  // Segments run sample by sample, most significant byte first (PS3.5 G.2); the output is
  // little endian, so byte b of a sample lands at position bytesPerSample - 1 - b.
  const planar = geometry.planarConfiguration === 1;
  for (let s = 0; s < samples; s++) {
    for (let b = 0; b < bytesPerSample; b++) {
      const segment = s * bytesPerSample + b;
      const byteInSample = bytesPerSample - 1 - b;
      const first = planar
        ? frameStart + s * pixels * bytesPerSample + byteInSample
        : frameStart + s * bytesPerSample + byteInSample;
      const stride = planar ? bytesPerSample : samples * bytesPerSample;
      decodeSegment(frame, offsets[segment]!, offsets[segment + 1]!, out, first, stride, pixels);
    }
  }
}

/**
 * Decodes RLE Lossless (PS3.5 Annex G) frames into native little-endian pixel data with
 * PlanarConfiguration as given in geometry (RLE segments are planar by nature: colour-by-pixel
 * output must interleave). Throws VEIL_E_DICOM_CODEC on corrupt data.
 */
export function decodeRle(frames: Buffer[][], geometry: PixelGeometry): Buffer {
  if (geometry.bitsAllocated === 1) throw codec('RLE with BitsAllocated 1 is not supported');
  if (frames.length !== geometry.frames) {
    throw codec('RLE frame count does not match Number of Frames', {
      frames: frames.length,
      expected: geometry.frames,
    });
  }
  const out = Buffer.alloc(geometry.frameBytes * geometry.frames);
  frames.forEach((fragments, index) => {
    const frame = fragments.length === 1 ? fragments[0]! : Buffer.concat(fragments);
    decodeFrame(frame, geometry, out, index * geometry.frameBytes, index);
  });
  return out;
}
