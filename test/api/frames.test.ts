/** WADO-RS Retrieve Frames and Rendered, the pure parts: frame list, Accept, frames, query, scaling. */
import assert from 'node:assert/strict';
import { MAX_FRAME_LIST, framesOf, negotiateFrames, parseFrameList } from '../../src/api/frames';
import { fitInside } from '../../src/analysis/render-frame';
import { acceptRendered, renderOptions } from '../../src/api/rendered';
import { parseWadoUri } from '../../src/api/wado-uri';
import { DataSet, Tags, textElement, usElement } from '../../src/dicom';
import { codeOf } from '../helpers/errors';

const NATIVE = '1.2.840.10008.1.2.1';
const JPEG = '1.2.840.10008.1.2.4.50';
const MPEG2 = '1.2.840.10008.1.2.4.100';

/** An image data set of `frames` frames, rows x columns, one sample of `bits` bits. */
function image(rows: number, columns: number, frames: number, bits: 1 | 8 | 16): DataSet {
  return new DataSet()
    .set(usElement(Tags.Rows, rows))
    .set(usElement(Tags.Columns, columns))
    .set(usElement(Tags.SamplesPerPixel, 1))
    .set(usElement(Tags.BitsAllocated, bits))
    .set(usElement(Tags.BitsStored, bits))
    .set(usElement(Tags.HighBit, bits - 1))
    .set(usElement(Tags.PixelRepresentation, 0))
    .set(textElement(Tags.PhotometricInterpretation, 'CS', 'MONOCHROME2'))
    .set(textElement(Tags.NumberOfFrames, 'IS', String(frames)));
}

describe('api/frames', () => {
  it('parses a frame list in the order asked, each frame once', () => {
    assert.deepEqual(parseFrameList('1'), [1]);
    assert.deepEqual(parseFrameList('3,1,3,2'), [3, 1, 2]);
    for (const bad of ['', '0', '01', '-1', '1,', ',1', '1,,2', '1.5', 'a', ' 1', '12345678901']) {
      assert.equal(
        codeOf(() => parseFrameList(bad)),
        'VEIL_E_HTTP_BAD_REQUEST',
        JSON.stringify(bad),
      );
    }
    const tooMany = Array.from({ length: MAX_FRAME_LIST + 1 }, (_, i) => i + 1).join(',');
    assert.equal(
      codeOf(() => parseFrameList(tooMany)),
      'VEIL_E_HTTP_BAD_REQUEST',
    );
  });

  it('negotiates native frames as application/octet-stream in Explicit VR Little Endian only', () => {
    const octets = {
      contentType: `application/octet-stream; transfer-syntax=${NATIVE}`,
      multipartType: 'application/octet-stream',
    };
    for (const accept of [
      undefined,
      '*/*',
      'multipart/related',
      'multipart/related; type="application/octet-stream"',
      'multipart/related; type="application/octet-stream"; transfer-syntax=*',
      `multipart/related; type="application/octet-stream"; transfer-syntax=${NATIVE}`,
      'image/jpeg, multipart/related; type="application/*"',
    ]) {
      assert.deepEqual(negotiateFrames(accept, NATIVE), octets, String(accept));
    }
    for (const accept of [
      'multipart/related; type="image/jpeg"',
      `multipart/related; type="application/octet-stream"; transfer-syntax=${JPEG}`,
      'application/octet-stream',
      'application/dicom',
    ]) {
      assert.equal(
        codeOf(() => negotiateFrames(accept, NATIVE)),
        'VEIL_E_HTTP_NOT_ACCEPTABLE',
        accept,
      );
    }
  });

  it('negotiates compressed frames as they are, never decoded', () => {
    const jpeg = {
      contentType: `image/jpeg; transfer-syntax=${JPEG}`,
      multipartType: 'image/jpeg',
    };
    assert.deepEqual(negotiateFrames(undefined, JPEG), jpeg);
    assert.deepEqual(negotiateFrames('multipart/related; type="image/jpeg"', JPEG), jpeg);
    assert.deepEqual(negotiateFrames('multipart/related; type="image/*"', JPEG), jpeg);
    assert.deepEqual(
      negotiateFrames(
        'multipart/related; type="application/octet-stream"; transfer-syntax=*',
        JPEG,
      ),
      {
        contentType: `application/octet-stream; transfer-syntax=${JPEG}`,
        multipartType: 'application/octet-stream',
      },
    );
    for (const accept of [
      'multipart/related; type="application/octet-stream"',
      `multipart/related; type="image/jpeg"; transfer-syntax=${NATIVE}`,
      'multipart/related; type="image/jls"',
    ]) {
      assert.equal(
        codeOf(() => negotiateFrames(accept, JPEG)),
        'VEIL_E_HTTP_NOT_ACCEPTABLE',
        accept,
      );
    }
    // No frame media type for video: only octets for a client that takes any syntax.
    assert.equal(
      codeOf(() => negotiateFrames(undefined, MPEG2)),
      'VEIL_E_HTTP_NOT_ACCEPTABLE',
    );
    assert.equal(
      negotiateFrames(
        'multipart/related; type="application/octet-stream"; transfer-syntax=*',
        MPEG2,
      ).contentType,
      `application/octet-stream; transfer-syntax=${MPEG2}`,
    );
  });

  it('cuts native frames at their byte offsets, as views of the pixel data', () => {
    const pixels = Buffer.from(Array.from({ length: 2 * 3 * 2 * 3 }, (_, i) => i));
    const ds = image(2, 3, 3, 16).set({ tag: Tags.PixelData, vr: 'OW', value: pixels });
    const frames = framesOf(ds, NATIVE);
    assert.equal(frames.count, 3);
    for (let n = 1; n <= 3; n++) {
      const [frame] = frames.frame(n);
      assert.deepEqual([...frame!], [...pixels.subarray((n - 1) * 12, n * 12)]);
      assert.equal(frame!.buffer, pixels.buffer, 'a view, not a copy');
    }
  });

  it('cuts 1-bit frames that do not start on a byte boundary (PS3.5 8.1.1), bit by bit', () => {
    // 3 x 3 pixels of 1 bit: frame 2 starts at bit 9. Frame bits are a known pattern.
    const frameBits = [
      [1, 0, 1, 1, 0, 0, 1, 1, 1],
      [0, 1, 1, 0, 1, 0, 0, 1, 1],
      [1, 1, 1, 0, 0, 0, 1, 0, 1],
    ];
    const all = frameBits.flat();
    const packed = Buffer.alloc(Math.ceil(all.length / 8) + 1);
    all.forEach((bit, i) => {
      packed[i >> 3] = packed[i >> 3]! | (bit << (i & 7));
    });
    const ds = image(3, 3, 3, 1).set({ tag: Tags.PixelData, vr: 'OB', value: packed });
    const frames = framesOf(ds, NATIVE);
    for (let n = 1; n <= 3; n++) {
      const [frame] = frames.frame(n);
      assert.equal(frame!.length, 2);
      const bits = Array.from({ length: 16 }, (_, i) => (frame![i >> 3]! >> (i & 7)) & 1);
      assert.deepEqual(bits, [...frameBits[n - 1]!, 0, 0, 0, 0, 0, 0, 0], `frame ${n}`);
    }
  });

  it('groups encapsulated fragments into frames by the Basic Offset Table', () => {
    const a = Buffer.from('aaaa');
    const b1 = Buffer.from('bb');
    const b2 = Buffer.from('bbbbbb');
    // Offsets from the first item tag: item a = 8 + 4 bytes, then b1 and b2 make frame 2.
    const table = Buffer.alloc(8);
    table.writeUInt32LE(0, 0);
    table.writeUInt32LE(12, 4);
    const ds = image(2, 2, 2, 8).set({
      tag: Tags.PixelData,
      vr: 'OB',
      fragments: [table, a, b1, b2],
    });
    const frames = framesOf(ds, JPEG);
    assert.equal(frames.count, 2);
    assert.deepEqual(frames.frame(1), [a]);
    assert.deepEqual(frames.frame(2), [b1, b2]);
  });

  it('refuses an instance without Pixel Data or with short pixels, naming no pixel value', () => {
    assert.equal(
      codeOf(() => framesOf(image(2, 2, 1, 8), NATIVE)),
      'VEIL_E_NOT_FOUND',
    );
    const short = image(2, 2, 2, 8).set({ tag: Tags.PixelData, vr: 'OB', value: Buffer.alloc(6) });
    assert.equal(
      codeOf(() => framesOf(short, NATIVE)),
      'VEIL_E_DICOM_MALFORMED',
    );
  });
});

describe('api/rendered', () => {
  it('reads window and viewport from the query, and refuses malformed ones', () => {
    assert.deepEqual(renderOptions({}), {});
    assert.deepEqual(renderOptions({ window: '40,400', viewport: '64,32' }), {
      window: { center: 40, width: 400 },
      viewport: { width: 64, height: 32 },
    });
    assert.deepEqual(renderOptions({ window: '-600,1500,LINEAR' }).window, {
      center: -600,
      width: 1500,
    });
    for (const query of [
      { window: '40' },
      { window: '40,0' },
      { window: '40,400,sigmoid' },
      { window: 'a,b' },
      { window: ['1,2', '3,4'] },
      { viewport: '0,10' },
      { viewport: '10' },
      { viewport: '10,10,10' },
      { viewport: '5000,10' },
      { viewport: '1.5,10' },
    ]) {
      assert.equal(
        codeOf(() => renderOptions(query)),
        'VEIL_E_HTTP_BAD_REQUEST',
        JSON.stringify(query),
      );
    }
  });

  it('takes Accept image/png, image/*, */* or none, and nothing else', () => {
    for (const accept of [
      undefined,
      '*/*',
      'image/*',
      'image/png',
      'image/jpeg, image/png;q=0.5',
    ]) {
      assert.equal(
        codeOf(() => acceptRendered(accept)),
        undefined,
        String(accept),
      );
    }
    for (const accept of [
      'image/jpeg',
      'application/dicom',
      'multipart/related; type="image/png"',
    ]) {
      assert.equal(
        codeOf(() => acceptRendered(accept)),
        'VEIL_E_HTTP_NOT_ACCEPTABLE',
        accept,
      );
    }
  });

  it('scales a picture down to fit a viewport, aspect kept, never up', () => {
    const data = Uint8Array.from({ length: 4 * 2 * 3 }, (_, i) => i);
    const image = { width: 4, height: 2, channels: 3 as const, data };
    assert.equal(fitInside(image, { width: 10, height: 10 }), image);
    const half = fitInside(image, { width: 2, height: 2 });
    assert.deepEqual([half.width, half.height], [2, 1]);
    // Nearest neighbour: output pixel (x, 0) takes input pixel (2x + 1, 1) at scale 1/2.
    assert.deepEqual([...half.data], [...data.subarray(15, 18), ...data.subarray(21, 24)]);
  });
});

describe('api/wado-uri', () => {
  const base = {
    requestType: 'WADO',
    studyUID: '1.2.3',
    seriesUID: '1.2.3.4',
    objectUID: '1.2.3.4.5',
  };
  it('reads the request: UIDs, the preferred content type Veil can make, frame and rendering', () => {
    assert.deepEqual(parseWadoUri({ ...base, contentType: 'image/jpeg, application/dicom' }), {
      studyInstanceUID: '1.2.3',
      seriesInstanceUID: '1.2.3.4',
      sopInstanceUID: '1.2.3.4.5',
      contentType: 'application/dicom',
      frameNumber: 1,
      render: {},
    });
    const png = parseWadoUri({
      ...base,
      contentType: 'application/dicom;q=0.2,image/png',
      frameNumber: '3',
      rows: '100',
      windowCenter: '40',
      windowWidth: '400',
    });
    assert.equal(png.contentType, 'image/png');
    assert.equal(png.frameNumber, 3);
    assert.deepEqual(png.render, {
      window: { center: 40, width: 400 },
      viewport: { width: 4096, height: 100 },
    });
  });

  it('refuses what it cannot honour with a stable code', () => {
    const cases: [Record<string, unknown>, string][] = [
      [
        { ...base, requestType: 'WADOX', contentType: 'application/dicom' },
        'VEIL_E_HTTP_BAD_REQUEST',
      ],
      [
        { ...base, objectUID: undefined, contentType: 'application/dicom' },
        'VEIL_E_HTTP_BAD_REQUEST',
      ],
      [{ ...base, objectUID: '1.2.x', contentType: 'application/dicom' }, 'VEIL_E_UID_INVALID'],
      [{ ...base, contentType: 'image/gif' }, 'VEIL_E_HTTP_NOT_ACCEPTABLE'],
      [{ ...base, contentType: 'application/dicom', region: '0,0,1,1' }, 'VEIL_E_HTTP_BAD_REQUEST'],
      [
        { ...base, contentType: 'application/dicom', presentationUID: '1.2' },
        'VEIL_E_HTTP_BAD_REQUEST',
      ],
      [{ ...base, contentType: 'image/png', frameNumber: '1,2' }, 'VEIL_E_HTTP_BAD_REQUEST'],
      [{ ...base, contentType: 'image/png', columns: '0' }, 'VEIL_E_HTTP_BAD_REQUEST'],
      [{ ...base, studyUID: ['1.2', '1.3'], contentType: 'image/png' }, 'VEIL_E_HTTP_BAD_REQUEST'],
    ];
    for (const [query, expected] of cases) {
      assert.equal(
        codeOf(() => parseWadoUri(query)),
        expected,
        JSON.stringify(query),
      );
    }
  });
});
