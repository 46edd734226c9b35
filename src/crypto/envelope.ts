/**
 * The pixel envelope (DESIGN "Protection format" 2-3): a random 256-bit data key wrapped with
 * RSA-OAEP for each recipient, and AES-256-GCM over the pixels in place, chunk by chunk.
 */
import {
  constants,
  createCipheriv,
  createDecipheriv,
  hkdfSync,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
} from 'node:crypto';
import { VeilError } from '../errors';
import type { PrivateKey, RecipientKey } from './key-ring';

const DATA_KEY_BYTES = 32;
const GCM_IV_BYTES = 12; // NIST SP 800-38D 8.2: 96-bit IVs avoid GHASH-derived counters
const GCM_TAG_BYTES = 16;
const DEFAULT_CHUNK = 64 * 1024;

/** 32 random bytes: one AES-256 data key. */
export function randomDataKey(): Buffer {
  return randomBytes(DATA_KEY_BYTES);
}

/** Wraps a data key for one recipient with RSA-OAEP, SHA-256 and MGF1-SHA-256 (RFC 8017 7.1). */
export function wrapDataKey(dataKey: Buffer, recipient: RecipientKey): Buffer {
  // OpenSSL uses the OAEP digest for MGF1 too when only the OAEP digest is set.
  return publicEncrypt(
    { key: recipient.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
    dataKey,
  );
}

/** Unwraps a data key made by wrapDataKey; VEIL_E_KEY_UNWRAP when it does not decrypt. */
export function unwrapDataKey(wrapped: Buffer, key: PrivateKey): Buffer {
  try {
    return privateDecrypt(
      { key: key.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
      wrapped,
    );
  } catch {
    // No cause attached: OAEP failures must all look alike (Manger's attack, RFC 8017 7.1.2 note).
    throw new VeilError('VEIL_E_KEY_UNWRAP', 'Wrapped data key does not decrypt with this key.', {
      keyId: key.keyId,
    });
  }
}

/** HKDF-SHA-256 (RFC 5869) subkey of `length` bytes (default 32) for a purpose named by `info`. */
export function deriveSubkey(dataKey: Buffer, salt: Buffer, info: string, length = 32): Buffer {
  return Buffer.from(hkdfSync('sha256', dataKey, salt, info, length));
}

/**
 * AES-256-GCM over `data` IN PLACE in bounded chunks (default 64 KiB: cipher.update per chunk,
 * copy back), 12-byte iv, aad. Returns the 16-byte tag.
 */
export function encryptInPlace(
  key: Buffer,
  iv: Buffer,
  aad: Buffer,
  data: Uint8Array,
  chunkSize = DEFAULT_CHUNK,
): Buffer {
  return encryptInto(key, iv, aad, data, data, chunkSize);
}

/**
 * AES-256-GCM from `source` into `target` (same length; may be the same memory), chunk by chunk:
 * one pass over memory instead of a copy followed by an in-place pass. Returns the tag.
 */
export function encryptInto(
  key: Buffer,
  iv: Buffer,
  aad: Buffer,
  source: Uint8Array,
  target: Uint8Array,
  chunkSize = DEFAULT_CHUNK,
): Buffer {
  checkGcmParams(key, iv, chunkSize);
  checkTarget(source, target);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: GCM_TAG_BYTES });
  cipher.setAAD(aad);
  transform(source, target, chunkSize, (chunk) => cipher.update(chunk));
  cipher.final(); // GCM is a stream mode: final() yields no bytes
  return cipher.getAuthTag();
}

/**
 * Decrypts in place; returns false (and zero-fills `data`, so no unverified plaintext survives)
 * when the tag does not verify, including an iv or tag of the wrong length.
 */
export function decryptInPlace(
  key: Buffer,
  iv: Buffer,
  aad: Buffer,
  data: Uint8Array,
  tag: Buffer,
  chunkSize = DEFAULT_CHUNK,
): boolean {
  return decryptInto(key, iv, aad, data, data, tag, chunkSize);
}

/**
 * Decrypts `source` into `target` (same length; may be the same memory); returns false and
 * zero-fills `target` when the tag does not verify.
 */
export function decryptInto(
  key: Buffer,
  iv: Buffer,
  aad: Buffer,
  source: Uint8Array,
  target: Uint8Array,
  tag: Buffer,
  chunkSize = DEFAULT_CHUNK,
): boolean {
  checkKeyAndChunk(key, chunkSize);
  checkTarget(source, target);
  if (iv.length !== GCM_IV_BYTES || tag.length !== GCM_TAG_BYTES) {
    target.fill(0);
    return false;
  }
  const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: GCM_TAG_BYTES });
  decipher.setAAD(aad);
  decipher.setAuthTag(tag);
  transform(source, target, chunkSize, (chunk) => decipher.update(chunk));
  try {
    decipher.final();
    return true;
  } catch {
    target.fill(0);
    return false;
  }
}

function checkTarget(source: Uint8Array, target: Uint8Array): void {
  if (source.length !== target.length)
    throw new RangeError('AES-GCM target must be as long as the source.');
}

/** Small authenticated blobs: returns iv(12) || ciphertext || tag(16). */
export function sealBytes(key: Buffer, aad: Buffer, plaintext: Buffer): Buffer {
  const iv = randomBytes(GCM_IV_BYTES);
  const out = Buffer.alloc(GCM_IV_BYTES + plaintext.length + GCM_TAG_BYTES);
  iv.copy(out, 0);
  const body = out.subarray(GCM_IV_BYTES, GCM_IV_BYTES + plaintext.length);
  plaintext.copy(body);
  const tag = encryptInPlace(key, iv, aad, body);
  tag.copy(out, GCM_IV_BYTES + plaintext.length);
  return out;
}

/** Opens what sealBytes made; undefined when it is too short or does not verify. */
export function openBytes(key: Buffer, aad: Buffer, sealed: Buffer): Buffer | undefined {
  if (sealed.length < GCM_IV_BYTES + GCM_TAG_BYTES) return undefined;
  const iv = sealed.subarray(0, GCM_IV_BYTES);
  const tag = sealed.subarray(sealed.length - GCM_TAG_BYTES);
  const body = Buffer.from(sealed.subarray(GCM_IV_BYTES, sealed.length - GCM_TAG_BYTES));
  return decryptInPlace(key, iv, aad, body, tag) ? body : undefined;
}

/**
 * Runs `update` over fixed-size windows of `source` and copies each result into the same window
 * of `target`. Node has no update-into-buffer API; each 64 KiB result comes from malloc'd memory
 * that is reused at once, so the cost is one memcpy per chunk instead of page faults on a whole copy.
 */
function transform(
  source: Uint8Array,
  target: Uint8Array,
  chunkSize: number,
  update: (chunk: Uint8Array) => Buffer,
): void {
  for (let offset = 0; offset < source.length; offset += chunkSize) {
    const end = Math.min(offset + chunkSize, source.length);
    const out = update(source.subarray(offset, end));
    // GCM (CTR) never buffers, so output length equals input length chunk by chunk.
    if (out.length !== end - offset) throw new Error('AES-GCM update changed the chunk length.');
    target.set(out, offset);
  }
}

function checkGcmParams(key: Buffer, iv: Buffer, chunkSize: number): void {
  checkKeyAndChunk(key, chunkSize);
  if (iv.length !== GCM_IV_BYTES) {
    throw new RangeError(`AES-GCM iv must be ${String(GCM_IV_BYTES)} bytes.`);
  }
}

function checkKeyAndChunk(key: Buffer, chunkSize: number): void {
  if (key.length !== DATA_KEY_BYTES) {
    throw new RangeError(`AES-256 key must be ${String(DATA_KEY_BYTES)} bytes.`);
  }
  if (!Number.isInteger(chunkSize) || chunkSize < 1) {
    throw new RangeError('chunkSize must be a positive integer.');
  }
}
