import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isVeilError } from '../../src/errors';
import { privateKeyFromPem, recipientFromCertificate } from '../../src/crypto/key-ring';
import { testKey } from './key-fixtures';

const invalid = (err: unknown) => isVeilError(err, 'VEIL_E_KEY_INVALID');

/** A self-signed certificate and key made by OpenSSL (needs the openssl binary). */
function opensslCertificate(newkey: string[]): { cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), 'veil-keyring-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-nodes',
        '-subj',
        '/CN=other',
        '-days',
        '1',
        ...newkey,
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    return {
      cert: readFileSync(join(dir, 'cert.pem'), 'utf8'),
      key: readFileSync(join(dir, 'key.pem'), 'utf8'),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('crypto/key-ring', () => {
  it('reads a recipient from its certificate', async () => {
    const { generated } = await testKey('alice');
    const recipient = recipientFromCertificate(generated.certificatePem);
    assert.equal(recipient.keyId, generated.keyId);
    assert.equal(recipient.bits, 2048);
    assert.equal(recipient.publicKey.type, 'public');
    assert.match(recipient.certificatePem, /^-----BEGIN CERTIFICATE-----/);
  });

  it('pairs a private key with its certificate, PKCS#8 or PKCS#1', async () => {
    const { generated } = await testKey('alice');
    const fromPkcs8 = privateKeyFromPem(generated.privateKeyPem, generated.certificatePem);
    assert.equal(fromPkcs8.keyId, generated.keyId);
    assert.equal(fromPkcs8.privateKey.type, 'private');
    const pkcs1 = createPrivateKey(generated.privateKeyPem)
      .export({ type: 'pkcs1', format: 'pem' })
      .toString();
    assert.equal(privateKeyFromPem(pkcs1, generated.certificatePem).keyId, generated.keyId);
  });

  it('accepts an OpenSSL-made RSA certificate', () => {
    const { cert, key } = opensslCertificate(['-newkey', 'rsa:2048']);
    const recipient = recipientFromCertificate(cert);
    assert.equal(privateKeyFromPem(key, cert).keyId, recipient.keyId);
  });

  it('rejects a private key that does not match the certificate', async () => {
    const [alice, bob] = await Promise.all([testKey('alice'), testKey('bob')]);
    assert.throws(
      () => privateKeyFromPem(bob.generated.privateKeyPem, alice.generated.certificatePem),
      invalid,
    );
  });

  it('rejects RSA keys below 2048 bits as recipients', () => {
    const { cert } = opensslCertificate(['-newkey', 'rsa:1024']);
    assert.throws(() => recipientFromCertificate(cert), invalid);
  });

  it('rejects non-RSA certificates and keys', () => {
    const { cert, key } = opensslCertificate([
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
    ]);
    assert.throws(() => recipientFromCertificate(cert), invalid);
    assert.throws(() => privateKeyFromPem(key, cert), invalid);
  });

  it('rejects things that are not certificates', async () => {
    const { generated } = await testKey('alice');
    for (const bad of [
      '',
      generated.publicKeyPem,
      '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n',
    ]) {
      assert.throws(() => recipientFromCertificate(bad), invalid);
      assert.throws(() => privateKeyFromPem(generated.privateKeyPem, bad), invalid);
    }
  });

  it('rejects unreadable and passphrase-protected private keys', async () => {
    const { generated } = await testKey('alice');
    const encrypted = createPrivateKey(generated.privateKeyPem)
      .export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'secret' })
      .toString();
    for (const bad of ['', 'garbage', encrypted]) {
      assert.throws(() => privateKeyFromPem(bad, generated.certificatePem), invalid);
    }
  });
});
