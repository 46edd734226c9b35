/**
 * Wires configuration and the key store into the options of the pure protection core. Used by the
 * CLI now and by the workers: one place decides which keys protect and which may reveal.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { VeilConfig } from '../config';
import { VeilError } from '../errors';
import { FileKeyStore, type KeyInfo } from '../keys/file-key-store';
import { randomDataKey, wrapDataKey } from '../crypto';
import type { ProtectOptions, RevealOptions, SharedDataKey } from '../protection';
import { BoundedMap } from './bounded-map';

/** Unwrapped and shared data keys kept per process: bounded, in memory only. */
const KEY_CACHE_SIZE = 1024;

export interface ProtectionContext {
  keyStore: FileKeyStore;
  protectOptions(): ProtectOptions;
  revealOptions(): RevealOptions;
  /**
   * Picks up keys changed by another process (`veil keys rotate` beside a running gateway): at
   * most one stat of keys.json per KEY_REFRESH_MS. A change drops the shared series/study data
   * keys, so new data is wrapped for the new current key from the next instance on.
   */
  refresh(): Promise<void>;
}

/** How often a long-lived process looks at keys.json for changes. */
export const KEY_REFRESH_MS = 1000;

/** Called when keys are generated on first use, so the caller can say so loudly. */
export type KeyGeneratedNotice = (key: KeyInfo, dir: string) => void;

/**
 * Opens the key store (generating a first key when allowed and none exists) and reads or creates
 * the pseudonym secret. `forProtect` false skips generation: a new key cannot reveal old data.
 */
export async function openProtectionContext(
  config: VeilConfig,
  options: { forProtect: boolean; onKeyGenerated?: KeyGeneratedNotice },
): Promise<ProtectionContext> {
  const keyStore = await FileKeyStore.open(config.keys.dir);
  if (options.forProtect && !keyStore.list().some((k) => k.status === 'current')) {
    if (!config.keys.generateOnFirstStart) {
      throw new VeilError(
        'VEIL_E_KEY_NOT_FOUND',
        `No current key in ${config.keys.dir}: run \`veil keys generate\`.`,
      );
    }
    const key = await keyStore.generate({
      bits: config.keys.bits,
      label: 'first key',
      status: 'current',
    });
    options.onKeyGenerated?.(key, config.keys.dir);
  }
  const pseudonymKey =
    options.forProtect && config.protection.headerConfidentiality
      ? await readOrCreateSecret(config.protection.pseudonymSecretFile)
      : undefined;
  const keyCache = new BoundedMap<string, Buffer>(KEY_CACHE_SIZE);
  const sharedKeys = new BoundedMap<string, SharedDataKey>(KEY_CACHE_SIZE);
  const scope = config.protection.dataKeyScope;
  let lastRefresh = Date.now();
  const dataKeyFor = (uids: {
    studyInstanceUID?: string;
    seriesInstanceUID?: string;
  }): SharedDataKey | undefined => {
    const uid =
      scope === 'series'
        ? uids.seriesInstanceUID
        : scope === 'study'
          ? uids.studyInstanceUID
          : undefined;
    if (uid === undefined) return undefined;
    let shared = sharedKeys.get(uid);
    if (shared === undefined) {
      // One RSA operation per recipient serves every instance of the series or study.
      const key = randomDataKey();
      shared = {
        key,
        cms: { contentKey: randomDataKey(), encryptedKeys: new Map() },
        recipients: keyStore
          .recipients()
          .map((r) => ({ keyId: r.keyId, wrappedKey: wrapDataKey(key, r).toString('base64') })),
      };
      sharedKeys.set(uid, shared);
    }
    return shared;
  };
  return {
    keyStore,
    protectOptions: () => ({
      recipients: keyStore.recipients(),
      ...(scope === 'instance' ? {} : { dataKeyFor }),
      headerConfidentiality: config.protection.headerConfidentiality,
      ...(pseudonymKey ? { pseudonymKey } : {}),
      cmsKeyTransport: config.protection.cmsKeyTransport,
      stego: {
        enabled: config.protection.stego.enabled,
        fields: config.protection.stego.fields,
        whenTooSmall: config.protection.stego.whenTooSmall,
      },
      compressed: {
        default: config.protection.compressed.default,
        byTransferSyntax: config.protection.compressed.byTransferSyntax,
      },
    }),
    revealOptions: () => ({ privateKeys: keyStore.privateKeys(), keyCache }),
    refresh: async () => {
      const now = Date.now();
      if (now - lastRefresh < KEY_REFRESH_MS) return;
      lastRefresh = now;
      if (await keyStore.refresh()) sharedKeys.clear();
    },
  };
}

/** Reads a 32-byte secret, creating it (mode 0600) on first use. */
export async function readOrCreateSecret(file: string): Promise<Buffer> {
  try {
    const secret = await fs.readFile(file);
    if (secret.length < 32) {
      throw new VeilError('VEIL_E_KEYSTORE', `The secret file ${file} is shorter than 32 bytes.`);
    }
    return secret;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const secret = randomBytes(32);
  try {
    await fs.writeFile(file, secret, { mode: 0o600, flag: 'wx' });
    return secret;
  } catch (err) {
    // Another process created it first: use theirs.
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return fs.readFile(file);
    throw err;
  }
}
