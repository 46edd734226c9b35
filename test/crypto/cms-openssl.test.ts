import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import dicomParser from 'dicom-parser';
import {
  createEnvelopedData,
  decryptEnvelopedData,
  inspectEnvelopedData,
  type KeyTransport,
} from '../../src/crypto/cms';
import { isVeilError } from '../../src/errors';
import { testKey, type TestKey } from './key-fixtures';

const CT_SMALL = '/usr/lib/python3/dist-packages/pydicom/data/test_files/CT_small.dcm';

// Needs the openssl binary (OpenSSL 3), gdcmanon (libgdcm-tools), dcmodify (dcmtk) and pydicom's test files.
describe('crypto/cms interop with OpenSSL and gdcmanon', () => {
  let dir: string;
  let alice: TestKey;
  const message = Buffer.from('Veil interop \u00e9\u0000\u00ff end', 'latin1');

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'veil-cms-'));
    alice = await testKey('alice');
    writeFileSync(join(dir, 'cert.pem'), alice.generated.certificatePem);
    writeFileSync(join(dir, 'key.pem'), alice.generated.privateKeyPem, { mode: 0o600 });
    writeFileSync(join(dir, 'message.bin'), message);
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  const openssl = (...args: string[]): Buffer =>
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });

  for (const keyTransport of ['rsa-pkcs1v15', 'rsa-oaep'] as KeyTransport[]) {
    it(`openssl cms -decrypt opens what createEnvelopedData made (${keyTransport})`, () => {
      writeFileSync(
        join(dir, 'veil.der'),
        createEnvelopedData(message, [alice.recipient], { keyTransport }),
      );
      const out = openssl(
        'cms',
        '-decrypt',
        '-inform',
        'DER',
        '-in',
        'veil.der',
        '-recip',
        'cert.pem',
        '-inkey',
        'key.pem',
      );
      assert.deepEqual(out, message);
    });
  }

  const cases: [string, string[], string, string][] = [
    ['-aes256', [], 'aes256-CBC', 'rsa-pkcs1v15'],
    ['-aes128', [], 'aes128-CBC', 'rsa-pkcs1v15'],
    ['-des3', [], 'des-EDE3-CBC', 'rsa-pkcs1v15'],
    ['-aes256', ['-keyopt', 'rsa_padding_mode:oaep'], 'aes256-CBC', 'rsa-oaep'],
    [
      '-aes128',
      ['-keyopt', 'rsa_padding_mode:oaep', '-keyopt', 'rsa_oaep_md:sha256'],
      'aes128-CBC',
      'rsa-oaep',
    ],
    ['-des3', ['-keyopt', 'rsa_padding_mode:oaep'], 'des-EDE3-CBC', 'rsa-oaep'],
  ];
  for (const [cipher, keyopts, contentAlgorithm, keyAlgorithm] of cases) {
    it(`decrypts openssl cms -encrypt ${cipher} ${keyopts.join(' ')}`.trimEnd(), () => {
      const der = openssl(
        'cms',
        '-encrypt',
        '-binary',
        '-outform',
        'DER',
        cipher,
        '-in',
        'message.bin',
        '-recip',
        'cert.pem',
        ...keyopts,
      );
      const info = inspectEnvelopedData(der);
      assert.equal(info.contentEncryptionAlgorithm, contentAlgorithm);
      assert.equal(info.recipients[0]?.keyEncryptionAlgorithm, keyAlgorithm);
      assert.equal(info.recipients[0]?.issuer, 'CN=Veil test alice');
      assert.deepEqual(decryptEnvelopedData(der, [alice.privateKey]), message);
    });
  }

  it('decrypts for a recipient named by subject key identifier (openssl -keyid)', () => {
    const der = openssl(
      'cms',
      '-encrypt',
      '-binary',
      '-outform',
      'DER',
      '-aes256',
      '-keyid',
      '-in',
      'message.bin',
      'cert.pem',
    );
    const [recipient] = inspectEnvelopedData(der).recipients;
    assert.match(recipient?.subjectKeyIdentifier ?? '', /^[0-9a-f]{40}$/);
    assert.deepEqual(decryptEnvelopedData(der, [alice.privateKey]), message);
  });

  it('decrypts BER (streamed, indefinite-length) output of openssl cms -stream', () => {
    const der = openssl(
      'cms',
      '-encrypt',
      '-binary',
      '-stream',
      '-outform',
      'DER',
      '-aes256',
      '-in',
      'message.bin',
      'cert.pem',
    );
    assert.deepEqual(decryptEnvelopedData(der, [alice.privateKey]), message);
  });

  it('refuses OAEP whose MGF1 hash differs from its hash (VEIL_E_CMS), but still inspects it', () => {
    const der = openssl(
      'cms',
      '-encrypt',
      '-binary',
      '-outform',
      'DER',
      '-aes256',
      '-in',
      'message.bin',
      '-recip',
      'cert.pem',
      '-keyopt',
      'rsa_padding_mode:oaep',
      '-keyopt',
      'rsa_oaep_md:sha256',
      '-keyopt',
      'rsa_mgf1_md:sha1',
    );
    assert.equal(inspectEnvelopedData(der).recipients[0]?.keyEncryptionAlgorithm, 'rsa-oaep');
    assert.throws(
      () => decryptEnvelopedData(der, [alice.privateKey]),
      (err) => isVeilError(err, 'VEIL_E_CMS'),
    );
  });

  it('decrypts the Encrypted Content that gdcmanon -e writes (PS3.15 E.1.1)', () => {
    execFileSync('gdcmanon', ['-c', 'cert.pem', '-e', CT_SMALL, 'anon.dcm'], {
      cwd: dir,
      stdio: 'ignore',
    });
    const bytes = readFileSync(join(dir, 'anon.dcm'));
    const dataSet = dicomParser.parseDicom(new Uint8Array(bytes));
    const item = dataSet.elements['x04000500']?.items?.[0]?.dataSet;
    const encrypted = item?.elements['x04000520'];
    assert.ok(item && encrypted, 'Encrypted Attributes Sequence with Encrypted Content');
    assert.equal(item.string('x04000510'), '1.2.840.10008.1.2.1');
    const der = bytes.subarray(encrypted.dataOffset, encrypted.dataOffset + encrypted.length);
    assert.equal(inspectEnvelopedData(der).recipients[0]?.issuer, 'CN=Veil test alice');
    const content = decryptEnvelopedData(der, [alice.privateKey]);
    // Explicit VR LE: (0400,0550) Modified Attributes Sequence, VR SQ.
    assert.deepEqual(content.subarray(0, 6), Buffer.from([0x00, 0x04, 0x50, 0x05, 0x53, 0x51]));
    assert.ok(
      content.includes(Buffer.from('CompressedSamples^CT1')),
      'original Patient Name inside',
    );
  });

  for (const keyTransport of ['rsa-pkcs1v15', 'rsa-oaep'] as KeyTransport[]) {
    it(`gdcmanon -d re-identifies with an envelope createEnvelopedData made (${keyTransport})`, () => {
      // Swap gdcmanon's own envelope for ours over the same Modified Attributes Sequence (dcmodify).
      execFileSync('gdcmanon', ['-c', 'cert.pem', '-e', CT_SMALL, 'ours.dcm'], {
        cwd: dir,
        stdio: 'ignore',
      });
      const bytes = readFileSync(join(dir, 'ours.dcm'));
      const item = dicomParser.parseDicom(new Uint8Array(bytes)).elements['x04000500']?.items?.[0]
        ?.dataSet;
      const encrypted = item?.elements['x04000520'];
      assert.ok(encrypted);
      const content = decryptEnvelopedData(
        bytes.subarray(encrypted.dataOffset, encrypted.dataOffset + encrypted.length),
        [alice.privateKey],
      );
      const ours = createEnvelopedData(content, [alice.recipient], { keyTransport });
      // OB values have even length (PS3.5 7.1.1); gdcmanon reads the DER and ignores the pad.
      writeFileSync(
        join(dir, 'ours.bin'),
        ours.length % 2 === 0 ? ours : Buffer.concat([ours, Buffer.alloc(1)]),
      );
      execFileSync('dcmodify', ['-nb', '-if', '(0400,0500)[0].(0400,0520)=ours.bin', 'ours.dcm'], {
        cwd: dir,
        stdio: 'ignore',
      });
      const modified = readFileSync(join(dir, 'ours.dcm'));
      const replaced = dicomParser.parseDicom(new Uint8Array(modified)).elements['x04000500']
        ?.items?.[0]?.dataSet?.elements['x04000520'];
      assert.ok(replaced);
      assert.deepEqual(
        modified.subarray(replaced.dataOffset, replaced.dataOffset + ours.length),
        ours,
        'dcmodify put our envelope in place',
      );
      execFileSync('gdcmanon', ['-k', 'key.pem', '-d', 'ours.dcm', 'back.dcm'], {
        cwd: dir,
        stdio: 'ignore',
      });
      const back = dicomParser.parseDicom(new Uint8Array(readFileSync(join(dir, 'back.dcm'))));
      assert.equal(back.string('x00100010'), 'CompressedSamples^CT1');
      assert.equal(back.elements['x04000500'], undefined);
    });
  }
});
