import assert from 'node:assert/strict';
import { deflateRawSync } from 'node:zlib';
import {
  DataSet,
  Tags,
  TransferSyntax,
  bytesElement,
  encodeDataSet,
  parseFileMeta,
  parsePart10,
  textElement,
  writePart10,
} from '../../src/dicom';
import { isVeilError, type ErrorCode } from '../../src/errors';
import {
  imageDataSet,
  implicitElement,
  implicitNestedSequences,
  longHeader,
  nestedSequences,
  part10,
  tagLength,
  valueOf,
} from './fixtures';

function textElementBytes(tag: number): Buffer {
  return encodeDataSet(new DataSet().set(textElement(tag, 'LO', 'AFTER')));
}

function rejects(bytes: Buffer, code: ErrorCode, options?: { maxSequenceDepth?: number }): void {
  assert.throws(
    () => parsePart10(bytes, options),
    (err) => isVeilError(err, code),
  );
}

describe('dicom/parse', () => {
  describe('round trips', () => {
    it('parses what writePart10 wrote, element for element', () => {
      const dataset = imageDataSet(4, 4, Buffer.alloc(16, 7));
      const parsed = parsePart10(Buffer.concat(writePart10(new DataSet(), dataset)));
      assert.equal(parsed.dataset.string(Tags.PatientName), 'Test^Patient');
      assert.ok(valueOf(parsed.dataset.get(Tags.PixelData)).equals(Buffer.alloc(16, 7)));
      assert.equal(
        parsed.meta.string(Tags.TransferSyntaxUID),
        TransferSyntax.ExplicitVRLittleEndian,
      );
    });

    it('keeps a large Pixel Data value as a view of the input, not a copy', () => {
      const pixels = Buffer.alloc(8 * 1024 * 1024, 3);
      const input = Buffer.concat(writePart10(new DataSet(), imageDataSet(2048, 2048, pixels, 16)));
      const value = valueOf(parsePart10(input).dataset.get(Tags.PixelData));
      assert.equal(value.length, pixels.length);
      assert.equal(value.buffer, input.buffer);
      assert.ok(
        value.byteOffset >= input.byteOffset && value.byteOffset < input.byteOffset + input.length,
      );
    });

    it('keeps private tags, empty values and elements after Pixel Data', () => {
      const dataset = imageDataSet(1, 2, Buffer.from([1, 2]))
        .set(textElement(0x00091010, 'LO', 'VEIL'))
        .set(bytesElement(0x00091011, 'OB', Buffer.from([1, 2, 3, 4])))
        .set(textElement(Tags.AccessionNumber, 'SH', ''))
        .set(bytesElement(0xfffcfffc, 'OB', Buffer.alloc(6)));
      const parsed = parsePart10(Buffer.concat(writePart10(new DataSet(), dataset)));
      assert.equal(parsed.dataset.string(0x00091010), 'VEIL');
      assert.equal(valueOf(parsed.dataset.get(Tags.AccessionNumber)).length, 0);
      assert.equal(valueOf(parsed.dataset.get(0xfffcfffc)).length, 6);
    });

    it('drops retired group lengths outside group 0002 and keeps (0002,0000)', () => {
      const length = Buffer.alloc(4);
      const dataset = imageDataSet(1, 2, Buffer.from([1, 2])).set(
        bytesElement(0x00080000, 'UL', length),
      );
      const parsed = parsePart10(Buffer.concat(writePart10(new DataSet(), dataset)));
      assert.equal(parsed.dataset.has(0x00080000), false);
      assert.equal(parsed.meta.has(Tags.FileMetaInformationGroupLength), true);
    });

    it('reads Implicit VR pixel data as OB when BitsAllocated is 8', () => {
      const body = Buffer.concat([
        implicitElement(Tags.BitsAllocated, Buffer.from([8, 0])),
        implicitElement(Tags.PixelData, Buffer.from([1, 2, 3, 4])),
      ]);
      const parsed = parsePart10(part10(TransferSyntax.ImplicitVRLittleEndian, body));
      assert.equal(parsed.dataset.get(Tags.PixelData)!.vr, 'OB');
      assert.equal(parsed.dataset.get(Tags.BitsAllocated)!.vr, 'US');
    });

    it('accepts nesting up to maxSequenceDepth', () => {
      const bytes = part10(TransferSyntax.ExplicitVRLittleEndian, nestedSequences(5));
      let item = parsePart10(bytes, { maxSequenceDepth: 5 }).dataset;
      for (let i = 0; i < 5; i++) item = item.get(0x00081115)!.items![0]!;
      assert.equal(item.size, 0);
    });

    it('reads SV, UV and OV with their 4-byte length (dicom-parser 1.8 alone cannot)', () => {
      const body = Buffer.concat([
        longHeader(0x00720082, 'SV', 8),
        Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]),
        longHeader(0x00720083, 'UV', 8),
        Buffer.from([2, 0, 0, 0, 0, 0, 0, 0]),
        textElementBytes(0x00720084),
      ]);
      const parsed = parsePart10(part10(TransferSyntax.ExplicitVRLittleEndian, body));
      assert.equal(parsed.dataset.get(0x00720082)!.vr, 'SV');
      assert.equal(valueOf(parsed.dataset.get(0x00720083)).readBigUInt64LE(0), 2n);
      assert.equal(parsed.dataset.string(0x00720084), 'AFTER');
    });

    it('reads a file with preamble and DICM but no meta group', () => {
      const body = encodeDataSet(imageDataSet(1, 2, Buffer.from([5, 6])));
      const parsed = parsePart10(Buffer.concat([Buffer.alloc(128), Buffer.from('DICM'), body]));
      assert.equal(parsed.meta.size, 0);
      assert.equal(parsed.transferSyntaxUID, TransferSyntax.ExplicitVRLittleEndian);
      assert.ok(valueOf(parsed.dataset.get(Tags.PixelData)).equals(Buffer.from([5, 6])));
    });

    it('parseFileMeta reads the File Meta alone, and nothing from a file without one', () => {
      const meta = new DataSet()
        .set(textElement(Tags.MediaStorageSOPInstanceUID, 'UI', '1.2.3.4'))
        .set(textElement(Tags.TransferSyntaxUID, 'UI', TransferSyntax.ExplicitVRLittleEndian));
      const file = Buffer.concat(writePart10(meta, imageDataSet(1, 2, Buffer.from([5, 6]))));
      const read = parseFileMeta(file);
      assert.equal(read.string(Tags.MediaStorageSOPInstanceUID), '1.2.3.4');
      assert.equal(read.has(Tags.PixelData), false);
      // The meta of a file cut right after it still reads: the data set is never looked at.
      const metaEnd = file.indexOf(Buffer.from([0x08, 0x00, 0x16, 0x00]));
      assert.equal(
        parseFileMeta(file.subarray(0, metaEnd)).string(Tags.TransferSyntaxUID),
        TransferSyntax.ExplicitVRLittleEndian,
      );
      assert.equal(parseFileMeta(encodeDataSet(imageDataSet(1, 2, Buffer.from([5, 6])))).size, 0);
    });

    it('accepts a deflated data set it made itself', () => {
      const body = deflateRawSync(encodeDataSet(imageDataSet(1, 2, Buffer.from([5, 6]))));
      const parsed = parsePart10(part10(TransferSyntax.DeflatedExplicitVRLittleEndian, body));
      assert.ok(valueOf(parsed.dataset.get(Tags.PixelData)).equals(Buffer.from([5, 6])));
    });
  });

  describe('rejections', () => {
    const good = Buffer.concat(writePart10(new DataSet(), imageDataSet(8, 8, Buffer.alloc(64, 1))));

    it('refuses empty input, text and short garbage as VEIL_E_DICOM_NOT_DICOM', () => {
      rejects(Buffer.alloc(0), 'VEIL_E_DICOM_NOT_DICOM');
      rejects(Buffer.from('hello, this is not a DICOM file at all'), 'VEIL_E_DICOM_NOT_DICOM');
      rejects(Buffer.alloc(200, 0xab), 'VEIL_E_DICOM_NOT_DICOM');
    });

    it('refuses a file that ends right after its meta as VEIL_E_DICOM_TRUNCATED', () => {
      rejects(part10('', Buffer.alloc(0)).subarray(0, 132), 'VEIL_E_DICOM_TRUNCATED');
    });

    it('refuses a file cut inside Pixel Data as VEIL_E_DICOM_TRUNCATED', () => {
      rejects(good.subarray(0, good.length - 10), 'VEIL_E_DICOM_TRUNCATED');
    });

    it('refuses every truncation with a VeilError or parses the elements before the cut', () => {
      for (let cut = 133; cut < good.length; cut += 3) {
        try {
          parsePart10(good.subarray(0, cut));
        } catch (err) {
          assert.ok(isVeilError(err), `cut at ${cut}: ${String(err)}`);
          assert.match(err.code, /^VEIL_E_DICOM_(TRUNCATED|MALFORMED)$/);
        }
      }
    });

    it('refuses an unknown transfer syntax as VEIL_E_DICOM_TRANSFER_SYNTAX', () => {
      rejects(
        part10('1.2.3.4.5', encodeDataSet(imageDataSet(1, 2, Buffer.alloc(2)))),
        'VEIL_E_DICOM_TRANSFER_SYNTAX',
      );
    });

    it('refuses an invalid explicit VR as VEIL_E_DICOM_MALFORMED', () => {
      const el = Buffer.concat([
        Buffer.from([0x10, 0, 0x10, 0]),
        Buffer.from('ZZ'),
        Buffer.from([2, 0]),
        Buffer.from('AB'),
      ]);
      rejects(part10(TransferSyntax.ExplicitVRLittleEndian, el), 'VEIL_E_DICOM_MALFORMED');
    });

    it('refuses an undefined-length element that is no sequence as VEIL_E_DICOM_MALFORMED', () => {
      const el = Buffer.concat([
        longHeader(0x00091011, 'OB', 0xffffffff),
        Buffer.alloc(4, 1),
        tagLength(Tags.ItemDelimitationItem, 0),
      ]);
      rejects(part10(TransferSyntax.ExplicitVRLittleEndian, el), 'VEIL_E_DICOM_MALFORMED');
    });

    it('refuses sequences nested deeper than maxSequenceDepth as VEIL_E_DICOM_MALFORMED', () => {
      rejects(
        part10(TransferSyntax.ExplicitVRLittleEndian, nestedSequences(33)),
        'VEIL_E_DICOM_MALFORMED',
      );
      rejects(
        part10(TransferSyntax.ExplicitVRLittleEndian, nestedSequences(6)),
        'VEIL_E_DICOM_MALFORMED',
        {
          maxSequenceDepth: 5,
        },
      );
    });

    it('refuses absurdly deep nesting without overflowing the stack', () => {
      rejects(
        part10(TransferSyntax.ExplicitVRLittleEndian, nestedSequences(100_000)),
        'VEIL_E_DICOM_MALFORMED',
      );
      // Implicit VR sequences are walked by dicom-parser itself: its recursion must not escape.
      const implicit = implicitNestedSequences(100_000);
      rejects(part10(TransferSyntax.ImplicitVRLittleEndian, implicit), 'VEIL_E_DICOM_MALFORMED');
      rejects(
        part10(TransferSyntax.ImplicitVRLittleEndian, implicitNestedSequences(40)),
        'VEIL_E_DICOM_MALFORMED',
      );
    });

    it('refuses a sequence that runs past the end as VEIL_E_DICOM_TRUNCATED', () => {
      const el = Buffer.concat([
        longHeader(0x00081115, 'SQ', 0xffffffff),
        tagLength(Tags.Item, 0xffffffff),
      ]);
      rejects(part10(TransferSyntax.ExplicitVRLittleEndian, el), 'VEIL_E_DICOM_TRUNCATED');
    });

    it('refuses encapsulated Pixel Data without its sequence delimiter as VEIL_E_DICOM_TRUNCATED', () => {
      const el = Buffer.concat([
        longHeader(Tags.PixelData, 'OB', 0xffffffff),
        tagLength(Tags.Item, 0),
        tagLength(Tags.Item, 2),
        Buffer.alloc(2),
      ]);
      rejects(part10(TransferSyntax.RLELossless, el), 'VEIL_E_DICOM_TRUNCATED');
    });

    it('refuses corrupt and cut deflated data sets', () => {
      rejects(
        part10(TransferSyntax.DeflatedExplicitVRLittleEndian, Buffer.alloc(64, 0xff)),
        'VEIL_E_DICOM_MALFORMED',
      );
      const body = deflateRawSync(encodeDataSet(imageDataSet(4, 4, Buffer.alloc(16, 9))));
      rejects(
        part10(TransferSyntax.DeflatedExplicitVRLittleEndian, body.subarray(0, body.length - 8)),
        'VEIL_E_DICOM_TRUNCATED',
      );
    });

    it('never puts value bytes in error messages', () => {
      const secret = textElement(Tags.PatientName, 'PN', 'SECRET^NAME');
      const bytes = Buffer.concat(writePart10(new DataSet(), new DataSet().set(secret)));
      for (let cut = 133; cut < bytes.length; cut++) {
        try {
          parsePart10(bytes.subarray(0, cut));
        } catch (err) {
          assert.ok(isVeilError(err));
          assert.doesNotMatch(err.message, /SECRET/);
        }
      }
    });
  });
});
