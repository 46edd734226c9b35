import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Tags, parsePart10, readGeometry } from '../../src/dicom';
import { isVeilError } from '../../src/errors';
import { inspect, protect } from '../../src/protection';
import { testKey } from '../helpers/keys';
import { protectOptions } from '../helpers/options';
import { syntheticInstance } from '../helpers/synthetic';
import { Outcomes, editsArb, mutate, part10, rawElement } from './hostile';

const report = (name: string, o: Outcomes): void => {
  if (process.env.VEIL_FUZZ_REPORT) console.error(name, o.total, Object.fromEntries(o.counts));
};

/** Every call must return or throw a VeilError; mocha's timeout bounds each test. */
function hostile(bytes: Buffer, o: Outcomes): void {
  o.run(() => parsePart10(bytes));
  o.run(() => parsePart10(bytes, { stopAtPixelData: true }));
  o.run(() => inspect(bytes));
  const parsed = o.run(() => parsePart10(bytes));
  if (parsed) o.run(() => readGeometry(parsed.dataset));
}

function expectCode(fn: () => unknown, ...codes: string[]): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isVeilError(err), `expected a VeilError, got ${String(err)}`);
    assert.ok(codes.includes(err.code), `expected ${codes.join('|')}, got ${err.code}`);
    return true;
  });
}

const SOP = rawElement(0x00080016, 'UI', Buffer.from('1.2.840.10008.5.1.4.1.1.7\0'));

describe('fuzz/parser', () => {
  const seeds = [
    syntheticInstance({ rows: 8, columns: 8 }),
    syntheticInstance({ rows: 6, columns: 5, bitsAllocated: 8, samplesPerPixel: 3 }),
    syntheticInstance({ rows: 4, columns: 4, frames: 3 }),
  ];

  it('parses the unmutated seeds', () => {
    for (const seed of seeds) assert.ok(parsePart10(seed).dataset.has(Tags.PixelData));
  });

  it('mutated samples (flips, insertions, deletions) return or throw a VeilError', () => {
    const o = new Outcomes();
    fc.assert(
      fc.property(fc.nat({ max: seeds.length - 1 }), editsArb, (s, edits) => {
        hostile(mutate(seeds[s]!, edits), o);
      }),
      { numRuns: 600 },
    );
    report('mutations', o);
    assert.ok(o.total >= 600 * 4);
  });

  it('truncations at every length return or throw a VeilError', () => {
    const o = new Outcomes();
    const seed = seeds[0]!;
    for (let n = 0; n < seed.length; n += 3) hostile(seed.subarray(0, n), o);
    report('truncations', o);
    assert.ok((o.counts.get('VEIL_E_DICOM_TRUNCATED') ?? 0) > 0);
  });

  it('random bytes, with and without a preamble and DICM, never crash', () => {
    const o = new Outcomes();
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 400 }),
        fc.constantFrom('none', 'preamble', 'dicm'),
        (raw, prefix) => {
          const body = Buffer.from(raw);
          const head =
            prefix === 'none'
              ? Buffer.alloc(0)
              : Buffer.concat([Buffer.alloc(128), Buffer.from(prefix === 'dicm' ? 'DICM' : '')]);
          hostile(Buffer.concat([head, body]), o);
        },
      ),
      { numRuns: 600 },
    );
    report('random', o);
  });

  it('random element streams (any tag, VR, lying length) never crash', () => {
    const o = new Outcomes();
    const element = fc
      .tuple(
        fc.constantFrom(0x00080016, 0x00100010, 0x00280010, 0x7fe00010, 0x00091010, 0xfffee000),
        fc.constantFrom('UI', 'US', 'SQ', 'OB', 'OW', 'UN', 'ZZ', 'PN', '\0\0'),
        fc.uint8Array({ maxLength: 24 }),
        fc.option(fc.constantFrom(0, 1, 7, 0xffff, 0xfffffff0, 0xffffffff, 100)),
      )
      .map(([tag, vr, v, lie]) => rawElement(tag, vr, Buffer.from(v), lie ?? undefined));
    fc.assert(
      fc.property(
        fc.array(element, { maxLength: 6 }),
        fc.constantFrom('1.2.840.10008.1.2.1', '1.2.840.10008.1.2', '1.2.840.10008.1.2.2'),
        (els, ts) => {
          const body = Buffer.concat([SOP, ...els]);
          hostile(part10(body, ts), o);
          hostile(body, o);
        },
      ),
      { numRuns: 600 },
    );
    report('elements', o);
  });

  it('a declared length of 0xFFFFFFF0 is refused without allocating it', () => {
    const before = process.memoryUsage();
    for (const vr of ['OB', 'UN', 'UT', 'OW']) {
      const bytes = part10(
        Buffer.concat([SOP, rawElement(0x7fe00010, vr, Buffer.alloc(16), 0xfffffff0)]),
      );
      expectCode(() => parsePart10(bytes), 'VEIL_E_DICOM_TRUNCATED', 'VEIL_E_DICOM_MALFORMED');
      expectCode(() => inspect(bytes), 'VEIL_E_DICOM_TRUNCATED', 'VEIL_E_DICOM_MALFORMED');
    }
    const after = process.memoryUsage();
    assert.ok(after.arrayBuffers - before.arrayBuffers < 64 * 1024 * 1024, 'array buffers grew');
    assert.ok(after.rss - before.rss < 256 * 1024 * 1024, 'RSS grew');
  });

  it('deep and endless sequences are refused with VEIL_E_DICOM_MALFORMED or _TRUNCATED', () => {
    const open = Buffer.concat([
      rawElement(0x00081115, 'SQ', Buffer.alloc(0), 0xffffffff),
      Buffer.from([0xfe, 0xff, 0x00, 0xe0, 0xff, 0xff, 0xff, 0xff]),
    ]);
    const deep = part10(Buffer.concat([SOP, ...Array<Buffer>(5000).fill(open)]));
    expectCode(() => parsePart10(deep), 'VEIL_E_DICOM_MALFORMED', 'VEIL_E_DICOM_TRUNCATED');
    const endless = part10(
      Buffer.concat([SOP, open, ...Array<Buffer>(2000).fill(open.subarray(12))]),
    );
    expectCode(() => parsePart10(endless), 'VEIL_E_DICOM_MALFORMED', 'VEIL_E_DICOM_TRUNCATED');
  });

  it('unknown transfer syntaxes are VEIL_E_DICOM_TRANSFER_SYNTAX', () => {
    expectCode(() => parsePart10(part10(SOP, '1.2.3.4.5.6')), 'VEIL_E_DICOM_TRANSFER_SYNTAX');
  });

  it('a preamble without DICM and non-DICOM text are VEIL_E_DICOM_NOT_DICOM', () => {
    expectCode(
      () => parsePart10(Buffer.concat([Buffer.alloc(128), Buffer.from('NOPE')])),
      'VEIL_E_DICOM_NOT_DICOM',
    );
    expectCode(
      () => parsePart10(Buffer.from('%PDF-1.7 not an image at all')),
      'VEIL_E_DICOM_NOT_DICOM',
    );
  });

  describe('protect of broken pixel data', () => {
    it('protects no pixel data header-only; refuses short pixel data and a wrong geometry with stable codes', async () => {
      const key = await testKey();
      const opts = protectOptions([key]);
      const noPixels = syntheticInstance({ extra: (ds) => ds.delete(Tags.PixelData) });
      const short = syntheticInstance({ rows: 8, columns: 8, pixels: Buffer.alloc(64) });
      const zeroRows = syntheticInstance({ rows: 0, columns: 8, pixels: Buffer.alloc(16) });
      // Objects without pixels (reports, for example) are protected header-only.
      assert.equal(protect(noPixels, opts).bytes.includes(Buffer.from('SYNTHETIC')), false);
      expectCode(() => protect(short, opts), 'VEIL_E_DICOM_PIXELS_SHORT');
      expectCode(
        () => protect(zeroRows, opts),
        'VEIL_E_DICOM_BAD_GEOMETRY',
        'VEIL_E_DICOM_PIXELS_SHORT',
      );
    });

    it('protects pixel data longer than the geometry (trailing padding) or refuses it with a code', async () => {
      const key = await testKey();
      const long = syntheticInstance({ rows: 8, columns: 8, pixels: Buffer.alloc(8 * 8 * 2 + 64) });
      const o = new Outcomes();
      o.run(() => protect(long, protectOptions([key])));
      assert.equal(o.total, 1);
    });
  });
});
