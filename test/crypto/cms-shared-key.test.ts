import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  type CmsSharedKey,
  createEnvelopedData,
  decryptEnvelopedData,
  inspectEnvelopedData,
} from '../../src/crypto';
import { testKey } from '../helpers/keys';
import { runTool, tempDir } from '../helpers/tools';

describe('crypto/cms shared content key (one RSA operation per series)', () => {
  it('wraps a shared content key once and reuses the wrapped bytes, with a fresh IV per envelope', async () => {
    const key = await testKey();
    const shared: CmsSharedKey = { contentKey: randomBytes(32), encryptedKeys: new Map() };
    const a = createEnvelopedData(Buffer.from('first'), [key.recipient], { sharedKey: shared });
    const b = createEnvelopedData(Buffer.from('first'), [key.recipient], { sharedKey: shared });
    assert.equal(shared.encryptedKeys.size, 1);
    assert.ok(!a.equals(b), 'same content gives different envelopes (random IV)');
    assert.equal(inspectEnvelopedData(a).recipients.length, 1);
    assert.equal(shared.contentKey.length, 32, 'the shared key is not wiped after use');
  });

  it('caches the unwrapped content key by its wrapped form and decrypts the next envelope without RSA', async () => {
    const key = await testKey();
    const shared: CmsSharedKey = { contentKey: randomBytes(32), encryptedKeys: new Map() };
    const a = createEnvelopedData(Buffer.from('alpha'), [key.recipient], { sharedKey: shared });
    const b = createEnvelopedData(Buffer.from('beta'), [key.recipient], { sharedKey: shared });
    const keyCache = new Map<string, Buffer>();
    assert.equal(decryptEnvelopedData(a, [key.privateKey], { keyCache }).toString(), 'alpha');
    assert.equal(keyCache.size, 1);
    assert.ok(
      [...keyCache.keys()].every((k) => /^cms:[0-9a-f]{64}$/.test(k)),
      'cache keyed by digests only',
    );
    // With the private key gone, only the cache can open the second envelope.
    const stub = {
      ...key.privateKey,
      privateKey: (await testKey('stranger')).privateKey.privateKey,
    };
    assert.equal(decryptEnvelopedData(b, [stub], { keyCache }).toString(), 'beta');
  });

  it('stays standard CMS: OpenSSL decrypts an envelope made with a shared key', async () => {
    const key = await testKey();
    const tmp = tempDir();
    try {
      const shared: CmsSharedKey = { contentKey: randomBytes(32), encryptedKeys: new Map() };
      createEnvelopedData(Buffer.from('warm-up'), [key.recipient], { sharedKey: shared });
      const der = createEnvelopedData(Buffer.from('standard'), [key.recipient], {
        sharedKey: shared,
      });
      const [derFile, keyFile, certFile] = ['e.der', 'k.pem', 'c.pem'].map((f) =>
        path.join(tmp.dir, f),
      ) as [string, string, string];
      writeFileSync(derFile, der);
      writeFileSync(keyFile, key.privateKeyPem);
      writeFileSync(certFile, key.certificatePem);
      const r = runTool('openssl', [
        'cms',
        '-decrypt',
        '-inform',
        'DER',
        '-in',
        derFile,
        '-recip',
        certFile,
        '-inkey',
        keyFile,
      ]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, 'standard');
    } finally {
      tmp.cleanup();
    }
  });
});
