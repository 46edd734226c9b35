/**
 * WADO-RS Retrieve Frames (PS3.18 10.4.1.1.4 and 8.7.3): the frame list of the path, the Accept
 * negotiation for pixel data, and the frames of a revealed instance. Native frames go out as
 * application/octet-stream in Explicit VR Little Endian byte order (what reveal restores);
 * compressed frames go out as they were received (Veil never decodes or re-encodes pixels), under
 * their own media type (image/jpeg, image/jls, image/jp2 ...) or as application/octet-stream when
 * the client accepts any transfer syntax.
 */
import { VeilError } from '../errors';
import { TransferSyntax, framesOfFragments, readGeometry, type DataSet, Tags } from '../dicom';
import { frameMediaType, isEncapsulated } from '../dicom/transfer-syntax';
import { type MediaType, parseAccept } from './media-type';

/** Most frames one request may name: a frame list longer than this is a malformed request. */
export const MAX_FRAME_LIST = 10_000;

const OCTETS = 'application/octet-stream';

/**
 * Parses the {frames} path segment: comma-separated frame numbers from 1, in the order asked, each
 * at most once in the answer. Anything else is VEIL_E_HTTP_BAD_REQUEST.
 */
export function parseFrameList(text: string): number[] {
  const parts = text.split(',');
  if (parts.length > MAX_FRAME_LIST) {
    throw new VeilError(
      'VEIL_E_HTTP_BAD_REQUEST',
      `A frame list names at most ${MAX_FRAME_LIST} frames.`,
    );
  }
  const frames: number[] = [];
  const seen = new Set<number>();
  for (const part of parts) {
    const frame = /^[1-9][0-9]{0,9}$/.test(part) ? Number(part) : Number.NaN;
    if (!Number.isSafeInteger(frame)) {
      throw new VeilError(
        'VEIL_E_HTTP_BAD_REQUEST',
        'The frame list must be frame numbers from 1, separated by commas.',
      );
    }
    if (!seen.has(frame)) frames.push(frame);
    seen.add(frame);
  }
  return frames;
}

/** How the frames of one instance are answered: the media type of each part, with its syntax. */
export interface FramePartType {
  /** The part's Content-Type, with its transfer-syntax parameter. */
  contentType: string;
  /** The `type` parameter of the multipart/related answer. */
  multipartType: string;
}

/** True when an Accept entry asks for multipart/related of `type` (or leaves the type open). */
function asksMultipartOf(m: MediaType, type: string): boolean {
  if (m.type === '*/*' || m.type === 'multipart/*') return true;
  if (m.type !== 'multipart/related') return false;
  const asked = m.params.type?.toLowerCase();
  if (asked === undefined || asked === '*/*') return true;
  if (asked.endsWith('/*')) return type.startsWith(asked.slice(0, -1));
  return asked === type;
}

/**
 * Chooses the answer's media type for frames in `transferSyntaxUID` (the revealed instance's), or
 * throws VEIL_E_HTTP_NOT_ACCEPTABLE. Veil does not transcode: a client that names another transfer
 * syntax than the frames are in gets 406.
 */
export function negotiateFrames(
  accept: string | undefined,
  transferSyntaxUID: string,
): FramePartType {
  const compressed = isEncapsulated(transferSyntaxUID);
  const ownType = compressed ? frameMediaType(transferSyntaxUID) : OCTETS;
  const nativeSyntax = TransferSyntax.ExplicitVRLittleEndian;
  for (const m of parseAccept(accept)) {
    const ts = m.params['transfer-syntax'];
    // Its own media type: image/jpeg for JPEG frames, application/octet-stream for native ones.
    if (ownType !== undefined && asksMultipartOf(m, ownType)) {
      const syntax = compressed ? transferSyntaxUID : nativeSyntax;
      if (ts === undefined || ts === '*' || ts === syntax) {
        return {
          contentType: `${ownType}; transfer-syntax=${syntax}`,
          multipartType: ownType,
        };
      }
    }
    // Compressed frames as plain octets, for a client that takes any transfer syntax.
    if (compressed && asksMultipartOf(m, OCTETS) && (ts === '*' || ts === transferSyntaxUID)) {
      return {
        contentType: `${OCTETS}; transfer-syntax=${transferSyntaxUID}`,
        multipartType: OCTETS,
      };
    }
  }
  throw new VeilError(
    'VEIL_E_HTTP_NOT_ACCEPTABLE',
    compressed
      ? `These frames are compressed (transfer syntax ${transferSyntaxUID}) and Veil does not transcode: accept multipart/related; type="${ownType ?? OCTETS}"${ownType ? '' : '; transfer-syntax=*'}`
      : 'These frames are native: accept multipart/related; type="application/octet-stream"',
  );
}

/** The frames of a revealed instance, ready to send: each frame as the buffers it is made of. */
export interface InstanceFrames {
  /** Number of Frames of the instance. */
  count: number;
  /** The frame with this number (from 1): its bytes, in one or more buffers. */
  frame(frameNumber: number): Buffer[];
}

/**
 * The frames of an instance revealed in `transferSyntaxUID` (Explicit VR Little Endian for native
 * pixels, the received syntax for encapsulated ones). An instance without Pixel Data, or with
 * pixels shorter than its geometry, is VEIL_E_DICOM_MALFORMED / VEIL_E_NOT_FOUND with no pixel
 * byte in the message.
 */
export function framesOf(dataset: DataSet, transferSyntaxUID: string): InstanceFrames {
  const pixels = dataset.get(Tags.PixelData);
  if (pixels === undefined) {
    throw new VeilError('VEIL_E_NOT_FOUND', 'The instance has no Pixel Data, so no frames.');
  }
  const geometry = readGeometry(dataset);
  if (pixels.fragments !== undefined || isEncapsulated(transferSyntaxUID)) {
    const grouped = framesOfFragments(pixels.fragments ?? [], geometry.frames);
    return { count: grouped.length, frame: (n) => grouped[n - 1]! };
  }
  const value = pixels.value ?? Buffer.alloc(0);
  if (value.length < geometry.expectedBytes) {
    throw new VeilError(
      'VEIL_E_DICOM_MALFORMED',
      'Pixel Data is shorter than Rows x Columns x Samples x Frames.',
    );
  }
  const frameBits =
    geometry.rows * geometry.columns * geometry.samplesPerPixel * geometry.bitsAllocated;
  return {
    count: geometry.frames,
    frame: (n) => [bitsAt(value, (n - 1) * frameBits, frameBits)],
  };
}

/**
 * `length` bits of `value` from bit `start`, as whole bytes (the last one zero-padded). Byte-aligned
 * frames (all but some 1-bit ones, PS3.5 8.1.1) are views, not copies; the least significant bit
 * of a byte is the first pixel.
 */
function bitsAt(value: Buffer, start: number, length: number): Buffer {
  const bytes = Math.ceil(length / 8);
  if (start % 8 === 0 && length % 8 === 0) return value.subarray(start / 8, start / 8 + bytes);
  const out = Buffer.alloc(bytes);
  const shift = start % 8;
  const first = Math.floor(start / 8);
  for (let i = 0; i < bytes; i++) {
    const low = value[first + i]! >> shift;
    const high = shift === 0 ? 0 : ((value[first + i + 1] ?? 0) << (8 - shift)) & 0xff;
    out[i] = low | high;
  }
  const tail = length % 8;
  if (tail !== 0) out[bytes - 1] = out[bytes - 1]! & ((1 << tail) - 1);
  return out;
}
