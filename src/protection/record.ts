/**
 * The protection record (format version 1): what reveal needs besides the keys, stored as JSON
 * text in Veil's private block. It holds no secrets: data keys are RSA-OAEP wrapped, the stego
 * restoration bits are sealed with AES-256-GCM under a key derived from the data key.
 */
import { VeilError } from '../errors';

export const FORMAT_VERSION = 1;
export const CIPHER_SUITE = 'AES-256-GCM; RSA-OAEP-SHA-256 key wrap; HKDF-SHA-256 subkeys';

/** How the pixels were handled. */
export type PixelMode =
  | 'native' // native pixels: stego + AES-256-GCM over the whole Pixel Data value
  | 'decoded' // compressed input decoded (e.g. RLE), then as native
  | 'encapsulated' // compressed fragments encrypted as opaque bytes, no stego
  | 'none'; // no Pixel Data (SR, KO, PR...): header protection only

/** One recipient of the data key. */
export interface RecordRecipient {
  /** SHA-256 fingerprint of the recipient's public key (hex). */
  keyId: string;
  /** Base64 RSA-OAEP-SHA-256 ciphertext of the 256-bit data key. */
  wrappedKey: string;
}

/** Authenticated fields of the record (everything but `mac` and `pixelTag`). */
export interface RecordCore {
  version: 1;
  suite: string;
  /** SOP Instance UID this record belongs to (UIDs are retained, PS3.15 Retain UIDs Option). */
  sopInstanceUID: string;
  /** Base64 96-bit random salt: HKDF salt for the per-instance subkeys and the GCM IV. */
  salt: string;
  recipients: RecordRecipient[];
  pixels: {
    mode: PixelMode;
    /** Transfer syntax the instance arrived in. */
    originalTransferSyntaxUID: string;
    /** Bytes covered by the cipher (Pixel Data value, or the fragments' total). */
    length: number;
  };
  stego: {
    outcome: 'full' | 'minimal' | 'skipped';
    reason?: string;
    capacityBits: number;
    bitsUsed: number;
    samplesChanged: number;
    psnr: number | null;
    /** Base64 sealed restoration record (original bits displaced by the payload). */
    restoration?: string;
  };
  header: {
    /** 'basic-retain-uids' when PS3.15 attribute confidentiality was applied, else 'none'. */
    profile: 'basic-retain-uids' | 'none';
    /** Tags added by protection that re-identification removes again. */
    added: number[];
    replaced: number;
    emptied: number;
    removed: number;
  };
}

/** The record as stored. */
export interface ProtectionRecord extends RecordCore {
  /** Base64 HMAC-SHA-256 over the header digest and the core fields. */
  mac: string;
  /** Base64 GCM tags of the pixel ciphertext: one per region (the Pixel Data value, or each
   *  fragment of encapsulated data); empty for mode 'none'. */
  pixelTags: string[];
}

/** Canonical bytes of the core: JSON with keys in a fixed order. */
export function canonicalCore(record: RecordCore): Buffer {
  const core: RecordCore = {
    version: record.version,
    suite: record.suite,
    sopInstanceUID: record.sopInstanceUID,
    salt: record.salt,
    recipients: record.recipients.map((r) => ({ keyId: r.keyId, wrappedKey: r.wrappedKey })),
    pixels: { ...record.pixels },
    stego: { ...record.stego },
    header: { ...record.header },
  };
  return Buffer.from(JSON.stringify(core, sortedKeys), 'utf8');
}

function sortedKeys(_key: string, value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  return Object.fromEntries(Object.entries(value as object).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** Serialises the record for the private element. */
export function encodeRecord(record: ProtectionRecord): Buffer {
  return Buffer.from(JSON.stringify(record), 'utf8');
}

/** Parses and shape-checks a stored record; VEIL_E_REVEAL_FORMAT when it is not a v1 record. */
export function decodeRecord(bytes: Buffer): ProtectionRecord {
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8').replace(/[\0 ]+$/, ''));
  } catch {
    throw new VeilError('VEIL_E_REVEAL_FORMAT', 'The protection record is not valid JSON.');
  }
  const r = parsed as Partial<ProtectionRecord>;
  if (r === null || typeof r !== 'object') {
    throw new VeilError('VEIL_E_REVEAL_FORMAT', 'The protection record is not an object.');
  }
  if (r.version !== FORMAT_VERSION) {
    throw new VeilError(
      'VEIL_E_REVEAL_FORMAT',
      `Unknown protection format version ${String(r.version)}.`,
    );
  }
  const ok =
    typeof r.sopInstanceUID === 'string' &&
    typeof r.salt === 'string' &&
    typeof r.mac === 'string' &&
    Array.isArray(r.pixelTags) &&
    r.pixelTags.every((t) => typeof t === 'string') &&
    Array.isArray(r.recipients) &&
    r.recipients.every((x) => typeof x?.keyId === 'string' && typeof x?.wrappedKey === 'string') &&
    typeof r.pixels?.mode === 'string' &&
    typeof r.pixels?.length === 'number' &&
    typeof r.stego?.outcome === 'string' &&
    typeof r.header?.profile === 'string' &&
    Array.isArray(r.header?.added);
  if (!ok)
    throw new VeilError('VEIL_E_REVEAL_FORMAT', 'The protection record lacks required fields.');
  return r as ProtectionRecord;
}
