/** Shared 2048-bit test keys, generated once per mocha run (key generation dominates test time). */
import { generateRsaKey, type GeneratedKey } from '../../src/crypto/rsa-keys';
import {
  privateKeyFromPem,
  recipientFromCertificate,
  type PrivateKey,
  type RecipientKey,
} from '../../src/crypto/key-ring';

/** A generated key with its parsed recipient and private handles. */
export interface TestKey {
  generated: GeneratedKey;
  recipient: RecipientKey;
  privateKey: PrivateKey;
}

const cache = new Map<string, Promise<TestKey>>();

/** The named 2048-bit test key ('alice', 'bob', ...), the same object for the whole run. */
export function testKey(name: string): Promise<TestKey> {
  let key = cache.get(name);
  if (key === undefined) {
    key = generateRsaKey({ bits: 2048, commonName: `Veil test ${name}` }).then((generated) => ({
      generated,
      recipient: recipientFromCertificate(generated.certificatePem),
      privateKey: privateKeyFromPem(generated.privateKeyPem, generated.certificatePem),
    }));
    cache.set(name, key);
  }
  return key;
}
