import assert from 'node:assert/strict';
import { createHash, createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import forge from 'node-forge';
import { isVeilError } from '../../src/errors';
import { generateRsaKey, keyIdOf } from '../../src/crypto/rsa-keys';
import { testKey } from './key-fixtures';

const DAY_MS = 86_400_000;

describe('crypto/rsa-keys', () => {
  it('generates a 2048-bit key with a matching self-signed certificate', async () => {
    const { generated } = await testKey('alice');
    assert.equal(generated.bits, 2048);
    assert.match(generated.keyId, /^[0-9a-f]{64}$/);
    assert.match(generated.privateKeyPem, /^-----BEGIN PRIVATE KEY-----/);
    assert.match(generated.publicKeyPem, /^-----BEGIN PUBLIC KEY-----/);
    const cert = new X509Certificate(generated.certificatePem);
    assert.equal(cert.publicKey.asymmetricKeyDetails?.modulusLength, 2048);
    assert.ok(cert.checkPrivateKey(createPrivateKey(generated.privateKeyPem)));
    assert.ok(cert.verify(cert.publicKey), 'self-signed signature verifies');
    assert.equal(cert.subject, 'CN=Veil test alice');
    assert.equal(cert.issuer, cert.subject);
  });

  it('writes a v3 certificate: SHA-256, key usage, subject key identifier, positive serial', async () => {
    const { generated } = await testKey('alice');
    const cert = forge.pki.certificateFromPem(generated.certificatePem);
    assert.equal(cert.version, 2);
    assert.equal(cert.signatureOid, forge.pki.oids.sha256WithRSAEncryption);
    const keyUsage = cert.getExtension('keyUsage') as {
      keyEncipherment?: boolean;
      digitalSignature?: boolean;
    };
    assert.equal(keyUsage.keyEncipherment, true);
    assert.equal(keyUsage.digitalSignature, true);
    assert.ok(cert.getExtension('subjectKeyIdentifier'));
    assert.ok(parseInt(cert.serialNumber.slice(0, 2), 16) < 0x80, 'serial is positive');
    assert.ok(cert.serialNumber.length >= 32);
  });

  it('defaults to a ten-year validity and honours validityDays', async () => {
    const { generated } = await testKey('alice');
    const notAfter = Date.parse(new X509Certificate(generated.certificatePem).validTo);
    assert.ok(Math.abs(notAfter - (Date.now() + 3650 * DAY_MS)) < 2 * DAY_MS);
    const short = await generateRsaKey({ bits: 2048, validityDays: 30 });
    const shortNotAfter = Date.parse(new X509Certificate(short.certificatePem).validTo);
    assert.ok(Math.abs(shortNotAfter - (Date.now() + 30 * DAY_MS)) < 2 * DAY_MS);
  });

  it('defaults to 3072 bits and a CN naming the key id', async () => {
    const generated = await generateRsaKey();
    assert.equal(generated.bits, 3072);
    const cert = new X509Certificate(generated.certificatePem);
    assert.equal(cert.publicKey.asymmetricKeyDetails?.modulusLength, 3072);
    assert.equal(cert.subject, `CN=Veil key ${generated.keyId.slice(0, 16)}`);
  });

  it('generates a different key and serial every time', async () => {
    const [a, b] = await Promise.all([testKey('alice'), testKey('bob')]);
    assert.notEqual(a.generated.keyId, b.generated.keyId);
    assert.notEqual(
      new X509Certificate(a.generated.certificatePem).serialNumber,
      new X509Certificate(b.generated.certificatePem).serialNumber,
    );
  });

  it('derives the same key id from public, private and certificate PEMs and KeyObjects', async () => {
    const { generated } = await testKey('alice');
    const privateKey = createPrivateKey(generated.privateKeyPem);
    const publicKey = createPublicKey(generated.publicKeyPem);
    const spki = publicKey.export({ type: 'spki', format: 'der' });
    const expected = createHash('sha256').update(spki).digest('hex');
    const pkcs1 = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
    const rsaPublic = publicKey.export({ type: 'pkcs1', format: 'pem' }).toString();
    for (const form of [
      generated.publicKeyPem,
      generated.privateKeyPem,
      generated.certificatePem,
      pkcs1,
      rsaPublic,
      privateKey,
      publicKey,
    ]) {
      assert.equal(keyIdOf(form), expected);
    }
    assert.equal(generated.keyId, expected);
  });

  it('rejects unsupported key sizes and validity with VEIL_E_KEY_INVALID', async () => {
    await assert.rejects(generateRsaKey({ bits: 1024 as 2048 }), (err) =>
      isVeilError(err, 'VEIL_E_KEY_INVALID'),
    );
    await assert.rejects(generateRsaKey({ bits: 2048, validityDays: 0 }), (err) =>
      isVeilError(err, 'VEIL_E_KEY_INVALID'),
    );
  });

  it('rejects unreadable keys with VEIL_E_KEY_INVALID', () => {
    for (const bad of [
      '',
      'not a key',
      '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n',
    ]) {
      assert.throws(
        () => keyIdOf(bad),
        (err) => isVeilError(err, 'VEIL_E_KEY_INVALID'),
      );
    }
  });
});
