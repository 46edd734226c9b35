/** Builders of hostile DICOM input for the fuzz tests: raw elements, mutations, call outcomes. */
import fc from 'fast-check';
import { isVeilError } from '../../src/errors';

/** One Explicit VR Little Endian element with a declared length that may lie. */
export function rawElement(tag: number, vr: string, value: Buffer, declared?: number): Buffer {
  const head = Buffer.alloc(12);
  head.writeUInt16LE(tag >>> 16, 0);
  head.writeUInt16LE(tag & 0xffff, 2);
  head.write(vr, 4, 'latin1');
  if (['OB', 'OW', 'OF', 'OD', 'OL', 'OV', 'SQ', 'UC', 'UN', 'UR', 'UT', 'SV', 'UV'].includes(vr)) {
    head.writeUInt32LE(declared ?? value.length, 8);
    return Buffer.concat([head, value]);
  }
  head.writeUInt16LE((declared ?? value.length) & 0xffff, 6);
  return Buffer.concat([head.subarray(0, 8), value]);
}

/** A Part 10 file: preamble, DICM, a minimal meta with the given transfer syntax, then `body`. */
export function part10(body: Buffer, transferSyntaxUID = '1.2.840.10008.1.2.1'): Buffer {
  const ts = Buffer.from(
    transferSyntaxUID.length % 2 ? `${transferSyntaxUID}\0` : transferSyntaxUID,
  );
  const tsElement = rawElement(0x00020010, 'UI', ts);
  const groupLength = rawElement(0x00020000, 'UL', Buffer.alloc(4));
  groupLength.writeUInt32LE(tsElement.length, 8);
  return Buffer.concat([Buffer.alloc(128), Buffer.from('DICM'), groupLength, tsElement, body]);
}

/** One edit of a mutation: flip (xor), insert or delete one byte at a position. */
export type Edit = [position: number, kind: 0 | 1 | 2, byte: number];

/** Up to four random edits. */
export const editsArb: fc.Arbitrary<Edit[]> = fc.array(
  fc.tuple(fc.nat(), fc.constantFrom<0 | 1 | 2>(0, 1, 2), fc.integer({ min: 1, max: 255 })),
  { minLength: 1, maxLength: 4 },
);

/** Applies edits to a copy of `bytes`. */
export function mutate(bytes: Buffer, edits: readonly Edit[]): Buffer {
  let out = Buffer.from(bytes);
  for (const [p, kind, byte] of edits) {
    const at = p % (out.length + 1);
    if (kind === 0 && at < out.length) out[at] ^= byte;
    else if (kind === 1)
      out = Buffer.concat([out.subarray(0, at), Buffer.from([byte]), out.subarray(at)]);
    else if (kind === 2) out = Buffer.concat([out.subarray(0, at), out.subarray(at + 1)]);
  }
  return out;
}

/** Tally of outcomes per error code ('ok' for a normal return); rethrows anything not a VeilError. */
export class Outcomes {
  readonly counts = new Map<string, number>();
  /** Runs fn; a VeilError is counted by code, any other throw fails the property. */
  run<T>(fn: () => T): T | undefined {
    try {
      const result = fn();
      this.add('ok');
      return result;
    } catch (err) {
      if (!isVeilError(err)) throw err;
      this.add(err.code);
      return undefined;
    }
  }
  private add(key: string): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }
  /** Total number of calls. */
  get total(): number {
    return [...this.counts.values()].reduce((a, b) => a + b, 0);
  }
}
