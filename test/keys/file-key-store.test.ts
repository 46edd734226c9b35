import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateRsaKey } from '../../src/crypto/rsa-keys';
import { unwrapDataKey, wrapDataKey, randomDataKey } from '../../src/crypto/envelope';
import { isVeilError } from '../../src/errors';
import { FileKeyStore } from '../../src/keys/file-key-store';

const mode = async (file: string) => (await fs.stat(file)).mode & 0o777;
const keystoreError = (err: unknown) => isVeilError(err, 'VEIL_E_KEYSTORE');

describe('keys/file-key-store', () => {
  let root: string;
  let dir: string;

  beforeEach(async () => {
    root = await fs.mkdtemp(path.join(tmpdir(), 'veil-keys-'));
    dir = path.join(root, 'keys');
  });

  afterEach(async () => {
    await fs.chmod(root, 0o700).catch(() => undefined);
    await fs.rm(root, { recursive: true, force: true });
  });

  it('creates an empty store in a 0700 folder', async () => {
    const store = await FileKeyStore.open(dir);
    assert.deepEqual(store.list(), []);
    assert.deepEqual(store.recipients(), []);
    assert.deepEqual(store.privateKeys(), []);
    assert.equal(await mode(dir), 0o700);
  });

  it('generates a current key, lists it and writes its files (key 0600, no secrets in keys.json)', async () => {
    const store = await FileKeyStore.open(dir);
    const info = await store.generate({ bits: 2048, label: 'main' });
    assert.match(info.keyId, /^[0-9a-f]{64}$/);
    assert.equal(info.bits, 2048);
    assert.equal(info.status, 'current');
    assert.equal(info.label, 'main');
    assert.equal(info.hasPrivateKey, true);
    assert.ok(Date.parse(info.notAfter) > Date.now() + 3000 * 86_400_000);
    assert.ok(Math.abs(Date.parse(info.createdAt) - Date.now()) < 60_000);
    assert.deepEqual(store.list(), [info]);
    assert.deepEqual(
      store.recipients().map((r) => r.keyId),
      [info.keyId],
    );
    assert.deepEqual(
      store.privateKeys().map((k) => k.keyId),
      [info.keyId],
    );

    assert.equal(await mode(path.join(dir, `${info.keyId}.key.pem`)), 0o600);
    assert.equal(await mode(path.join(dir, 'keys.json')), 0o600);
    const cert = await fs.readFile(path.join(dir, `${info.keyId}.cert.pem`), 'utf8');
    assert.match(cert, /BEGIN CERTIFICATE/);
    const index = await fs.readFile(path.join(dir, 'keys.json'), 'utf8');
    assert.doesNotMatch(index, /PRIVATE|BEGIN/);
    assert.deepEqual(JSON.parse(index), { version: 1, keys: [info] });
    assert.deepEqual((await fs.readdir(dir)).sort(), [
      `${info.keyId}.cert.pem`,
      `${info.keyId}.key.pem`,
      'keys.json',
    ]);
  });

  it('generates 3072-bit keys by default', async () => {
    const store = await FileKeyStore.open(dir);
    assert.equal((await store.generate()).bits, 3072);
  });

  it('retires the old current key when a new current key is generated', async () => {
    const store = await FileKeyStore.open(dir);
    const first = await store.generate({ bits: 2048 });
    const second = await store.generate({ bits: 2048 });
    const status = new Map(store.list().map((k) => [k.keyId, k.status]));
    assert.equal(status.get(first.keyId), 'retired');
    assert.equal(status.get(second.keyId), 'current');
    // Retired: no longer wrapped for, still able to reveal old data.
    assert.deepEqual(
      store.recipients().map((r) => r.keyId),
      [second.keyId],
    );
    assert.deepEqual(
      store.privateKeys().map((k) => k.keyId),
      [second.keyId, first.keyId],
    );
  });

  it('adds an extra recipient without changing the current key', async () => {
    const store = await FileKeyStore.open(dir);
    const current = await store.generate({ bits: 2048 });
    const extra = await store.generate({ bits: 2048, status: 'recipient', label: 'break-glass' });
    assert.equal(extra.status, 'recipient');
    assert.deepEqual(
      store.recipients().map((r) => r.keyId),
      [current.keyId, extra.keyId],
    );
  });

  it('imports a certificate-only recipient, then attaches its private key', async () => {
    const store = await FileKeyStore.open(dir);
    const current = await store.generate({ bits: 2048 });
    const breakGlass = await generateRsaKey({ bits: 2048 });
    const info = await store.importCertificate(breakGlass.certificatePem, { label: 'break-glass' });
    assert.deepEqual(
      { ...info, createdAt: '', notAfter: '' },
      {
        keyId: breakGlass.keyId,
        bits: 2048,
        status: 'recipient',
        label: 'break-glass',
        createdAt: '',
        hasPrivateKey: false,
        notAfter: '',
      },
    );
    assert.deepEqual(
      store.recipients().map((r) => r.keyId),
      [current.keyId, breakGlass.keyId],
    );
    assert.deepEqual(
      store.privateKeys().map((k) => k.keyId),
      [current.keyId],
    );
    await assert.rejects(fs.stat(path.join(dir, `${breakGlass.keyId}.key.pem`)));

    const attached = await store.importCertificate(breakGlass.certificatePem, {
      privateKeyPem: breakGlass.privateKeyPem,
    });
    assert.equal(attached.hasPrivateKey, true);
    assert.equal(attached.label, 'break-glass');
    assert.deepEqual(
      store.privateKeys().map((k) => k.keyId),
      [current.keyId, breakGlass.keyId],
    );
    assert.equal(await mode(path.join(dir, `${breakGlass.keyId}.key.pem`)), 0o600);
  });

  it('imports a certificate with its private key', async () => {
    const store = await FileKeyStore.open(dir);
    const key = await generateRsaKey({ bits: 2048 });
    const info = await store.importCertificate(key.certificatePem, {
      privateKeyPem: key.privateKeyPem,
    });
    assert.equal(info.hasPrivateKey, true);
    assert.equal(info.label, '');
    const wrapped = wrapDataKey(Buffer.alloc(32, 7), store.recipients()[0]!);
    assert.deepEqual(unwrapDataKey(wrapped, store.privateKeys()[0]!), Buffer.alloc(32, 7));
  });

  it('reopens from disk with the same keys, statuses and working key material', async () => {
    const store = await FileKeyStore.open(dir);
    const old = await store.generate({ bits: 2048, label: 'old' });
    const current = await store.generate({ bits: 2048, label: 'new' });
    const certOnly = await generateRsaKey({ bits: 2048 });
    await store.importCertificate(certOnly.certificatePem);
    const dataKey = randomDataKey();
    const wrapped = store.recipients().map((r) => wrapDataKey(dataKey, r));

    const reopened = await FileKeyStore.open(dir);
    assert.deepEqual(reopened.list(), store.list());
    assert.deepEqual(
      reopened.recipients().map((r) => r.keyId),
      [current.keyId, certOnly.keyId],
    );
    assert.deepEqual(
      reopened.privateKeys().map((k) => k.keyId),
      [current.keyId, old.keyId],
    );
    assert.deepEqual(unwrapDataKey(wrapped[0]!, reopened.privateKeys()[0]!), dataKey);
  });

  it('switches the current key by id prefix, retiring the old one', async () => {
    const store = await FileKeyStore.open(dir);
    const first = await store.generate({ bits: 2048 });
    const second = await store.generate({ bits: 2048, status: 'recipient' });
    await store.setStatus(second.keyId.slice(0, 8).toUpperCase(), 'current');
    const status = new Map(store.list().map((k) => [k.keyId, k.status]));
    assert.equal(status.get(first.keyId), 'retired');
    assert.equal(status.get(second.keyId), 'current');
    await store.setStatus(first.keyId, 'recipient');
    assert.deepEqual(
      store.recipients().map((r) => r.keyId),
      [second.keyId, first.keyId],
    );
    await store.setStatus(first.keyId, 'retired');
    await store.setStatus(first.keyId, 'retired');
    assert.deepEqual(
      store.recipients().map((r) => r.keyId),
      [second.keyId],
    );
    const reopened = await FileKeyStore.open(dir);
    assert.deepEqual(reopened.list(), store.list());
  });

  it('removes a key and its files', async () => {
    const store = await FileKeyStore.open(dir);
    const old = await store.generate({ bits: 2048 });
    const current = await store.generate({ bits: 2048 });
    await store.remove(old.keyId.slice(0, 12));
    assert.deepEqual(
      store.list().map((k) => k.keyId),
      [current.keyId],
    );
    assert.deepEqual((await fs.readdir(dir)).sort(), [
      `${current.keyId}.cert.pem`,
      `${current.keyId}.key.pem`,
      'keys.json',
    ]);
    assert.deepEqual((await FileKeyStore.open(dir)).list(), store.list());
  });

  it('keeps one current key when generating concurrently', async () => {
    const store = await FileKeyStore.open(dir);
    await Promise.all([store.generate({ bits: 2048 }), store.generate({ bits: 2048 })]);
    assert.equal(store.list().filter((k) => k.status === 'current').length, 1);
    assert.equal((await FileKeyStore.open(dir)).list().length, 2);
  });

  describe('rejections', () => {
    it('refuses to demote or remove the current key (VEIL_E_USAGE)', async () => {
      const store = await FileKeyStore.open(dir);
      const current = await store.generate({ bits: 2048 });
      for (const status of ['retired', 'recipient'] as const) {
        await assert.rejects(store.setStatus(current.keyId, status), (err) =>
          isVeilError(err, 'VEIL_E_USAGE'),
        );
      }
      await assert.rejects(store.remove(current.keyId), (err) => isVeilError(err, 'VEIL_E_USAGE'));
      assert.equal(store.list()[0]?.status, 'current');
    });

    it('rejects unknown, short and malformed key ids', async () => {
      const store = await FileKeyStore.open(dir);
      const key = await store.generate({ bits: 2048 });
      const unknown = key.keyId.startsWith('0') ? '1'.repeat(64) : '0'.repeat(64);
      await assert.rejects(store.setStatus(unknown, 'retired'), (err) =>
        isVeilError(err, 'VEIL_E_KEY_NOT_FOUND'),
      );
      await assert.rejects(store.remove(unknown), (err) =>
        isVeilError(err, 'VEIL_E_KEY_NOT_FOUND'),
      );
      for (const bad of [key.keyId.slice(0, 7), '', '../../etc/passwd', `${key.keyId}0`]) {
        await assert.rejects(store.remove(bad), (err) => isVeilError(err, 'VEIL_E_USAGE'), bad);
      }
      await assert.rejects(store.setStatus(key.keyId, 'bogus' as 'retired'), (err) =>
        isVeilError(err, 'VEIL_E_USAGE'),
      );
    });

    it('rejects importing the same certificate twice (VEIL_E_USAGE)', async () => {
      const store = await FileKeyStore.open(dir);
      const key = await generateRsaKey({ bits: 2048 });
      await store.importCertificate(key.certificatePem, { privateKeyPem: key.privateKeyPem });
      await assert.rejects(store.importCertificate(key.certificatePem), (err) =>
        isVeilError(err, 'VEIL_E_USAGE'),
      );
      await assert.rejects(
        store.importCertificate(key.certificatePem, { privateKeyPem: key.privateKeyPem }),
        (err) => isVeilError(err, 'VEIL_E_USAGE'),
      );
    });

    it('rejects bad certificates, mismatched private keys and small keys (VEIL_E_KEY_INVALID)', async () => {
      const store = await FileKeyStore.open(dir);
      const [a, b] = await Promise.all([
        generateRsaKey({ bits: 2048 }),
        generateRsaKey({ bits: 2048 }),
      ]);
      const invalid = (err: unknown) => isVeilError(err, 'VEIL_E_KEY_INVALID');
      await assert.rejects(store.importCertificate('not a certificate'), invalid);
      await assert.rejects(
        store.importCertificate(a.certificatePem, { privateKeyPem: b.privateKeyPem }),
        invalid,
      );
      const small = execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-nodes',
          '-newkey',
          'rsa:1024',
          '-subj',
          '/CN=small',
          '-keyout',
          '/dev/null',
        ],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
      );
      await assert.rejects(store.importCertificate(small), invalid);
      await assert.rejects(store.generate({ bits: 1024 as 2048 }), invalid);
      assert.deepEqual(store.list(), []);
      assert.deepEqual(await fs.readdir(dir), []);
    });

    const corruptions: [string, string][] = [
      ['not JSON', '{"version": 1, "keys": ['],
      ['JSON null', 'null'],
      ['another version', '{"version": 2, "keys": []}'],
      ['keys not a list', '{"version": 1, "keys": {}}'],
      ['a malformed entry', '{"version": 1, "keys": [{"keyId": "abc"}]}'],
    ];
    for (const [what, text] of corruptions) {
      it(`refuses to open a keys.json that is ${what} (VEIL_E_KEYSTORE)`, async () => {
        await fs.mkdir(dir, { mode: 0o700 });
        await fs.writeFile(path.join(dir, 'keys.json'), text);
        await assert.rejects(FileKeyStore.open(dir), keystoreError);
      });
    }

    it('refuses an index that disagrees with the key files (VEIL_E_KEYSTORE)', async () => {
      const store = await FileKeyStore.open(dir);
      const first = await store.generate({ bits: 2048 });
      const second = await store.generate({ bits: 2048 });
      const indexFile = path.join(dir, 'keys.json');
      const good = await fs.readFile(indexFile, 'utf8');
      const edits: ((index: { keys: Record<string, unknown>[] }) => void)[] = [
        (index) => void (index.keys[0]!.status = 'current'), // two current keys
        (index) => void index.keys.push({ ...index.keys[0]! }), // a key listed twice
        (index) => void (index.keys[1]!.bits = 4096), // wrong size
        (index) => void (index.keys[0]!.keyId = 'f'.repeat(64)), // no such files
      ];
      for (const edit of edits) {
        const index = JSON.parse(good) as { keys: Record<string, unknown>[] };
        edit(index);
        await fs.writeFile(indexFile, JSON.stringify(index));
        await assert.rejects(FileKeyStore.open(dir), keystoreError);
      }
      await fs.writeFile(indexFile, good);
      await fs.copyFile(
        path.join(dir, `${first.keyId}.cert.pem`),
        path.join(dir, `${second.keyId}.cert.pem`),
      );
      await assert.rejects(FileKeyStore.open(dir), keystoreError, 'certificate swapped');
      await fs.rm(path.join(dir, `${second.keyId}.cert.pem`));
      await assert.rejects(FileKeyStore.open(dir), keystoreError, 'certificate missing');
    });

    it('refuses a private key file that does not match its certificate (VEIL_E_KEYSTORE)', async () => {
      const store = await FileKeyStore.open(dir);
      const first = await store.generate({ bits: 2048 });
      const second = await store.generate({ bits: 2048 });
      await fs.copyFile(
        path.join(dir, `${first.keyId}.key.pem`),
        path.join(dir, `${second.keyId}.key.pem`),
      );
      await assert.rejects(FileKeyStore.open(dir), keystoreError);
      await fs.rm(path.join(dir, `${second.keyId}.key.pem`));
      await assert.rejects(FileKeyStore.open(dir), keystoreError);
    });

    it('reports an unreadable folder as VEIL_E_KEYSTORE', async function () {
      if (process.getuid?.() === 0) {
        // root reads through permissions; use a path under a regular file instead.
        const file = path.join(root, 'file');
        await fs.writeFile(file, '');
        await assert.rejects(FileKeyStore.open(path.join(file, 'keys')), keystoreError);
        return;
      }
      await fs.mkdir(dir, { mode: 0o700 });
      await fs.writeFile(path.join(dir, 'keys.json'), '{"version": 1, "keys": []}');
      await fs.chmod(dir, 0o000);
      await assert.rejects(FileKeyStore.open(dir), keystoreError);
    });
  });
});
