import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import dicomParser from 'dicom-parser';
import { SAMPLE_KINDS, generateCtSeries, generateSample, writeSamples } from '../samples/generate';

const SAMPLES = path.resolve(__dirname, '..', 'samples');
const fileOf = (kind: string): string => path.join(SAMPLES, `${kind}.dcm`);

/** Geometry each committed sample must declare (PS3.3 C.7.6.3). */
const EXPECTED: Record<
  string,
  {
    sopClass: string;
    rows: number;
    columns: number;
    frames: number;
    samples: number;
    bitsAllocated: number;
    bitsStored: number;
    signed: number;
    planar?: number;
  }
> = {
  'ct-slice': {
    sopClass: '1.2.840.10008.5.1.4.1.1.2',
    rows: 512,
    columns: 512,
    frames: 1,
    samples: 1,
    bitsAllocated: 16,
    bitsStored: 16,
    signed: 1,
  },
  'dx-12bit': {
    sopClass: '1.2.840.10008.5.1.4.1.1.1.1',
    rows: 1024,
    columns: 1024,
    frames: 1,
    samples: 1,
    bitsAllocated: 16,
    bitsStored: 12,
    signed: 0,
  },
  'us-rgb-multiframe': {
    sopClass: '1.2.840.10008.5.1.4.1.1.3.1',
    rows: 256,
    columns: 256,
    frames: 8,
    samples: 3,
    bitsAllocated: 8,
    bitsStored: 8,
    signed: 0,
    planar: 0,
  },
  'us-rgb-planar': {
    sopClass: '1.2.840.10008.5.1.4.1.1.3.1',
    rows: 256,
    columns: 256,
    frames: 8,
    samples: 3,
    bitsAllocated: 8,
    bitsStored: 8,
    signed: 0,
    planar: 1,
  },
  mono8: {
    sopClass: '1.2.840.10008.5.1.4.1.1.7',
    rows: 256,
    columns: 256,
    frames: 1,
    samples: 1,
    bitsAllocated: 8,
    bitsStored: 8,
    signed: 0,
  },
  'tiny-8x8': {
    sopClass: '1.2.840.10008.5.1.4.1.1.7',
    rows: 8,
    columns: 8,
    frames: 1,
    samples: 1,
    bitsAllocated: 8,
    bitsStored: 8,
    signed: 0,
  },
};

function parse(bytes: Buffer): dicomParser.DataSet {
  return dicomParser.parseDicom(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length));
}

describe('samples/generate', () => {
  it('regenerates every committed sample byte for byte', () => {
    for (const kind of SAMPLE_KINDS) {
      assert.ok(
        generateSample(kind).equals(fs.readFileSync(fileOf(kind))),
        `${kind}.dcm is stale: run npm run samples`,
      );
    }
  });

  it('writes all samples into a given folder', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'veil-samples-'));
    try {
      const written = writeSamples(dir);
      assert.deepEqual(
        written.map((f) => path.basename(f)),
        SAMPLE_KINDS.map((k) => `${k}.dcm`),
      );
      for (const file of written)
        assert.ok(
          fs.readFileSync(file).equals(fs.readFileSync(fileOf(path.basename(file, '.dcm')))),
        );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('declares the geometry, transfer syntax and fictional patient of each sample', () => {
    for (const kind of SAMPLE_KINDS) {
      const ds = parse(fs.readFileSync(fileOf(kind)));
      const want = EXPECTED[kind];
      assert.equal(
        ds.string('x00020010'),
        '1.2.840.10008.1.2.1',
        `${kind} is Explicit VR Little Endian`,
      );
      assert.equal(ds.string('x00020002'), want.sopClass);
      assert.equal(ds.string('x00080016'), want.sopClass);
      assert.equal(ds.string('x00020003'), ds.string('x00080018'));
      assert.equal(ds.uint16('x00280010'), want.rows);
      assert.equal(ds.uint16('x00280011'), want.columns);
      assert.equal(ds.intString('x00280008') ?? 1, want.frames);
      assert.equal(ds.uint16('x00280002'), want.samples);
      assert.equal(ds.uint16('x00280100'), want.bitsAllocated);
      assert.equal(ds.uint16('x00280101'), want.bitsStored);
      assert.equal(ds.uint16('x00280102'), want.bitsStored - 1);
      assert.equal(ds.uint16('x00280103'), want.signed);
      assert.equal(ds.uint16('x00280006'), want.planar);
      const pixelBytes =
        (want.rows * want.columns * want.frames * want.samples * want.bitsAllocated) / 8;
      assert.equal(
        ds.elements.x7fe00010.length,
        pixelBytes + (pixelBytes % 2),
        `${kind} pixel data length`,
      );
      assert.match(ds.string('x00100020') ?? '', /^VEIL-SAMPLE-\d{4}$/);
      assert.match(ds.string('x00100010') ?? '', /^[A-Z]+\^[A-Z]+$/);
      for (const uid of ['x0020000d', 'x0020000e', 'x00080018']) {
        assert.match(ds.string(uid) ?? '', /^2\.25\.\d+(\.\d+)*$/);
        assert.ok((ds.string(uid) ?? '').length <= 64);
      }
    }
  });

  it('gives every sample its own SOP Instance UID', () => {
    const uids = SAMPLE_KINDS.map((kind) =>
      parse(fs.readFileSync(fileOf(kind))).string('x00080018'),
    );
    assert.equal(new Set(uids).size, uids.length);
  });

  it('stores signed CT values with -2000 padding and Rescale Intercept -1024', () => {
    const bytes = fs.readFileSync(fileOf('ct-slice'));
    const ds = parse(bytes);
    assert.equal(ds.floatString('x00281052'), -1024);
    const { dataOffset, length } = ds.elements.x7fe00010;
    const pixels = new Int16Array(
      bytes.buffer.slice(bytes.byteOffset + dataOffset, bytes.byteOffset + dataOffset + length),
    );
    let min = Infinity;
    let max = -Infinity;
    for (const v of pixels) [min, max] = [Math.min(min, v), Math.max(max, v)];
    assert.equal(min, -2000, 'outside the field of view');
    assert.ok(max > 2500 && max < 3300, `densest value ${max} is near +2000 HU`);
  });

  it('keeps the private block of the CT sample', () => {
    const ds = parse(fs.readFileSync(fileOf('ct-slice')));
    assert.equal(ds.string('x00090010'), 'VEIL SAMPLE PRIVATE');
    assert.equal(ds.string('x00091001'), 'private data survives');
    assert.equal(ds.int32('x00091002', 1), -2);
  });

  it('sets bits above High Bit in a small region of the DX sample only', () => {
    const bytes = fs.readFileSync(fileOf('dx-12bit'));
    const { dataOffset, length } = parse(bytes).elements.x7fe00010;
    let high = 0;
    for (let i = 0; i < length; i += 2) if (bytes.readUInt16LE(dataOffset + i) > 0x0fff) high++;
    assert.ok(high > 100 && high < 0.02 * (length / 2), `${high} pixels carry bits above High Bit`);
  });

  it('holds the same pixels in the colour-by-pixel and colour-by-plane ultrasound samples', () => {
    const a = fs.readFileSync(fileOf('us-rgb-multiframe'));
    const b = fs.readFileSync(fileOf('us-rgb-planar'));
    const pa = parse(a).elements.x7fe00010;
    const pb = parse(b).elements.x7fe00010;
    const plane = 256 * 256;
    for (const [frame, p] of [
      [0, 0],
      [3, 32896],
      [7, 65535],
    ]) {
      for (let s = 0; s < 3; s++) {
        assert.equal(
          a[pa.dataOffset + frame * plane * 3 + p * 3 + s],
          b[pb.dataOffset + frame * plane * 3 + s * plane + p],
        );
      }
    }
  });

  it('generates a CT series of distinct slices in one series, the first equal to ct-slice when alone', () => {
    const series = generateCtSeries({
      slices: 3,
      rows: 64,
      columns: 64,
      seed: 9,
      patient: { name: 'TEST^SERIES', id: 'VEIL-SAMPLE-0999' },
    });
    assert.equal(series.length, 3);
    const sets = series.map(parse);
    assert.equal(new Set(sets.map((d) => d.string('x0020000e'))).size, 1);
    assert.equal(new Set(sets.map((d) => d.string('x00080018'))).size, 3);
    assert.deepEqual(
      sets.map((d) => d.intString('x00200013')),
      [1, 2, 3],
    );
    assert.equal(sets[0].string('x00100010'), 'TEST^SERIES');
    assert.equal(sets[0].uint16('x00280010'), 64);
    assert.ok(!series[0].equals(series[1]));
    assert.ok(generateCtSeries({ slices: 1 })[0].equals(fs.readFileSync(fileOf('ct-slice'))));
    assert.throws(() => generateCtSeries({ slices: 0 }), /slices must be a positive integer/);
  });

  it('generates larger instances on request', () => {
    const dx = parse(generateSample('dx-12bit', { rows: 1536, columns: 1280 }));
    assert.equal(dx.uint16('x00280010'), 1536);
    assert.equal(dx.elements.x7fe00010.length, 1536 * 1280 * 2);
    const us = parse(generateSample('us-rgb-multiframe', { frames: 2, rows: 64, columns: 96 }));
    assert.equal(us.intString('x00280008'), 2);
    assert.equal(us.elements.x7fe00010.length, 2 * 64 * 96 * 3);
  });

  describe('with DCMTK and dicom3tools', () => {
    it('dcmdump reads every sample', () => {
      for (const kind of SAMPLE_KINDS) {
        const run = spawnSync('dcmdump', ['-q', fileOf(kind)], { encoding: 'utf8' });
        assert.equal(run.error, undefined, 'dcmdump is installed (apt-get install dcmtk)');
        assert.equal(run.status, 0, `dcmdump ${kind}: ${run.stderr}`);
        assert.match(run.stdout, /\(7fe0,0010\)/);
      }
    });

    it('dciodvfy finds no errors in any sample', () => {
      for (const kind of SAMPLE_KINDS) {
        const run = spawnSync('dciodvfy', [fileOf(kind)], { encoding: 'utf8' });
        assert.equal(run.error, undefined, 'dciodvfy is installed (apt-get install dicom3tools)');
        // dciodvfy reports on stderr; the private tags of ct-slice only draw "Unrecognized tag" warnings
        const errors = `${run.stdout}\n${run.stderr}`
          .split('\n')
          .filter((l) => /\bError\b/.test(l));
        assert.deepEqual(errors, [], `dciodvfy ${kind}`);
      }
    });
  });
});
