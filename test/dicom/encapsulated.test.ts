import assert from 'node:assert/strict';
import { framesOfFragments } from '../../src/dicom';
import { isVeilError } from '../../src/errors';

/** A Basic Offset Table with the given offsets. */
function table(...offsets: number[]): Buffer {
  const out = Buffer.alloc(offsets.length * 4);
  offsets.forEach((o, i) => out.writeUInt32LE(o, i * 4));
  return out;
}

const EMPTY = Buffer.alloc(0);
const a = Buffer.alloc(10, 1);
const b = Buffer.alloc(4, 2);
const c = Buffer.alloc(6, 3);

describe('dicom/encapsulated', () => {
  it('groups fragments by the Basic Offset Table (offsets count item headers)', () => {
    // a: 8 + 10 = 18 bytes, b: 8 + 4 = 12, so frame 2 starts at 30 with c.
    assert.deepEqual(framesOfFragments([table(0, 30), a, b, c], 2), [[a, b], [c]]);
  });

  it('counts an odd fragment as padded to even length', () => {
    const odd = Buffer.alloc(3, 9);
    assert.deepEqual(framesOfFragments([table(0, 12), odd, c], 2), [[odd], [c]]);
  });

  it('gives one fragment per frame when the counts match and there is no table', () => {
    assert.deepEqual(framesOfFragments([EMPTY, a, b, c], 3), [[a], [b], [c]]);
  });

  it('gives all fragments to the only frame', () => {
    assert.deepEqual(framesOfFragments([EMPTY, a, b, c], 1), [[a, b, c]]);
  });

  const malformed: Array<[string, Buffer[], number]> = [
    ['no fragments at all', [EMPTY], 1],
    ['an empty list', [], 1],
    ['ambiguous counts without a table', [EMPTY, a, b, c], 2],
    ['a table with the wrong number of entries', [table(0), a, b], 2],
    ['a table of odd length', [Buffer.alloc(5), a, b], 2],
    ['a table entry between fragments', [table(0, 20), a, b, c], 2],
    ['a first entry that is not 0', [table(18, 30), a, b, c], 2],
    ['entries out of order', [table(0, 30, 18), a, b, c], 3],
  ];
  for (const [what, fragments, frames] of malformed) {
    it(`refuses ${what} with VEIL_E_DICOM_MALFORMED`, () => {
      assert.throws(
        () => framesOfFragments(fragments, frames),
        (e) => isVeilError(e, 'VEIL_E_DICOM_MALFORMED'),
      );
    });
  }

  it('refuses a frame count below 1 with VEIL_E_DICOM_BAD_GEOMETRY', () => {
    assert.throws(
      () => framesOfFragments([EMPTY, a], 0),
      (e) => isVeilError(e, 'VEIL_E_DICOM_BAD_GEOMETRY'),
    );
  });
});
