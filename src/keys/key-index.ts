/**
 * keys.json, the key store's index: which keys exist, their status and label, no key material.
 * Parsing is strict because a wrong status would wrap new data for the wrong key.
 */
import { inconsistent } from './durable-write';

/**
 * current: the key new data is wrapped for (at most one); recipient: an extra recipient every new
 * object is also wrapped for (e.g. a break-glass key, possibly certificate only); retired: no
 * longer a recipient, its private key still reveals old data.
 */
export type KeyStatus = 'current' | 'recipient' | 'retired';

/** What keys.json records about a key (no key material). */
export interface KeyInfo {
  keyId: string;
  bits: number;
  status: KeyStatus;
  label: string;
  createdAt: string;
  hasPrivateKey: boolean;
  /** ISO 8601 end of the certificate's validity. */
  notAfter: string;
}

/** File name of the index inside the key store folder. */
export const INDEX = 'keys.json';
const INDEX_VERSION = 1;
/** Every valid status. */
export const STATUSES: readonly string[] = ['current', 'recipient', 'retired'];
const KEY_ID = /^[0-9a-f]{64}$/;

/** Parses and validates keys.json; VEIL_E_KEYSTORE when malformed or inconsistent. */
export function parseIndex(text: string): KeyInfo[] {
  let index: unknown;
  try {
    index = JSON.parse(text);
  } catch (err) {
    throw inconsistent(`${INDEX} is not valid JSON`, err);
  }
  const { version, keys } = (typeof index === 'object' && index !== null ? index : {}) as {
    version?: unknown;
    keys?: unknown;
  };
  if (version !== INDEX_VERSION || !Array.isArray(keys)) {
    throw inconsistent(`${INDEX} is not a version ${String(INDEX_VERSION)} key index`);
  }
  const infos = keys.map((raw: unknown, i) => {
    const k = (raw ?? {}) as Record<string, unknown>;
    const valid =
      typeof k.keyId === 'string' &&
      KEY_ID.test(k.keyId) &&
      typeof k.bits === 'number' &&
      typeof k.status === 'string' &&
      STATUSES.includes(k.status) &&
      typeof k.label === 'string' &&
      typeof k.createdAt === 'string' &&
      typeof k.hasPrivateKey === 'boolean' &&
      typeof k.notAfter === 'string';
    if (!valid) throw inconsistent(`${INDEX} entry ${String(i)} is malformed`);
    return k as unknown as KeyInfo;
  });
  if (new Set(infos.map((k) => k.keyId)).size !== infos.length) {
    throw inconsistent(`${INDEX} lists a key twice`);
  }
  if (infos.filter((k) => k.status === 'current').length > 1) {
    throw inconsistent(`${INDEX} has more than one current key`);
  }
  return infos;
}

/** keys.json text for these keys. */
export function serializeIndex(keys: KeyInfo[]): string {
  return `${JSON.stringify({ version: INDEX_VERSION, keys }, null, 2)}\n`;
}
