/**
 * Validated key handles: a recipient is a certificate's RSA public key, a private key is always
 * paired with its certificate because CMS (RFC 5652 6.2.1) names recipients by issuer and serial.
 */
import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { VeilError } from '../errors';
import { keyIdOf } from './rsa-keys';

/** A public key new data is wrapped for, with the certificate that names it. */
export interface RecipientKey {
  keyId: string;
  publicKey: KeyObject;
  certificatePem: string;
  bits: number;
}

/** A private key that unwraps data keys and CMS envelopes, with its certificate. */
export interface PrivateKey {
  keyId: string;
  privateKey: KeyObject;
  certificatePem: string;
}

/** Smallest modulus accepted for new wrapping (NIST SP 800-131A: RSA below 2048 is disallowed). */
const MIN_RECIPIENT_BITS = 2048;

/** Reads a PEM certificate holding an RSA public key of at least 2048 bits; VEIL_E_KEY_INVALID otherwise. */
export function recipientFromCertificate(certificatePem: string): RecipientKey {
  const cert = parseCertificate(certificatePem);
  const publicKey = cert.publicKey;
  const bits = rsaBits(publicKey);
  if (bits < MIN_RECIPIENT_BITS) {
    throw new VeilError(
      'VEIL_E_KEY_INVALID',
      `RSA key of ${String(bits)} bits is too small for a recipient (minimum ${String(MIN_RECIPIENT_BITS)}).`,
      { bits },
    );
  }
  return { keyId: keyIdOf(publicKey), publicKey, certificatePem: cert.toString(), bits };
}

/**
 * Reads an unencrypted PEM RSA private key (PKCS#8 or PKCS#1) and checks that it belongs to the
 * certificate; VEIL_E_KEY_INVALID otherwise. Small legacy keys are accepted so old data stays readable.
 */
export function privateKeyFromPem(privateKeyPem: string, certificatePem: string): PrivateKey {
  const cert = parseCertificate(certificatePem);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(privateKeyPem);
  } catch (err) {
    throw new VeilError(
      'VEIL_E_KEY_INVALID',
      'Private key cannot be read (expected an unencrypted PEM RSA key).',
      {},
      { cause: err },
    );
  }
  rsaBits(privateKey);
  if (!cert.checkPrivateKey(privateKey)) {
    throw new VeilError('VEIL_E_KEY_INVALID', 'Private key does not match the certificate.', {
      keyId: keyIdOf(cert.publicKey),
    });
  }
  return { keyId: keyIdOf(privateKey), privateKey, certificatePem: cert.toString() };
}

function parseCertificate(certificatePem: string): X509Certificate {
  if (!certificatePem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new VeilError('VEIL_E_KEY_INVALID', 'Expected a PEM X.509 certificate.');
  }
  try {
    return new X509Certificate(certificatePem);
  } catch (err) {
    throw new VeilError('VEIL_E_KEY_INVALID', 'Certificate cannot be read.', {}, { cause: err });
  }
}

function rsaBits(key: KeyObject): number {
  // 'rsa-pss' keys cannot do key transport (RFC 4056 restricts them to signatures).
  const bits = key.asymmetricKeyDetails?.modulusLength;
  if (key.asymmetricKeyType !== 'rsa' || bits === undefined) {
    throw new VeilError('VEIL_E_KEY_INVALID', 'Key is not an RSA key.', {
      type: key.asymmetricKeyType,
    });
  }
  return bits;
}
