/** Test keys: 2048-bit (fast to make), generated once per test process. */
import {
  type PrivateKey,
  type RecipientKey,
  generateRsaKey,
  privateKeyFromPem,
  recipientFromCertificate,
} from '../../src/crypto';

export interface TestKey {
  recipient: RecipientKey;
  privateKey: PrivateKey;
  certificatePem: string;
  privateKeyPem: string;
}

const cache = new Map<string, Promise<TestKey>>();

/** A named test key pair; the same name gives the same key within one run. */
export function testKey(name = 'archive'): Promise<TestKey> {
  let key = cache.get(name);
  if (!key) {
    key = generateRsaKey({ bits: 2048, commonName: `Veil test ${name}` }).then((k) => ({
      recipient: recipientFromCertificate(k.certificatePem),
      privateKey: privateKeyFromPem(k.privateKeyPem, k.certificatePem),
      certificatePem: k.certificatePem,
      privateKeyPem: k.privateKeyPem,
    }));
    cache.set(name, key);
  }
  return key;
}
