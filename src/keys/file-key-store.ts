/**
 * The key store on disk: a folder (0700) holding keys.json (the index, no secrets),
 * <keyId>.key.pem (0600) and <keyId>.cert.pem. Mutations write the key files first and the
 * index last, atomically, so a crash leaves at worst an unreferenced file, never a broken index.
 */
import { X509Certificate } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import {
  privateKeyFromPem,
  recipientFromCertificate,
  type PrivateKey,
  type RecipientKey,
} from '../crypto/key-ring';
import { generateRsaKey, type RsaBits } from '../crypto/rsa-keys';
import { VeilError, isVeilError } from '../errors';
import { inconsistent, io, writeDurably } from './durable-write';
import {
  INDEX,
  parseIndex,
  serializeIndex,
  STATUSES,
  type KeyInfo,
  type KeyStatus,
} from './key-index';

export type { KeyInfo, KeyStatus } from './key-index';

interface Entry {
  info: KeyInfo;
  recipient: RecipientKey;
  privateKey?: PrivateKey;
}

const STATUS_ORDER: Record<KeyStatus, number> = { current: 0, recipient: 1, retired: 2 };

/**
 * RSA keys in a folder. One process mutates at a time (the `veil keys` CLI); workers open it to
 * read. Mutations within one process are serialised.
 */
export class FileKeyStore {
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly dir: string,
    private entries: Entry[],
    /** Identity of the keys.json read last (see indexStamp). */
    private stamp: string | undefined,
  ) {}

  /** Opens (creating when absent) the store in `dir`; VEIL_E_KEYSTORE when unreadable/inconsistent. */
  static async open(dir: string): Promise<FileKeyStore> {
    const created = await io(dir, 'create the key store folder', () =>
      fs.mkdir(dir, { recursive: true, mode: 0o700 }),
    );
    if (created !== undefined)
      await io(dir, 'protect the key store folder', () => fs.chmod(dir, 0o700));
    const stamp = await indexStamp(dir);
    const entries = await readEntries(dir, []);
    return new FileKeyStore(dir, entries, stamp);
  }

  /**
   * Re-reads keys.json when another process changed it (`veil keys rotate` beside a running
   * gateway); keys already loaded are not parsed again. Resolves true when the keys changed.
   */
  refresh(): Promise<boolean> {
    return this.exclusive(async () => {
      const stamp = await indexStamp(this.dir);
      if (stamp === this.stamp) return false;
      this.entries = await readEntries(this.dir, this.entries);
      this.stamp = stamp;
      return true;
    });
  }

  /** Every key, oldest first. */
  list(): KeyInfo[] {
    return [...this.entries]
      .sort((a, b) => a.info.createdAt.localeCompare(b.info.createdAt))
      .map((entry) => ({ ...entry.info }));
  }

  /** Generates a key (default 3072 bits, status current); a new current key retires the old one. */
  generate(
    options: { bits?: RsaBits; label?: string; status?: 'current' | 'recipient' } = {},
  ): Promise<KeyInfo> {
    return this.exclusive(async () => {
      const status = options.status ?? 'current';
      const generated = await generateRsaKey({ bits: options.bits ?? 3072 });
      const recipient = recipientFromCertificate(generated.certificatePem);
      const privateKey = privateKeyFromPem(generated.privateKeyPem, generated.certificatePem);
      await this.writeKeyFiles(recipient, generated.privateKeyPem);
      const entry = newEntry(recipient, privateKey, status, options.label ?? '');
      await this.commit([...this.entries.map((e) => demoteIf(e, status === 'current')), entry]);
      return { ...entry.info };
    });
  }

  /**
   * Adds a certificate as a 'recipient' key, with its private key when given. Importing the
   * private key of a certificate-only key already in the store attaches it.
   */
  importCertificate(
    certificatePem: string,
    options: { label?: string; privateKeyPem?: string } = {},
  ): Promise<KeyInfo> {
    return this.exclusive(async () => {
      const recipient = recipientFromCertificate(certificatePem);
      const privateKey =
        options.privateKeyPem === undefined
          ? undefined
          : privateKeyFromPem(options.privateKeyPem, certificatePem);
      const existing = this.entries.find((e) => e.info.keyId === recipient.keyId);
      if (
        existing !== undefined &&
        (existing.privateKey !== undefined || privateKey === undefined)
      ) {
        throw new VeilError('VEIL_E_USAGE', 'This key is already in the key store.', {
          keyId: recipient.keyId,
        });
      }
      if (existing !== undefined) {
        await this.writeKeyFiles(existing.recipient, options.privateKeyPem);
        const attached: Entry = {
          ...existing,
          privateKey,
          info: { ...existing.info, hasPrivateKey: true },
        };
        await this.commit(this.entries.map((e) => (e === existing ? attached : e)));
        return { ...attached.info };
      }
      await this.writeKeyFiles(recipient, options.privateKeyPem);
      const entry = newEntry(recipient, privateKey, 'recipient', options.label ?? '');
      await this.commit([...this.entries, entry]);
      return { ...entry.info };
    });
  }

  /** Changes a key's status (keyId prefix of at least 8 hex digits); a new current retires the old. */
  setStatus(keyId: string, status: KeyStatus): Promise<void> {
    return this.exclusive(async () => {
      const target = this.resolve(keyId);
      if (!STATUSES.includes(status)) {
        throw new VeilError('VEIL_E_USAGE', `Unknown key status '${String(status)}'.`);
      }
      if (target.info.status === status) return;
      if (target.info.status === 'current') {
        throw new VeilError(
          'VEIL_E_USAGE',
          'The current key cannot be demoted directly: make another key current instead.',
          { keyId: target.info.keyId },
        );
      }
      await this.commit(
        this.entries.map((e) =>
          e === target ? { ...e, info: { ...e.info, status } } : demoteIf(e, status === 'current'),
        ),
      );
    });
  }

  /** Deletes a key and its files (callers check that no stored object still needs it). */
  remove(keyId: string): Promise<void> {
    return this.exclusive(async () => {
      const target = this.resolve(keyId);
      if (target.info.status === 'current') {
        throw new VeilError(
          'VEIL_E_USAGE',
          'The current key cannot be removed: make another key current first.',
          { keyId: target.info.keyId },
        );
      }
      // Index first: a crash then leaves orphan files, never an index entry without its files.
      await this.commit(this.entries.filter((e) => e !== target));
      for (const file of keyFiles(this.dir, target.info.keyId)) {
        await io(this.dir, 'delete a key file', () => fs.rm(file, { force: true }));
      }
    });
  }

  /** Keys new data is wrapped for: the current key first, then the extra recipients. */
  recipients(): RecipientKey[] {
    return this.ordered()
      .filter((e) => e.info.status !== 'retired')
      .map((e) => e.recipient);
  }

  /** Every key with a private key, retired included: current first, then newest first. */
  privateKeys(): PrivateKey[] {
    return this.ordered().flatMap((e) => (e.privateKey === undefined ? [] : [e.privateKey]));
  }

  private ordered(): Entry[] {
    return [...this.entries].sort(
      (a, b) =>
        STATUS_ORDER[a.info.status] - STATUS_ORDER[b.info.status] ||
        b.info.createdAt.localeCompare(a.info.createdAt),
    );
  }

  private resolve(keyId: string): Entry {
    const prefix = keyId.toLowerCase();
    if (!/^[0-9a-f]{8,64}$/.test(prefix)) {
      throw new VeilError(
        'VEIL_E_USAGE',
        'A key id (or a prefix of at least 8 hex digits) is required.',
      );
    }
    const matches = this.entries.filter((e) => e.info.keyId.startsWith(prefix));
    if (matches.length === 0) {
      throw new VeilError('VEIL_E_KEY_NOT_FOUND', 'No key with this id in the key store.', {
        keyId: prefix,
      });
    }
    if (matches.length > 1) {
      throw new VeilError(
        'VEIL_E_USAGE',
        'The key id prefix matches several keys; give more digits.',
        {
          keyId: prefix,
        },
      );
    }
    return matches[0] as Entry;
  }

  private async writeKeyFiles(
    recipient: RecipientKey,
    privateKeyPem: string | undefined,
  ): Promise<void> {
    const [keyFile, certFile] = keyFiles(this.dir, recipient.keyId);
    if (privateKeyPem !== undefined) await writeDurably(this.dir, keyFile, privateKeyPem, 0o600);
    await writeDurably(this.dir, certFile, recipient.certificatePem, 0o644);
  }

  /** Writes keys.json atomically (temp file, fsync, rename, fsync folder), then adopts `entries`. */
  private async commit(entries: Entry[]): Promise<void> {
    const text = serializeIndex(entries.map((e) => e.info));
    await writeDurably(this.dir, path.join(this.dir, INDEX), text, 0o600);
    this.entries = entries;
    this.stamp = await indexStamp(this.dir);
  }

  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

function newEntry(
  recipient: RecipientKey,
  privateKey: PrivateKey | undefined,
  status: KeyStatus,
  label: string,
): Entry {
  const info: KeyInfo = {
    keyId: recipient.keyId,
    bits: recipient.bits,
    status,
    label,
    createdAt: new Date().toISOString(),
    hasPrivateKey: privateKey !== undefined,
    notAfter: new Date(new X509Certificate(recipient.certificatePem).validTo).toISOString(),
  };
  return privateKey === undefined ? { info, recipient } : { info, recipient, privateKey };
}

function demoteIf(entry: Entry, newCurrent: boolean): Entry {
  return newCurrent && entry.info.status === 'current'
    ? { ...entry, info: { ...entry.info, status: 'retired' } }
    : entry;
}

function keyFiles(dir: string, keyId: string): [string, string] {
  return [path.join(dir, `${keyId}.key.pem`), path.join(dir, `${keyId}.cert.pem`)];
}

/**
 * Identity of keys.json: every mutation replaces it by rename, so inode, size and mtime change
 * together. Undefined when there is none yet.
 */
async function indexStamp(dir: string): Promise<string | undefined> {
  return io(dir, `stat ${INDEX}`, async () => {
    try {
      const st = await fs.stat(path.join(dir, INDEX));
      return `${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  });
}

/** The entries keys.json lists, reusing `loaded` ones (same key id, same private-key presence). */
async function readEntries(dir: string, loaded: Entry[]): Promise<Entry[]> {
  const text = await io(dir, `read ${INDEX}`, async () => {
    try {
      return await fs.readFile(path.join(dir, INDEX), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  });
  const infos = text === undefined ? [] : parseIndex(text);
  const entries: Entry[] = [];
  for (const info of infos) {
    const known = loaded.find(
      (e) => e.info.keyId === info.keyId && e.info.hasPrivateKey === info.hasPrivateKey,
    );
    entries.push(known ? { ...known, info } : await loadEntry(dir, info));
  }
  return entries;
}

async function loadEntry(dir: string, info: KeyInfo): Promise<Entry> {
  const [keyFile, certFile] = keyFiles(dir, info.keyId);
  try {
    const recipient = recipientFromCertificate(await fs.readFile(certFile, 'utf8'));
    const privateKey = info.hasPrivateKey
      ? privateKeyFromPem(await fs.readFile(keyFile, 'utf8'), recipient.certificatePem)
      : undefined;
    if (recipient.keyId !== info.keyId || recipient.bits !== info.bits) {
      throw inconsistent('a certificate does not match its index entry');
    }
    return privateKey === undefined ? { info, recipient } : { info, recipient, privateKey };
  } catch (err) {
    if (isVeilError(err, 'VEIL_E_KEYSTORE')) throw err;
    throw new VeilError(
      'VEIL_E_KEYSTORE',
      'A key listed in the key store cannot be loaded.',
      { keyId: info.keyId },
      { cause: err },
    );
  }
}
