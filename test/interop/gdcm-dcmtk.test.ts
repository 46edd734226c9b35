import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Tags, parsePart10 } from '../../src/dicom';
import { inspect, protect, reveal } from '../../src/protection';
import { assertSameInstance } from '../helpers/compare';
import { testKey } from '../helpers/keys';
import { protectOptions, revealOptions } from '../helpers/options';
import { runTool, tempDir } from '../helpers/tools';

const SAMPLES = path.join(__dirname, '..', '..', 'samples');
const samples = readdirSync(SAMPLES).filter((f) => f.endsWith('.dcm'));
const IDENTIFYING = [
  Tags.PatientName,
  Tags.PatientID,
  Tags.PatientBirthDate,
  Tags.AccessionNumber,
  Tags.StudyDate,
];

describe('interop with GDCM, DCMTK and dicom3tools (real tools)', () => {
  let tmp: ReturnType<typeof tempDir>;
  let keyFile: string;
  let certFile: string;

  before(async () => {
    tmp = tempDir();
    const key = await testKey();
    keyFile = path.join(tmp.dir, 'key.pem');
    certFile = path.join(tmp.dir, 'cert.pem');
    writeFileSync(keyFile, key.privateKeyPem);
    writeFileSync(certFile, key.certificatePem);
  });
  after(() => tmp.cleanup());

  it('gdcmanon -d re-identifies the header of a Veil-protected file', async () => {
    const key = await testKey();
    const input = path.join(SAMPLES, 'ct-slice.dcm');
    const prot = path.join(tmp.dir, 'protected.dcm');
    const back = path.join(tmp.dir, 'gdcm-reidentified.dcm');
    writeFileSync(prot, protect(readFileSync(input), protectOptions([key])).bytes);
    const r = runTool('gdcmanon', ['-k', keyFile, '-d', prot, back]);
    assert.equal(r.status, 0, `gdcmanon -d failed: ${r.stderr}`);
    const original = parsePart10(readFileSync(input)).dataset;
    const reidentified = parsePart10(readFileSync(back)).dataset;
    for (const tag of IDENTIFYING) {
      const want = original.get(tag)?.value;
      if (want === undefined) continue;
      assert.ok(
        reidentified.get(tag)?.value?.equals(want),
        `gdcmanon restored tag ${tag.toString(16)}`,
      );
    }
    assert.equal(reidentified.has(Tags.EncryptedAttributesSequence), false);
  });

  it('understands gdcmanon -e output: inspect describes it, reveal re-identifies it', async () => {
    const key = await testKey();
    const input = path.join(SAMPLES, 'mono8.dcm');
    const anon = path.join(tmp.dir, 'gdcm-anon.dcm');
    const r = runTool('gdcmanon', ['-c', certFile, '-e', input, anon]);
    assert.equal(r.status, 0, `gdcmanon -e failed: ${r.stderr}`);
    const anonBytes = readFileSync(anon);
    const report = inspect(anonBytes);
    assert.equal(report.protection, 'attributes-only');
    assert.equal(report.encryptedAttributes?.length, 1);
    assert.ok(report.encryptedAttributes![0]!.recipients.length >= 1);
    const anonymised = parsePart10(anonBytes).dataset;
    const original = parsePart10(readFileSync(input)).dataset;
    assert.ok(
      !anonymised.get(Tags.PatientName)?.value?.equals(original.get(Tags.PatientName)!.value!),
      'gdcmanon removed the name',
    );

    const { bytes, report: rr } = reveal(anonBytes, revealOptions([key]));
    assert.equal(rr.kind, 'attributes-only');
    const revealed = parsePart10(bytes).dataset;
    for (const tag of [
      ...IDENTIFYING,
      Tags.SOPInstanceUID,
      Tags.StudyInstanceUID,
      Tags.SeriesInstanceUID,
    ]) {
      const want = original.get(tag)?.value;
      if (want === undefined) continue;
      assert.ok(revealed.get(tag)?.value?.equals(want), `reveal restored tag ${tag.toString(16)}`);
    }
  });

  for (const sample of samples) {
    it(`dcmdump reads protected and revealed ${sample}; dciodvfy finds no new error`, async () => {
      const key = await testKey();
      const input = path.join(SAMPLES, sample);
      const prot = path.join(tmp.dir, `p-${sample}`);
      const back = path.join(tmp.dir, `r-${sample}`);
      const protectedBytes = protect(readFileSync(input), protectOptions([key])).bytes;
      writeFileSync(prot, protectedBytes);
      const revealedBytes = reveal(protectedBytes, revealOptions([key])).bytes;
      writeFileSync(back, revealedBytes);
      assertSameInstance(readFileSync(input), revealedBytes);
      for (const file of [prot, back]) {
        const d = runTool('dcmdump', ['-q', file]);
        assert.equal(d.status, 0, `dcmdump ${path.basename(file)}: ${d.stderr}`);
        assert.doesNotMatch(d.stderr + d.stdout, /^E: /m);
      }
      const errors = (file: string) =>
        new Set(
          runTool('dciodvfy', [file])
            .stderr.split('\n')
            .filter((l) => /^Error/.test(l))
            .map((l) => l.trim()),
        );
      const before = errors(input);
      const after = [...errors(prot)].filter((e) => !before.has(e));
      assert.deepEqual(after, [], 'dciodvfy errors that the input did not have');
    });
  }
});
