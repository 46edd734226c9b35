/**
 * RSA recipient keys: generation with Node's crypto (fast), a self-signed X.509 v3 certificate
 * built with node-forge (PS3.15 E.1.1 CMS recipients are named by certificate) and stable key ids.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPair,
  randomBytes,
  sign,
  type KeyObject,
  X509Certificate,
} from 'node:crypto';
import { promisify } from 'node:util';
import forge from 'node-forge';
import { VeilError } from '../errors';

/** RSA modulus sizes Veil generates; 3072 is the default (NIST SP 800-57: 128-bit security). */
export type RsaBits = 2048 | 3072 | 4096;

/** A freshly generated key pair with its self-signed certificate, all PEM. */
export interface GeneratedKey {
  keyId: string;
  bits: RsaBits;
  /** PKCS#8 "PRIVATE KEY" PEM. */
  privateKeyPem: string;
  /** SubjectPublicKeyInfo "PUBLIC KEY" PEM. */
  publicKeyPem: string;
  certificatePem: string;
}

// Public in node-forge's x509.js but missing from @types/node-forge.
const forgeTbs = forge.pki as unknown as {
  getTBSCertificate(cert: forge.pki.Certificate): forge.asn1.Asn1;
};

const RSA_BITS: readonly number[] = [2048, 3072, 4096];
const generateKeyPairAsync = promisify(generateKeyPair);

/**
 * RSA key pair (Node crypto generateKeyPair — fast) + self-signed X.509 v3 certificate made with
 * node-forge (SHA-256, CN, SubjectKeyIdentifier, keyUsage keyEncipherment+digitalSignature,
 * random positive serial, validityDays default 3650). Default bits 3072.
 */
export async function generateRsaKey(
  options: { bits?: RsaBits; commonName?: string; validityDays?: number } = {},
): Promise<GeneratedKey> {
  const bits = options.bits ?? 3072;
  const validityDays = options.validityDays ?? 3650;
  if (!RSA_BITS.includes(bits)) {
    throw new VeilError('VEIL_E_KEY_INVALID', `RSA key size ${String(bits)} is not supported.`, {
      bits,
    });
  }
  if (!Number.isInteger(validityDays) || validityDays < 1) {
    throw new VeilError(
      'VEIL_E_KEY_INVALID',
      'Certificate validity must be a positive number of days.',
    );
  }
  const { publicKey, privateKey } = await generateKeyPairAsync('rsa', {
    modulusLength: bits,
    publicExponent: 0x10001,
  });
  const keyId = keyIdOf(publicKey);
  const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const privateKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const commonName = options.commonName ?? `Veil key ${keyId.slice(0, 16)}`;
  const certificatePem = selfSignedCertificate(publicKeyPem, privateKey, commonName, validityDays);
  return { keyId, bits, privateKeyPem, publicKeyPem, certificatePem };
}

/**
 * Key id: lowercase hex SHA-256 of the DER SubjectPublicKeyInfo. Accepts a KeyObject (public or
 * private) or a PEM (public key, private key or certificate).
 */
export function keyIdOf(key: KeyObject | string): string {
  const publicKey = toPublicKey(key);
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('hex');
}

function toPublicKey(key: KeyObject | string): KeyObject {
  try {
    if (typeof key !== 'string') {
      return key.type === 'public' ? key : createPublicKey(key);
    }
    if (key.includes('-----BEGIN CERTIFICATE-----')) {
      return new X509Certificate(key).publicKey;
    }
    if (/-----BEGIN (RSA |EC |ENCRYPTED )?PRIVATE KEY-----/.test(key)) {
      return createPublicKey(createPrivateKey(key));
    }
    return createPublicKey(key);
  } catch (err) {
    // The cause may quote OpenSSL internals but never key bytes; keep it for debugging.
    throw new VeilError(
      'VEIL_E_KEY_INVALID',
      'Key or certificate cannot be read.',
      {},
      { cause: err },
    );
  }
}

/**
 * Builds the TBSCertificate with forge and signs it with Node's crypto: forge's own RSA
 * private operation is ~90x slower, and the result is the same PKCS#1 v1.5 SHA-256 signature.
 */
function selfSignedCertificate(
  publicKeyPem: string,
  privateKey: KeyObject,
  commonName: string,
  validityDays: number,
): string {
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKeyPem);
  cert.serialNumber = positiveSerial();
  const notBefore = new Date(Date.now() - 60_000); // tolerate small clock skew between hosts
  cert.validity.notBefore = notBefore;
  cert.validity.notAfter = new Date(notBefore.getTime() + validityDays * 86_400_000);
  const name = [{ name: 'commonName', value: commonName }];
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', critical: true, digitalSignature: true, keyEncipherment: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  const sha256WithRSA = forge.pki.oids.sha256WithRSAEncryption;
  cert.signatureOid = sha256WithRSA;
  cert.siginfo.algorithmOid = sha256WithRSA;
  const tbs = forge.asn1.toDer(forgeTbs.getTBSCertificate(cert)).getBytes();
  cert.signature = sign('sha256', Buffer.from(tbs, 'binary'), privateKey).toString('binary');
  return forge.pki.certificateToPem(cert);
}

/** RFC 5280 4.1.2.2: positive, at most 20 octets; 16 random bytes with the top bit cleared. */
function positiveSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] & 0x7f) | 0x01; // positive and no leading zero octet to strip
  return bytes.toString('hex');
}
