import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import forge from 'node-forge';
import { isVeilError } from '../../src/errors';
import {
  createEnvelopedData,
  decryptEnvelopedData,
  inspectEnvelopedData,
  type KeyTransport,
} from '../../src/crypto/cms';
import type { PrivateKey } from '../../src/crypto/key-ring';
import { testKey } from './key-fixtures';

const content = Buffer.from('(0400,0550) Modified Attributes Sequence, Explicit VR LE');
const cmsError = (err: unknown) => isVeilError(err, 'VEIL_E_CMS');

/** Replaces the only occurrence of `from` in `der` (to swap an algorithm OID). */
function patch(der: Buffer, from: string, to: string): Buffer {
  const at = der.indexOf(Buffer.from(from, 'hex'));
  assert.ok(at >= 0 && der.indexOf(Buffer.from(from, 'hex'), at + 1) < 0, 'pattern occurs once');
  const out = Buffer.from(der);
  Buffer.from(to, 'hex').copy(out, at);
  return out;
}

type Asn1 = forge.asn1.Asn1;

/** Re-encodes `der` after `edit` changed its parsed EnvelopedData (children of the SEQUENCE). */
function mutate(der: Buffer, edit: (envelopedData: Asn1[]) => void): Buffer {
  const root = forge.asn1.fromDer(der.toString('binary'));
  const wrapper = (root.value as Asn1[])[1] as Asn1;
  edit(((wrapper.value as Asn1[])[0] as Asn1).value as Asn1[]);
  return Buffer.from(forge.asn1.toDer(root).getBytes(), 'binary');
}

/** The encryptedKey OCTET STRING of the first recipient. */
function encryptedKeyOf(envelopedData: Asn1[]): Asn1 {
  const recipient = ((envelopedData[1] as Asn1).value as Asn1[])[0] as Asn1;
  return (recipient.value as Asn1[])[3] as Asn1;
}

function flipFirstByte(node: Asn1): void {
  const bytes = node.value as string;
  node.value = String.fromCharCode(bytes.charCodeAt(0) ^ 0x01) + bytes.slice(1);
}

const AES256_CBC_OID = '060960864801650304012a';
const RSA_ENCRYPTION_OID = '06092a864886f70d010101';

describe('crypto/cms', () => {
  for (const keyTransport of ['rsa-pkcs1v15', 'rsa-oaep'] as KeyTransport[]) {
    it(`round trips with one recipient (${keyTransport})`, async () => {
      const alice = await testKey('alice');
      const der = createEnvelopedData(content, [alice.recipient], { keyTransport });
      assert.deepEqual(decryptEnvelopedData(der, [alice.privateKey]), content);
    });

    it(`round trips with two recipients, each able to decrypt (${keyTransport})`, async () => {
      const [alice, bob, carol] = await Promise.all([
        testKey('alice'),
        testKey('bob'),
        testKey('carol'),
      ]);
      const der = createEnvelopedData(content, [alice.recipient, bob.recipient], { keyTransport });
      assert.deepEqual(decryptEnvelopedData(der, [alice.privateKey]), content);
      assert.deepEqual(decryptEnvelopedData(der, [bob.privateKey]), content);
      assert.deepEqual(decryptEnvelopedData(der, [carol.privateKey, bob.privateKey]), content);
    });
  }

  it('defaults to PKCS#1 v1.5 key transport and AES-256-CBC, naming recipients by issuer and serial', async () => {
    const [alice, bob] = await Promise.all([testKey('alice'), testKey('bob')]);
    const info = inspectEnvelopedData(
      createEnvelopedData(content, [alice.recipient, bob.recipient]),
    );
    assert.equal(info.contentEncryptionAlgorithm, 'aes256-CBC');
    assert.deepEqual(info.recipients.map((r) => r.issuer).sort(), [
      'CN=Veil test alice',
      'CN=Veil test bob',
    ]);
    for (const recipient of info.recipients) {
      assert.equal(recipient.keyEncryptionAlgorithm, 'rsa-pkcs1v15');
      assert.match(recipient.serialNumber, /^[0-9A-F]+$/);
    }
    const oaep = inspectEnvelopedData(
      createEnvelopedData(content, [alice.recipient], { keyTransport: 'rsa-oaep' }),
    );
    assert.equal(oaep.recipients[0]?.keyEncryptionAlgorithm, 'rsa-oaep');
  });

  it('round trips empty and large content', async () => {
    const alice = await testKey('alice');
    for (const body of [Buffer.alloc(0), randomBytes(1_000_003)]) {
      const der = createEnvelopedData(body, [alice.recipient]);
      assert.deepEqual(decryptEnvelopedData(der, [alice.privateKey]), body);
    }
  });

  it('uses a fresh content key and IV every time', async () => {
    const alice = await testKey('alice');
    const a = createEnvelopedData(content, [alice.recipient]);
    const b = createEnvelopedData(content, [alice.recipient]);
    assert.notDeepEqual(a.subarray(a.length - 64), b.subarray(b.length - 64));
  });

  it('ignores padding after the DER, as gdcmanon writes it', async () => {
    const alice = await testKey('alice');
    const padded = Buffer.concat([
      createEnvelopedData(content, [alice.recipient]),
      Buffer.alloc(7),
    ]);
    assert.equal(inspectEnvelopedData(padded).recipients.length, 1);
    assert.deepEqual(decryptEnvelopedData(padded, [alice.privateKey]), content);
  });

  it('refuses to create an envelope without recipients (VEIL_E_KEY_NOT_FOUND)', () => {
    assert.throws(
      () => createEnvelopedData(content, []),
      (err) => isVeilError(err, 'VEIL_E_KEY_NOT_FOUND'),
    );
  });

  it('reports VEIL_E_KEY_NOT_FOUND when no key is a recipient', async () => {
    const [alice, bob] = await Promise.all([testKey('alice'), testKey('bob')]);
    const der = createEnvelopedData(content, [alice.recipient]);
    assert.throws(
      () => decryptEnvelopedData(der, [bob.privateKey]),
      (err) => isVeilError(err, 'VEIL_E_KEY_NOT_FOUND'),
    );
    assert.throws(
      () => decryptEnvelopedData(der, []),
      (err) => isVeilError(err, 'VEIL_E_KEY_NOT_FOUND'),
    );
  });

  it('reports VEIL_E_KEY_UNWRAP for a damaged OAEP-wrapped key', async () => {
    const alice = await testKey('alice');
    const der = createEnvelopedData(content, [alice.recipient], { keyTransport: 'rsa-oaep' });
    const damaged = mutate(der, (envelopedData) => flipFirstByte(encryptedKeyOf(envelopedData)));
    assert.throws(
      () => decryptEnvelopedData(damaged, [alice.privateKey]),
      (err) => isVeilError(err, 'VEIL_E_KEY_UNWRAP'),
    );
  });

  it('never returns the content for a damaged PKCS#1 v1.5 key or a mismatched private key', async () => {
    const [alice, bob] = await Promise.all([testKey('alice'), testKey('bob')]);
    const der = createEnvelopedData(content, [alice.recipient]);
    const damaged = mutate(der, (envelopedData) => flipFirstByte(encryptedKeyOf(envelopedData)));
    // A certificate paired with the wrong private key, bypassing privateKeyFromPem's check.
    const mismatched: PrivateKey = { ...alice.privateKey, privateKey: bob.privateKey.privateKey };
    const attempts: [Buffer, PrivateKey][] = [
      [damaged, alice.privateKey],
      [der, mismatched],
    ];
    for (const [envelope, key] of attempts) {
      // Implicit rejection: a random content key, so the CBC padding check fails (VEIL_E_KEY_UNWRAP)
      // except with probability ~1/256, when garbage comes back. Either way no plaintext leaks.
      try {
        assert.notDeepEqual(decryptEnvelopedData(envelope, [key]), content);
      } catch (err) {
        assert.ok(isVeilError(err, 'VEIL_E_KEY_UNWRAP'), String(err));
      }
    }
  });

  it('rejects truncated, garbage and non-EnvelopedData input with VEIL_E_CMS', async () => {
    const alice = await testKey('alice');
    const der = createEnvelopedData(content, [alice.recipient]);
    const inputs = [
      Buffer.alloc(0),
      Buffer.from('not DER at all'),
      randomBytes(64),
      der.subarray(0, der.length - 1),
      der.subarray(0, 40),
      Buffer.from(alice.generated.certificatePem.replace(/-----[^-]+-----|\s/g, ''), 'base64'),
      Buffer.from('3003020100', 'hex'),
    ];
    for (const input of inputs) {
      assert.throws(() => inspectEnvelopedData(input), cmsError);
      assert.throws(() => decryptEnvelopedData(input, [alice.privateKey]), cmsError);
    }
  });

  it('names an unknown content cipher by OID and refuses to decrypt it (VEIL_E_CMS)', async () => {
    const alice = await testKey('alice');
    const der = createEnvelopedData(content, [alice.recipient]);
    const gcm = patch(der, AES256_CBC_OID, '060960864801650304012e'); // aes256-GCM
    assert.equal(inspectEnvelopedData(gcm).contentEncryptionAlgorithm, '2.16.840.1.101.3.4.1.46');
    assert.throws(() => decryptEnvelopedData(gcm, [alice.privateKey]), cmsError);
  });

  it('names an unknown key transport by OID and refuses to decrypt it (VEIL_E_CMS)', async () => {
    const alice = await testKey('alice');
    const der = createEnvelopedData(content, [alice.recipient]);
    const pss = patch(der, RSA_ENCRYPTION_OID, '06092a864886f70d01010a'); // RSASSA-PSS
    assert.equal(
      inspectEnvelopedData(pss).recipients[0]?.keyEncryptionAlgorithm,
      '1.2.840.113549.1.1.10',
    );
    assert.throws(() => decryptEnvelopedData(pss, [alice.privateKey]), cmsError);
  });

  it('rejects content that is not a whole number of blocks (VEIL_E_CMS)', async () => {
    const alice = await testKey('alice');
    const der = createEnvelopedData(Buffer.alloc(15), [alice.recipient]);
    const shortened = mutate(der, (envelopedData) => {
      const encryptedContentInfo = envelopedData[2] as Asn1;
      const encrypted = (encryptedContentInfo.value as Asn1[])[2] as Asn1;
      encrypted.value = (encrypted.value as string).slice(0, 15);
    });
    assert.equal(shortened.length, der.length - 1);
    assert.throws(
      () => decryptEnvelopedData(shortened, [alice.privateKey]),
      (err) => isVeilError(err, 'VEIL_E_CMS') && /whole number of cipher blocks/.test(err.message),
    );
  });
});
