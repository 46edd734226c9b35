import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  DataSet,
  Tags,
  TransferSyntax,
  diffDataSets,
  isTextVr,
  parsePart10,
  writePart10,
  type ParsedInstance,
} from '../../src/dicom';
import { isVeilError } from '../../src/errors';
import { runTool, tempDir } from '../helpers/tools';
import {
  listCorpusFiles,
  listCorpusNonDicomFiles,
  pydicomCorpusDir,
  runPydicom,
} from '../helpers/pydicom-corpus';

/** Corpus files Veil refuses, and why (checked against dcmdump and pydicom's own notes). */
const REJECTED: Record<string, string> = {
  'MR_truncated.dcm': 'VEIL_E_DICOM_TRUNCATED', // Pixel Data cut short
  'rtplan_truncated.dcm': 'VEIL_E_DICOM_TRUNCATED', // ends inside a sequence
  'dicomdirtests/DICOMDIR-nooffset': 'VEIL_E_DICOM_TRUNCATED', // sequence length past end of file
  'SC_rgb_jpeg.dcm': 'VEIL_E_DICOM_TRUNCATED', // meta says explicit, body is implicit: dcmdump fails too
  'no_meta.dcm': 'VEIL_E_DICOM_NOT_DICOM', // bare data set starting one byte off
};

/** Files with odd-length values (not allowed by PS3.5 7.1.1): the writer pads them. */
const ODD_LENGTH_VALUES = new Set(['nested_priv_SQ.dcm', 'meta_missing_tsyntax.dcm']);

/** For each file: pydicom's top-level tags (no group lengths), PixelData and pixel_array hashes. */
const PYDICOM_SUMMARY = `
import sys, json, hashlib, warnings
warnings.simplefilter('ignore')
import pydicom
out = {}
for p in sys.argv[1:]:
    try:
        ds = pydicom.dcmread(p, force=True)
    except Exception as e:
        out[p] = {'error': type(e).__name__}
        continue
    r = {'tags': sorted(int(e.tag) for e in ds if int(e.tag) & 0xffff != 0)}
    if 'PixelData' in ds:
        r['pixelSha'] = hashlib.sha256(ds.PixelData).hexdigest()
        try:
            a = ds.pixel_array
            r['arraySha'] = hashlib.sha256(a.astype(a.dtype.newbyteorder('<')).tobytes()).hexdigest()
            r['arrayBytes'] = int(a.nbytes)
        except Exception:
            pass
    out[p] = r
print(json.dumps(out))
`;

interface Summary {
  tags: number[];
  pixelSha?: string;
  arraySha?: string;
  arrayBytes?: number;
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** A deep copy with odd-length values padded as the writer pads them. */
function padded(dataset: DataSet): DataSet {
  const out = new DataSet();
  for (const tag of dataset.tags()) {
    const el = dataset.get(tag)!;
    if (el.items) out.set({ ...el, items: el.items.map(padded) });
    else if (el.value && el.value.length % 2 === 1) {
      const pad = isTextVr(el.vr) && el.vr !== 'UI' ? 0x20 : 0;
      out.set({ ...el, value: Buffer.concat([el.value, Buffer.from([pad])]) });
    } else out.set(el);
  }
  return out;
}

describe('dicom/corpus (python3-pydicom test files, DCMTK dcmdump)', () => {
  const files = listCorpusFiles();
  const root = pydicomCorpusDir() ?? '';
  const name = (file: string): string => path.relative(root, file).split(path.sep).join('/');
  let pydicom: Record<string, Summary> = {};
  const temp = tempDir('veil-dicom-');

  before(() => {
    pydicom = JSON.parse(runPydicom(PYDICOM_SUMMARY, files)) as Record<string, Summary>;
  });
  after(() => temp.cleanup());

  it('finds the corpus', () => {
    assert.ok(files.length > 100, `found ${files.length} files`);
  });

  for (const file of files) {
    const label = name(file);
    it(`round-trips or refuses ${label}`, () => {
      const input = readFileSync(file);
      let parsed: ParsedInstance;
      try {
        parsed = parsePart10(input);
      } catch (err) {
        assert.ok(isVeilError(err), `non-VeilError: ${String(err)}`);
        assert.equal(err.code, REJECTED[label], `${label} refused: ${err.message}`);
        return;
      }
      assert.equal(REJECTED[label], undefined, `${label} should have been refused`);

      const written = Buffer.concat(writePart10(parsed.meta, parsed.dataset));
      const back = parsePart10(written);
      assert.equal(back.transferSyntaxUID, TransferSyntax.ExplicitVRLittleEndian);
      const original = ODD_LENGTH_VALUES.has(label) ? padded(parsed.dataset) : parsed.dataset;
      if (!ODD_LENGTH_VALUES.has(label)) {
        assert.deepEqual(diffDataSets(padded(parsed.dataset), parsed.dataset), []);
      }
      assert.deepEqual(diffDataSets(original, back.dataset), []);
      const writerMeta = (t: number): boolean =>
        t === Tags.FileMetaInformationGroupLength ||
        t === Tags.TransferSyntaxUID ||
        !parsed.meta.has(t);
      assert.deepEqual(diffDataSets(parsed.meta, back.meta, { ignore: writerMeta }), []);

      const out = path.join(temp.dir, 'written.dcm');
      writeFileSync(out, written);
      const dump = runTool('dcmdump', [out]);
      assert.equal(dump.status, 0, `dcmdump failed on ${label}: ${dump.stderr}`);
      const errors = `${dump.stdout}\n${dump.stderr}`.split('\n').filter((l) => l.startsWith('E:'));
      assert.deepEqual(errors, []);
    });

    it(`agrees with pydicom on the elements and pixels of ${label}`, () => {
      let parsed: ParsedInstance;
      try {
        parsed = parsePart10(readFileSync(file));
      } catch {
        assert.ok(label in REJECTED);
        return;
      }
      const summary = pydicom[file]!;
      assert.deepEqual(parsed.dataset.tags(), summary.tags);
      const pixels = parsed.dataset.get(Tags.PixelData);
      if (pixels?.value === undefined) return;
      if (parsed.transferSyntaxUID === TransferSyntax.ExplicitVRBigEndian && pixels.vr === 'OW') {
        // Swapped to little endian: equals pydicom's pixel_array written little endian.
        assert.ok(summary.arrayBytes !== undefined);
        assert.equal(sha256(pixels.value.subarray(0, summary.arrayBytes)), summary.arraySha);
      } else {
        assert.equal(sha256(pixels.value), summary.pixelSha);
      }
    });
  }

  it('refuses every non-DICOM file of the corpus with VEIL_E_DICOM_NOT_DICOM', () => {
    const others = listCorpusNonDicomFiles();
    assert.ok(others.length >= 5);
    for (const file of others) {
      assert.throws(
        () => parsePart10(readFileSync(file)),
        (err) => isVeilError(err, 'VEIL_E_DICOM_NOT_DICOM'),
      );
    }
  });
});
