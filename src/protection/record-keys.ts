/**
 * What protect, reveal and rewrap share about a record's keys: unwrapping its data key, the
 * per-instance subkeys, and the header MAC over the header digest and the record core.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { DataSet, Tag } from '../dicom';
import { type PrivateKey, unwrapDataKey } from '../crypto';
import { VeilError, isVeilError } from '../errors';
import { headerDigest } from './header-digest';
import { type InstanceKeys, instanceKeys, wrappedKeyId } from './keys';
import { type ProtectionRecord, type RecordCore, canonicalCore } from './record';

/** Unwraps the data key with the first recipient we hold a private key for (cached per worker). */
export function unwrapRecordKey(
  record: ProtectionRecord,
  options: { privateKeys: PrivateKey[]; keyCache?: Map<string, Buffer> },
): { dataKey: Buffer; keyId: string } {
  const byId = new Map<string, PrivateKey>(options.privateKeys.map((k) => [k.keyId, k]));
  let lastError: unknown;
  for (const recipient of record.recipients) {
    const key = byId.get(recipient.keyId);
    if (key === undefined) continue;
    const wrapped = Buffer.from(recipient.wrappedKey, 'base64');
    const cacheId = wrappedKeyId(wrapped);
    const cached = options.keyCache?.get(cacheId);
    if (cached) return { dataKey: cached, keyId: key.keyId };
    try {
      const dataKey = unwrapDataKey(wrapped, key);
      options.keyCache?.set(cacheId, dataKey);
      return { dataKey, keyId: key.keyId };
    } catch (err) {
      if (!isVeilError(err)) throw err;
      lastError = err;
    }
  }
  if (lastError) throw lastError;
  throw new VeilError(
    'VEIL_E_KEY_NOT_FOUND',
    'None of the recipient keys of this object is available.',
    {
      keyIds: record.recipients.map((r) => r.keyId),
    },
  );
}

/** The instance's subkeys from its data key and the record's salt (VEIL_E_REVEAL_FORMAT if malformed). */
export function recordInstanceKeys(dataKey: Buffer, record: ProtectionRecord): InstanceKeys {
  const salt = Buffer.from(record.salt, 'base64');
  if (salt.length !== 12)
    throw new VeilError('VEIL_E_REVEAL_FORMAT', 'The protection record salt is malformed.');
  return instanceKeys(dataKey, salt);
}

/** HMAC-SHA-256 over the header digest (all but the record element) and the canonical record core. */
export function headerMac(
  macKey: Buffer,
  dataset: DataSet,
  recordTag: Tag,
  core: RecordCore,
): Buffer {
  return createHmac('sha256', macKey)
    .update(headerDigest(dataset, new Set([recordTag])))
    .update(canonicalCore(core))
    .digest();
}

/** Checks the stored header MAC (timing-safe); VEIL_E_REVEAL_HEADER_TAMPERED when it differs. */
export function verifyHeaderMac(
  macKey: Buffer,
  dataset: DataSet,
  recordTag: Tag,
  record: ProtectionRecord,
): Buffer {
  const mac = headerMac(macKey, dataset, recordTag, record);
  const stored = Buffer.from(record.mac, 'base64');
  if (stored.length !== mac.length || !timingSafeEqual(stored, mac)) {
    throw new VeilError(
      'VEIL_E_REVEAL_HEADER_TAMPERED',
      'The protected header was altered after protection.',
    );
  }
  return mac;
}
