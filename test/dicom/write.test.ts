import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import {
  DataSet,
  Tags,
  TransferSyntax,
  VEIL_IMPLEMENTATION_CLASS_UID,
  bytesElement,
  decodeDataSet,
  diffDataSets,
  encodeDataSet,
  encodeElement,
  parsePart10,
  sequenceElement,
  textElement,
  usElement,
  writePart10,
  type Element,
} from '../../src/dicom';
import { isVeilError } from '../../src/errors';
import { runTool, tempDir } from '../helpers/tools';
import { imageDataSet } from './fixtures';

const hex = (b: Buffer): string => b.toString('hex');

describe('dicom/write', () => {
  describe('encodeElement', () => {
    it('writes 2-byte-length VRs as tag, VR, uint16 length, value', () => {
      assert.equal(
        hex(encodeElement(usElement(Tags.Rows, 512))),
        '28001000' + '5553' + '0200' + '0002',
      );
    });

    it('writes 4-byte-length VRs with two reserved bytes and a uint32 length', () => {
      for (const vr of ['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']) {
        const out = encodeElement(bytesElement(0x00091010, vr, Buffer.alloc(8)));
        assert.equal(
          hex(out.subarray(0, 12)),
          '09001010' + hex(Buffer.from(vr)) + '0000' + '08000000',
          vr,
        );
      }
    });

    it('pads odd values: NUL for UI and binary VRs, space for text', () => {
      const ui = encodeElement({ tag: Tags.SOPInstanceUID, vr: 'UI', value: Buffer.from('1.2.3') });
      assert.equal(hex(ui.subarray(6)), '0600' + hex(Buffer.from('1.2.3')) + '00');
      const lo = encodeElement({ tag: 0x00100020, vr: 'LO', value: Buffer.from('ABC') });
      assert.equal(hex(lo.subarray(6)), '0400' + hex(Buffer.from('ABC ')));
      const ob = encodeElement({ tag: 0x00091011, vr: 'OB', value: Buffer.from([1, 2, 3]) });
      assert.equal(hex(ob.subarray(8)), '04000000' + '01020300');
    });

    it('writes a 2-byte-length value longer than 0xFFFF as UN', () => {
      const out = encodeElement({ tag: 0x00081030, vr: 'LO', value: Buffer.alloc(0x10000, 0x41) });
      assert.equal(out.toString('latin1', 4, 6), 'UN');
      assert.equal(out.readUInt32LE(8), 0x10000);
    });

    it('writes sequences and items with undefined length and delimiters', () => {
      const item = new DataSet().set(usElement(Tags.Rows, 1));
      const out = encodeElement(sequenceElement(0x00081115, [item]));
      assert.equal(
        hex(out),
        '08001511' +
          '5351' +
          '0000' +
          'ffffffff' +
          'feff00e0ffffffff' +
          hex(encodeElement(usElement(Tags.Rows, 1))) +
          'feff0de000000000' +
          'feffdde000000000',
      );
    });

    it('writes encapsulated Pixel Data as OB of items, BOT first, then a sequence delimiter', () => {
      const out = encodeElement({
        tag: Tags.PixelData,
        vr: 'OB',
        fragments: [Buffer.alloc(0), Buffer.from([9, 9, 9])],
      });
      assert.equal(
        hex(out),
        'e07f1000' +
          '4f42' +
          '0000' +
          'ffffffff' +
          'feff00e000000000' +
          'feff00e004000000' +
          '09090900' +
          'feffdde000000000',
      );
    });

    it('refuses an invalid VR and a sequence given as bytes', () => {
      assert.throws(
        () => encodeElement({ tag: 0x00100010, vr: 'XX', value: Buffer.alloc(2) }),
        (e) => isVeilError(e, 'VEIL_E_DICOM_MALFORMED'),
      );
      assert.throws(
        () => encodeElement({ tag: 0x00081115, vr: 'SQ', value: Buffer.alloc(2) }),
        (e) => isVeilError(e, 'VEIL_E_DICOM_MALFORMED'),
      );
    });
  });

  describe('writePart10', () => {
    it('writes a zero preamble, DICM, a correct group length and Explicit VR LE', () => {
      const meta = new DataSet()
        .set(textElement(Tags.TransferSyntaxUID, 'UI', TransferSyntax.ImplicitVRLittleEndian))
        .set(textElement(Tags.ImplementationClassUID, 'UI', '1.2.3.4.5'))
        .set(bytesElement(Tags.FileMetaInformationGroupLength, 'UL', Buffer.alloc(4)));
      const file = Buffer.concat(writePart10(meta, imageDataSet(1, 1, Buffer.from([1, 2]))));
      assert.ok(file.subarray(0, 128).equals(Buffer.alloc(128)));
      assert.equal(file.toString('latin1', 128, 132), 'DICM');
      const parsed = parsePart10(file);
      const groupLength = parsed.meta
        .get(Tags.FileMetaInformationGroupLength)!
        .value!.readUInt32LE(0);
      assert.equal(
        file.readUInt16LE(144 + groupLength),
        0x0008,
        'the data set starts right after the meta',
      );
      assert.equal(
        parsed.meta.string(Tags.TransferSyntaxUID),
        TransferSyntax.ExplicitVRLittleEndian,
      );
      assert.equal(parsed.meta.string(Tags.ImplementationClassUID), '1.2.3.4.5', 'kept');
    });

    it('fills in the Type 1 meta elements an empty meta lacks', () => {
      const parsed = parsePart10(
        Buffer.concat(writePart10(new DataSet(), imageDataSet(1, 1, Buffer.alloc(2)))),
      );
      assert.equal(parsed.meta.string(Tags.MediaStorageSOPClassUID), '1.2.840.10008.5.1.4.1.1.7');
      assert.equal(parsed.meta.string(Tags.MediaStorageSOPInstanceUID), '1.2.3.4');
      assert.equal(parsed.meta.string(Tags.ImplementationClassUID), VEIL_IMPLEMENTATION_CLASS_UID);
      assert.ok(parsed.meta.get(0x00020001)!.value!.equals(Buffer.from([0, 1])));
    });

    it('returns Pixel Data values and fragments as chunks of their own, not copies', () => {
      const pixels = Buffer.alloc(2);
      const chunks = writePart10(new DataSet(), imageDataSet(1, 1, pixels));
      assert.ok(chunks.includes(pixels));
      const fragment = Buffer.alloc(300 * 1024, 5);
      const encapsulated = imageDataSet(1, 1, Buffer.alloc(0)).set({
        tag: Tags.PixelData,
        vr: 'OB',
        fragments: [Buffer.alloc(0), fragment],
      });
      assert.ok(writePart10(new DataSet(), encapsulated).includes(fragment));
    });

    it('refuses a meta holding elements outside group 0002', () => {
      const meta = new DataSet().set(textElement(Tags.PatientID, 'LO', 'X'));
      assert.throws(
        () => writePart10(meta, new DataSet()),
        (e) => isVeilError(e, 'VEIL_E_DICOM_MALFORMED'),
      );
    });

    it('writes files DCMTK dcmdump reads without errors (DCMTK)', () => {
      const temp = tempDir();
      try {
        const dataset = imageDataSet(2, 2, Buffer.alloc(4, 1))
          .set(
            sequenceElement(0x00081115, [
              new DataSet().set(textElement(0x00081150, 'UI', '1.2.3')),
            ]),
          )
          .set(bytesElement(0x00720082, 'SV', Buffer.alloc(8)));
        const file = path.join(temp.dir, 'out.dcm');
        writeFileSync(file, Buffer.concat(writePart10(new DataSet(), dataset)));
        const dump = runTool('dcmdump', [file]);
        assert.equal(dump.status, 0, dump.stderr);
        assert.doesNotMatch(`${dump.stdout}${dump.stderr}`, /^E:/m);
        assert.match(dump.stdout, /\(0008,1150\) UI \[1\.2\.3\]/);
      } finally {
        temp.cleanup();
      }
    });
  });

  describe('encodeDataSet / decodeDataSet', () => {
    const VALUE_VRS =
      'AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SS ST SV TM UC UI UL UN UR US UT UV'.split(
        ' ',
      );
    const tagArb = fc
      .tuple(fc.integer({ min: 0x0004, max: 0x7fde }), fc.integer({ min: 0x0001, max: 0xffff }))
      .map(([group, element]) => (group * 0x10000 + element) >>> 0);
    const evenBytes = (max: number): fc.Arbitrary<Buffer> =>
      fc.uint8Array({ maxLength: max }).map((a) => Buffer.from(a.length % 2 ? a.subarray(1) : a));
    const valueArb: fc.Arbitrary<Omit<Element, 'tag'>> = fc
      .tuple(fc.constantFrom(...VALUE_VRS), evenBytes(64))
      .map(([vr, value]) => ({ vr, value }));
    const { dataset } = fc.letrec<{ dataset: DataSet; element: Omit<Element, 'tag'> }>((tie) => ({
      dataset: fc.array(fc.tuple(tagArb, tie('element')), { maxLength: 6 }).map((pairs) => {
        const ds = new DataSet();
        for (const [tag, el] of pairs) ds.set({ ...el, tag } as Element);
        return ds;
      }),
      element: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        valueArb,
        fc
          .array(tie('dataset') as fc.Arbitrary<DataSet>, { maxLength: 3 })
          .map((items) => ({ vr: 'SQ', items })),
      ),
    }));

    it('round-trips random element lists, nested sequences included', () => {
      fc.assert(
        fc.property(
          dataset as fc.Arbitrary<DataSet>,
          fc.option(fc.array(evenBytes(40), { maxLength: 3 })),
          (ds, fragments) => {
            if (fragments !== null)
              ds.set({ tag: Tags.PixelData, vr: 'OB', fragments: [Buffer.alloc(0), ...fragments] });
            const back = decodeDataSet(encodeDataSet(ds));
            assert.deepEqual(diffDataSets(ds, back), []);
          },
        ),
        { numRuns: 300 },
      );
    });

    it('decodes an empty buffer to an empty data set', () => {
      assert.equal(decodeDataSet(Buffer.alloc(0)).size, 0);
    });
  });
});
