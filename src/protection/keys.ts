/** Per-instance subkeys and AAD, derived from the data key and the instance's random salt. */
import { createHash } from 'node:crypto';
import { deriveSubkey } from '../crypto';

/** Subkeys of one instance (HKDF-SHA-256, salt = the instance's 96-bit random salt). */
export interface InstanceKeys {
  pixels: Buffer;
  stegoPositions: Buffer;
  stegoMac: Buffer;
  restoration: Buffer;
  headerMac: Buffer;
}

/** Derives the subkeys; distinct info strings keep the uses apart (domain separation). */
export function instanceKeys(dataKey: Buffer, salt: Buffer): InstanceKeys {
  return {
    pixels: deriveSubkey(dataKey, salt, 'veil/v1/pixels'),
    stegoPositions: deriveSubkey(dataKey, salt, 'veil/v1/stego-positions'),
    stegoMac: deriveSubkey(dataKey, salt, 'veil/v1/stego-mac'),
    restoration: deriveSubkey(dataKey, salt, 'veil/v1/restoration'),
    headerMac: deriveSubkey(dataKey, salt, 'veil/v1/header-mac'),
  };
}

/**
 * Additional authenticated data of the pixel cipher: binds the SOP Instance UID and the pixel
 * geometry and length, so ciphertext moved to another instance or read under another geometry
 * does not verify. The header is authenticated by its own MAC (keyed from the same data key), not
 * here, so a key rotation can re-wrap the data key and re-seal the header without touching pixels.
 */
export function pixelAad(sopInstanceUID: string, geometry: string, length: number): Buffer {
  return Buffer.from(`veil/v1|${sopInstanceUID}|${geometry}|${length}`, 'latin1');
}

/** Cache key of a wrapped data key: SHA-256 of its ciphertext (hex); never the key itself. */
export function wrappedKeyId(wrapped: Buffer): string {
  return createHash('sha256').update(wrapped).digest('hex');
}
