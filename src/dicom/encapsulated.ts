/**
 * Frames of encapsulated Pixel Data (PS3.5 A.4): a frame may span several fragments, and only
 * the Basic Offset Table, or a one-to-one count, tells where each frame starts.
 */
import { VeilError } from '../errors';

function malformed(message: string, details: Record<string, unknown> = {}): VeilError {
  return new VeilError('VEIL_E_DICOM_MALFORMED', message, details);
}

/** Bytes an item occupies on the wire: 8-byte item header plus the even-padded fragment. */
function itemSize(fragment: Buffer): number {
  return 8 + fragment.length + (fragment.length % 2);
}

function framesByOffsetTable(table: Buffer, data: readonly Buffer[], frames: number): Buffer[][] {
  if (table.length % 4 !== 0 || table.length / 4 !== frames) {
    throw malformed('Basic Offset Table does not have one entry per frame', {
      entries: Math.floor(table.length / 4),
      frames,
    });
  }
  // Offsets count from the first byte of the first fragment's item tag (PS3.5 A.4).
  const fragmentAt = new Map<number, number>();
  let offset = 0;
  data.forEach((fragment, index) => {
    fragmentAt.set(offset, index);
    offset += itemSize(fragment);
  });
  const starts: number[] = [];
  for (let frame = 0; frame < frames; frame++) {
    const start = fragmentAt.get(table.readUInt32LE(frame * 4));
    const previous = starts[starts.length - 1];
    if (
      start === undefined ||
      (frame === 0 && start !== 0) ||
      (previous !== undefined && start <= previous)
    ) {
      throw malformed('Basic Offset Table entry does not point at a fragment in order', { frame });
    }
    starts.push(start);
  }
  return starts.map((start, frame) => data.slice(start, starts[frame + 1] ?? data.length));
}

/**
 * Groups encapsulated fragments (fragments[0] = BOT) into frames: by Basic Offset Table when
 * present, one fragment per frame when counts match, all fragments = one frame when frames==1.
 * Throws VEIL_E_DICOM_MALFORMED when the grouping cannot be known.
 */
export function framesOfFragments(fragments: Buffer[], frames: number): Buffer[][] {
  if (!Number.isSafeInteger(frames) || frames < 1) {
    throw new VeilError('VEIL_E_DICOM_BAD_GEOMETRY', 'Number of frames must be a positive integer');
  }
  const [table, ...data] = fragments;
  if (table === undefined || data.length === 0) {
    throw malformed('Encapsulated Pixel Data holds no fragments');
  }
  if (table.length > 0) return framesByOffsetTable(table, data, frames);
  if (frames === 1) return [data];
  if (data.length === frames) return data.map((fragment) => [fragment]);
  throw malformed(
    'Cannot tell which fragments belong to which frame without a Basic Offset Table',
    {
      fragments: data.length,
      frames,
    },
  );
}
