/**
 * Keyed, deterministic choice of the samples that carry the payload. Part of protection format
 * version 1: changing anything here makes archived objects unreadable.
 */
import { type Cipher, createCipheriv, createHmac } from 'node:crypto';
import { VeilError } from '../errors';

/** Draws are 48-bit big-endian integers from the keystream; sampleCount may not exceed this. */
const DRAW_BYTES = 6;
const DRAW_RANGE = 2 ** 48;
/** Most keystream bytes produced at once, so a huge request does not allocate it all up front. */
const MAX_CHUNK = 64 * 1024;

/**
 * Deterministic stream of distinct sample indices in [0, sampleCount) from a keyed generator:
 * AES-256-CTR keystream under HMAC-SHA-256(key, domain label), unbiased rejection sampling of
 * 48-bit draws, and a partial Fisher-Yates shuffle over a lazily materialised map for
 * distinctness (fast at any fill ratio, even count = sampleCount). The first n positions are the
 * same whatever total is asked for later.
 */
export function selectPositions(key: Buffer, count: number, sampleCount: number): number[] {
  if (key.length === 0) {
    throw new VeilError('VEIL_E_KEY_INVALID', 'The stego position key is empty.');
  }
  if (!Number.isSafeInteger(sampleCount) || sampleCount < 0 || sampleCount > DRAW_RANGE) {
    throw new VeilError(
      'VEIL_E_DICOM_BAD_GEOMETRY',
      `Sample count ${String(sampleCount)} is outside 0..2^48.`,
    );
  }
  if (!Number.isSafeInteger(count) || count < 0 || count > sampleCount) {
    throw new VeilError(
      'VEIL_E_STEGO_CAPACITY',
      `Cannot choose ${String(count)} positions among ${sampleCount} samples.`,
      { count, sampleCount },
    );
  }
  const stream = new KeyStream(key, count);
  // Virtual array a[i] = i; `moved` holds only the entries the shuffle has displaced.
  const moved = new DisplacedEntries(count);
  const positions = new Array<number>(count);
  for (let k = 0; k < count; k++) {
    const j = k + stream.below(sampleCount - k);
    const atJ = moved.get(j);
    // Index k is never drawn again (later draws start above it), so its entry is left behind.
    if (j !== k) moved.set(j, moved.get(k));
    positions[k] = atJ;
  }
  return positions;
}

/**
 * The displaced entries of the virtual array: an open-addressing table of at most `capacity`
 * inserts (linear probing, no deletion: an index once passed is never read again). Integers up to
 * 2^48 are exact in a Float64Array. A Map did the same at ~3x the cost per draw.
 */
class DisplacedEntries {
  private readonly keys: Float64Array;
  private readonly values: Float64Array;
  private readonly mask: number;

  constructor(capacity: number) {
    let size = 16;
    while (size < capacity * 2) size *= 2;
    this.keys = new Float64Array(size).fill(-1);
    this.values = new Float64Array(size);
    this.mask = size - 1;
  }

  /** a[index]: the value moved there, else the index itself. */
  get(index: number): number {
    for (let slot = this.slotOf(index); ; slot = (slot + 1) & this.mask) {
      const k = this.keys[slot]!;
      if (k === index) return this.values[slot]!;
      if (k === -1) return index;
    }
  }

  set(index: number, value: number): void {
    for (let slot = this.slotOf(index); ; slot = (slot + 1) & this.mask) {
      const k = this.keys[slot]!;
      if (k === index || k === -1) {
        this.keys[slot] = index;
        this.values[slot] = value;
        return;
      }
    }
  }

  private slotOf(index: number): number {
    // Low and high 32 bits mixed by a multiplicative hash; indices run below 2^48.
    const low = index >>> 0;
    const high = (index - low) / 2 ** 32;
    return Math.imul(low ^ Math.imul(high, 0x9e3779b1), 0x85ebca6b) & this.mask;
  }
}

/**
 * a % b for integers 0 <= a <= 2^48, 1 <= b <= 2^48, exactly, without the float remainder (a call
 * into C in V8): the quotient from a float division is at most one off, and q * b < 2^53 is exact.
 */
function mod(a: number, b: number): number {
  const r = a - Math.floor(a / b) * b;
  return r < 0 ? r + b : r >= b ? r - b : r;
}

/** AES-256-CTR keystream (zero IV: the key is single-purpose) read as 48-bit integers. */
class KeyStream {
  private readonly cipher: Cipher;
  private buffer = Buffer.alloc(0);
  private offset = 0;
  private readonly chunk: number;

  constructor(key: Buffer, expectedDraws: number) {
    // Domain separation, and any key length becomes a 256-bit AES key.
    const aesKey = createHmac('sha256', key).update('veil/v1/stego/positions').digest();
    this.cipher = createCipheriv('aes-256-ctr', aesKey, Buffer.alloc(16));
    // Room for the expected draws plus some rejections, in whole AES blocks.
    const wanted = Math.ceil((expectedDraws * DRAW_BYTES * 1.125 + 64) / 16) * 16;
    this.chunk = Math.min(MAX_CHUNK, wanted);
  }

  /** Uniform integer in [0, bound), 1 <= bound <= 2^48, by rejection of the biased tail. */
  below(bound: number): number {
    const limit = DRAW_RANGE - mod(DRAW_RANGE, bound);
    for (;;) {
      const draw = this.next48();
      if (draw < limit) return mod(draw, bound);
    }
  }

  private next48(): number {
    if (this.offset + DRAW_BYTES > this.buffer.length) {
      // CTR is a stream: chunk boundaries do not change the bytes, only when they are made.
      const rest = this.buffer.subarray(this.offset);
      this.buffer = Buffer.concat([rest, this.cipher.update(Buffer.alloc(this.chunk))]);
      this.offset = 0;
    }
    // readUIntBE(offset, 6), as a 16-bit and a 32-bit read (the general read is the slower path).
    const draw =
      this.buffer.readUInt16BE(this.offset) * 2 ** 32 + this.buffer.readUInt32BE(this.offset + 2);
    this.offset += DRAW_BYTES;
    return draw;
  }
}
