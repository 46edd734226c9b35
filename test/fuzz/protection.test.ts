import assert from 'node:assert/strict';
import fc from 'fast-check';
import { diffDataSets, parsePart10 } from '../../src/dicom';
import { isVeilError } from '../../src/errors';
import { inspect, protect, reveal } from '../../src/protection';
import { type TestKey, testKey } from '../helpers/keys';
import { protectOptions, revealOptions } from '../helpers/options';
import { syntheticInstance } from '../helpers/synthetic';
import { Outcomes, editsArb, mutate } from './hostile';

/** The revealed data set must equal the original element for element (the meta is outside the MAC). */
function assertExactOriginal(original: Buffer, revealed: Buffer): void {
  const a = parsePart10(original);
  const b = parsePart10(revealed);
  assert.deepEqual(diffDataSets(a.dataset, b.dataset), [], 'data set differs');
}

describe('fuzz/protection', () => {
  let key: TestKey;
  let originals: Buffer[];
  let protectedObjects: Buffer[];

  before(async () => {
    key = await testKey();
    originals = [
      syntheticInstance({ rows: 8, columns: 8 }),
      syntheticInstance({ rows: 6, columns: 5, bitsAllocated: 8, samplesPerPixel: 3 }),
    ];
    protectedObjects = originals.map((o) => protect(o, protectOptions([key])).bytes);
  });

  it('reveals the unmutated protected objects exactly', () => {
    originals.forEach((o, i) =>
      assertExactOriginal(o, reveal(protectedObjects[i]!, revealOptions([key])).bytes),
    );
  });

  it('reveal of a mutated protected object returns the exact original or throws a VeilError', () => {
    const o = new Outcomes();
    const opts = revealOptions([key]);
    fc.assert(
      fc.property(fc.nat({ max: 1 }), editsArb, (s, edits) => {
        const bytes = mutate(protectedObjects[s]!, edits);
        o.run(() => inspect(bytes));
        const revealed = o.run(() => reveal(bytes, opts));
        if (revealed) assertExactOriginal(originals[s]!, revealed.bytes);
      }),
      { numRuns: 400 },
    );
    if (process.env.VEIL_FUZZ_REPORT)
      console.error('reveal', o.total, Object.fromEntries(o.counts));
    assert.ok((o.counts.get('VEIL_E_REVEAL_HEADER_TAMPERED') ?? 0) > 0);
  });

  it('refuses a protected object whose private creator was altered (not attributes-only)', () => {
    const bytes = Buffer.from(protectedObjects[0]!);
    const at = bytes.indexOf('VEIL PROTECTION 1');
    bytes[at] = 0x57; // 'W'
    assert.throws(
      () => reveal(bytes, revealOptions([key])),
      (err: unknown) => isVeilError(err) && err.code === 'VEIL_E_REVEAL_FORMAT',
    );
  });

  it('protect of mutated originals returns an object that reveals to it, or throws a VeilError', () => {
    const o = new Outcomes();
    fc.assert(
      fc.property(fc.nat({ max: 1 }), editsArb, (s, edits) => {
        const bytes = mutate(originals[s]!, edits);
        const result = o.run(() => protect(bytes, protectOptions([key])));
        if (result) {
          const revealed = reveal(result.bytes, revealOptions([key])).bytes;
          assert.deepEqual(
            diffDataSets(parsePart10(bytes).dataset, parsePart10(revealed).dataset),
            [],
          );
        }
      }),
      { numRuns: 150 },
    );
    if (process.env.VEIL_FUZZ_REPORT)
      console.error('protect', o.total, Object.fromEntries(o.counts));
  });
});
